// Benchmark: the local provider's UDP forwarding (JavaScript, src/providers/local/udp-proxy.ts) in a process
// of its own, with V8's optimizing compilers and without them (the flags `run` restarts with when no data path
// runs in the controller, src/compilers.ts). Clients and the echoing node are in this process; rounds alternate.
//
//   node bench/local-udp.ts        BENCH_SECONDS (default 3) per run, BENCH_ROUNDS (default 3) rounds
import { spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { WITHOUT_OPTIMIZING_COMPILERS } from '../src/compilers.ts';
import { sourceFilter } from '../src/providers/local/source-ranges.ts';
import { UdpFrontend } from '../src/providers/local/udp-proxy.ts';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const CLIENTS = 16;
/** Datagrams each client keeps in flight. */
const WINDOW = 4;
const HOST = '127.0.0.1';

/** The proxy side: one UDP frontend forwarding to the node at argv[3], on the port argv[4]. */
async function serve(nodePort: number, port: number): Promise<void> {
  const frontend = new UdpFrontend(
    { protocol: 'UDP', ip: HOST, port, nodePort, backends: [{ node: 'n', address: HOST, healthy: true }] },
    { filter: sourceFilter([]), idleMs: 60_000, maxFlows: 0 },
    'None',
  );
  await frontend.listen();
  console.log('ready');
}

/** Round trips per second through a proxy process started with these node flags. */
async function measure(flags: string[], nodePort: number, port: number): Promise<number> {
  const proxy = spawn(process.execPath, [...flags, fileURLToPath(import.meta.url), 'serve', String(nodePort), String(port)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  try {
    const [line] = (await once(createInterface({ input: proxy.stdout! }), 'line')) as [string];
    if (line !== 'ready') throw new Error(`proxy said ${line}`);
    const payload = Buffer.alloc(64);
    let answered = 0;
    let measuring = false;
    let running = true;
    const clients = await Promise.all(
      Array.from({ length: CLIENTS }, async () => {
        const client = createSocket('udp4');
        await new Promise<void>((resolve) => client.bind(0, HOST, () => resolve()));
        // Each answer sends the next datagram: a lost one shrinks the window, it never grows.
        client.on('message', () => {
          if (measuring) answered++;
          if (running) client.send(payload, port, HOST);
        });
        return client;
      }),
    );
    for (const client of clients) for (let i = 0; i < WINDOW; i++) client.send(payload, port, HOST);
    // Flows set up and code warmed before the count starts.
    await new Promise((resolve) => setTimeout(resolve, 500));
    measuring = true;
    await new Promise((resolve) => setTimeout(resolve, SECONDS * 1000));
    measuring = false;
    running = false;
    for (const client of clients) client.close();
    return answered / SECONDS;
  } finally {
    proxy.kill('SIGKILL');
  }
}

if (process.argv[2] === 'serve') {
  await serve(Number(process.argv[3]), Number(process.argv[4]));
} else {
  const node = createSocket('udp4');
  await new Promise<void>((resolve) => node.bind(0, HOST, () => resolve()));
  node.on('message', (msg, from) => node.send(msg, from.port, from.address));
  const modes = { with: ['--optimize-for-size'], without: ['--optimize-for-size', ...WITHOUT_OPTIMIZING_COMPILERS] };
  const results: Record<keyof typeof modes, number[]> = { with: [], without: [] };
  let port = 24000 + Math.floor(Math.random() * 1000);
  for (let round = 0; round < ROUNDS; round++) {
    for (const mode of round % 2 ? (['without', 'with'] as const) : (['with', 'without'] as const)) {
      results[mode].push(await measure(modes[mode], node.address().port, port++));
    }
  }
  node.close();
  const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
  console.log(
    `\nlocal UDP forwarding, one frontend, ${CLIENTS} clients x ${WINDOW} datagrams of 64 bytes in flight, ${SECONDS} s x ${ROUNDS} rounds`,
  );
  for (const mode of ['with', 'without'] as const) {
    console.log(
      `${`${mode} the optimizing compilers`.padEnd(36)} ${Math.round(median(results[mode]))} round trips/s (${results[mode].map(Math.round).join(', ')})`,
    );
  }
  console.log(`without / with: ${(median(results.without) / median(results.with)).toFixed(2)}`);
}
