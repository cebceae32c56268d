# The image deploy/base/deployment.yaml runs: compiled JavaScript on Node 24, production dependencies only.
FROM node:24-slim AS build
# npm ci compiles the local provider's TCP data path (a Node-API addon) from src/.
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
COPY hack/build-native.sh ./hack/
COPY src ./src
RUN npm ci --no-audit --no-fund
RUN npm run build && npm prune --omit=dev

FROM node:24-slim
# iproute2: the local provider's interface mode runs `ip -j addr` to add and remove load balancer IPs
# (busybox's ip has no JSON output).
RUN apt-get update && apt-get install -y --no-install-recommends iproute2 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/build ./build
USER 65532:65532
# The node flags of every way to start the controller (src/cli.ts's shebang, npm start): --optimize-for-size
# keeps each V8 heap near its live size instead of growing it for throughput (bench/scale.ts: at 1000
# Services and 100 nodes, the proxy worker's heap 178 MB -> 14 MB and the main heap 234 MB -> 40 MB).
ENTRYPOINT ["node", "--optimize-for-size", "/app/dist/cli.js"]
