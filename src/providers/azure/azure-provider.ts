// The Azure provider: every Service is a frontend on a Standard Load Balancer shared by the cluster
// ("<cluster>" for public Services, "<cluster>-internal" for internal ones, then "-2", "-3"... when one is
// full). All writes to one load balancer, and to the cluster's NSG, go through a batching writer, so that
// many Services syncing at once cost one read and one guarded write per batch instead of one each.

import type { LoadBalancer, NetworkSecurityGroup, PublicIPAddress } from '@azure/arm-network';
import type { Logger } from 'pino';
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
  type ProviderDeps,
} from '../provider.ts';
import { Annotations, parseAzureAnnotations, type AzureServiceOptions } from './annotations.ts';
import type { AzureApi } from './api.ts';
import type { AzureProviderConfig } from './config.ts';
import {
  allowedSources,
  backendAddresses,
  buildBackendPool,
  buildPublicIP,
  buildSecurityRules,
  buildServicePart,
  checkServiceShape,
  lbKind,
  requestedIPv4,
} from './desired.ts';
import {
  applyBackendPool,
  applySecurityRules,
  applyServicePart,
  LoadBalancerFull,
  matches,
  removeSecurityRules,
  removeService,
} from './edit.ts';
import { armCode, classifyFailure, isNotFound, statusOf, toProviderError } from './errors.ts';
import {
  compactUid,
  frontendName,
  lastSegment,
  loadBalancerName,
  ownedByService,
  parseLoadBalancerName,
  publicIPName,
  ResourceIds,
  TAG_CLUSTER,
  uidPrefixOfFrontend,
  type LbKind,
} from './names.ts';
import { subnetProblems } from './readiness.ts';
import { BatchWriter, type WriterIO } from './writer.ts';

/** Azure refuses to delete a public IP for a while after the frontend using it is gone. */
const PIP_IN_USE_RETRY_MS = 10_000;
/** More load balancers of one kind than anyone should need; stops a runaway placement loop. */
const MAX_LOAD_BALANCERS_PER_KIND = 100;

interface KnownService {
  uid: string;
  namespace: string;
  name: string;
}

export class AzureProvider implements LoadBalancerProvider {
  readonly name = 'azure';
  readonly #config: AzureProviderConfig;
  readonly #clusterName: string;
  readonly #logger: Logger;
  readonly #deps: ProviderDeps;
  readonly #api: AzureApi;
  readonly #ids: ResourceIds;
  readonly #lbWriters = new Map<string, BatchWriter<LoadBalancer>>();
  readonly #nsgWriter: BatchWriter<NetworkSecurityGroup>;
  /** Frontend name -> the load balancer that holds it, as last read or written. */
  readonly #placement = new Map<string, string>();
  /** Load balancers that refused a new Service for lack of room, until a Service leaves them. */
  readonly #full = new Set<string>();
  /** UID digits carried by frontend names -> the Service, for listOwned. */
  readonly #services = new Map<string, KnownService>();
  #inventory: Promise<void> | undefined;

  constructor(config: AzureProviderConfig, deps: ProviderDeps, api: AzureApi) {
    this.#config = config;
    this.#clusterName = deps.clusterName;
    this.#logger = deps.logger;
    this.#deps = deps;
    this.#api = api;
    this.#ids = new ResourceIds(config.subscriptionId);
    this.#nsgWriter = new BatchWriter(this.#nsgIO(), this.#writerOptions());
  }

