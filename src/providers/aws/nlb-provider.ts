// The AWS provider: one Network Load Balancer per Service, targets NodeIP:NodePort.
//
// Steady state is cheap on purpose. After a full sync the provider remembers, per Service, a hash of the
// desired AWS state and the ARNs it ended with. A later ensure with the same hash makes ONE read
// (DescribeListeners on the remembered load balancer), which proves the load balancer still exists and
// that every listener still forwards to our group (a group a listener uses cannot be deleted). Anything
// else - a changed Service, a vanished load balancer or listener, a restart, or fullVerifySeconds since
// the last full read - takes the full path: read everything, plan, apply. Drift that leaves the listeners
// intact (a target deregistered by hand, an edited health check, tags, security group rules) is therefore
// repaired at the next full read, not at every resync; node changes always diff against
// DescribeTargetHealth.

import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import {
  invalidService,
  serviceKey,
  type DesiredLoadBalancer,
  type IngressStatus,
  type KnownLoadBalancer,
  type LoadBalancerIdentity,
  type LoadBalancerProvider,
  type ObservedLoadBalancer,
  type OwnedLoadBalancer,
  type ProviderDeps,
} from '../provider.ts';
import { parseAwsAnnotations } from './annotations.ts';
import { AwsApi } from './api.ts';
import { applyActions, stateFromObserved, stateOfTargetGroups, type AppliedListener, type ApplyContext } from './apply.ts';
import type { AwsProviderConfig } from './config.ts';
import { buildDesiredNlb, resolveScheme } from './desired.ts';
import { toProviderError } from './errors.ts';
import { Inventory, type OwnedResource } from './inventory.ts';
import type { Action, DesiredNlb, ObservedListener } from './model.ts';
import { NetworkInfo } from './network.ts';
import {
  describeTags,
  observeDeletion,
  observeNlb,
  ownedBy,
  readEipAddresses,
  readListeners,
  readLoadBalancer,
  readTargets,
} from './observe.ts';
import { planDeletion, planNlb, planTargets } from './plan.ts';
import { vpcProblems } from './readiness.ts';

/** What a full sync ended with, so that an unchanged resync can check it with one read. */
interface SyncedState {
  specKey: string;
  targetsKey: string;
  loadBalancerArn: string;
  listeners: Map<number, AppliedListener>;
  /** Desired target group name -> ARN. */
  targetGroups: Map<string, string>;
  ingress: IngressStatus[];
  verifiedAt: number;
}

function hash(value: unknown): string {
  return createHash('sha256').update(JSON.stringify(value)).digest('hex');
}

function ingressOf(dnsName: string, ips: string[]): IngressStatus[] {
  return [{ hostname: dnsName }, ...ips.map((ip) => ({ ip }))];
}

function listenersMatch(remembered: Map<number, AppliedListener>, observed: ObservedListener[]): boolean {
  if (remembered.size !== observed.length) return false;
  return observed.every((l) => {
    const r = remembered.get(l.port);
    return r !== undefined && r.arn === l.arn && r.protocol === l.protocol && r.targetGroupArn === l.targetGroupArn;
  });
}

function targetCount(actions: Action[], type: 'registerTargets' | 'deregisterTargets'): number {
  return actions.reduce((n, a) => n + (a.type === type && 'targets' in a ? a.targets.length : 0), 0);
}

export class AwsNlbProvider implements LoadBalancerProvider {
  readonly name = 'aws';
  readonly #config: AwsProviderConfig;
  readonly #clusterName: string;
  readonly #logger: Logger;
  readonly #api: AwsApi;
  readonly #network: NetworkInfo;
  readonly #inventory: Inventory;
  readonly #synced = new Map<string, SyncedState>();

  constructor(config: AwsProviderConfig, deps: ProviderDeps) {
    this.#config = config;
    this.#clusterName = deps.clusterName;
    this.#logger = deps.logger;
    this.#api = new AwsApi(config, { registry: deps.registry, logger: this.#logger });
    this.#network = new NetworkInfo(this.#api, config, deps.clusterName);
    this.#inventory = new Inventory(this.#api, deps.clusterName, config.vpcId);
  }

