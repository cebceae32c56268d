// The embedded `local` provider: VIPs from address pools, served by an in-process L4 proxy that
// forwards to every eligible NodeIP:NodePort.
import type { Logger } from 'pino';
import { quoteList } from '../../error-message.ts';
import { canonicalIP } from '../../net/cidr.ts';
import type { ProviderDeps, ServiceEvents } from '../provider.ts';
import {
  invalidService,
  ProviderError,
  serviceKey,
  type DesiredLoadBalancer,
  type IngressStatus,
  type KnownLoadBalancer,
  type LoadBalancerIdentity,
  type LoadBalancerProvider,
  type ObservedLoadBalancer,
  type OwnedLoadBalancer,
  type Protocol,
} from '../provider.ts';
import { allocate, AllocationTable } from './allocation.ts';
import { parseAddressOptions } from './annotations.ts';
import type { LocalProviderConfig } from './config.ts';
import { HealthMonitor, probeKey } from './health.ts';
import { InterfaceAddresses } from './interface-addresses.ts';
import { isLoopback, parseIP } from './ip.ts';
import { dataPathLimits, fdLimit, workerShare, type DataPathLimits } from './limits.ts';
import { registerMetrics } from './metrics.ts';
import { parsePools, poolContains, poolOf, poolProblems, type Pool } from './pools.ts';
import type { FrontendGroupSpec } from './proxy-spec.ts';
import { ProxyWorkers } from './proxy-workers.ts';
import { planChecks, planFrontends, targetAddress } from './targets.ts';

/** What the provider keeps for each Service it serves. */
interface LoadBalancerRecord {
  identity: LoadBalancerIdentity;
  ingress: IngressStatus[];
  /** Absent for a load balancer rebuilt from status at start and not ensured since. */
  live?: {
    desired: DesiredLoadBalancer;
    ips: string[];
  };
}

const ownerKey = (id: LoadBalancerIdentity): string => `${serviceKey(id)}/${id.uid}`;

function ingressFor(ips: string[], ports: { port: number; protocol: Protocol }[]): IngressStatus[] {
  return ips.map((ip) => ({ ip, ipMode: 'Proxy' as const, ports: ports.map((p) => ({ port: p.port, protocol: p.protocol })) }));
}

class LocalProvider implements LoadBalancerProvider {
  readonly name = 'local';
  private readonly config: LocalProviderConfig;
  private readonly logger: Logger;
  private readonly pools: Pool[];
  private readonly table = new AllocationTable();
  private readonly records = new Map<string, LoadBalancerRecord>();
  private readonly iface: InterfaceAddresses | undefined;
  private readonly capacityFreed: () => void;
  private readonly events: ServiceEvents;
  private readonly health: HealthMonitor;
  /** Load balancers whose checks flipped, pushed together once the current burst of verdicts is in. */
  private readonly flipped = new Set<string>();
  private flushScheduled = false;
  private workers: ProxyWorkers | undefined;
  /** Each worker's share, set at start. */
  private limits: DataPathLimits | undefined;

  constructor(config: LocalProviderConfig, deps: ProviderDeps) {
    const problems = poolProblems(config.addressPools);
    if (problems.length > 0) throw new Error(`invalid provider.local configuration:\n  ${problems.join('\n  ')}`);
    this.config = config;
    this.logger = deps.logger;
    this.pools = parsePools(config.addressPools);
    this.capacityFreed = deps.capacityFreed;
    this.events = deps.events;
    this.iface = config.interface !== undefined ? new InterfaceAddresses(config.interface) : undefined;
    const settings = config.healthCheck;
    this.health = new HealthMonitor(
      {
        intervalMs: settings.intervalSeconds * 1_000,
        timeoutMs: settings.timeoutSeconds * 1_000,
        unhealthyThreshold: settings.unhealthyThreshold,
        healthyThreshold: settings.healthyThreshold,
      },
      (users, probe, healthy) => {
        this.logger.info({ node: probe.node, target: probeKey(probe), healthy, loadBalancers: users.size }, 'node health changed');
        for (const owner of users) this.flipped.add(owner);
        this.scheduleFlush();
      },
    );
    registerMetrics(deps.registry, {
      frontendStats: async () => (this.workers ? this.workers.stats() : []),
      targetHealth: () => this.health.verdicts().map((v) => ({ node: v.probe.node, target: probeKey(v.probe), healthy: v.healthy })),
      poolUsage: () =>
        this.pools.map((pool) => ({
          pool: pool.name,
          used: this.table.addresses().filter((ip) => poolContains(pool, parseIP(ip)!)).length,
        })),
    });
  }

  /** Addresses the provider must add to the interface itself (loopback ones are local already). */
  private managed(ip: string): boolean {
    return this.iface !== undefined && !isLoopback(parseIP(ip)!);
  }

