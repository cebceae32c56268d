// Helpers for the network-namespace tests: polling, which nodes answered, and the controller's config.
import type { DesiredLoadBalancer, Listener } from '../../src/providers/provider.ts';
import type { Host, Topology } from './netns/topology.ts';
import { plainServiceDefaults } from '../fakes/desired-defaults.ts';

/** Polls until check returns a value other than undefined; fails with the last seen state. */
export async function until<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

export interface Reply {
  reply?: string;
  error?: string;
  bytes?: number;
}

/** The node names that answered `count` requests from the client (one new connection each). */
export async function nodesReached(
  client: Host,
  ip: string,
  port: number,
  count: number,
  protocol: 'TCP' | 'UDP' = 'TCP',
): Promise<string[]> {
  const seen: string[] = [];
  for (let i = 0; i < count; i++) {
    const r = await client.agent.call<Reply>(protocol === 'TCP' ? 'request' : 'udp', {
      host: ip,
      port,
      message: `m${i}`,
      timeoutMs: 2_000,
    });
    if (r.reply) seen.push(r.reply.split(' ')[0]!);
  }
  return seen;
}

export function desiredFor(
  name: string,
  listeners: Omit<Listener, 'name'>[],
  nodes: Host[],
  extra: Partial<DesiredLoadBalancer> = {},
): DesiredLoadBalancer {
  return {
    identity: { clusterName: 'e2e', namespace: 'default', name, uid: `uid-${name}`, lbName: `a${name}` },
    listeners: listeners.map((l, i) => ({ name: `p${i}`, ...l })),
    targets: nodes.map((n) => ({
      nodeName: n.name,
      addresses: [
        { type: 'InternalIP', address: n.address },
        { type: 'InternalIP', address: n.address6 },
      ],
    })),
    ...plainServiceDefaults(),
    ...extra,
  };
}

/**
 * The config of a controller (and of its proxy, with dataPath external) serving the topology's VIP pool on
 * its interface, with fast health checks and backoff; `local` adds to provider.local. Servers take free
 * ports. The local provider serves one host, so a restart is a process replaced in place, without a
 * lease to wait for.
 */
export function localConfig(topo: Topology, local: Record<string, unknown> = {}) {
  return {
    clusterName: 'e2e',
    provider: {
      name: 'local',
      local: {
        addressPools: [{ name: 'e2e', addresses: [topo.vipPool] }],
        interface: topo.vipInterface,
        healthCheck: { intervalSeconds: 0.2, timeoutSeconds: 0.5 },
        ...local,
      },
    },
    controller: { backoff: { initial: '500ms', max: '5s' } },
    leaderElection: { enabled: false },
    server: { metricsAddress: '127.0.0.1:0', healthAddress: '127.0.0.1:0' },
    logging: { level: 'debug' },
  };
}
