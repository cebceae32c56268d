// Runs inside one network namespace (`ip netns exec NS node agent.ts NAME`) and does what the test asks,
// one JSON command per stdin line, one JSON answer per stdout line. As a "node" it stands in for
// kube-proxy: NodePort listeners that answer with the node's name, and a /healthz like kube-proxy's.
// As a "client" it makes the requests, from an address that reaches only the VIPs.
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { createInterface } from 'node:readline';

const name = process.argv[2] ?? 'agent';
const servers = new Map<string, Server | UdpSocket | HttpServer>();
const health = new Map<number, boolean>();
const held = new Map<string, { socket: Socket; lines: string[]; waiters: ((line: string | undefined) => void)[] }>();

type Command = Record<string, unknown> & { id: number; op: string };

/** The NodePort protocol: "line" -> "NAME line"; "send N" -> N bytes then FIN; FIN -> "bye NAME BYTES". */
function serveTcp(port: number): Promise<void> {
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    let bytes = 0;
    let buffer = '';
    socket.on('error', () => {});
    socket.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      buffer += chunk.toString('latin1');
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        const send = /^send (\d+)$/.exec(line);
        if (send) {
          const total = Number(send[1]);
          let left = total;
          const pump = (): void => {
            while (left > 0) {
              const n = Math.min(left, 65536);
              left -= n;
              if (!socket.write(Buffer.alloc(n, 'y'))) return void socket.once('drain', pump);
            }
            socket.end();
          };
          pump();
        } else socket.write(`${name} ${line}\n`);
      }
      if (buffer.length > 65536) buffer = '';
    });
    socket.on('end', () => {
      if (socket.writable) socket.end(`bye ${name} ${bytes}\n`);
    });
  });
  servers.set(`tcp/${port}`, server);
  return new Promise((resolve, reject) => server.once('error', reject).listen(port, () => resolve()));
}

function serveUdp(port: number): Promise<void> {
  // udp6 without ipv6Only also receives IPv4 (as mapped addresses).
  const socket = createSocket('udp6');
  socket.on('message', (msg, rinfo) => socket.send(`${name} ${msg.toString()}`, rinfo.port, rinfo.address));
  servers.set(`udp/${port}`, socket);
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(port, () => resolve());
  });
}

/** kube-proxy's health check server: 200 with local endpoints, 503 without. */
async function serveHealth(port: number, ok: boolean): Promise<void> {
  health.set(port, ok);
  if (servers.has(`health/${port}`)) return;
  const server = createHttpServer((req, res) => {
    const good = health.get(port) === true;
    res.writeHead(good ? 200 : 503, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ service: { namespace: 'x', name: 'y' }, localEndpoints: good ? 1 : 0 }));
  });
  servers.set(`health/${port}`, server);
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, () => resolve()));
}

function withTimeout<T>(ms: number, work: (settle: (value: T) => void) => void, onTimeout: T): Promise<T> {
  return new Promise((resolve) => {
    let done = false;
    const settle = (value: T): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve(value);
    };
    const timer = setTimeout(() => settle(onTimeout), ms);
    work(settle);
  });
}

type Reply = { reply?: string; error?: string; bytes?: number };

/** One line over a new connection. */
function request(host: string, port: number, message: string, timeoutMs: number): Promise<Reply> {
  return withTimeout<Reply>(
    timeoutMs,
    (settle) => {
      const socket = connect({ host, port });
      let buffer = '';
      socket.on('connect', () => socket.write(`${message}\n`));
      socket.on('data', (d) => {
        buffer += d.toString();
        const nl = buffer.indexOf('\n');
        if (nl >= 0) {
          settle({ reply: buffer.slice(0, nl) });
          socket.destroy();
        }
      });
      socket.on('error', (err: NodeJS.ErrnoException) => settle({ error: err.code ?? err.message }));
      socket.on('close', () => settle({ error: 'closed' }));
      setTimeout(() => socket.destroy(), timeoutMs).unref();
    },
    { error: 'timeout' },
  );
}

/** Uploads `bytes` bytes, half-closes, and reads the node's count: exercises backpressure and FIN. */
function upload(host: string, port: number, bytes: number, timeoutMs: number): Promise<Reply> {
  return withTimeout<Reply>(
    timeoutMs,
    (settle) => {
      const socket = connect({ host, port, allowHalfOpen: true });
      let buffer = '';
      socket.on('connect', () => {
        let left = bytes;
        const pump = (): void => {
          while (left > 0) {
            const n = Math.min(left, 65536);
            left -= n;
            if (!socket.write(Buffer.alloc(n, 'x'))) return void socket.once('drain', pump);
          }
          socket.end();
        };
        pump();
      });
      socket.on('data', (d) => (buffer += d.toString()));
      socket.on('end', () => {
        settle({ reply: buffer.trim() });
        socket.destroy();
      });
      socket.on('error', (err: NodeJS.ErrnoException) => settle({ error: err.code ?? err.message }));
    },
    { error: 'timeout' },
  );
}