  async start(_known: KnownLoadBalancer[]): Promise<void> {
    // Warm up in the background; the first full sync waits for (or retries) the same scan.
    this.#inventory.ensureLoaded().catch((err: unknown) => {
      this.#logger.warn({ err: toProviderError(err, 'scan').message }, 'initial target group scan failed; retrying on first sync');
    });
  }

  async stop(): Promise<void> {
    this.#api.destroy();
  }

  checkReady(): Promise<string[]> {
    return vpcProblems(this.#api, this.#config);
  }

  async get(identity: LoadBalancerIdentity): Promise<ObservedLoadBalancer | undefined> {
    try {
      const lb = await readLoadBalancer(this.#api, identity.lbName);
      if (!lb?.LoadBalancerArn) return undefined;
      const tags = (await describeTags(this.#api, [lb.LoadBalancerArn])).get(lb.LoadBalancerArn) ?? {};
      if (!ownedBy(tags, identity)) return undefined;
      const eips = (lb.AvailabilityZones ?? []).flatMap((z) =>
        (z.LoadBalancerAddresses ?? []).filter((a) => a.AllocationId && a.IpAddress).map((a) => a.IpAddress!),
      );
      return { ingress: ingressOf(lb.DNSName ?? '', eips) };
    } catch (err) {
      throw toProviderError(err, `AWS: reading the load balancer of ${serviceKey(identity)}`);
    }
  }

  ensure(desired: DesiredLoadBalancer): Promise<IngressStatus[]> {
    return this.#sync(desired, false);
  }

  async updateTargets(desired: DesiredLoadBalancer): Promise<void> {
    await this.#sync(desired, true);
  }

  async #sync(desired: DesiredLoadBalancer, readTargetsNow: boolean): Promise<IngressStatus[]> {
    const { identity } = desired;
    const started = performance.now();
    try {
      const options = parseAwsAnnotations(desired.annotations);
      const scheme = resolveScheme(options, this.#config.scheme);
      const [subnetIds, vpcCidrs] = await Promise.all([this.#network.subnets(scheme, options.subnets), this.#network.vpcCidrs()]);
      const nlb = buildDesiredNlb(desired, options, {
        clusterName: this.#clusterName,
        scheme,
        subnetIds,
        vpcCidrs,
        nodeAddressPreference: this.#config.nodeAddressPreference,
      });
      const specKey = hash({ ...nlb, targetGroups: nlb.targetGroups.map((tg) => ({ ...tg, targets: [] })) });
      const targetsKey = hash(nlb.targetGroups.map((tg) => [tg.name, tg.targets]));

      const synced = this.#synced.get(identity.uid);
      const fresh = synced !== undefined && Date.now() - synced.verifiedAt < this.#config.fullVerifySeconds * 1000;
      if (synced && fresh && synced.specKey === specKey && (await this.#quickCheck(identity, synced, nlb, targetsKey, readTargetsNow))) {
        return synced.ingress;
      }
      const ingress = await this.#fullSync(identity, nlb, options.eipAllocations ?? [], specKey, targetsKey);
      this.#logger.info(
        { service: serviceKey(identity), durationMs: Math.round(performance.now() - started) },
        'load balancer in sync (full read)',
      );
      return ingress;
    } catch (err) {
      this.#synced.delete(identity.uid);
      throw toProviderError(err, `AWS: syncing the load balancer of ${serviceKey(identity)}`);
    }
  }

  /** One DescribeListeners; then, only if the node set changed (or a host update asks), the targets. */
  async #quickCheck(
    identity: LoadBalancerIdentity,
    synced: SyncedState,
    nlb: DesiredNlb,
    targetsKey: string,
    readTargetsNow: boolean,
  ): Promise<boolean> {
    const listeners = await readListeners(this.#api, synced.loadBalancerArn);
    if (!listeners) {
      this.#logger.warn({ service: serviceKey(identity) }, 'load balancer disappeared; recreating');
      return false;
    }
    if (!listenersMatch(synced.listeners, listeners)) {
      this.#logger.warn({ service: serviceKey(identity) }, 'listeners changed behind our back; repairing');
      return false;
    }
    if (readTargetsNow || synced.targetsKey !== targetsKey) {
      const ctx = this.#applyContext(identity);
      const state = stateOfTargetGroups(synced.targetGroups);
      for (const tg of nlb.targetGroups) {
        const arn = synced.targetGroups.get(tg.name);
        if (!arn) return false;
        const actions = planTargets(await readTargets(this.#api, arn), tg);
        await applyActions(ctx, state, actions);
        if (actions.length > 0) {
          this.#logger.info(
            {
              service: serviceKey(identity),
              registered: targetCount(actions, 'registerTargets'),
              deregistered: targetCount(actions, 'deregisterTargets'),
            },
            'targets updated',
          );
        }
      }
      synced.targetsKey = targetsKey;
    }
    return true;
  }

  #applyContext(identity: LoadBalancerIdentity): ApplyContext {
    const index = this.#inventory.targetGroups;
    return {
      api: this.#api,
      vpcId: this.#config.vpcId,
      logger: this.#logger,
      service: serviceKey(identity),
      targetGroupCreated: (arn, name) => index.add(identity.uid, arn, name),
      targetGroupDeleted: (arn) => index.remove(arn),
      targetGroupFound: async (name) => {
        const tg = (await this.#inventory.scanTargetGroups()).find((g) => g.name === name && g.identity.uid === identity.uid);
        if (!tg) throw invalidService(`an AWS target group named "${name}" exists but is not owned by this Service`);
      },
    };
  }

  async #fullSync(
    identity: LoadBalancerIdentity,
    nlb: DesiredNlb,
    eipAllocations: string[],
    specKey: string,
    targetsKey: string,
  ): Promise<IngressStatus[]> {
    await this.#inventory.ensureLoaded();
    const index = this.#inventory.targetGroups;
    const eipIps = eipAllocations.length > 0 ? await readEipAddresses(this.#api, eipAllocations) : [];
    const { observed, vanishedTargetGroupArns } = await observeNlb(
      this.#api,
      identity,
      nlb,
      this.#config.vpcId,
      index.arnsOf(identity.uid),
    );
    for (const arn of vanishedTargetGroupArns) index.remove(arn);
    for (const tg of observed.targetGroups) index.add(identity.uid, tg.arn, tg.name);

    const actions = planNlb(observed, nlb);
    const state = stateFromObserved(observed);
    await applyActions(this.#applyContext(identity), state, actions);

    const loadBalancerArn = state.loadBalancerArn;
    if (!loadBalancerArn || state.dnsName === undefined) throw new Error('load balancer missing after a completed plan');
    const ingress = ingressOf(state.dnsName, eipIps);
    this.#synced.set(identity.uid, {
      specKey,
      targetsKey,
      loadBalancerArn,
      listeners: new Map(state.listeners),
      targetGroups: new Map(nlb.targetGroups.map((tg) => [tg.name, state.targetGroupArns.get(tg.name)!])),
      ingress,
      verifiedAt: Date.now(),
    });
    return ingress;
  }

  /** Listeners, load balancer, target groups, security group; each step accepts "already gone". */
  async delete(identity: LoadBalancerIdentity): Promise<void> {
    const service = serviceKey(identity);
    try {
      await this.#inventory.ensureLoaded();
      const remembered = [...(this.#synced.get(identity.uid)?.targetGroups ?? [])].map(([name, arn]) => ({ arn, name }));
      this.#synced.delete(identity.uid);
      const known = [...this.#inventory.targetGroups.groupsOf(identity.uid), ...remembered];
      const observed = await observeDeletion(this.#api, identity, this.#config.vpcId, known);
      if (observed.loadBalancer && !observed.loadBalancer.owned) {
        this.#logger.warn({ service, loadBalancer: identity.lbName }, 'a load balancer with this name is not ours; left alone');
      }
      await applyActions(this.#applyContext(identity), stateOfTargetGroups(), planDeletion(observed));
      this.#logger.info({ service }, 'load balancer deleted');
    } catch (err) {
      throw toProviderError(err, `AWS: deleting the load balancer of ${service}`);
    }
  }

  /** Every NLB, target group and security group tagged as owned by this cluster, one entry per Service UID. */
  async listOwned(): Promise<OwnedLoadBalancer[]> {
    try {
      const [lbs, sgs, tgs] = await Promise.all([
        this.#inventory.scanLoadBalancers(),
        this.#inventory.scanSecurityGroups(),
        this.#inventory.scanTargetGroups(),
      ]);
      // A group of a live Service that its remembered state does not use was left by an interrupted sync:
      // forget the state so that the next ensure reads everything and deletes it.
      for (const tg of tgs) {
        const synced = this.#synced.get(tg.identity.uid);
        if (synced && ![...synced.targetGroups.values()].includes(tg.id)) this.#synced.delete(tg.identity.uid);
      }
      const byUid = new Map<string, OwnedResource>();
      for (const r of [...lbs, ...sgs, ...tgs]) if (!byUid.has(r.identity.uid)) byUid.set(r.identity.uid, r);
      return [...byUid.values()].map((r) => ({ identity: r.identity }));
    } catch (err) {
      throw toProviderError(err, 'AWS: listing owned load balancers');
    }
  }
}