  async start(known: KnownLoadBalancer[]): Promise<void> {
    for (const k of known) this.#remember(k.identity);
    this.#loadInventory().catch((err: unknown) => {
      this.#logger.warn({ err: toProviderError(err, 'scan').message }, 'initial load balancer scan failed; retrying on first sync');
    });
  }

  async stop(): Promise<void> {}

  checkReady(): Promise<string[]> {
    return subnetProblems(this.#api, this.#config);
  }

  // ---- ensure ----

  ensure(desired: DesiredLoadBalancer): Promise<IngressStatus[]> {
    return this.#sync(desired);
  }

  /** Node changes take the same path: the pool edit rides in the Service's batch, and no change means no write. */
  async updateTargets(desired: DesiredLoadBalancer): Promise<void> {
    await this.#sync(desired);
  }

  async #sync(desired: DesiredLoadBalancer): Promise<IngressStatus[]> {
    const { identity } = desired;
    try {
      const { options, warnings } = parseAzureAnnotations(desired.annotations);
      for (const w of warnings) this.#deps.events.record(identity, 'Warning', w.reason, w.message);
      for (const message of checkServiceShape(desired)) this.#deps.events.record(identity, 'Warning', 'IPFamilyUnsupported', message);
      const sources = allowedSources(desired, options);
      this.#remember(identity);
      await this.#loadInventory();

      const kind = lbKind(options);
      const pip = kind === 'public' ? await this.#ensurePublicIP(desired, options) : undefined;
      const addresses = backendAddresses(desired.targets, this.#config.nodeAddressPreference);
      const { lbName, resource, released } = await this.#placeService(desired, options, kind, addresses, pip?.id);

      const fe = frontendName(identity, options.internalSubnet);
      // The Service may have lived on another load balancer (it switched between public and internal).
      for (const other of this.#loadBalancersOf(identity))
        if (other !== lbName) released.push(...(await this.#removeFrom(other, identity)));

      const rules = buildSecurityRules(
        desired,
        sources,
        addresses.map((a) => a.ip),
      );
      await this.#nsgWriter.submit((nsg) => applySecurityRules(nsg, identity.lbName, rules));
      await this.#deleteReleasedPublicIPs(identity, released, pip?.id);

      const ip = pip?.address ?? resource?.frontendIPConfigurations?.find((f) => f.name === fe)?.privateIPAddress;
      if (!ip)
        throw new ProviderError(`Azure: the frontend ${fe} of ${lbName} has no address yet`, { retryable: true, retryAfterMs: 5_000 });
      return [{ ip, ipMode: 'VIP' }];
    } catch (err) {
      throw this.#error(err, `Azure: syncing the load balancer of ${serviceKey(identity)}`);
    }
  }

  /** Puts the Service on the LB that holds it, or on the first of its kind with room; returns the committed LB. */
  async #placeService(
    desired: DesiredLoadBalancer,
    options: AzureServiceOptions,
    kind: LbKind,
    addresses: Array<{ name: string; ip: string }>,
    publicIPId: string | undefined,
  ) {
    const { identity } = desired;
    const here = this.#loadBalancersOf(identity).find((name) => parseLoadBalancerName(this.#clusterName, name)?.kind === kind);
    const vnetId = this.#ids.virtualNetwork(this.#vnetGroup, this.#config.vnetName);
    const subnetId = this.#ids.subnet(this.#vnetGroup, this.#config.vnetName, options.internalSubnet ?? this.#config.subnetName);
    const limits = { maxFrontends: this.#config.maxFrontendsPerLoadBalancer, maxRules: this.#config.maxRulesPerLoadBalancer };
    const pool = buildBackendPool(this.#backendPoolName, vnetId, addresses);
    for (let index = 0; index < MAX_LOAD_BALANCERS_PER_KIND; index++) {
      const lbName = here ?? loadBalancerName(this.#clusterName, kind, index);
      if (here === undefined && this.#full.has(lbName)) continue;
      const part = buildServicePart(desired, options, {
        clusterName: this.#clusterName,
        ids: this.#ids,
        resourceGroup: this.#config.resourceGroup,
        loadBalancerName: lbName,
        backendPoolName: this.#backendPoolName,
        ...(publicIPId ? { publicIPId } : { subnetId }),
      });
      try {
        const { value, resource } = await this.#lbWriter(lbName).submit((lb) => {
          const applied = applyServicePart(lb, identity.lbName, part, limits, lbName);
          applyBackendPool(lb, pool);
          return applied.releasedPublicIPIds;
        });
        return { lbName, resource, released: value };
      } catch (err) {
        if (!(err instanceof LoadBalancerFull) || here !== undefined) throw err;
        this.#full.add(lbName);
        this.#logger.info({ service: serviceKey(identity), loadBalancer: lbName }, 'load balancer full; trying the next one');
      }
    }
    throw new ProviderError(`Azure: every one of ${MAX_LOAD_BALANCERS_PER_KIND} ${kind} load balancers is full`, { retryable: true });
  }

  /** The public IP the Service's frontend uses: the one it names or asks for by address (never ours to delete), or ours. */
  async #ensurePublicIP(desired: DesiredLoadBalancer, options: AzureServiceOptions): Promise<{ id: string; address: string }> {
    const { identity } = desired;
    const userGroup = options.pipResourceGroup ?? this.#config.resourceGroup;
    if (options.pipName) {
      const pip = await this.#getPublicIP(userGroup, options.pipName);
      if (!pip) throw invalidService(`annotation ${Annotations.pipName}: no public IP "${options.pipName}" in resource group ${userGroup}`);
      return this.#addressOf(pip, `public IP ${options.pipName}`);
    }
    const requested = requestedIPv4(desired, options);
    const ownName = publicIPName(this.#clusterName, identity);
    if (requested) {
      const pip = (await this.#api.listPublicIPs(userGroup)).find((p) => p.ipAddress === requested);
      if (!pip)
        throw invalidService(
          `requested address ${requested}: no public IP in resource group ${userGroup} has it (create one, then set it)`,
        );
      return this.#addressOf(pip, `public IP ${pip.name ?? ''}`);
    }
    const existing = await this.#getPublicIP(this.#config.resourceGroup, ownName);
    const cluster = existing?.tags?.[TAG_CLUSTER];
    if (existing && cluster !== this.#clusterName) {
      throw invalidService(`public IP ${ownName} exists but is not tagged ${TAG_CLUSTER}=${this.#clusterName}; refusing to take it over`);
    }
    const wanted = buildPublicIP(desired, options, this.#config.location);
    if (existing && matches(wanted, existing)) return this.#addressOf(existing, `public IP ${ownName}`);
    const stored = await this.#api.putPublicIP(this.#config.resourceGroup, ownName, wanted);
    return this.#addressOf(stored, `public IP ${ownName}`);
  }

  #addressOf(pip: PublicIPAddress, what: string): { id: string; address: string } {
    if (!pip.id || !pip.ipAddress) throw new ProviderError(`Azure: ${what} has no address yet`, { retryable: true, retryAfterMs: 5_000 });
    return { id: pip.id, address: pip.ipAddress };
  }

  async #getPublicIP(group: string, name: string): Promise<PublicIPAddress | undefined> {
    try {
      return await this.#api.getPublicIP(group, name);
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  // ---- delete ----

  /** Frontend, rules and probes (one batched PUT per LB), then NSG rules, then the owned public IP. */
  async delete(identity: LoadBalancerIdentity): Promise<void> {
    try {
      await this.#loadInventory();
      const released: string[] = [];
      for (const lbName of this.#loadBalancersOf(identity)) released.push(...(await this.#removeFrom(lbName, identity)));
      await this.#nsgWriter.submit((nsg) => removeSecurityRules(nsg, identity.lbName));
      released.push(this.#ids.publicIP(this.#config.resourceGroup, publicIPName(this.#clusterName, identity)));
      await this.#deleteReleasedPublicIPs(identity, released, undefined);
      this.#logger.info({ service: serviceKey(identity) }, 'load balancer frontend deleted');
    } catch (err) {
      throw this.#error(err, `Azure: deleting the load balancer of ${serviceKey(identity)}`);
    }
  }

  async #removeFrom(lbName: string, identity: LoadBalancerIdentity): Promise<string[]> {
    const { value } = await this.#lbWriter(lbName).submit((lb) => removeService(lb, identity.lbName).publicIPIds);
    return value;
  }

  /**
   * Deletes the public IPs a Service stopped using, when they are ours: named as we name them and tagged with
   * this cluster. A public IP the Service named or asked for by address is never deleted.
   */
  async #deleteReleasedPublicIPs(identity: LoadBalancerIdentity, ids: string[], inUse: string | undefined): Promise<void> {
    const ownId = this.#ids.publicIP(this.#config.resourceGroup, publicIPName(this.#clusterName, identity)).toLowerCase();
    const candidates = new Set(ids.map((id) => id.toLowerCase()));
    if (!candidates.has(ownId) || inUse?.toLowerCase() === ownId) return;
    const name = publicIPName(this.#clusterName, identity);
    const pip = await this.#getPublicIP(this.#config.resourceGroup, name);
    if (!pip || pip.tags?.[TAG_CLUSTER] !== this.#clusterName) return;
    try {
      await this.#api.deletePublicIP(this.#config.resourceGroup, name);
    } catch (err) {
      if (isNotFound(err)) return;
      if (statusOf(err) === 400 || statusOf(err) === 409) {
        throw new ProviderError(`Azure: public IP ${name} is still in use (${armCode(err) ?? 'in use'}); deleting it again shortly`, {
          retryable: true,
          retryAfterMs: PIP_IN_USE_RETRY_MS,
          cause: err,
        });
      }
      throw err;
    }
  }

  // ---- get, listOwned ----

  async get(identity: LoadBalancerIdentity): Promise<ObservedLoadBalancer | undefined> {
    try {
      await this.#loadInventory();
      for (const lbName of this.#loadBalancersOf(identity)) {
        const lb = await this.#readLoadBalancer(lbName);
        const fe = lb?.frontendIPConfigurations?.find((f) => ownedByService(f.name, identity));
        if (!fe) continue;
        let ip = fe.privateIPAddress;
        const pipId = fe.publicIPAddress?.id;
        if (pipId) ip = (await this.#getPublicIP(pipId.split('/')[4] ?? this.#config.resourceGroup, lastSegment(pipId)))?.ipAddress;
        return { ingress: ip ? [{ ip, ipMode: 'VIP' }] : [] };
      }
      return undefined;
    } catch (err) {
      throw this.#error(err, `Azure: reading the load balancer of ${serviceKey(identity)}`);
    }
  }

  /**
   * Frontends named "a<uid digits>" on our load balancers and public IPs tagged with our cluster. Frontend
   * names carry only 31 of a UID's 32 digits, so a Service this provider has not seen is reported by its
   * frontend name alone (no UID, no name), and the core matches it to a Service through that name. A name
   * from a public IP's tags is not used: with a partial UID it would make a live Service look replaced.
   */
  async listOwned(): Promise<OwnedLoadBalancer[]> {
    try {
      this.#inventory = undefined;
      await this.#loadInventory();
      const byFrontend = new Map<string, LoadBalancerIdentity>();
      const add = (lbName: string) => {
        const digits = uidPrefixOfFrontend(lbName);
        if (digits === undefined) return;
        const known = this.#services.get(digits);
        byFrontend.set(lbName, {
          clusterName: this.#clusterName,
          lbName,
          uid: known?.uid ?? '',
          namespace: known?.namespace ?? '',
          name: known?.name ?? '',
        });
      };
      for (const fe of this.#placement.keys()) add(fe.slice(0, 32));
      const prefix = `${this.#clusterName}-`;
      for (const pip of await this.#api.listPublicIPs(this.#config.resourceGroup)) {
        if (pip.tags?.[TAG_CLUSTER] !== this.#clusterName || !pip.name?.startsWith(prefix)) continue;
        add(pip.name.slice(prefix.length, prefix.length + 32));
      }
      return [...byFrontend.values()].map((identity) => ({ identity }));
    } catch (err) {
      throw this.#error(err, 'Azure: listing owned load balancers');
    }
  }

  // ---- shared state ----

  #remember(identity: LoadBalancerIdentity): void {
    const digits = compactUid(identity.uid).slice(0, 31);
    this.#services.set(digits, { uid: identity.uid, namespace: identity.namespace, name: identity.name });
  }

  get #vnetGroup(): string {
    return this.#config.vnetResourceGroup ?? this.#config.resourceGroup;
  }

  /** cloud-provider-azure names the pool after the cluster. */
  get #backendPoolName(): string {
    return this.#clusterName;
  }

  #loadBalancersOf(identity: LoadBalancerIdentity): string[] {
    const names = new Set<string>();
    for (const [fe, lb] of this.#placement) if (ownedByService(fe, identity)) names.add(lb);
    return [...names];
  }

  /** One listing of the resource group tells where every frontend is; kept current by every commit after. */
  #loadInventory(): Promise<void> {
    this.#inventory ??= this.#api.listLoadBalancers(this.#config.resourceGroup).then(
      (lbs) => {
        this.#placement.clear();
        for (const lb of lbs) if (lb.name && parseLoadBalancerName(this.#clusterName, lb.name)) this.#track(lb.name, lb);
      },
      (err: unknown) => {
        this.#inventory = undefined;
        throw err;
      },
    );
    return this.#inventory;
  }

  #track(lbName: string, lb: LoadBalancer | undefined): void {
    const had = [...this.#placement].filter(([, name]) => name === lbName).length;
    for (const [fe, name] of [...this.#placement]) if (name === lbName) this.#placement.delete(fe);
    const frontends = lb?.frontendIPConfigurations ?? [];
    for (const fe of frontends) if (fe.name) this.#placement.set(fe.name, lbName);
    if (frontends.length < had) this.#full.delete(lbName);
  }

  async #readLoadBalancer(name: string): Promise<LoadBalancer | undefined> {
    try {
      return await this.#api.getLoadBalancer(this.#config.resourceGroup, name);
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  #writerOptions() {
    return { maxBatch: this.#config.batchWrites ? Number.POSITIVE_INFINITY : 1, maxConflictRetries: this.#config.maxConflictRetries };
  }

  #lbWriter(lbName: string): BatchWriter<LoadBalancer> {
    let writer = this.#lbWriters.get(lbName);
    if (!writer) {
      writer = new BatchWriter(this.#lbIO(lbName), this.#writerOptions());
      this.#lbWriters.set(lbName, writer);
    }
    return writer;
  }

  #lbIO(lbName: string): WriterIO<LoadBalancer> {
    const rg = this.#config.resourceGroup;
    return {
      read: async () => {
        const lb = await this.#readLoadBalancer(lbName);
        this.#track(lbName, lb);
        return lb;
      },
      write: async (next, etag) => {
        const stored = await this.#api.putLoadBalancer(rg, lbName, next, etag);
        this.#track(lbName, stored);
        return stored;
      },
      remove: async (etag) => {
        try {
          await this.#api.deleteLoadBalancer(rg, lbName, etag);
        } catch (err) {
          if (!isNotFound(err)) throw err;
        }
        this.#track(lbName, undefined);
      },
      empty: () => ({
        location: this.#config.location,
        sku: { name: 'Standard', tier: 'Regional' },
        frontendIPConfigurations: [],
        backendAddressPools: [],
        loadBalancingRules: [],
        probes: [],
      }),
      isEmpty: (lb) => (lb.frontendIPConfigurations ?? []).length === 0,
      classify: writeOutcome,
    };
  }

  #nsgIO(): WriterIO<NetworkSecurityGroup> {
    const rg = this.#config.securityGroupResourceGroup ?? this.#config.resourceGroup;
    const name = this.#config.securityGroupName;
    return {
      read: async () => {
        try {
          return await this.#api.getSecurityGroup(rg, name);
        } catch (err) {
          // The cluster's NSG belongs to whoever built the cluster: never create it.
          if (isNotFound(err))
            throw new ProviderError(
              `Azure: network security group ${name} (resource group ${rg}) does not exist; check provider.azure.securityGroupName`,
              { retryable: true, cause: err },
            );
          throw err;
        }
      },
      write: (next, etag) => this.#api.putSecurityGroup(rg, name, next, etag),
      remove: async () => {},
      empty: () => ({}),
      isEmpty: () => false,
      classify: writeOutcome,
    };
  }

  #error(err: unknown, context: string): ProviderError {
    if (err instanceof LoadBalancerFull) return new ProviderError(`${context}: ${err.message}`, { retryable: true, cause: err });
    return toProviderError(err, context);
  }
}

/** A 412 re-reads; 4xx (but 409 "another operation in progress" and 429) splits the batch; the rest fails it. */
function writeOutcome(err: unknown): 'conflict' | 'rejected' | 'failed' {
  const kind = classifyFailure(err);
  if (kind === 'precondition_failed') return 'conflict';
  const status = statusOf(err);
  if (kind === 'client_error' && status !== undefined && status >= 400 && status < 500 && armCode(err) !== 'AnotherOperationInProgress')
    return 'rejected';
  return 'failed';
}