/** Asks the node for `bytes` bytes and counts them until its FIN, while our side stays open. */
function download(host: string, port: number, bytes: number, timeoutMs: number): Promise<Reply> {
  return withTimeout<Reply>(
    timeoutMs,
    (settle) => {
      const socket = connect({ host, port, allowHalfOpen: true });
      let got = 0;
      socket.on('connect', () => socket.write(`send ${bytes}\n`));
      socket.on('data', (d) => (got += d.length));
      socket.on('end', () => {
        settle({ bytes: got });
        socket.destroy();
      });
      socket.on('error', (err: NodeJS.ErrnoException) => settle({ error: err.code ?? err.message }));
    },
    { error: 'timeout' },
  );
}

function udpRequest(host: string, port: number, message: string, timeoutMs: number): Promise<Reply> {
  const socket = createSocket(host.includes(':') ? 'udp6' : 'udp4');
  return withTimeout<Reply>(
    timeoutMs,
    (settle) => {
      socket.on('message', (msg) => settle({ reply: msg.toString() }));
      socket.on('error', (err: NodeJS.ErrnoException) => settle({ error: err.code ?? err.message }));
      socket.send(message, port, host);
    },
    { error: 'timeout' },
  ).finally(() => socket.close());
}

function open(key: string, host: string, port: number, timeoutMs: number): Promise<Reply> {
  return withTimeout<Reply>(
    timeoutMs,
    (settle) => {
      const socket = connect({ host, port });
      const entry = { socket, lines: [] as string[], waiters: [] as ((line: string | undefined) => void)[] };
      let buffer = '';
      socket.on('data', (d) => {
        buffer += d.toString();
        let nl: number;
        while ((nl = buffer.indexOf('\n')) >= 0) {
          const line = buffer.slice(0, nl);
          buffer = buffer.slice(nl + 1);
          const waiter = entry.waiters.shift();
          if (waiter) waiter(line);
          else entry.lines.push(line);
        }
      });
      const gone = (): void => {
        for (const waiter of entry.waiters.splice(0)) waiter(undefined);
      };
      socket.on('close', gone);
      socket.on('error', (err: NodeJS.ErrnoException) => settle({ error: err.code ?? err.message }));
      socket.on('connect', () => {
        held.set(key, entry);
        settle({ reply: 'open' });
      });
    },
    { error: 'timeout' },
  );
}

/** A line over a held connection; "closed" when the connection is gone. */
function talk(key: string, message: string, timeoutMs: number): Promise<Reply> {
  const entry = held.get(key);
  if (!entry || entry.socket.destroyed) return Promise.resolve({ error: 'closed' });
  return withTimeout<Reply>(
    timeoutMs,
    (settle) => {
      const queued = entry.lines.shift();
      if (queued !== undefined) return settle({ reply: queued });
      entry.waiters.push((line) => settle(line === undefined ? { error: 'closed' } : { reply: line }));
      entry.socket.write(`${message}\n`, (err) => err && settle({ error: 'closed' }));
    },
    { error: 'timeout' },
  );
}

async function run(cmd: Command): Promise<unknown> {
  const host = String(cmd.host ?? '');
  const port = Number(cmd.port ?? 0);
  const timeoutMs = Number(cmd.timeoutMs ?? 3_000);
  switch (cmd.op) {
    case 'serve':
      await (cmd.protocol === 'UDP' ? serveUdp(port) : serveTcp(port));
      return { ok: true };
    case 'unserve': {
      const key = `${cmd.protocol === 'UDP' ? 'udp' : 'tcp'}/${port}`;
      const server = servers.get(key);
      servers.delete(key);
      server?.close();
      return { ok: true };
    }
    case 'health':
      await serveHealth(port, cmd.ok === true);
      return { ok: true };
    case 'request':
      return request(host, port, String(cmd.message), timeoutMs);
    case 'udp':
      return udpRequest(host, port, String(cmd.message), timeoutMs);
    case 'upload':
      return upload(host, port, Number(cmd.bytes), timeoutMs);
    case 'download':
      return download(host, port, Number(cmd.bytes), timeoutMs);
    case 'open':
      return open(String(cmd.key), host, port, timeoutMs);
    case 'talk':
      return talk(String(cmd.key), String(cmd.message), timeoutMs);
    case 'close':
      held.get(String(cmd.key))?.socket.destroy();
      held.delete(String(cmd.key));
      return { ok: true };
    default:
      throw new Error(`unknown op ${cmd.op}`);
  }
}

createInterface({ input: process.stdin }).on('line', (line) => {
  const cmd = JSON.parse(line) as Command;
  run(cmd).then(
    (result) => process.stdout.write(`${JSON.stringify({ id: cmd.id, result })}\n`),
    (err: Error) => process.stdout.write(`${JSON.stringify({ id: cmd.id, error: err.message })}\n`),
  );
});
// The test process holds our stdin: when it goes, so do we.
process.stdin.on('end', () => process.exit(0));
process.stdout.write(`${JSON.stringify({ id: 0, result: 'ready' })}\n`);
