// Benchmark: the TCP engine taking a node change at 1000 frontends of 100 nodes, as the controller gives it
// (every frontend the same node list, read once) against a list of its own per frontend (as the external
// proxy receives them, one JSON message per load balancer). Rounds alternate; the listeners are real, on
// 127.98.0.0/16, with no connection made.
//
//   node bench/local-engine-nodes.ts      BENCH_FRONTENDS (default 1000), BENCH_NODES (100), BENCH_ROUNDS (5)
import type { FrontendSettings, NodeBackend } from '../src/providers/local/proxy-spec.ts';
import { TcpFrontend } from '../src/providers/local/tcp-proxy.ts';

const FRONTENDS = Number(process.env.BENCH_FRONTENDS ?? 1000);
const NODES = Number(process.env.BENCH_NODES ?? 100);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const settings: FrontendSettings = { sourceRanges: [], affinity: 'None', drainGraceMs: 0, maxConnectionsPerListener: 0, idleTimeoutMs: 0 };

const ip = (i: number): string => `127.98.${Math.floor(i / 250)}.${(i % 250) + 1}`;
const nodes = (count: number): readonly NodeBackend[] =>
  Object.freeze(
    Array.from({ length: count }, (_, i) => Object.freeze({ node: `node-${i}`, address: `10.1.${i >> 8}.${i & 255}`, healthy: true })),
  );
const planned = (i: number, backends: readonly NodeBackend[]) => ({
  protocol: 'TCP' as const,
  ip: ip(i),
  port: 80,
  nodePort: 30000 + i,
  backends,
});

const frontends: TcpFrontend[] = [];
for (let i = 0; i < FRONTENDS; i++) {
  const frontend = new TcpFrontend(planned(i, nodes(NODES)), settings);
  await frontend.listen();
  frontends.push(frontend);
}

/** One node change: every frontend gets count nodes. */
function round(count: number, shared: boolean): number {
  const list = nodes(count);
  const lists = frontends.map(() => (shared ? list : nodes(count)));
  const start = performance.now();
  for (const [i, frontend] of frontends.entries()) frontend.update(planned(i, lists[i]!), settings);
  return performance.now() - start;
}

const times = { shared: [] as number[], own: [] as number[] };
for (let r = 0; r < ROUNDS; r++) {
  // NODES + 1, then NODES: every round adds or removes a node.
  times.shared.push(round(NODES + 1, true));
  times.own.push(round(NODES, false));
}
for (const frontend of frontends) frontend.cut();

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const fmt = (xs: number[]): string => xs.map((x) => x.toFixed(0)).join(', ');
console.log(`TCP engine: a node change at ${FRONTENDS} frontends of ${NODES} nodes, ${ROUNDS} rounds each`);
console.log(`  one list shared by every frontend   median ${median(times.shared).toFixed(0)} ms (${fmt(times.shared)})`);
console.log(`  a list per frontend                 median ${median(times.own).toFixed(0)} ms (${fmt(times.own)})`);
console.log(`  shared / per frontend               ${(median(times.shared) / median(times.own)).toFixed(2)}`);