  async start(known: KnownLoadBalancer[]): Promise<void> {
    for (const lb of known) {
      const ips = lb.ingress.flatMap((i) => (i.ip && canonicalIP(i.ip) ? [canonicalIP(i.ip)!] : []));
      if (ips.length === 0) continue;
      const ports = [...new Set(lb.ingress.flatMap((i) => (i.ports ?? []).map((p) => `${p.protocol}/${p.port}`)))];
      const outside = ips.filter((ip) => !poolOf(this.pools, parseIP(ip)!));
      if (outside.length > 0)
        this.logger.warn(
          { service: serviceKey(lb.identity), addresses: outside },
          'address in status is in no configured pool; it moves on the next sync',
        );
      this.table.assign(
        { owner: ownerKey(lb.identity), service: serviceKey(lb.identity), sharingKey: undefined, ports, restored: true },
        ips,
      );
      this.records.set(ownerKey(lb.identity), { identity: lb.identity, ingress: lb.ingress });
    }
    if (this.iface) {
      // Addresses of our pools left on the interface by Services deleted while no controller ran.
      const held = new Set(this.table.addresses());
      for (const address of await this.iface.list()) {
        const ip = parseIP(address);
        if (!ip || held.has(canonicalIP(address)!) || !poolOf(this.pools, ip) || !this.managed(address)) continue;
        this.logger.info({ address, interface: this.iface.iface }, 'removing address that no Service holds');
        await this.iface.remove(canonicalIP(address)!);
      }
    }
    const limits = dataPathLimits(this.config, fdLimit());
    this.limits = workerShare(limits, this.config.workers);
    this.workers = new ProxyWorkers(this.config.workers, this.logger, {
      maxConnections: this.limits.maxConnections,
      maxBufferedBytes: this.limits.maxBufferedBytes,
    });
    this.logger.info(
      { restored: this.records.size, workers: this.config.workers, pools: this.pools.map((p) => p.name), limits },
      'local provider started',
    );
  }

  /**
   * The pools were validated when the provider was built (it refuses unusable ones), so what can go wrong
   * later is the host: the configured interface (or the `ip` command start() and every VIP change use).
   */
  async checkReady(): Promise<string[]> {
    if (!this.iface) return [];
    try {
      await this.iface.list();
      return [];
    } catch (err) {
      return [(err as Error).message];
    }
  }

  async stop(): Promise<void> {
    this.health.stop();
    // VIPs stay on the interface: a restarted controller serves the same addresses.
    await this.workers?.shutdown(this.config.drainGraceSeconds * 1_000);
    this.workers = undefined;
  }

  async get(identity: LoadBalancerIdentity): Promise<ObservedLoadBalancer | undefined> {
    const b = this.records.get(ownerKey(identity));
    return b ? { ingress: structuredClone(b.ingress) } : undefined;
  }

  async listOwned(): Promise<OwnedLoadBalancer[]> {
    return [...this.records.values()].map((b) => ({ identity: { ...b.identity } }));
  }

  async ensure(desired: DesiredLoadBalancer): Promise<IngressStatus[]> {
    const owner = ownerKey(desired.identity);
    const service = serviceKey(desired.identity);
    const unsupported = desired.listeners.filter((l) => l.protocol !== 'TCP' && l.protocol !== 'UDP');
    if (unsupported.length > 0) {
      throw invalidService(
        `the local provider carries TCP and UDP only; port ${unsupported.map((l) => `${l.port}/${l.protocol}`).join(', ')} is not supported`,
      );
    }
    const options = parseAddressOptions(desired.annotations, desired.requestedIPs);
    if (!options.ok) throw invalidService(options.message);

    const ports = desired.listeners.map((l) => `${l.protocol}/${l.port}`);
    const result = allocate(this.table, this.pools, {
      owner,
      service,
      families: desired.ipFamilies,
      requested: options.value.requestedIPs,
      pool: options.value.pool,
      sharingKey: options.value.sharingKey,
      ports,
      current: desired.currentIngress.flatMap((i) => (i.ip && canonicalIP(i.ip) ? [canonicalIP(i.ip)!] : [])),
    });
    if (!result.ok) throw new ProviderError(result.message, { retryable: false, waitsForCapacity: result.waitsForCapacity });
    const before = this.table.claims(owner);
    const freed = this.table.assign({ owner, service, sharingKey: options.value.sharingKey, ports, restored: false }, result.ips);
    if (freed.length > 0 || this.records.get(owner)?.live?.ips.join() !== result.ips.join()) {
      this.logger.info({ service, addresses: result.ips, freed }, 'addresses allocated');
    }

    for (const ip of result.ips) if (this.managed(ip)) await this.iface!.add(ip);
    const ingress = ingressFor(result.ips, desired.listeners);
    await this.serve(desired, result.ips, ingress);
    await this.unplug(freed);
    const after = this.table.claims(owner);
    if ([...before].some((claim) => !after.has(claim))) this.capacityFreed();
    return structuredClone(ingress);
  }

