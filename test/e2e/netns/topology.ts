// Network namespaces for the e2e tests. The test process stays in the root namespace and plays the
// load balancer host; every node and every client gets a namespace of its own, linked to the root by a
// veth pair. The root does not forward, and clients have a route to the VIP pool only, so a client
// reaches a node through the proxy or not at all.
import { execFile, execFileSync, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';

const run = promisify(execFile);
const agentPath = fileURLToPath(new URL('./agent.ts', import.meta.url));

async function ip(...args: string[]): Promise<string> {
  try {
    return (await run('ip', args)).stdout;
  } catch (err) {
    throw new Error(`ip ${args.join(' ')}: ${((err as { stderr?: string }).stderr ?? String(err)).trim()}`);
  }
}

/** The JSON-lines conversation with one agent (see agent.ts). */
export class Agent {
  readonly name: string;
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private nextId = 1;
  readonly ready: Promise<void>;

  constructor(ns: string, name: string) {
    this.name = name;
    this.child = spawn('ip', ['netns', 'exec', ns, process.execPath, agentPath, name], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    this.child.stderr.on('data', (d) => (stderr += d.toString()));
    let onReady: () => void = () => {};
    this.ready = new Promise((resolve, reject) => {
      onReady = resolve;
      this.child.once('exit', (code) => reject(new Error(`agent ${name} exited (${code}): ${stderr}`)));
    });
    createInterface({ input: this.child.stdout }).on('line', (line) => {
      const msg = JSON.parse(line) as { id: number; result?: unknown; error?: string };
      if (msg.id === 0) return onReady();
      const w = this.waiting.get(msg.id);
      this.waiting.delete(msg.id);
      if (msg.error !== undefined) w?.reject(new Error(`${name}: ${msg.error}`));
      else w?.resolve(msg.result);
    });
    this.child.once('exit', (code) => {
      for (const w of this.waiting.values()) w.reject(new Error(`agent ${name} exited (${code}): ${stderr}`));
      this.waiting.clear();
    });
  }

  call<T = Record<string, unknown>>(op: string, args: Record<string, unknown> = {}): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.waiting.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.child.stdin.write(`${JSON.stringify({ id, op, ...args })}\n`);
    });
  }

  stop(): void {
    this.child.stdin.end();
    this.child.kill();
  }
}

export interface Host {
  name: string;
  ns: string;
  /** The host's own addresses. */
  address: string;
  address6: string;
  agent: Agent;
}

export interface Topology {
  /** Interface in the root namespace that carries the VIPs. */
  vipInterface: string;
  /** CIDRs of VIPs that clients can reach. */
  vipPool: string;
  vipPool6: string;
  clients: Map<string, Host>;
  nodes: Map<string, Host>;
  addNode(name: string): Promise<Host>;
  /** Addresses on the VIP interface now. */
  vipAddresses(): Promise<string[]>;
  destroy(): Promise<void>;
}

const PREFIX = 'slbe';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Namespaces and interfaces left by a test process that died without cleaning up. */
async function removeLeftovers(): Promise<void> {
  const namespaces = (await ip('netns', 'list'))
    .split('\n')
    .map((l) => l.split(' ')[0]!)
    .filter(Boolean);
  for (const ns of namespaces) {
    const m = new RegExp(`^${PREFIX}(\\d+)-`).exec(ns);
    if (m && !alive(Number(m[1]))) await ip('netns', 'del', ns).catch(() => {});
  }
  const links = (await ip('-o', 'link', 'show')).split('\n').map((l) => l.split(': ')[1]?.split('@')[0] ?? '');
  for (const link of links) {
    const m = new RegExp(`^${PREFIX}(\\d+)v$`).exec(link);
    if (m && !alive(Number(m[1]))) await ip('link', 'del', link).catch(() => {});
  }
}

/** An X for 10.X.0.0/16 and fd00:X::/32 that nothing on this host uses yet. */
async function freeSubnet(): Promise<number> {
  const used =
    (await ip('-o', 'addr', 'show')) + (await ip('route', 'show', 'table', 'all')) + (await ip('-6', 'route', 'show', 'table', 'all'));
  for (let attempt = 0; attempt < 50; attempt++) {
    const x = 160 + Math.floor(Math.random() * 90);
    if (!used.includes(`10.${x}.`) && !used.includes(`fd00:${x}:`)) return x;
  }
  throw new Error('no free 10.X.0.0/16 for the test network');
}

