// Leader election against a real API server: one leader, takeover, step-down when cut off, release on stop.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { createInterface } from 'node:readline';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { ApiException, CoordinationV1Api, KubeConfig, type V1Lease } from '@kubernetes/client-node';
import { pino } from 'pino';
import { KubeClient } from '../../src/kube/client.ts';
import { LeaderElector, type LeaderElectionOptions } from '../../src/kube/leader-election.ts';
import { useControlPlane } from '../harness/node-test.ts';

const plane = useControlPlane();
const logger = pino({ level: 'silent' });
const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const electorModule = new URL('../../src/kube/leader-election.ts', import.meta.url).href;

// Short timings keep the suite quick; the ratios are client-go's (retry < renewDeadline < lease).
const FAST = { leaseDurationMs: 6_000, renewDeadlineMs: 3_000, retryPeriodMs: 500 };

const cleanups: Array<() => Promise<void> | void> = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

async function eventually(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`not within ${timeoutMs} ms: ${what}`);
    await sleep(50);
  }
}

let namespaces = 0;
async function freshNamespace(): Promise<string> {
  const name = `leader-${++namespaces}`;
  await plane().createNamespace(name);
  return name;
}

async function readLease(namespace: string, name = 'controller'): Promise<V1Lease | undefined> {
  try {
    return await plane().kubeConfig.makeApiClient(CoordinationV1Api).readNamespacedLease({ name, namespace });
  } catch (err) {
    if (err instanceof ApiException && err.code === 404) return undefined;
    throw err;
  }
}

/** Writes another holder into the Lease behind the electors' backs, retrying on the leader's concurrent renewals. */
async function overwriteHolder(namespace: string, holder: string): Promise<void> {
  const api = plane().kubeConfig.makeApiClient(CoordinationV1Api);
  await eventually('the lease was overwritten', async () => {
    const lease = (await readLease(namespace))!;
    lease.spec = { ...lease.spec, holderIdentity: holder, leaseTransitions: (lease.spec?.leaseTransitions ?? 0) + 1 };
    try {
      await api.replaceNamespacedLease({ name: 'controller', namespace, body: lease });
      return true;
    } catch (err) {
      if (err instanceof ApiException && err.code === 409) return false;
      throw err;
    }
  });
}

/** Everything any elector reported, in the order it happened. */
const timeline: string[] = [];

interface Candidate {
  id: string;
  elector: LeaderElector;
  started: number;
  stopped: number;
  newLeaders: string[];
}

function candidate(id: string, namespace: string, overrides: Partial<LeaderElectionOptions> = {}): Candidate {
  const elector = new LeaderElector({
    kubeConfig: plane().kubeConfig,
    namespace,
    leaseName: 'controller',
    identity: id,
    ...FAST,
    logger,
    ...overrides,
  });
  const c: Candidate = { id, elector, started: 0, stopped: 0, newLeaders: [] };
  elector.run({
    onStartedLeading: () => {
      c.started++;
      timeline.push(`${id} started`);
    },
    onStoppedLeading: () => {
      c.stopped++;
      timeline.push(`${id} stopped`);
    },
    onNewLeader: (leader) => c.newLeaders.push(leader),
  });
  cleanups.push(() => elector.stop());
  return c;
}

/** A TCP relay to the API server that can be made to swallow all traffic, as a network partition does. */
class Partitionable {
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  #partitioned = false;