  /** False when the backends (node addresses per frontend) stay the same, e.g. a node with only an ExternalIP came. */
  async updateTargets(desired: DesiredLoadBalancer): Promise<boolean> {
    const live = this.records.get(ownerKey(desired.identity))?.live;
    if (!live) {
      await this.ensure(desired);
      return true;
    }
    const backends = (d: DesiredLoadBalancer) =>
      JSON.stringify(planFrontends(d, live.ips, this.config.nodeAddressPreference, this.config.healthCheck.cluster, () => true).frontends);
    const changed = backends(live.desired) !== backends(desired);
    await this.serve(desired, live.ips, this.records.get(ownerKey(desired.identity))!.ingress);
    return changed;
  }

  async delete(identity: LoadBalancerIdentity): Promise<void> {
    const owner = ownerKey(identity);
    const b = this.records.get(owner);
    if (b) {
      this.health.release(owner);
      this.records.delete(owner);
      await this.workers?.remove(owner);
    }
    const held = this.table.ipsOf(owner).length > 0;
    const freed = this.table.release(owner);
    await this.unplug(freed);
    if (held) this.capacityFreed();
    if (b || freed.length > 0) this.logger.info({ service: serviceKey(identity), freed }, 'load balancer deleted');
  }

  /** Removes freed addresses from the interface. */
  private async unplug(freed: string[]): Promise<void> {
    for (const ip of freed) if (this.managed(ip)) await this.iface!.remove(ip);
  }

  /** Points the workers at the desired targets, after a first health verdict for each new check. */
  private async serve(desired: DesiredLoadBalancer, ips: string[], ingress: IngressStatus[]): Promise<void> {
    const owner = ownerKey(desired.identity);
    if (!this.workers) throw new ProviderError('the local provider is not started', { retryable: true });
    const b = this.records.get(owner);
    if (b?.live) {
      b.identity = desired.identity;
      b.ingress = ingress;
      b.live.desired = desired;
      b.live.ips = ips;
    } else this.records.set(owner, { identity: desired.identity, ingress, live: { desired, ips } });
    this.warnUnaddressable(desired, ips);
    const probes = planChecks(desired, ips, this.config.nodeAddressPreference, this.config.healthCheck.cluster);
    // Checks are shared: only a node (or health check port) no load balancer used before waits for a probe.
    await this.health.use(owner, probes);
    const errors = await this.push(owner);
    if (errors.length > 0) throw new ProviderError(errors.join('; '), { retryable: true });
  }

  /** Verdicts flip one check at a time; the load balancers they touch are pushed once per turn of the loop. */
  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      const owners = [...this.flipped];
      this.flipped.clear();
      for (const owner of owners) {
        this.push(owner).then(
          (errors) => {
            if (errors.length > 0) this.logger.error({ owner, errors }, 'cannot update proxy after a health change');
          },
          (err: unknown) => this.logger.error({ err, owner }, 'cannot update proxy after a health change'),
        );
      }
    });
  }

  /**
   * Nodes with no usable address of the preferred types (none at all, or only garbage) get no traffic;
   * without this the owner would see fewer backends and no reason.
   */
  private warnUnaddressable(desired: DesiredLoadBalancer, ips: string[]): void {
    const family = parseIP(ips[0] ?? '')?.family ?? 'IPv4';
    const preference = this.config.nodeAddressPreference;
    const skipped = desired.targets.filter((t) => targetAddress(t, family, preference) === undefined).map((t) => t.nodeName);
    if (skipped.length === 0) return;
    this.events.record(
      desired.identity,
      'Warning',
      'NodeWithoutAddress',
      `${skipped.length === 1 ? 'node' : 'nodes'} ${quoteList(skipped)} ${skipped.length === 1 ? 'has' : 'have'} no valid ` +
        `${preference.join(' or ')} address and get${skipped.length === 1 ? 's' : ''} no traffic`,
    );
  }

  /** Sends the Service's current frontends, with current health, to the workers. */
  private async push(owner: string): Promise<string[]> {
    const b = this.records.get(owner);
    if (!b?.live || !this.workers || !this.limits) return [];
    const live = b.live;
    const plan = planFrontends(
      live.desired,
      live.ips,
      this.config.nodeAddressPreference,
      this.config.healthCheck.cluster,
      (key) => this.health.healthy(key) === true,
    );
    const spec: FrontendGroupSpec = {
      key: owner,
      service: serviceKey(b.identity),
      frontends: plan.frontends,
      sourceRanges: live.desired.sourceRanges,
      affinity: live.desired.sessionAffinity.type,
      drainGraceMs: this.config.drainGraceSeconds * 1_000,
      udpIdleMs: this.config.udpIdleTimeoutSeconds * 1_000,
      udpMaxFlows: this.limits.udpMaxFlowsPerListener,
      maxConnectionsPerListener: this.limits.maxConnectionsPerListener,
      idleTimeoutMs: this.config.idleTimeoutSeconds * 1_000,
    };
    return this.workers.apply(spec);
  }
}

export function createLocalProvider(config: LocalProviderConfig, deps: ProviderDeps): LoadBalancerProvider {
  return new LocalProvider(config, deps);
}
