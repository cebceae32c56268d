// Benchmark: hostile clients against the local provider's TCP engine, with the provider's default limits
// for this process's descriptor limit. Prints the engine process's RSS and descriptors before, during
// and after: slow readers (clients that send and never read), then half-open clients (connect, send
// nothing). The clients and the echoing node run in a child process, so the figures are the engine's.
//
//   node bench/local-proxy-hostile.ts [slowReaders=2000] [bytesEach=2097152] [halfOpen=10000]
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { localProviderConfigSchema } from '../src/providers/local/config.ts';
import { dataPathLimits, fdLimit } from '../src/providers/local/limits.ts';
import { engineUsage, setEngineLimits, TcpFrontend } from '../src/providers/local/tcp-proxy.ts';
import { freePort } from '../test/support/ports.ts';

const [slowReaders = 2_000, bytesEach = 2 * 1024 * 1024, halfOpen = 10_000] = process.argv.slice(2).map(Number);
const limits = dataPathLimits(localProviderConfigSchema.parse({}), fdLimit());
setEngineLimits(limits);

// The child: an echoing node, and on "slow N BYTES PORT" / "idle N PORT" that many clients; "close"
// ends them. It answers each command with a line once the clients are connected.
const child = spawn(
  process.execPath,
  [
    '-e',
    `const net = require('node:net');
     const clients = [];
     const node = net.createServer((s) => { s.on('error', () => {}); s.pipe(s); });
     node.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, () => console.log('node ' + node.address().port));
     async function open(n, port, onConnect) {
       for (let i = 0; i < n; i += 500)
         await Promise.all(Array.from({ length: Math.min(500, n - i) }, () => new Promise((resolve) => {
           const s = net.connect({ host: '127.0.0.1', port });
           clients.push(s);
           s.on('connect', () => { onConnect(s); resolve(); });
           s.on('error', resolve);
         })));
     }
     require('node:readline').createInterface({ input: process.stdin }).on('line', async (line) => {
       const [cmd, a, b, c] = line.split(' ');
       if (cmd === 'slow') {
         const chunk = Buffer.alloc(64 * 1024, 1);
         await open(+a, +c, (s) => { s.pause(); for (let sent = 0; sent < +b; sent += chunk.length) s.write(chunk); });
       } else if (cmd === 'idle') await open(+a, +b, () => {});
       else if (cmd === 'close') for (const s of clients.splice(0)) s.destroy();
       console.log('ok');
     });`,
  ],
  { stdio: ['pipe', 'pipe', 'inherit'] },
);
const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
const say = async (command: string): Promise<string> => {
  child.stdin!.write(`${command}\n`);
  return (await lines.next()).value as string;
};
const nodePort = Number(((await lines.next()).value as string).split(' ')[1]);

const port = await freePort();
const tcp = new TcpFrontend(
  { protocol: 'TCP', ip: '127.0.0.1', port, nodePort, backends: [{ node: 'n', address: '127.0.0.1', healthy: true }] },
  {
    sourceRanges: [],
    affinity: 'None',
    drainGraceMs: 0,
    maxConnectionsPerListener: limits.maxConnectionsPerListener,
    idleTimeoutMs: 3_600_000,
  },
);
await tcp.listen();

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const figures = (): string => {
  const usage = engineUsage();
  return (
    `RSS ${(process.memoryUsage().rss / 1024 / 1024).toFixed(1)} MiB, ${readdirSync('/proc/self/fd').length} fds, ` +
    `${usage.connections} connections, ${(usage.bufferedBytes / 1024 / 1024).toFixed(1)} MiB buffered`
  );
};
/** Until the bytes moved stop growing: every connection is stalled. */
const settle = async (): Promise<void> => {
  let last = -1;
  for (;;) {
    await sleep(1_000);
    const { bytesIn, bytesOut } = tcp.stats();
    if (bytesIn + bytesOut === last) return;
    last = bytesIn + bytesOut;
  }
};
const gone = async (): Promise<void> => {
  while (tcp.liveCount > 0) await sleep(200);
  await sleep(500);
};

console.log(
  `fd limit ${fdLimit()}: maxConnections ${limits.maxConnections}, per listener ${limits.maxConnectionsPerListener}, ` +
    `maxBufferedBytes ${limits.maxBufferedBytes}`,
);
console.log(`before:                      ${figures()}`);
await say(`slow ${slowReaders} ${bytesEach} ${port}`);
await settle();
const refused = (): string => JSON.stringify(tcp.stats().rejected);
console.log(`${slowReaders} slow readers: ${figures()}; refused so far ${refused()}`);
await say('close');
await gone();
console.log(`after they closed:           ${figures()}`);
await say(`idle ${halfOpen} ${port}`);
await settle();
console.log(`${halfOpen} half-open: ${figures()}; refused so far ${refused()}`);
await say('close');
await gone();
console.log(`after they closed:           ${figures()}`);
tcp.cut();
child.kill();