  constructor(upstreamHost: string, upstreamPort: number) {
    this.#server = createServer((client) => {
      this.#sockets.add(client);
      client.on('close', () => this.#sockets.delete(client));
      client.on('error', () => client.destroy());
      if (this.#partitioned) return; // accepted, never answered
      const upstream = connect(upstreamPort, upstreamHost);
      this.#sockets.add(upstream);
      upstream.on('close', () => this.#sockets.delete(upstream));
      upstream.on('error', () => client.destroy());
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
      client.pipe(upstream).pipe(client);
    });
  }

  async listen(): Promise<number> {
    this.#server.listen(0, '127.0.0.1');
    await once(this.#server, 'listening');
    return (this.#server.address() as { port: number }).port;
  }

  partition(): void {
    this.#partitioned = true;
    for (const socket of this.#sockets) socket.destroy();
  }

  async close(): Promise<void> {
    this.partition();
    await new Promise((resolve) => this.#server.close(resolve));
  }
}

test('of two electors on one Lease exactly one leads, and the other knows who', async () => {
  const ns = await freshNamespace();
  const a = candidate('a', ns);
  const b = candidate('b', ns);
  await eventually('someone leads', () => a.elector.isLeader || b.elector.isLeader);
  const [leader, follower] = a.elector.isLeader ? [a, b] : [b, a];
  await eventually('the follower has read the lease', () => follower.elector.leaderKnown && follower.newLeaders.includes(leader.id));

  // Watch over two lease durations: renewals keep the leader, the follower never starts.
  for (let i = 0; i < 40; i++) {
    assert.equal(leader.elector.isLeader, true, 'the leader kept the lease');
    assert.equal(follower.elector.isLeader, false, 'the follower never led');
    await sleep(FAST.leaseDurationMs / 20);
  }
  assert.equal(follower.started, 0);
  assert.equal(leader.started, 1);
  assert.equal(leader.stopped, 0);

  const lease = await readLease(ns);
  assert.equal(lease?.spec?.holderIdentity, leader.id);
  assert.equal(lease?.spec?.leaseDurationSeconds, 6);
  assert.equal(lease?.spec?.leaseTransitions, 0, 'created by the leader, never taken over');
  assert.match(String(lease?.spec?.renewTime), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
  await Promise.all([a.elector.stop(), b.elector.stop()]);
});

test('when the leader process is killed, the other takes over once the lease expires', async (t) => {
  const ns = await freshNamespace();
  // A real crash: a child process holding the lease, killed with SIGKILL so it cannot release.
  const script = `
    const { KubeConfig } = await import('@kubernetes/client-node');
    const { pino } = await import('pino');
    const { LeaderElector } = await import(${JSON.stringify(electorModule)});
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromFile(process.env.KUBECONFIG);
    const elector = new LeaderElector({ kubeConfig, namespace: ${JSON.stringify(ns)}, leaseName: 'controller',
      identity: 'doomed', ...${JSON.stringify(FAST)}, logger: pino({ level: 'silent' }) });
    elector.run({ onStartedLeading: () => console.log('LEADING'), onStoppedLeading: () => console.log('STOPPED') });
  `;
  const child: ChildProcess = spawn(process.execPath, ['--input-type=module', '-e', script], {
    cwd: repoRoot,
    env: { ...process.env, KUBECONFIG: plane().kubeconfigPath },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  cleanups.push(() => void child.kill('SIGKILL'));
  const lines = createInterface({ input: child.stdout! });
  const [first] = (await once(lines, 'line')) as [string];
  assert.equal(first, 'LEADING');

  const survivor = candidate('survivor', ns);
  await eventually('the survivor saw the child lead', () => survivor.newLeaders.includes('doomed'));
  assert.equal(survivor.elector.isLeader, false);

  child.kill('SIGKILL');
  const killedAt = performance.now();
  await once(child, 'exit');
  const orphaned = await readLease(ns);
  assert.equal(orphaned?.spec?.holderIdentity, 'doomed', 'the dead leader did not release');
  const transitions = orphaned?.spec?.leaseTransitions ?? -1;

  await eventually('the survivor leads', () => survivor.elector.isLeader);
  t.diagnostic(
    `took over ${Math.round(performance.now() - killedAt)} ms after SIGKILL (lease ${FAST.leaseDurationMs} ms, retry ${FAST.retryPeriodMs} ms)`,
  );
  const taken = await readLease(ns);
  assert.equal(taken?.spec?.holderIdentity, 'survivor');
  assert.equal(taken?.spec?.leaseTransitions, transitions + 1);
  assert.equal(survivor.started, 1);
  await survivor.elector.stop();
});

test('a leader cut off from the API server stops leading before the other takes over', async () => {
  const ns = await freshNamespace();
  const apiserver = new URL(plane().server);
  const relay = new Partitionable(apiserver.hostname, Number(apiserver.port));
  cleanups.push(() => relay.close());
  const relayPort = await relay.listen();
  const admin = plane().kubeConfig;
  const viaRelay = new KubeConfig();
  viaRelay.loadFromOptions({
    clusters: admin.clusters.map((cluster) => ({ ...cluster, server: `https://127.0.0.1:${relayPort}` })),
    users: admin.users,
    contexts: admin.contexts,
    currentContext: admin.currentContext,
  });
  // The serving certificate names 127.0.0.1, so TLS through the relay still verifies.

  const isolated = candidate('isolated', ns, { kubeConfig: viaRelay });
  await eventually('the isolated one leads', () => isolated.elector.isLeader);
  const other = candidate('other', ns);
  await eventually('the other follows', () => other.newLeaders.includes('isolated'));

  timeline.length = 0;
  relay.partition();
  await eventually('the isolated leader gave up', () => isolated.stopped === 1);
  assert.equal(isolated.elector.isLeader, false);
  await eventually('the other leads', () => other.elector.isLeader);
  // renewDeadline < leaseDuration: the old leader gave up before anyone else could have started.
  assert.deepEqual(timeline, ['isolated stopped', 'other started']);
  assert.equal((await readLease(ns))?.spec?.holderIdentity, 'other');
  await other.elector.stop();
});

test('a graceful stop releases the lease, so the other takes over long before it would expire', async (t) => {
  const ns = await freshNamespace();
  // A 60 s lease: a takeover within the 20 s below can only come from the release.
  const slow = { leaseDurationMs: 60_000, renewDeadlineMs: 10_000, retryPeriodMs: 500 };
  const first = candidate('first', ns, slow);
  await eventually('first leads', () => first.elector.isLeader);
  const second = candidate('second', ns, slow);
  await eventually('second follows', () => second.newLeaders.includes('first'));
  const before = await readLease(ns);

  const stoppingAt = performance.now();
  await first.elector.stop();
  assert.equal(first.elector.isLeader, false);
  assert.equal(first.stopped, 0, 'a requested stop is not a loss of leadership');
  await eventually('second leads', () => second.elector.isLeader, 20_000);
  t.diagnostic(`took over ${Math.round(performance.now() - stoppingAt)} ms after stop() began (lease ${slow.leaseDurationMs} ms)`);
  const after = await readLease(ns);
  assert.equal(after?.spec?.holderIdentity, 'second');
  assert.equal(after?.spec?.leaseDurationSeconds, 60);
  assert.equal(after?.spec?.leaseTransitions, (before?.spec?.leaseTransitions ?? -1) + 1);
  await second.elector.stop();
  const released = await readLease(ns);
  assert.equal(released?.spec?.holderIdentity, '');
  assert.equal(released?.spec?.leaseDurationSeconds, 1);
});

test('a leader whose lease is overwritten by another holder steps down at its next renewal', async () => {
  const ns = await freshNamespace();
  const c = candidate('usurped', ns);
  await eventually('it leads', () => c.elector.isLeader);
  await overwriteHolder(ns, 'intruder');
  await eventually('it stepped down', () => c.stopped === 1);
  assert.equal(c.elector.isLeader, false);
  assert.equal(c.newLeaders.at(-1), 'intruder');
  await c.elector.stop();
  assert.equal((await readLease(ns))?.spec?.holderIdentity, 'intruder', 'stop() does not release a lease someone else holds');
});

test('a waiting elector sees the Lease change through its watch, without reading it again', async () => {
  const ns = await freshNamespace();
  // A long lease and retry period: the waiting elector has no reason to read the Lease again for 50 s.
  const slow = { leaseDurationMs: 60_000, renewDeadlineMs: 55_000, retryPeriodMs: 50_000 };
  const leader = candidate('holder', ns, { ...slow, retryPeriodMs: 500 });
  await eventually('it leads', () => leader.elector.isLeader);
  const client = new KubeClient(plane().kubeConfig);
  cleanups.push(() => client.close());
  let reads = 0;
  const request = client.request.bind(client);
  client.request = ((method: string, path: string, ...rest: unknown[]) => {
    if (method === 'GET' && path.endsWith('/leases/controller')) reads++;
    return (request as (...args: unknown[]) => Promise<unknown>)(method, path, ...rest);
  }) as typeof client.request;
  const waiting = candidate('waiting', ns, { ...slow, client });
  await eventually('it knows the holder', () => waiting.newLeaders.includes('holder'));
  assert.equal(reads, 1);
  // Another holder, written behind both electors' backs: only a watch tells the waiting one so soon.
  await overwriteHolder(ns, 'intruder');
  await eventually('the waiting elector saw the new holder', () => waiting.newLeaders.includes('intruder'));
  assert.equal(reads, 1, 'it read the Lease again instead of seeing the change through its watch');
  assert.equal(waiting.elector.isLeader, false);
});
