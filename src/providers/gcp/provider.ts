// The GCP provider: cloud-provider-gcp's load balancers (target pools, internal backend services) plus a
// NEG + TCP proxy mode whose targets are every NodeIP:NodePort.
//
// Steady state is cheap on purpose: after a full sync the provider remembers a hash of what it built and
// which forwarding rules mark it "fully created". An unchanged resync reads just those rules; a node change
// also reads and diffs the members (pool instances, group instances, NEG endpoints). Anything else (a changed
// Service, a missing rule, a restart, fullVerifySeconds since the last full read) reads everything, plans,
// and applies.

import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import {
  defaultLoadBalancerName,
  type DesiredLoadBalancer,
  type IngressStatus,
  invalidService,
  type KnownLoadBalancer,
  type LoadBalancerIdentity,
  type LoadBalancerProvider,
  type ObservedLoadBalancer,
  type OwnedLoadBalancer,
  type ProviderDeps,
  serviceKey,
} from '../provider.ts';
import { parseGcpAnnotations } from './annotations.ts';
import { type AuthClient, GcpApi } from './api.ts';
import { type ApplyContext, applyActions } from './apply.ts';
import type { GcpProviderConfig } from './config.ts';
import { type Candidate, candidates, type GcpContext, planShape, type ShapePlan } from './desired.ts';
import { isNotFound, toProviderError } from './errors.ts';
import { type Action, type DesiredResource, type Kind, type ObservedResource, refKey, type ResourceRef } from './model.ts';
import { describesService, identityFromDescription, instanceGroupName } from './names.ts';
import { planSync, planTargets } from './plan.ts';
import { proxySubnetProblem, readinessProblems } from './readiness.ts';
import { findNetworkEndpointGroups, getOptional, type KindOps, kindOps, regionZones, toPath } from './resources.ts';
import { resolveNodes } from './targets.ts';

interface SyncedState {
  specKey: string;
  targetsKey: string;
  rules: string[];
  ingress: IngressStatus[];
  verifiedAt: number;
}

function hash(value: unknown): string {
  return createHash('sha256').update(JSON.stringify(value)).digest('hex');
}

export interface GcpProviderOptions {
  /** Credentials for tests; production uses Application Default Credentials. */
  authClient?: AuthClient;
}

export class GcpProvider implements LoadBalancerProvider {
  readonly name = 'gcp';
  readonly #config: GcpProviderConfig;
  readonly #deps: ProviderDeps;
  readonly #logger: Logger;
  readonly #api: GcpApi;
  readonly #ops: Record<Kind, KindOps>;
  readonly #synced = new Map<string, SyncedState>();
  #proxySubnetCidr: string | undefined;
  /** The region's zones, read once: delete and garbage collection look for NEGs in all of them. */
  #zones: Promise<Set<string>> | undefined;

