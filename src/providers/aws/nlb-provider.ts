// The AWS provider: one Network Load Balancer per Service, targets NodeIP:NodePort.
//
// Steady state is cheap on purpose. After a full sync the provider remembers, per Service, a hash of the
// desired AWS state and the ARNs it ended with. A later ensure with the same hash makes ONE read
// (DescribeListeners on the remembered load balancer), which proves the load balancer still exists and
// that every listener still forwards to our group (a group a listener uses cannot be deleted). Anything
// else - a changed Service, a vanished load balancer or listener, a restart, or fullVerifySeconds since
// the last full read - takes the full path: read everything, plan, apply. Drift that leaves the listeners
// intact (a target deregistered by hand, an edited health check, tags, security group rules) is therefore
// repaired at the next full read, not at every resync. A node change that changes the Service's targets
// diffs them against DescribeTargetHealth; one that does not (another node's labels) makes no call.

import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import { quoteList } from '../../error-message.ts';
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
import { Annotations, parseAwsAnnotations, type AwsServiceOptions } from './annotations.ts';
import { AwsApi } from './api.ts';
import { applyActions, stateFromObserved, stateOfTargetGroups, type AppliedListener, type ApplyContext } from './apply.ts';
import type { AwsProviderConfig } from './config.ts';
import { findLegacyClassicElb, legacyClassicElbMessage } from './classic-elb.ts';
import { buildDesiredNlb, resolveScheme } from './desired.ts';
import { toProviderError } from './errors.ts';
import { Inventory, type OwnedResource } from './inventory.ts';
import { nodesWithLabels } from './targets.ts';
import type { Action, DesiredNlb, ObservedListener } from './model.ts';
import { NetworkInfo } from './network.ts';
import {
  adoptable,
  describeTags,
  observeDeletion,
  observeNlb,
  ownedBy,
  checkEipAllocations,
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

/**
 * The DNS name only, also with EIPs (as cloud-provider-aws does): an ip entry would make kube-proxy
 * short-circuit in-cluster traffic to that IP (skipping proxy protocol and source ranges).
 */
function ingressOf(dnsName: string): IngressStatus[] {
  return [{ hostname: dnsName }];
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
  readonly #events: ProviderDeps['events'];
  /** Service UIDs already checked for a Classic ELB cloud-provider-aws left: one look-up (and Warning) per run. */
  readonly #classicChecked = new Set<string>();

  constructor(config: AwsProviderConfig, deps: ProviderDeps) {
    this.#config = config;
    this.#clusterName = deps.clusterName;
    this.#logger = deps.logger;
    this.#events = deps.events;
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
      if (!ownedBy(tags, identity) && !adoptable(tags, identity)) return undefined;
      return { ingress: ingressOf(lb.DNSName ?? '') };
    } catch (err) {
      throw toProviderError(err, `AWS: reading the load balancer of ${serviceKey(identity)}`);
    }
  }

  ensure(desired: DesiredLoadBalancer): Promise<IngressStatus[]> {
    return this.#sync(desired, false);
  }

  /** False when no target was registered or deregistered (and no full sync was needed). */
  async updateTargets(desired: DesiredLoadBalancer): Promise<boolean> {
    const changes = { targets: false };
    await this.#sync(desired, true, changes);
    return changes.targets;
  }

  async #sync(desired: DesiredLoadBalancer, hostUpdate: boolean, changes = { targets: false }): Promise<IngressStatus[]> {
    const { identity } = desired;
    const started = performance.now();
    try {
      const options = parseAwsAnnotations(desired.annotations);
      if (options.type !== 'nlb' && !this.#config.claimExternalType) return await this.#standDown(desired, options.type, hostUpdate);
      // A host update repeats what the last ensure said; the ensure (a Service change) is what announces.
      if (!hostUpdate) {
        this.#warnUnsupported(identity, options);
        this.#warnNoMatchingNodes(desired, options);
      }
      const scheme = resolveScheme(options, this.#config.scheme);
      const manageBackend = options.manageBackendRules ?? options.securityGroups === undefined;
      if (options.securityGroups && manageBackend) {
        throw invalidService(
          `annotation ${Annotations.manageBackendRules}: with ${Annotations.securityGroups}, this provider does not edit node security groups (it only opens them from the group it creates); allow the load balancer's groups on the nodes yourself`,
        );
      }
      const [subnetIds, vpcCidrs, nodeSecurityGroupIds, securityGroupIds] = await Promise.all([
        this.#network.subnets(scheme, options.subnets),
        this.#network.vpcCidrs(),
        this.#network.nodeSecurityGroups(),
        options.securityGroups ? this.#network.securityGroups(options.securityGroups) : undefined,
      ]);
      const nlb = buildDesiredNlb(desired, options, {
        clusterName: this.#clusterName,
        scheme,
        subnetIds,
        vpcCidrs,
        nodeAddressPreference: this.#config.nodeAddressPreference,
        nodeSecurityGroupIds: manageBackend ? nodeSecurityGroupIds : [],
        ...(securityGroupIds ? { securityGroupIds } : {}),
      });
      const specKey = hash({ ...nlb, targetGroups: nlb.targetGroups.map((tg) => ({ ...tg, targets: [] })) });
      const targetsKey = hash(nlb.targetGroups.map((tg) => [tg.name, tg.targets]));

      const synced = this.#synced.get(identity.uid);
      const fresh = synced !== undefined && Date.now() - synced.verifiedAt < this.#config.fullVerifySeconds * 1000;
      // A node change that leaves this Service's targets as they are (another node's labels, an address of
      // a type not used, a node target-node-labels leaves out) has nothing to do here: no call.
      if (hostUpdate && synced && fresh && synced.specKey === specKey && synced.targetsKey === targetsKey) return synced.ingress;
      if (synced && fresh && synced.specKey === specKey && (await this.#quickCheck(identity, synced, nlb, targetsKey, changes))) {
        return synced.ingress;
      }
      // A full sync may change anything, targets included.
      changes.targets = true;
      const ingress = await this.#fullSync(identity, nlb, options.eipAllocations ?? [], nodeSecurityGroupIds, specKey, targetsKey);
      await this.#reportLegacyClassicElb(identity);
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

  /**
   * aws-load-balancer-type external / nlb-ip: the AWS Load Balancer Controller owns the Service. Nothing is
   * created; what this provider made before the annotation appeared is deleted (its NLB would be a second,
   * billed entry point); the status is handed back as it is, so that the core writes nothing over the other
   * controller's. One Normal event per full ensure, which the core makes only when the Service changes.
   */
  async #standDown(desired: DesiredLoadBalancer, type: string, hostUpdate: boolean): Promise<IngressStatus[]> {
    const { identity } = desired;
    this.#synced.delete(identity.uid);
    if (hostUpdate) return desired.currentIngress;
    await this.delete(identity);
    this.#events.record(
      identity,
      'Normal',
      'StandingDown',
      `${Annotations.type}: ${type} hands this Service to the AWS Load Balancer Controller; no NLB is made here (set provider.aws.claimExternalType to serve it)`,
    );
    return desired.currentIngress;
  }

  #warnUnsupported(identity: LoadBalancerIdentity, options: AwsServiceOptions): void {
    if (options.unsupported.length > 0) {
      this.#events.record(
        identity,
        'Warning',
        'UnsupportedAnnotation',
        `ignored: this provider does not implement ${options.unsupported.join(', ')} (see the AWS provider README)`,
      );
    }
  }

  /** target-node-labels that no eligible node matches leave the NLB without targets: worth a word. */
  #warnNoMatchingNodes(desired: DesiredLoadBalancer, options: AwsServiceOptions): void {
    const selector = options.targetNodeLabels;
    if (!selector || desired.targets.length === 0 || nodesWithLabels(desired.targets, selector).length > 0) return;
    const labels = Object.entries(selector).map(([key, value]) => (value === '' ? key : `${key}=${value}`));
    this.#events.record(
      desired.identity,
      'Warning',
      'NoMatchingNodes',
      `none of the ${desired.targets.length} eligible nodes has every label in ${Annotations.targetNodeLabels} (${quoteList(labels)}); the load balancer has no targets`,
    );
  }

  /**
   * A Classic ELB cloud-provider-aws left for the Service gets a Warning with the commands that remove it:
   * this provider makes NLBs only, and deleting it would cut off the clients still using its DNS name. A
   * failed look-up only logs (the NLB is in sync) and is tried again at the next full sync.
   */
  async #reportLegacyClassicElb(identity: LoadBalancerIdentity): Promise<void> {
    if (this.#classicChecked.has(identity.uid)) return;
    try {
      const elb = await findLegacyClassicElb(this.#api, identity);
      this.#classicChecked.add(identity.uid);
      if (elb) this.#events.record(identity, 'Warning', 'LegacyClassicLoadBalancer', legacyClassicElbMessage(elb, this.#config.region));
    } catch (err) {
      this.#logger.warn(
        { service: serviceKey(identity), err: toProviderError(err, 'looking for a Classic ELB').message },
        'could not check for a Classic ELB left by cloud-provider-aws; trying again at the next full sync',
      );
    }
  }

  /** One DescribeListeners; then, only if the targets changed, DescribeTargetHealth per group and the diff. */
  async #quickCheck(
    identity: LoadBalancerIdentity,
    synced: SyncedState,
    nlb: DesiredNlb,
    targetsKey: string,
    changes: { targets: boolean },
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
    if (synced.targetsKey !== targetsKey) {
      const ctx = this.#applyContext(identity);
      const state = stateOfTargetGroups(synced.targetGroups);
      for (const tg of nlb.targetGroups) {
        const arn = synced.targetGroups.get(tg.name);
        if (!arn) return false;
        const actions = planTargets(await readTargets(this.#api, arn), tg);
        await applyActions(ctx, state, actions);
        if (actions.length > 0) {
          changes.targets = true;
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
      event: (type, reason, message) => this.#events.record(identity, type, reason, message),
    };
  }

  async #fullSync(
    identity: LoadBalancerIdentity,
    nlb: DesiredNlb,
    eipAllocations: string[],
    nodeSecurityGroupIds: string[],
    specKey: string,
    targetsKey: string,
  ): Promise<IngressStatus[]> {
    await this.#inventory.ensureLoaded();
    const index = this.#inventory.targetGroups;
    // An allocation that does not exist fails here, naming the annotation, before anything is replaced.
    if (eipAllocations.length > 0) await checkEipAllocations(this.#api, eipAllocations);
    const { observed, vanishedTargetGroupArns, adopted } = await observeNlb(this.#api, identity, nlb, {
      vpcId: this.#config.vpcId,
      knownTargetGroupArns: index.arnsOf(identity.uid),
      nodeSecurityGroupIds,
      findNameByTags: () => this.#findNameByTags(identity),
    });
    for (const arn of vanishedTargetGroupArns) index.remove(arn);
    for (const tg of observed.targetGroups) index.add(identity.uid, tg.arn, tg.name);

    if (adopted) {
      this.#events.record(
        identity,
        'Normal',
        'AdoptingLoadBalancer',
        `taking over load balancer ${nlb.name}, made by cloud-provider-aws for this Service: adding this controller's tags and reconciling it`,
      );
    }
    const actions = planNlb(observed, nlb);
    const state = stateFromObserved(observed);
    await applyActions(this.#applyContext(identity), state, actions);

    const loadBalancerArn = state.loadBalancerArn;
    if (!loadBalancerArn || state.dnsName === undefined) throw new Error('load balancer missing after a completed plan');
    const ingress = ingressOf(state.dnsName);
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
      this.#classicChecked.delete(identity.uid);
      const known = [...this.#inventory.targetGroups.groupsOf(identity.uid), ...remembered];
      const observed = await observeDeletion(this.#api, identity, {
        vpcId: this.#config.vpcId,
        knownTargetGroups: known,
        nodeSecurityGroupIds: await this.#network.nodeSecurityGroups(),
        name: identity.lbName,
        findNameByTags: () => this.#findNameByTags(identity),
      });
      if (observed.loadBalancer && !observed.loadBalancer.owned) {
        this.#logger.warn({ service, loadBalancer: identity.lbName }, 'a load balancer with this name is not ours; left alone');
      }
      await applyActions(this.#applyContext(identity), stateOfTargetGroups(), planDeletion(observed));
      this.#logger.info({ service }, 'load balancer deleted');
    } catch (err) {
      throw toProviderError(err, `AWS: deleting the load balancer of ${service}`);
    }
  }

  /** The name of the Service's load balancer by its tags (one renamed by the name annotation): a full listing. */
  async #findNameByTags(identity: LoadBalancerIdentity): Promise<string | undefined> {
    return (await this.#inventory.scanLoadBalancers()).find((r) => r.identity.uid === identity.uid)?.name;
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