export async function createTopology(spec: { clients: string[]; nodes: string[] }): Promise<Topology> {
  await removeLeftovers();
  const x = await freeSubnet();
  const tag = `${PREFIX}${process.pid}`;
  const vipInterface = `${tag}v`;
  const namespaces: string[] = [];
  const agents: Agent[] = [];
  let destroyed = false;

  const destroySync = (): void => {
    if (destroyed) return;
    destroyed = true;
    for (const agent of agents) agent.stop();
    for (const ns of namespaces) {
      try {
        execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
      } catch {
        // Already gone.
      }
    }
    try {
      execFileSync('ip', ['link', 'del', vipInterface], { stdio: 'ignore' });
    } catch {
      // Already gone.
    }
  };
  const onSignal = (): void => {
    destroySync();
    process.exit(1);
  };
  process.once('exit', destroySync);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.once(signal, onSignal);

  let linkIndex = 0;
  /** A namespace linked to the root by a veth pair on 10.x.<subnet>.0/30 and fd00:x:<subnet>::/64. */
  const addHost = async (name: string, subnet: number, extraRoutes: string[], extraRoutes6: string[]): Promise<Host> => {
    const ns = `${tag}-${name}`;
    const rootEnd = `${tag}l${linkIndex++}`;
    await ip('netns', 'add', ns);
    namespaces.push(ns);
    await ip('-n', ns, 'link', 'set', 'lo', 'up');
    await ip('link', 'add', rootEnd, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns);
    await ip('addr', 'add', `10.${x}.${subnet}.1/30`, 'dev', rootEnd);
    await ip('link', 'set', rootEnd, 'up');
    await ip('-n', ns, 'addr', 'add', `10.${x}.${subnet}.2/30`, 'dev', 'eth0');
    // nodad: usable at once, without waiting for duplicate address detection.
    await ip('-6', 'addr', 'add', `fd00:${x}:${subnet}::1/64`, 'dev', rootEnd, 'nodad');
    await ip('-n', ns, '-6', 'addr', 'add', `fd00:${x}:${subnet}::2/64`, 'dev', 'eth0', 'nodad');
    await ip('-n', ns, 'link', 'set', 'eth0', 'up');
    for (const route of extraRoutes) await ip('-n', ns, 'route', 'add', route, 'via', `10.${x}.${subnet}.1`);
    for (const route of extraRoutes6) await ip('-n', ns, '-6', 'route', 'add', route, 'via', `fd00:${x}:${subnet}::1`);
    const agent = new Agent(ns, name);
    agents.push(agent);
    await agent.ready;
    return { name, ns, address: `10.${x}.${subnet}.2`, address6: `fd00:${x}:${subnet}::2`, agent };
  };

  const vipPool = `10.${x}.200.0/24`;
  const vipPool6 = `fd00:${x}:200::/120`;
  try {
    // A bridge with no ports: a local interface to hold addresses (this kernel may lack "dummy").
    await ip('link', 'add', vipInterface, 'type', 'bridge');
    await ip('link', 'set', vipInterface, 'up');
    const clients = new Map<string, Host>();
    for (const [i, name] of spec.clients.entries()) clients.set(name, await addHost(name, 1 + i, [vipPool], [vipPool6]));
    const nodes = new Map<string, Host>();
    let nodeSubnet = 10;
    const addNode = async (name: string): Promise<Host> => {
      const host = await addHost(name, nodeSubnet++, [], []);
      nodes.set(name, host);
      return host;
    };
    for (const name of spec.nodes) await addNode(name);
    return {
      vipInterface,
      vipPool,
      vipPool6,
      clients,
      nodes,
      addNode,
      vipAddresses: async () => {
        const links = JSON.parse(await ip('-j', 'addr', 'show', 'dev', vipInterface)) as { addr_info?: { local: string }[] }[];
        return links.flatMap((l) => (l.addr_info ?? []).map((a) => a.local));
      },
      destroy: async () => {
        destroySync();
        process.off('exit', destroySync);
        for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.off(signal, onSignal);
      },
    };
  } catch (err) {
    destroySync();
    throw err;
  }
}