  constructor(config: GcpProviderConfig, deps: ProviderDeps, options: GcpProviderOptions = {}) {
    this.#config = config;
    this.#deps = deps;
    this.#logger = deps.logger;
    this.#api = new GcpApi(config, {
      registry: deps.registry,
      logger: deps.logger,
      ...(options.authClient ? { authClient: options.authClient } : {}),
    });
    this.#ops = kindOps(this.#api, config.region);
  }

  async start(_known: KnownLoadBalancer[]): Promise<void> {}

  async stop(): Promise<void> {
    await this.#api.close();
  }

  #context(): GcpContext {
    const c = this.#config;
    return {
      project: c.project,
      region: c.region,
      network: c.network,
      ...(c.subnetwork ? { subnetwork: c.subnetwork } : {}),
      nodeTags: c.nodeTags,
      ...(c.nodeServiceAccount ? { nodeServiceAccount: c.nodeServiceAccount } : {}),
      clusterName: this.#deps.clusterName,
      ...(this.#proxySubnetCidr ? { proxySubnetCidr: this.#proxySubnetCidr } : {}),
    };
  }

  /** The proxy-only subnetwork's range, read once: mode neg opens the NodePorts to it. */
  async #loadProxySubnet(): Promise<void> {
    const name = this.#config.proxySubnet;
    if (this.#proxySubnetCidr || !name) return;
    const project = this.#config.project;
    const region = this.#config.region;
    try {
      const [subnet] = await this.#api.call('subnetworks.get', (o) =>
        this.#api.clients.subnetworks.get({ project, region, subnetwork: name }, o),
      );
      const problem = proxySubnetProblem(subnet, this.#config);
      if (problem) throw invalidService(problem);
      this.#proxySubnetCidr = subnet.ipCidrRange ?? undefined;
    } catch (err) {
      if (isNotFound(err)) {
        throw invalidService(
          `provider.gcp.proxySubnet "${name}" does not exist in region ${region}; mode neg needs a proxy-only subnetwork there`,
        );
      }
      throw err;
    }
  }

  checkReady(): Promise<string[]> {
    return readinessProblems(this.#api, this.#config);
  }

  #applyContext(identity: LoadBalancerIdentity): ApplyContext {
    return { ops: this.#ops, identity, events: this.#deps.events, logger: this.#logger, deleted: new Set() };
  }

  async get(identity: LoadBalancerIdentity): Promise<ObservedLoadBalancer | undefined> {
    try {
      for (const name of [identity.lbName, `${identity.lbName}-udp`]) {
        const rule = await getOptional(this.#ops.forwardingRule, { kind: 'forwardingRule', name });
        if (rule && describesService(rule['description'] as string, identity)) {
          const managed = String(rule['loadBalancingScheme']) === 'EXTERNAL_MANAGED';
          return { ingress: [{ ip: String(rule['IPAddress']), ipMode: managed ? 'Proxy' : 'VIP' }] };
        }
      }
      const negRules = await this.#negResources(identity.lbName, 'forwardingRule');
      const rule = negRules[0];
      return rule ? { ingress: [{ ip: String(rule.raw['IPAddress']), ipMode: 'Proxy' }] } : undefined;
    } catch (err) {
      throw toProviderError(err, `GCE: reading the load balancer of ${serviceKey(identity)}`);
    }
  }

  ensure(desired: DesiredLoadBalancer): Promise<IngressStatus[]> {
    return this.#sync(desired, false);
  }

  async updateTargets(desired: DesiredLoadBalancer): Promise<void> {
    await this.#sync(desired, true);
  }

  async #sync(desired: DesiredLoadBalancer, nodeChange: boolean): Promise<IngressStatus[]> {
    const { identity } = desired;
    const service = serviceKey(identity);
    try {
      const options = parseGcpAnnotations(desired.annotations);
      const nodes = resolveNodes(desired.targets, this.#config.nodeAddressPreference);
      if (nodes.skipped.length > 0)
        this.#logger.warn({ service, nodes: nodes.skipped }, 'nodes without a gce:// providerID are not targets');
      if (!options.internal && (options.mode ?? this.#config.mode) === 'neg') await this.#loadProxySubnet();
      const plan = planShape(desired, options, this.#config.mode, this.#context(), nodes.instances);
      const specKey = hash({
        shape: plan.shape,
        address: plan.address,
        probe: plan.resources('0.0.0.0').map((r) => ({ ...r, members: undefined })),
      });
      const targetsKey = hash(nodes.instances);

      const synced = this.#synced.get(identity.uid);
      const fresh = synced !== undefined && Date.now() - synced.verifiedAt < this.#config.fullVerifySeconds * 1000;
      if (synced && fresh && synced.specKey === specKey && (await this.#quickCheck(identity, synced, plan, targetsKey, nodeChange))) {
        return synced.ingress;
      }
      for (const annotation of options.ignored) {
        this.#deps.events.record(
          identity,
          'Warning',
          'UnsupportedAnnotation',
          `annotation ${annotation} is not supported by service-lb-controller's gcp provider; ignored`,
        );
      }
      for (const l of plan.skipped) {
        this.#deps.events.record(
          identity,
          'Warning',
          'UnsupportedPort',
          `port ${l.port}/${l.protocol} is skipped: gcp mode neg serves TCP only`,
        );
      }
      return await this.#fullSync(identity, plan, specKey, targetsKey);
    } catch (err) {
      this.#synced.delete(identity.uid);
      throw toProviderError(err, `GCE: syncing the load balancer of ${service}`);
    }
  }

  /** Reads the forwarding rules; on a node change (or a new node set) also the members, and fixes them. */
  async #quickCheck(
    identity: LoadBalancerIdentity,
    synced: SyncedState,
    plan: ShapePlan,
    targetsKey: string,
    nodeChange: boolean,
  ): Promise<boolean> {
    for (const name of synced.rules) {
      if (!(await getOptional(this.#ops.forwardingRule, { kind: 'forwardingRule', name }))) {
        this.#logger.warn({ service: serviceKey(identity), rule: name }, 'forwarding rule disappeared; repairing');
        return false;
      }
    }
    if (!nodeChange && synced.targetsKey === targetsKey) return true;
    const ip = synced.ingress[0]?.ip ?? '';
    const resources = plan.resources(ip).filter((r) => r.members);
    const observed = await this.#observe(resources.map((r) => ({ ref: r, shared: r.shared })));
    // A zone that appeared or went needs a new group or NEG (and a backend service change): a full sync.
    if (resources.some((r) => !observed.has(refKey(r)))) return false;
    await applyActions(this.#applyContext(identity), planTargets(resources, observed));
    synced.targetsKey = targetsKey;
    return true;
  }

  async #observe(refs: Array<{ ref: ResourceRef; shared: boolean }>): Promise<Map<string, ObservedResource>> {
    const observed = new Map<string, ObservedResource>();
    const seen = new Set<string>();
    await Promise.all(
      refs.map(async ({ ref }) => {
        const key = refKey(ref);
        if (seen.has(key)) return;
        seen.add(key);
        const ops = this.#ops[ref.kind];
        const raw = await getOptional(ops, ref);
        if (!raw) return;
        const plain: ResourceRef = { kind: ref.kind, name: ref.name, ...(ref.zone ? { zone: ref.zone } : {}) };
        observed.set(key, { ref: plain, raw, ...(ops.members ? { members: await ops.members(plain, raw) } : {}) });
      }),
    );
    return observed;
  }

  /** The address first: its IP goes into the firewall and the forwarding rules. */
  async #ensureAddress(
    identity: LoadBalancerIdentity,
    plan: ShapePlan,
    ctx: ApplyContext,
  ): Promise<{ ip: string; owned: DesiredResource | undefined }> {
    const { resource, requestedIP } = plan.address;
    if (requestedIP !== undefined) {
      const addresses = await this.#ops.address.list();
      const found = addresses.find((a) => a['address'] === requestedIP);
      if (found && found['name'] !== resource.name) return { ip: requestedIP, owned: undefined };
      if (!found && plan.shape !== 'internal') {
        throw invalidService(
          `spec.loadBalancerIP ${requestedIP} is not a reserved address in region ${this.#config.region}: reserve it first (gcloud compute addresses create)`,
        );
      }
    }
    let raw = await getOptional(this.#ops.address, resource);
    if (raw) {
      if (!describesService(raw['description'] as string | undefined, identity)) {
        throw invalidService(`GCE address "${resource.name}" exists and does not belong to this Service`);
      }
      const observed = new Map([[refKey(resource), { ref: resource, raw }]]);
      const actions = planSync({ identity, desired: [resource], observed, leftovers: [] });
      if (actions.some((a) => a.type === 'delete')) {
        // A new tier or subnetwork means a new address: the rules on the old one go first.
        await applyActions(ctx, this.#ruleDeletions(identity.lbName, 'address changes'));
        await applyActions(ctx, actions);
        raw = undefined;
      }
    } else {
      await applyActions(ctx, [{ type: 'create', resource }]);
    }
    raw ??= await getOptional(this.#ops.address, resource);
    const ip = raw?.['address'];
    if (typeof ip !== 'string') throw invalidService(`GCE address "${resource.name}" has no IP yet`);
    return { ip, owned: resource };
  }

  #ruleDeletions(lbName: string, reason: string): Action[] {
    return [lbName, `${lbName}-udp`].map((name) => ({ type: 'delete', ref: { kind: 'forwardingRule', name }, shared: false, reason }));
  }

  /** Mode neg's per-port resources of a Service, found by name (ports come and go). */
  async #negResources(
    lbName: string,
    kind: 'forwardingRule' | 'regionTargetTcpProxy' | 'regionBackendService',
  ): Promise<ObservedResource[]> {
    const re = new RegExp(`^${lbName}-\\d+$`);
    return (await this.#ops[kind].list())
      .filter((r) => re.test(String(r['name'])))
      .map((raw) => ({ ref: { kind, name: String(raw['name']) }, raw }));
  }

  /**
   * Mode neg's NEGs whose name matches, in every zone of the region: a crashed delete may have removed the
   * backend services that named their zones, and nodes may have left those zones.
   */
  async #regionNegs(namePattern: string): Promise<Array<{ ref: ResourceRef; raw: Record<string, unknown> }>> {
    this.#zones ??= regionZones(this.#api, this.#config.region).then((zones) => new Set(zones));
    try {
      return await findNetworkEndpointGroups(this.#api, namePattern, await this.#zones);
    } catch (err) {
      this.#zones = undefined;
      throw err;
    }
  }

  /**
   * Everything this Service may have, in deletion order: fixed names, then what listing finds for mode neg.
   * `everyZone` (delete only: one more call) also looks for its NEGs in zones nothing names any more.
   */
  async #leftoverCandidates(lbName: string, zones: string[], everyZone = false): Promise<Candidate[]> {
    const [rules, proxies, backends, strayNegs] = await Promise.all([
      this.#negResources(lbName, 'forwardingRule'),
      this.#negResources(lbName, 'regionTargetTcpProxy'),
      this.#negResources(lbName, 'regionBackendService'),
      everyZone ? this.#regionNegs(`${lbName}-[0-9]+`) : [],
    ]);
    // A backend service names its groups: NEG and instance group zones are learnt from it, and from the nodes.
    const groups = new Map<string, ResourceRef>();
    const fixedBackend = await getOptional(this.#ops.regionBackendService, { kind: 'regionBackendService', name: lbName });
    for (const bs of [...backends.map((b) => b.raw), ...(fixedBackend ? [fixedBackend] : [])]) {
      for (const backend of (bs['backends'] as Array<{ group?: string }> | undefined) ?? []) {
        const m = /zones\/([^/]+)\/(networkEndpointGroups|instanceGroups)\/([^/]+)$/.exec(toPath(backend.group));
        if (!m) continue;
        const kind: Kind = m[2] === 'networkEndpointGroups' ? 'networkEndpointGroup' : 'instanceGroup';
        groups.set(`${kind}/${m[1]}/${m[3]}`, { kind, name: m[3]!, zone: m[1]! });
      }
    }
    for (const { ref } of strayNegs) groups.set(`networkEndpointGroup/${ref.zone}/${ref.name}`, ref);
    for (const proxy of proxies) {
      for (const zone of zones)
        groups.set(`networkEndpointGroup/${zone}/${proxy.ref.name}`, { kind: 'networkEndpointGroup', name: proxy.ref.name, zone });
    }
    const fixed = candidates(lbName, this.#deps.clusterName, zones);
    const cut = fixed.findIndex((c) => c.ref.kind === 'instanceGroup' || c.ref.kind === 'httpHealthCheck');
    const negGroups = [...groups.values()].filter((g) => g.kind === 'networkEndpointGroup').map((ref) => ({ ref, shared: false }));
    const instanceGroups = [...groups.values()]
      .filter((g) => g.kind === 'instanceGroup' && g.name === instanceGroupName(this.#deps.clusterName))
      .map((ref) => ({ ref, shared: true }));
    const all: Candidate[] = [
      ...rules.map((r) => ({ ref: r.ref, shared: false })),
      ...fixed.slice(0, 2),
      ...proxies.map((r) => ({ ref: r.ref, shared: false })),
      ...backends.map((r) => ({ ref: r.ref, shared: false })),
      ...fixed.slice(2, cut),
      ...negGroups,
      ...instanceGroups,
      ...fixed.slice(cut),
    ];
    const seen = new Set<string>();
    return all.filter((c) => !seen.has(refKey(c.ref)) && seen.add(refKey(c.ref)));
  }

  async #fullSync(identity: LoadBalancerIdentity, plan: ShapePlan, specKey: string, targetsKey: string): Promise<IngressStatus[]> {
    const ctx = this.#applyContext(identity);
    const { ip, owned } = await this.#ensureAddress(identity, plan, ctx);
    const resources = [...(owned ? [owned] : []), ...plan.resources(ip)];
    const zones = [...new Set(resources.flatMap((r) => (r.zone ? [r.zone] : [])))];
    const leftovers = await this.#leftoverCandidates(identity.lbName, zones);
    const observed = await this.#observe([...resources.map((r) => ({ ref: r as ResourceRef, shared: r.shared })), ...leftovers]);
    const actions = planSync({ identity, desired: resources, observed, leftovers });
    await applyActions(ctx, actions, guards(leftovers));
    const ingress: IngressStatus[] = [{ ip, ipMode: plan.shape === 'neg' ? 'Proxy' : 'VIP' }];
    this.#synced.set(identity.uid, {
      specKey,
      targetsKey,
      rules: resources.filter((r) => r.kind === 'forwardingRule').map((r) => r.name),
      ingress,
      verifiedAt: Date.now(),
    });
    if (actions.length > 0)
      this.#logger.info({ service: serviceKey(identity), shape: plan.shape, changes: actions.length }, 'load balancer in sync (full read)');
    return ingress;
  }

  /** Everything of the Service in reverse creation order; shared resources only when nothing else uses them. */
  async delete(identity: LoadBalancerIdentity): Promise<void> {
    const service = serviceKey(identity);
    try {
      this.#synced.delete(identity.uid);
      const leftovers = await this.#leftoverCandidates(identity.lbName, [], true);
      const observed = await this.#observe(leftovers);
      const actions: Action[] = [];
      for (const c of leftovers) {
        const o = observed.get(refKey(c.ref));
        if (!o) continue;
        if (!c.shared && !describesService(o.raw['description'] as string | undefined, identity)) {
          this.#logger.warn({ service, resource: refKey(c.ref) }, "a resource with this Service's name is not ours; left alone");
          continue;
        }
        actions.push({ type: 'delete', ref: c.ref, shared: c.shared, reason: 'Service deleted' });
      }
      await applyActions(this.#applyContext(identity), actions, guards(leftovers));
      this.#logger.info({ service, deleted: actions.length }, 'load balancer deleted');
    } catch (err) {
      throw toProviderError(err, `GCE: deleting the load balancer of ${service}`);
    }
  }

  /** Every Service UID named in the description of a resource this cluster's controller created. */
  async listOwned(): Promise<OwnedLoadBalancer[]> {
    try {
      const kinds: Kind[] = ['forwardingRule', 'targetPool', 'regionBackendService', 'regionHealthCheck', 'address', 'firewall'];
      // NEGs too: a delete that crashed after the backend services may have left nothing else.
      const lists = await Promise.all([
        ...kinds.map((k) => this.#ops[k].list()),
        this.#regionNegs('a[0-9a-f]+-[0-9]+').then((negs) => negs.map((n) => n.raw)),
      ]);
      const byUid = new Map<string, LoadBalancerIdentity>();
      for (const raw of lists.flat()) {
        const probe = identityFromDescription(raw['description'] as string | undefined, this.#deps.clusterName, '');
        if (probe && !byUid.has(probe.uid)) byUid.set(probe.uid, { ...probe, lbName: defaultLoadBalancerName(probe.uid) });
      }
      return [...byUid.values()].map((identity) => ({ identity }));
    } catch (err) {
      throw toProviderError(err, 'GCE: listing owned load balancers');
    }
  }
}

function guards(list: Candidate[]): Map<string, string> {
  return new Map(list.flatMap((c) => (c.guard ? [[refKey(c.ref), c.guard] as [string, string]] : [])));
}
