// Resource state of the GCE fake and the Compute Engine rules that every write must pass.

import { createHash, randomBytes } from 'node:crypto';
import {
  alreadyExists,
  fingerprintMismatch,
  GceError,
  inUse,
  invalidField,
  labelFingerprintMismatch,
  notFound,
  OperationFailure,
} from './errors.ts';
import { cidrContains, intToIp, ipToInt, parseCidr, type Cidr } from '../ipv4.ts';

/** A JSON object as it travels on the wire. */
export type Wire = Record<string, unknown>;

/** Compute answers with links on this host, whatever endpoint the client called. */
export const API_BASE = 'https://www.googleapis.com/compute/v1/';

export type ScopeKind = 'global' | 'region' | 'zone';

export interface Scope {
  kind: ScopeKind;
  /** Region or zone name; '' for global. */
  name: string;
}

interface CollectionInfo {
  scopes: readonly ScopeKind[];
  kind: string;
  /** How Compute names the type in "resource in use" messages. */
  type: string;
  /** Served for GET/list only; created through the seeding API. */
  readOnly?: boolean;
}

const COLLECTION_NAMES = [
  'addresses',
  'firewalls',
  'httpHealthChecks',
  'healthChecks',
  'targetPools',
  'forwardingRules',
  'backendServices',
  'networkEndpointGroups',
  'instanceGroups',
  'targetTcpProxies',
  'instances',
  'networks',
  'subnetworks',
] as const;

export type Collection = (typeof COLLECTION_NAMES)[number];

export const COLLECTIONS: Readonly<Record<Collection, CollectionInfo>> = {
  addresses: { scopes: ['region'], kind: 'compute#address', type: 'address' },
  firewalls: { scopes: ['global'], kind: 'compute#firewall', type: 'firewall' },
  httpHealthChecks: { scopes: ['global'], kind: 'compute#httpHealthCheck', type: 'http_health_check' },
  healthChecks: { scopes: ['global', 'region'], kind: 'compute#healthCheck', type: 'health_check' },
  targetPools: { scopes: ['region'], kind: 'compute#targetPool', type: 'target_pool' },
  forwardingRules: { scopes: ['region'], kind: 'compute#forwardingRule', type: 'forwarding_rule' },
  backendServices: { scopes: ['region'], kind: 'compute#backendService', type: 'backend_service' },
  networkEndpointGroups: { scopes: ['zone'], kind: 'compute#networkEndpointGroup', type: 'network_endpoint_group' },
  instanceGroups: { scopes: ['zone'], kind: 'compute#instanceGroup', type: 'instance_group' },
  targetTcpProxies: { scopes: ['region'], kind: 'compute#targetTcpProxy', type: 'target_tcp_proxy' },
  instances: { scopes: ['zone'], kind: 'compute#instance', type: 'instance', readOnly: true },
  networks: { scopes: ['global'], kind: 'compute#network', type: 'network', readOnly: true },
  subnetworks: { scopes: ['region'], kind: 'compute#subnetwork', type: 'subnetwork', readOnly: true },
};

/**
 * The global and regional collections the gcp provider creates in, for "nothing owned is left" checks:
 * every writable one that is not zonal (NEGs and instance groups are checked per zone).
 */
export const PROVIDER_COLLECTIONS: readonly Collection[] = COLLECTION_NAMES.filter(
  (c) => !COLLECTIONS[c].readOnly && !COLLECTIONS[c].scopes.includes('zone'),
);

export function isCollection(value: string): value is Collection {
  return Object.hasOwn(COLLECTIONS, value);
}

/** Quotas the fake enforces, named as Compute names them. Unset means unlimited. */
export type QuotaName =
  | 'FORWARDING_RULES'
  | 'INTERNAL_FORWARDING_RULES_PER_NETWORK'
  | 'TARGET_POOLS'
  | 'IN_USE_ADDRESSES'
  | 'STATIC_ADDRESSES'
  | 'INTERNAL_ADDRESSES'
  | 'REGION_BACKEND_SERVICES'
  | 'HEALTH_CHECKS'
  | 'FIREWALLS'
  | 'NETWORK_ENDPOINT_GROUPS'
  | 'INSTANCE_GROUPS';

export type Quotas = Partial<Record<QuotaName, number>>;

/** 'creating' entries hold their name and references but are not visible until their operation is DONE. */
export type Phase = 'creating' | 'ready' | 'deleting';

export interface Entry {
  collection: Collection;
  scope: Scope;
  name: string;
  path: string;
  resource: Wire;
  phase: Phase;
  /** Name of the operation that still owns this resource. */
  busy?: string;
}

/** A validated change; `apply` runs when its operation reaches DONE without error. */
export interface Change {
  target: Entry;
  operationType: string;
  apply: () => void;
}

export interface SubnetworkSpec {
  network?: string;
  ipCidrRange: string;
  purpose?: string;
  role?: string;
}

export interface InstanceSpec {
  network?: string;
  subnetwork?: string;
  /** Internal IP; the lowest free subnetwork address when omitted. */
  networkIP?: string;
  /** External IP of an ONE_TO_ONE_NAT access config; none when omitted. */
  natIP?: string;
  tags?: string[];
  status?: string;
  labels?: Record<string, string>;
}

export function obj(value: unknown): Wire {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Wire) : {};
}

export function arr(value: unknown): Wire[] {
  return Array.isArray(value) ? value.map(obj) : [];
}

export function str(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function strings(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}

export function scopePath(scope: Scope): string {
  return scope.kind === 'global' ? 'global' : `${scope.kind}s/${scope.name}`;
}

/** Compute ids are unsigned 64-bit numbers, sent as decimal strings. */
export function newId(): string {
  return (randomBytes(8).readBigUInt64BE() >> 1n).toString();
}

/** The labelFingerprint Compute reports for a resource without labels. */
export const EMPTY_LABEL_FINGERPRINT = '42WmSpB8rSM=';

export function labelFingerprint(labels: Record<string, string>): string {
  const keys = Object.keys(labels).sort();
  if (keys.length === 0) return EMPTY_LABEL_FINGERPRINT;
  const canonical = JSON.stringify(keys.map((k) => [k, labels[k]]));
  return createHash('sha256').update(canonical).digest().subarray(0, 8).toString('base64');
}

export function newFingerprint(): string {
  return randomBytes(8).toString('base64');
}

export function timestamp(): string {
  return new Date().toISOString();
}

const NAME_PATTERN = /^[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?$/;
const LABEL_KEY = /^[a-z][-_a-z0-9]{0,62}$/;
const LABEL_VALUE = /^[-_a-z0-9]{0,63}$/;

function checkName(name: unknown): string {
  if (typeof name !== 'string' || !NAME_PATTERN.test(name)) {
    throw invalidField('resource.name', name, "Must be a match of regex '(?:[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?)'");
  }
  return name;
}

function checkLabels(value: unknown, field: string): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const [key, v] of Object.entries(obj(value))) {
    if (!LABEL_KEY.test(key) || typeof v !== 'string' || !LABEL_VALUE.test(v))
      throw invalidField(`${field}.${key}`, v, 'Label keys and values must match the label syntax.');
    labels[key] = v;
  }
  return labels;
}

/** Output-only fields a client may echo back from a GET; Compute ignores them on input. */
const OUTPUT_ONLY = ['kind', 'id', 'creationTimestamp', 'selfLink', 'selfLinkWithId', 'region', 'zone', 'status', 'users', 'size'];

function input(body: Wire): Wire {
  const copy: Wire = { ...body };
  for (const key of OUTPUT_ONLY) delete copy[key];
  return copy;
}

function portsOf(rule: Wire): Array<[number, number]> {
  if (rule['allPorts'] === true) return [[1, 65535]];
  const ports = strings(rule['ports']);
  if (ports.length > 0) return ports.map((p) => [Number(p), Number(p)]);
  const [low, high] = (str(rule['portRange']) ?? '1-65535').split('-').map(Number);
  return [[low ?? 1, high ?? low ?? 65535]];
}

function overlaps(a: Array<[number, number]>, b: Array<[number, number]>): boolean {
  return a.some(([al, ah]) => b.some(([bl, bh]) => al <= bh && bl <= ah));
}

const PROXY_PURPOSES = new Set(['REGIONAL_MANAGED_PROXY', 'GLOBAL_MANAGED_PROXY', 'INTERNAL_HTTPS_LOAD_BALANCER']);
const HEALTH_CHECK_TYPES = new Set(['TCP', 'SSL', 'HTTP', 'HTTPS', 'HTTP2', 'GRPC']);
const FORWARDING_SCHEMES = new Set(['EXTERNAL', 'EXTERNAL_MANAGED', 'INTERNAL', 'INTERNAL_MANAGED']);
const PROTOCOLS = new Set(['TCP', 'UDP', 'ESP', 'AH', 'SCTP', 'ICMP', 'L3_DEFAULT']);

export class GceState {
  readonly project: string;
  /** Region → its zones. */
  readonly regions = new Map<string, string[]>();
  quotas: Quotas;
  private readonly entries = new Map<string, Entry>();
  /** NEG path → attached endpoints as Compute lists them. */
  private readonly endpoints = new Map<string, Wire[]>();
  /** Instance group path → member instance URLs. */
  private readonly members = new Map<string, string[]>();
  private readonly externalPool: Cidr;

  constructor(project: string, quotas: Quotas, externalRange: string) {
    this.project = project;
    this.quotas = quotas;
    this.externalPool = parseCidr(externalRange);
  }

  // ---- paths and references ----

  path(collection: Collection, scope: Scope, name: string): string {
    return `projects/${this.project}/${scopePath(scope)}/${collection}/${name}`;
  }

  url(path: string): string {
    return API_BASE + path;
  }

  scopeUrl(scope: Scope): string {
    return this.url(`projects/${this.project}/${scopePath(scope)}`);
  }

  regionOfZone(zone: string): string | undefined {
    for (const [region, zones] of this.regions) if (zones.includes(zone)) return region;
    return undefined;
  }

  /** Any entry, visible or not. */
  find(path: string): Entry | undefined {
    return this.entries.get(path);
  }

  /** An entry GET would return (its insert is DONE, its delete not yet). */
  visible(path: string): Entry | undefined {
    const entry = this.entries.get(path);
    return entry && entry.phase !== 'creating' ? entry : undefined;
  }

  require(collection: Collection, scope: Scope, name: string): Entry {
    const path = this.path(collection, scope, name);
    const entry = this.visible(path);
    if (!entry) throw notFound(path);
    return entry;
  }

  list(collection: Collection, scope: Scope | undefined): Entry[] {
    return [...this.entries.values()]
      .filter(
        (e) => e.collection === collection && e.phase !== 'creating' && (scope === undefined || scopePath(e.scope) === scopePath(scope)),
      )
      .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  }

  /**
   * Turns a full or partial URL into `projects/p/<scope>/<collection>/<name>`; bare names and other shapes are
   * rejected as Compute rejects them. The referenced resource must be visible.
   */
  resolve(value: unknown, field: string, allowed: readonly Collection[]): Entry {
    const path = this.canonical(value, field, allowed);
    const entry = this.visible(path);
    if (!entry) throw notFound(path);
    return entry;
  }

  canonical(value: unknown, field: string, allowed: readonly Collection[]): string {
    if (typeof value !== 'string' || value === '') throw invalidField(field, value, 'The URL is malformed.');
    let path = value.trim().replace(/\/+$/, '');
    const at = path.indexOf('projects/');
    if (at >= 0) path = path.slice(at);
    else if (/^(global|regions|zones)\//.test(path)) path = `projects/${this.project}/${path}`;
    else throw invalidField(field, value, 'The URL is malformed.');
    const parts = path.split('/');
    const scoped = parts[2] === 'global' ? 3 : 4;
    const collection = parts[scoped];
    if (parts.length !== scoped + 2 || collection === undefined || !isCollection(collection))
      throw invalidField(field, value, 'The URL is malformed.');
    if (!allowed.includes(collection)) throw invalidField(field, value, `Resource type '${collection}' is not allowed here.`);
    return path;
  }

  // ---- seeding ----

  seedRegion(region: string, zones: readonly string[]): void {
    this.regions.set(region, [...zones]);
  }

  seed(collection: Collection, scope: Scope, resource: Wire): Wire {
    const name = checkName(resource['name']);
    const path = this.path(collection, scope, name);
    if (this.entries.has(path)) throw alreadyExists(path);
    const full: Wire = {
      kind: COLLECTIONS[collection].kind,
      id: newId(),
      creationTimestamp: timestamp(),
      ...resource,
      selfLink: this.url(path),
    };
    if (scope.kind !== 'global') full[scope.kind] = this.scopeUrl(scope);
    this.entries.set(path, { collection, scope, name, path, resource: full, phase: 'ready' });
    return full;
  }

  seedNetwork(name: string, autoCreateSubnetworks: boolean): Wire {
    return this.seed(
      'networks',
      { kind: 'global', name: '' },
      { name, autoCreateSubnetworks, routingConfig: { routingMode: 'REGIONAL' }, subnetworks: [] },
    );
  }

  seedSubnetwork(region: string, name: string, spec: SubnetworkSpec): Wire {
    const network = this.resolve(spec.network ?? `global/networks/default`, 'network', ['networks']);
    const range = parseCidr(spec.ipCidrRange);
    const scope: Scope = { kind: 'region', name: region };
    const body: Wire = {
      name,
      network: this.url(network.path),
      ipCidrRange: range.text,
      gatewayAddress: intToIp(range.base + 1),
      purpose: spec.purpose ?? 'PRIVATE',
      stackType: 'IPV4_ONLY',
      fingerprint: newFingerprint(),
    };
    if (spec.role !== undefined || PROXY_PURPOSES.has(spec.purpose ?? '')) body['role'] = spec.role ?? 'ACTIVE';
    const subnet = this.seed('subnetworks', scope, body);
    (network.resource['subnetworks'] as string[]).push(String(subnet['selfLink']));
    return subnet;
  }

  seedInstance(zone: string, name: string, spec: InstanceSpec): Wire {
    const region = this.regionOfZone(zone);
    if (region === undefined) throw new Error(`zone ${zone} is not seeded`);
    const network = this.resolve(spec.network ?? 'global/networks/default', 'network', ['networks']);
    const subnet = spec.subnetwork
      ? this.resolve(spec.subnetwork, 'subnetwork', ['subnetworks'])
      : this.defaultSubnetwork(region, network.path, 'networkInterfaces[0].subnetwork');
    const range = parseCidr(String(subnet.resource['ipCidrRange']));
    const ip = spec.networkIP ?? this.freeInternal(range, subnet.path);
    const nic: Wire = {
      kind: 'compute#networkInterface',
      name: 'nic0',
      network: this.url(network.path),
      subnetwork: this.url(subnet.path),
      networkIP: ip,
      stackType: 'IPV4_ONLY',
    };
    if (spec.natIP !== undefined)
      nic['accessConfigs'] = [
        { kind: 'compute#accessConfig', type: 'ONE_TO_ONE_NAT', name: 'External NAT', natIP: spec.natIP, networkTier: 'PREMIUM' },
      ];
    return this.seed(
      'instances',
      { kind: 'zone', name: zone },
      {
        name,
        status: spec.status ?? 'RUNNING',
        machineType: this.url(`projects/${this.project}/zones/${zone}/machineTypes/e2-standard-2`),
        networkInterfaces: [nic],
        tags: { items: spec.tags ?? [], fingerprint: newFingerprint() },
        labels: spec.labels ?? {},
        labelFingerprint: labelFingerprint(spec.labels ?? {}),
        fingerprint: newFingerprint(),
      },
    );
  }

  seedHttpHealthCheck(name: string, body: Wire): Wire {
    return this.seed('httpHealthChecks', { kind: 'global', name: '' }, this.buildHttpHealthCheck({ ...body, name }));
  }

  // ---- reading ----

  /** A copy of the resource as GET returns it, with the fields Compute derives filled in. */
  render(entry: Entry): Wire {
    const out = structuredClone(entry.resource);
    if (entry.collection === 'addresses') {
      const users = this.addressUsers(entry);
      out['status'] = users.length > 0 ? 'IN_USE' : 'RESERVED';
      if (users.length > 0) out['users'] = users.map((u) => this.url(u.path));
    } else if (entry.collection === 'networkEndpointGroups') {
      out['size'] = this.endpoints.get(entry.path)?.length ?? 0;
    } else if (entry.collection === 'instanceGroups') {
      out['size'] = this.members.get(entry.path)?.length ?? 0;
    }
    return out;
  }

  networkEndpoints(path: string): Wire[] {
    return structuredClone(this.endpoints.get(path) ?? []);
  }

  groupMembers(path: string): string[] {
    return [...(this.members.get(path) ?? [])];
  }

  // ---- insert ----

  /** Validates an insert and reserves its name; the entry turns visible when `apply` runs. */
  insert(collection: Collection, scope: Scope, raw: Wire): Change {
    const body = input(raw);
    const name = checkName(body['name']);
    const path = this.path(collection, scope, name);
    if (this.entries.has(path)) throw alreadyExists(path);
    const resource = this.build(collection, scope, body, undefined);
    this.checkQuota(collection, scope, resource);
    const full: Wire = {
      kind: COLLECTIONS[collection].kind,
      id: newId(),
      creationTimestamp: timestamp(),
      ...resource,
      name,
      selfLink: this.url(path),
    };
    if (scope.kind !== 'global') full[scope.kind] = this.scopeUrl(scope);
    const entry: Entry = { collection, scope, name, path, resource: full, phase: 'creating' };
    this.entries.set(path, entry);
    if (collection === 'networkEndpointGroups') this.endpoints.set(path, []);
    if (collection === 'instanceGroups') this.members.set(path, []);
    return {
      target: entry,
      operationType: 'insert',
      apply: () => {
        entry.phase = 'ready';
      },
    };
  }

  /** Drops an entry whose insert failed. */
  abandon(entry: Entry): void {
    if (entry.phase === 'creating') this.forget(entry);
  }

  private forget(entry: Entry): void {
    this.entries.delete(entry.path);
    this.endpoints.delete(entry.path);
    this.members.delete(entry.path);
  }

  private build(collection: Collection, scope: Scope, body: Wire, existing: Entry | undefined): Wire {
    switch (collection) {
      case 'addresses':
        return this.buildAddress(scope, body);
      case 'firewalls':
        return this.buildFirewall(body);
      case 'httpHealthChecks':
        return this.buildHttpHealthCheck(body);
      case 'healthChecks':
        return this.buildHealthCheck(body);
      case 'targetPools':
        return this.buildTargetPool(scope, body);
      case 'forwardingRules':
        return this.buildForwardingRule(scope, body, existing);
      case 'backendServices':
        return this.buildBackendService(scope, body);
      case 'networkEndpointGroups':
        return this.buildNetworkEndpointGroup(scope, body);
      case 'instanceGroups':
        return this.buildInstanceGroup(scope, body);
      case 'targetTcpProxies':
        return this.buildTargetTcpProxy(body);
      default:
        throw new GceError(405, 'httpMethodNotAllowed', `The GCE fake serves ${collection} read-only; seed them instead.`);
    }
  }

  private defaultNetwork(body: Wire, field: string): Entry {
    return this.resolve(body['network'] ?? `global/networks/default`, field, ['networks']);
  }

  /** The one non-proxy subnetwork of a network in a region, for fields Compute fills in when left out. */
  private defaultSubnetwork(region: string, networkPath: string, field: string): Entry {
    const candidates = this.list('subnetworks', { kind: 'region', name: region }).filter(
      (s) => s.resource['network'] === this.url(networkPath) && !PROXY_PURPOSES.has(String(s.resource['purpose'])),
    );
    if (candidates.length !== 1 || candidates[0] === undefined) throw invalidField(field, '', 'A subnetwork must be specified.');
    return candidates[0];
  }

  private subnetworkOf(scope: Scope, body: Wire, network: Entry, field: string): Entry {
    if (body['subnetwork'] === undefined) return this.defaultSubnetwork(scope.name, network.path, field);
    const subnet = this.resolve(body['subnetwork'], field, ['subnetworks']);
    if (subnet.resource['network'] !== this.url(network.path))
      throw invalidField(field, body['subnetwork'], 'Subnetwork must belong to the network.');
    if (subnet.scope.name !== scope.name) throw invalidField(field, body['subnetwork'], 'Subnetwork must be in the same region.');
    return subnet;
  }

  private buildAddress(scope: Scope, body: Wire): Wire {
    const addressType = str(body['addressType']) ?? 'EXTERNAL';
    const labels = checkLabels(body['labels'], 'resource.labels');
    const out: Wire = { ...body, addressType, labels, labelFingerprint: labelFingerprint(labels), ipVersion: 'IPV4' };
    if (addressType === 'EXTERNAL') {
      out['networkTier'] = str(body['networkTier']) ?? 'PREMIUM';
      const requested = str(body['address']);
      if (requested !== undefined) {
        const ip = ipToInt(requested);
        if (ip === undefined || !cidrContains(this.externalPool, ip))
          throw invalidField('resource.address', requested, 'Specified IP address is not available to this project.');
        const holder = this.externalHolders(scope.name).find((h) => h.ip === requested && h.address !== undefined);
        if (holder)
          throw new OperationFailure('IP_IN_USE_BY_ANOTHER_RESOURCE', `IP '${requested}' is already being used by another resource.`, 409);
      } else out['address'] = this.freeExternal(scope.name);
      return out;
    }
    if (addressType !== 'INTERNAL') throw invalidField('resource.addressType', addressType, 'Must be EXTERNAL or INTERNAL.');
    if (body['subnetwork'] === undefined)
      throw invalidField('resource.subnetwork', '', 'A subnetwork must be specified for an internal address.');
    const subnet = this.resolve(body['subnetwork'], 'resource.subnetwork', ['subnetworks']);
    if (subnet.scope.name !== scope.name)
      throw invalidField('resource.subnetwork', body['subnetwork'], 'Subnetwork must be in the same region as the address.');
    const purpose = str(body['purpose']) ?? 'GCE_ENDPOINT';
    const range = parseCidr(String(subnet.resource['ipCidrRange']));
    out['subnetwork'] = this.url(subnet.path);
    out['network'] = subnet.resource['network'];
    out['purpose'] = purpose;
    out['networkTier'] = 'PREMIUM';
    const requested = str(body['address']);
    if (requested === undefined) {
      out['address'] = this.freeInternal(range, subnet.path);
      return out;
    }
    const ip = ipToInt(requested);
    if (ip === undefined || !cidrContains(range, ip) || subnetReserved(range, ip)) {
      throw invalidField(
        'resource.address',
        requested,
        `Requested internal IP is outside the subnetwork CIDR range or reserved: '${range.text}'.`,
      );
    }
    if (this.internalTaken(subnet.path).has(requested)) {
      throw new OperationFailure('IP_IN_USE_BY_ANOTHER_RESOURCE', `IP '${requested}' is already being used by another resource.`, 409);
    }
    return out;
  }

  private buildFirewall(body: Wire): Wire {
    const network = this.defaultNetwork(body, 'resource.network');
    const allowed = arr(body['allowed']);
    const denied = arr(body['denied']);
    if ((allowed.length === 0) === (denied.length === 0))
      throw invalidField('resource.allowed', '', 'Exactly one of allowed or denied must be specified.');
    for (const rule of [...allowed, ...denied]) {
      if (str(rule['IPProtocol']) === undefined)
        throw invalidField('resource.allowed[0].IPProtocol', '', 'The protocol must be specified.');
    }
    const direction = str(body['direction']) ?? 'INGRESS';
    const priority = body['priority'] ?? 1000;
    if (typeof priority !== 'number' || !Number.isInteger(priority) || priority < 0 || priority > 65535)
      throw invalidField('resource.priority', priority, 'Must be in [0, 65535].');
    const out: Wire = {
      ...body,
      network: this.url(network.path),
      direction,
      priority,
      disabled: body['disabled'] === true,
      logConfig: body['logConfig'] ?? { enable: false },
    };
    const hasSource = ['sourceRanges', 'sourceTags', 'sourceServiceAccounts'].some((k) => strings(body[k]).length > 0);
    if (direction === 'INGRESS' && !hasSource) out['sourceRanges'] = ['0.0.0.0/0'];
    if (direction === 'EGRESS' && strings(body['destinationRanges']).length === 0) out['destinationRanges'] = ['0.0.0.0/0'];
    return out;
  }

  private buildHttpHealthCheck(body: Wire): Wire {
    const out: Wire = {
      port: 80,
      requestPath: '/',
      checkIntervalSec: 5,
      timeoutSec: 5,
      healthyThreshold: 2,
      unhealthyThreshold: 2,
      ...body,
    };
    checkTimeouts(out);
    return out;
  }

  private buildHealthCheck(body: Wire): Wire {
    const type = str(body['type']);
    if (type === undefined || !HEALTH_CHECK_TYPES.has(type))
      throw invalidField('resource.type', type ?? '', 'Must be one of TCP, SSL, HTTP, HTTPS, HTTP2, GRPC.');
    const detailKey = `${type === 'HTTP2' ? 'http2' : type.toLowerCase()}HealthCheck`;
    const detail = obj(body[detailKey]);
    const defaults: Wire =
      type === 'HTTP' || type === 'HTTPS' || type === 'HTTP2'
        ? { requestPath: '/', proxyHeader: 'NONE' }
        : type === 'GRPC'
          ? {}
          : { proxyHeader: 'NONE' };
    if (detail['port'] === undefined && detail['portSpecification'] === undefined)
      defaults['port'] = type === 'HTTPS' || type === 'SSL' ? 443 : 80;
    const out: Wire = {
      checkIntervalSec: 5,
      timeoutSec: 5,
      healthyThreshold: 2,
      unhealthyThreshold: 2,
      ...body,
      type,
      [detailKey]: { ...defaults, ...detail },
    };
    checkTimeouts(out);
    return out;
  }

  private instanceUrlsIn(region: string, value: unknown, field: string): string[] {
    return strings(value).map((ref, i) => {
      const instance = this.resolve(ref, `${field}[${i}]`, ['instances']);
      if (this.regionOfZone(instance.scope.name) !== region)
        throw invalidField(`${field}[${i}]`, ref, `Instance must be in region '${region}'.`);
      return this.url(instance.path);
    });
  }

  private buildTargetPool(scope: Scope, body: Wire): Wire {
    const healthChecks = strings(body['healthChecks']);
    if (healthChecks.length > 1)
      throw invalidField('resource.healthChecks', healthChecks, 'A target pool can have at most one health check.');
    const out: Wire = {
      ...body,
      instances: [...new Set(this.instanceUrlsIn(scope.name, body['instances'], 'resource.instances'))],
      healthChecks: healthChecks.map((ref, i) => this.url(this.resolve(ref, `resource.healthChecks[${i}]`, ['httpHealthChecks']).path)),
      sessionAffinity: str(body['sessionAffinity']) ?? 'NONE',
    };
    if (body['backupPool'] !== undefined)
      out['backupPool'] = this.url(this.resolve(body['backupPool'], 'resource.backupPool', ['targetPools']).path);
    return out;
  }

  private buildForwardingRule(scope: Scope, body: Wire, existing: Entry | undefined): Wire {
    const scheme = str(body['loadBalancingScheme']) ?? 'EXTERNAL';
    if (!FORWARDING_SCHEMES.has(scheme)) throw invalidField('resource.loadBalancingScheme', scheme, 'Unsupported load balancing scheme.');
    const protocol = str(body['IPProtocol']) ?? 'TCP';
    if (!PROTOCOLS.has(protocol)) throw invalidField('resource.IPProtocol', protocol, 'Unsupported protocol.');
    const labels = checkLabels(body['labels'], 'resource.labels');
    const out: Wire = {
      ...body,
      loadBalancingScheme: scheme,
      IPProtocol: protocol,
      labels,
      labelFingerprint: labelFingerprint(labels),
      fingerprint: newFingerprint(),
      ipVersion: 'IPV4',
    };
    const ports = strings(body['ports']);
    if (ports.length > 5) throw invalidField('resource.ports', ports, 'At most 5 ports can be specified.');
    if (ports.length > 0 && body['portRange'] !== undefined)
      throw invalidField('resource.portRange', body['portRange'], 'portRange and ports cannot both be set.');
    const portRange = str(body['portRange']);
    if (portRange !== undefined) {
      const match = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(portRange);
      const low = Number(match?.[1]);
      const high = Number(match?.[2] ?? match?.[1]);
      if (!match || low < 1 || high > 65535 || low > high)
        throw invalidField('resource.portRange', portRange, 'Must be a port or a range of ports.');
      // Compute stores a single port as a range.
      out['portRange'] = `${low}-${high}`;
    }

    const hasTarget = body['target'] !== undefined;
    const hasBackend = body['backendService'] !== undefined;
    if (hasTarget === hasBackend)
      throw invalidField('resource.target', body['target'] ?? '', 'Exactly one of target or backendService must be set.');
    if (hasTarget) {
      const target = this.resolve(body['target'], 'resource.target', ['targetPools', 'targetTcpProxies']);
      if (target.scope.name !== scope.name)
        throw invalidField('resource.target', body['target'], 'Target must be in the same region as the forwarding rule.');
      out['target'] = this.url(target.path);
      if (target.collection === 'targetPools' && scheme !== 'EXTERNAL') {
        throw invalidField(
          'resource.target',
          body['target'],
          `Invalid target type TARGET_POOL for forwarding rule with loadBalancingScheme ${scheme}.`,
        );
      }
      if (target.collection === 'targetTcpProxies') {
        if (scheme !== 'INTERNAL_MANAGED' && scheme !== 'EXTERNAL_MANAGED') {
          throw invalidField(
            'resource.target',
            body['target'],
            `Invalid target type TARGET_TCP_PROXY for forwarding rule with loadBalancingScheme ${scheme}.`,
          );
        }
        const network = this.defaultNetwork(body, 'resource.network');
        out['network'] = this.url(network.path);
        const proxyOnly = this.list('subnetworks', scope).some(
          (s) =>
            s.resource['network'] === this.url(network.path) &&
            s.resource['purpose'] === 'REGIONAL_MANAGED_PROXY' &&
            s.resource['role'] === 'ACTIVE',
        );
        if (!proxyOnly) {
          throw invalidField(
            'resource.target',
            body['target'],
            'An active proxy-only subnetwork is required in the same region and VPC as the forwarding rule.',
          );
        }
      }
    } else {
      const backend = this.resolve(body['backendService'], 'resource.backendService', ['backendServices']);
      if (backend.scope.name !== scope.name)
        throw invalidField('resource.backendService', body['backendService'], 'Backend service must be in the same region.');
      if (backend.resource['loadBalancingScheme'] !== scheme) {
        throw invalidField('resource.backendService', body['backendService'], `Backend service loadBalancingScheme must be ${scheme}.`);
      }
      out['backendService'] = this.url(backend.path);
    }

    const internal = scheme === 'INTERNAL' || scheme === 'INTERNAL_MANAGED';
    let subnet: Entry | undefined;
    if (internal) {
      const network = this.defaultNetwork(body, 'resource.network');
      subnet = this.subnetworkOf(scope, body, network, 'resource.subnetwork');
      if (PROXY_PURPOSES.has(String(subnet.resource['purpose'])))
        throw invalidField('resource.subnetwork', body['subnetwork'], 'A proxy-only subnetwork cannot hold forwarding rule addresses.');
      out['network'] = this.url(network.path);
      out['subnetwork'] = this.url(subnet.path);
    } else {
      out['networkTier'] = str(body['networkTier']) ?? 'PREMIUM';
    }
    out['IPAddress'] = this.forwardingAddress(scope, body, out, subnet, existing);
    return out;
  }

  /** Resolves IPAddress (literal, address URL, or none for an ephemeral IP) and checks who else holds it. */
  private forwardingAddress(scope: Scope, body: Wire, rule: Wire, subnet: Entry | undefined, existing: Entry | undefined): string {
    const requested = str(body['IPAddress']);
    const kept = existing === undefined ? undefined : str(existing.resource['IPAddress']);
    if (requested === undefined) {
      if (kept !== undefined) return kept;
      if (subnet === undefined) return this.freeExternal(scope.name);
      return this.freeInternal(parseCidr(String(subnet.resource['ipCidrRange'])), subnet.path);
    }
    let ip = requested;
    let address: Entry | undefined;
    if (ipToInt(requested) === undefined) {
      address = this.resolve(requested, 'resource.IPAddress', ['addresses']);
      ip = String(address.resource['address']);
    } else {
      address = this.list('addresses', scope).find((a) => a.resource['address'] === ip);
    }
    if (subnet === undefined) {
      if (address === undefined || address.resource['addressType'] !== 'EXTERNAL') {
        if (ip !== kept)
          throw invalidField('resource.IPAddress', requested, 'The specified IP address is not reserved in this project and region.');
      }
    } else {
      const range = parseCidr(String(subnet.resource['ipCidrRange']));
      const n = ipToInt(ip) ?? -1;
      if (!cidrContains(range, n) || subnetReserved(range, n))
        throw invalidField('resource.IPAddress', requested, `IP address must be in the subnetwork range '${range.text}'.`);
      if (address === undefined && ip !== kept && this.internalTaken(subnet.path).has(ip)) {
        throw new OperationFailure('IP_IN_USE_BY_ANOTHER_RESOURCE', `IP '${ip}' is already being used by another resource.`, 409);
      }
    }
    const shared =
      address === undefined || address.resource['addressType'] === 'EXTERNAL' || address.resource['purpose'] === 'SHARED_LOADBALANCER_VIP';
    const others = this.rulesUsing(scope.name, ip).filter((r) => r.path !== existing?.path);
    const clash = others.find(
      (r) => !shared || (r.resource['IPProtocol'] === rule['IPProtocol'] && overlaps(portsOf(r.resource), portsOf(rule))),
    );
    if (clash) throw new OperationFailure('IP_IN_USE_BY_ANOTHER_RESOURCE', `IP '${ip}' is already being used by another resource.`, 409);
    return ip;
  }

  private buildBackendService(scope: Scope, body: Wire): Wire {
    const scheme = str(body['loadBalancingScheme']) ?? 'EXTERNAL';
    if (!FORWARDING_SCHEMES.has(scheme)) throw invalidField('resource.loadBalancingScheme', scheme, 'Unsupported load balancing scheme.');
    const healthChecks = strings(body['healthChecks']).map((ref, i) =>
      this.url(this.resolve(ref, `resource.healthChecks[${i}]`, ['healthChecks', 'httpHealthChecks']).path),
    );
    if ((scheme === 'INTERNAL' || scheme === 'EXTERNAL') && healthChecks.length !== 1) {
      throw invalidField(
        'resource.healthChecks',
        healthChecks,
        'A backend service of this load balancing scheme must have exactly one health check.',
      );
    }
    const seen = new Set<string>();
    const backends = arr(body['backends']).map((backend, i) => {
      const group = this.resolve(backend['group'], `resource.backends[${i}].group`, ['networkEndpointGroups', 'instanceGroups']);
      if (this.regionOfZone(group.scope.name) !== scope.name)
        throw invalidField(`resource.backends[${i}].group`, backend['group'], 'Backend group must be in the same region.');
      const url = this.url(group.path);
      if (seen.has(url)) throw invalidField(`resource.backends[${i}].group`, backend['group'], 'Duplicate backend group.');
      seen.add(url);
      return { balancingMode: 'CONNECTION', ...backend, group: url };
    });
    const out: Wire = {
      ...body,
      loadBalancingScheme: scheme,
      protocol: str(body['protocol']) ?? (scheme === 'INTERNAL' || scheme === 'EXTERNAL' ? 'TCP' : 'HTTP'),
      healthChecks,
      backends,
      sessionAffinity: str(body['sessionAffinity']) ?? 'NONE',
      fingerprint: newFingerprint(),
      connectionDraining: body['connectionDraining'] ?? { drainingTimeoutSec: 0 },
    };
    if (body['network'] !== undefined) out['network'] = this.url(this.resolve(body['network'], 'resource.network', ['networks']).path);
    return out;
  }

  private buildNetworkEndpointGroup(scope: Scope, body: Wire): Wire {
    const type = str(body['networkEndpointType']) ?? 'GCE_VM_IP_PORT';
    if (type !== 'GCE_VM_IP_PORT' && type !== 'GCE_VM_IP')
      throw invalidField('resource.networkEndpointType', type, 'The GCE fake models GCE_VM_IP_PORT and GCE_VM_IP zonal NEGs.');
    const network = this.defaultNetwork(body, 'resource.network');
    const region = this.regionOfZone(scope.name) ?? '';
    const out: Wire = { ...body, networkEndpointType: type, network: this.url(network.path) };
    if (body['subnetwork'] !== undefined)
      out['subnetwork'] = this.url(this.subnetworkOf({ kind: 'region', name: region }, body, network, 'resource.subnetwork').path);
    if (type === 'GCE_VM_IP' && body['defaultPort'] !== undefined)
      throw invalidField('resource.defaultPort', body['defaultPort'], 'GCE_VM_IP endpoint groups have no port.');
    return out;
  }

  private buildInstanceGroup(scope: Scope, body: Wire): Wire {
    const out: Wire = { ...body, namedPorts: arr(body['namedPorts']), fingerprint: newFingerprint() };
    if (body['network'] !== undefined) out['network'] = this.url(this.resolve(body['network'], 'resource.network', ['networks']).path);
    if (body['subnetwork'] !== undefined) {
      const network = this.defaultNetwork(body, 'resource.network');
      out['subnetwork'] = this.url(
        this.subnetworkOf({ kind: 'region', name: this.regionOfZone(scope.name) ?? '' }, body, network, 'resource.subnetwork').path,
      );
    }
    return out;
  }

  private buildTargetTcpProxy(body: Wire): Wire {
    const service = this.resolve(body['service'], 'resource.service', ['backendServices']);
    const scheme = String(service.resource['loadBalancingScheme']);
    if (scheme !== 'INTERNAL_MANAGED' && scheme !== 'EXTERNAL_MANAGED') {
      throw invalidField(
        'resource.service',
        body['service'],
        'A target TCP proxy requires a backend service with loadBalancingScheme INTERNAL_MANAGED or EXTERNAL_MANAGED.',
      );
    }
    return { ...body, service: this.url(service.path), proxyHeader: str(body['proxyHeader']) ?? 'NONE' };
  }

  // ---- update, patch, delete ----

  /** PUT (replace) or PATCH (merge top-level fields), checking `fingerprint` where the resource has one. */
  modify(entry: Entry, raw: Wire, patch: boolean): Change {
    const body = input(raw);
    if (body['name'] !== undefined && body['name'] !== entry.name)
      throw invalidField('resource.name', body['name'], 'The name cannot be changed.');
    checkFingerprint(entry.resource['fingerprint'], body['fingerprint'], false);
    if (entry.collection === 'forwardingRules') {
      const allowed = new Set(['name', 'fingerprint', 'allowGlobalAccess', 'allowPscGlobalAccess', 'description']);
      const other = Object.keys(body).find((k) => !allowed.has(k));
      if (!patch || other !== undefined)
        throw invalidField(
          `resource.${other ?? 'name'}`,
          body[other ?? 'name'],
          'This field of a forwarding rule cannot be changed by patch.',
        );
    }
    const merged: Wire = patch
      ? { ...input(entry.resource), labels: entry.resource['labels'], ...body, name: entry.name }
      : { ...body, name: entry.name };
    delete merged['fingerprint'];
    delete merged['labelFingerprint'];
    const built = this.build(entry.collection, entry.scope, merged, entry);
    const next: Wire = {
      ...built,
      kind: entry.resource['kind'],
      id: entry.resource['id'],
      creationTimestamp: entry.resource['creationTimestamp'],
      name: entry.name,
      selfLink: entry.resource['selfLink'],
    };
    if (entry.scope.kind !== 'global') next[entry.scope.kind] = this.scopeUrl(entry.scope);
    if (entry.resource['fingerprint'] !== undefined) next['fingerprint'] = newFingerprint();
    if (entry.resource['labels'] !== undefined) next['labelFingerprint'] = entry.resource['labelFingerprint'];
    return {
      target: entry,
      operationType: patch ? 'patch' : 'update',
      apply: () => {
        entry.resource = next;
      },
    };
  }

  delete(entry: Entry): Change {
    if (COLLECTIONS[entry.collection].readOnly)
      throw new GceError(405, 'httpMethodNotAllowed', `The GCE fake serves ${entry.collection} read-only.`);
    const user = this.userOf(entry);
    if (user) throw inUse(COLLECTIONS[entry.collection].type, entry.path, user);
    entry.phase = 'deleting';
    return {
      target: entry,
      operationType: 'delete',
      apply: () => this.forget(entry),
    };
  }

  /** Undoes a delete whose operation failed. */
  restore(entry: Entry): void {
    if (entry.phase === 'deleting') entry.phase = 'ready';
  }

  /** The first resource (of any phase: a pending insert already holds its references) that refers to this one. */
  private userOf(entry: Entry): string | undefined {
    if (entry.collection === 'addresses') {
      const users = this.addressUsers(entry, true);
      return users[0]?.path;
    }
    const url = this.url(entry.path);
    for (const other of this.entries.values()) {
      if (other === entry) continue;
      if (referencesOf(other).includes(url)) return other.path;
    }
    return undefined;
  }

  private addressUsers(address: Entry, includePending = false): Entry[] {
    const region = address.scope.name;
    const ip = address.resource['address'];
    return [...this.entries.values()].filter(
      (e) =>
        e.collection === 'forwardingRules' &&
        (includePending || e.phase !== 'creating') &&
        e.scope.name === region &&
        e.resource['IPAddress'] === ip &&
        (e.resource['subnetwork'] === undefined) === (address.resource['addressType'] === 'EXTERNAL'),
    );
  }

  private rulesUsing(region: string, ip: string): Entry[] {
    return [...this.entries.values()].filter(
      (e) => e.collection === 'forwardingRules' && e.scope.name === region && e.resource['IPAddress'] === ip,
    );
  }

  // ---- actions ----

  setLabels(entry: Entry, body: Wire): Change {
    checkFingerprint(entry.resource['labelFingerprint'], body['labelFingerprint'], true);
    const labels = checkLabels(body['labels'], 'labels');
    return {
      target: entry,
      operationType: 'setLabels',
      apply: () => {
        entry.resource['labels'] = labels;
        entry.resource['labelFingerprint'] = labelFingerprint(labels);
      },
    };
  }

  setTarget(entry: Entry, body: Wire): Change {
    if (entry.resource['target'] === undefined)
      throw invalidField('resource.target', body['target'] ?? '', 'This forwarding rule has no target to replace.');
    const target = this.resolve(body['target'], 'target', ['targetPools', 'targetTcpProxies']);
    const current = this.canonical(entry.resource['target'], 'target', ['targetPools', 'targetTcpProxies']);
    const currentEntry = this.find(current);
    if (currentEntry !== undefined && currentEntry.collection !== target.collection)
      throw invalidField('target', body['target'], 'The new target must be of the same type.');
    return this.mutate(entry, 'setTarget', (r) => {
      r['target'] = this.url(target.path);
    });
  }

  targetPoolInstances(entry: Entry, body: Wire, add: boolean): Change {
    const refs = arr(body['instances']).map((i) => i['instance']);
    const urls = add
      ? this.instanceUrlsIn(entry.scope.name, refs, 'instances')
      : refs.map((ref, i) => this.url(this.canonical(ref, `instances[${i}].instance`, ['instances'])));
    return this.mutate(entry, add ? 'addInstance' : 'removeInstance', (r) => {
      const current = strings(r['instances']);
      r['instances'] = add ? [...new Set([...current, ...urls])] : current.filter((u) => !urls.includes(u));
    });
  }

  targetPoolHealthChecks(entry: Entry, body: Wire, add: boolean): Change {
    const refs = arr(body['healthChecks']).map((h) => h['healthCheck']);
    const urls = refs.map((ref, i) =>
      this.url(
        add
          ? this.resolve(ref, `healthChecks[${i}].healthCheck`, ['httpHealthChecks']).path
          : this.canonical(ref, `healthChecks[${i}].healthCheck`, ['httpHealthChecks']),
      ),
    );
    const next = add
      ? [...new Set([...strings(entry.resource['healthChecks']), ...urls])]
      : strings(entry.resource['healthChecks']).filter((u) => !urls.includes(u));
    if (next.length > 1) throw invalidField('healthChecks', urls, 'A target pool can have at most one health check.');
    return this.mutate(entry, add ? 'addHealthCheck' : 'removeHealthCheck', (r) => {
      r['healthChecks'] = next;
    });
  }

  attachEndpoints(entry: Entry, body: Wire): Change {
    const current = this.endpoints.get(entry.path) ?? [];
    const type = entry.resource['networkEndpointType'];
    const key = (e: Wire) => `${String(e['instance'] ?? '')}|${String(e['ipAddress'])}|${String(e['port'] ?? '')}`;
    const taken = new Set(current.map(key));
    const added = arr(body['networkEndpoints']).map((raw, i) => {
      const field = `networkEndpoints[${i}]`;
      const name = str(raw['instance']);
      if (name === undefined) throw invalidField(`${field}.instance`, '', 'An instance must be specified.');
      const instance = this.visible(this.path('instances', entry.scope, name));
      if (!instance) throw notFound(this.path('instances', entry.scope, name));
      const nic = arr(instance.resource['networkInterfaces']).find((n) => n['network'] === entry.resource['network']);
      if (!nic) throw invalidField(`${field}.instance`, name, "The instance has no network interface in the endpoint group's network.");
      const ip = str(raw['ipAddress']) ?? String(nic['networkIP']);
      if (ip !== nic['networkIP'])
        throw invalidField(`${field}.ipAddress`, ip, "The IP address must be the primary IP of the instance's interface in the network.");
      const endpoint: Wire = { instance: name, ipAddress: ip };
      if (type === 'GCE_VM_IP_PORT') {
        const port = raw['port'] ?? entry.resource['defaultPort'];
        if (typeof port !== 'number' || port < 1 || port > 65535)
          throw invalidField(`${field}.port`, port ?? '', 'A port must be specified when the group has no default port.');
        endpoint['port'] = port;
      } else if (raw['port'] !== undefined) throw invalidField(`${field}.port`, raw['port'], 'GCE_VM_IP endpoints have no port.');
      if (taken.has(key(endpoint)))
        throw invalidField(`${field}`, `${name}:${ip}`, 'The network endpoint already exists in the network endpoint group.');
      taken.add(key(endpoint));
      return endpoint;
    });
    return this.mutate(entry, 'attachNetworkEndpoints', () => {
      this.endpoints.set(entry.path, [...(this.endpoints.get(entry.path) ?? []), ...added]);
    });
  }

  detachEndpoints(entry: Entry, body: Wire): Change {
    const current = this.endpoints.get(entry.path) ?? [];
    const removed = arr(body['networkEndpoints']).map((raw, i) => {
      const found = current.find(
        (e) =>
          e['instance'] === raw['instance'] &&
          (raw['ipAddress'] === undefined || e['ipAddress'] === raw['ipAddress']) &&
          (raw['port'] === undefined || e['port'] === raw['port']),
      );
      if (!found)
        throw invalidField(
          `networkEndpoints[${i}]`,
          `${String(raw['instance'])}:${String(raw['ipAddress'] ?? '')}`,
          'The network endpoint is not in the network endpoint group.',
        );
      return found;
    });
    return this.mutate(entry, 'detachNetworkEndpoints', () => {
      this.endpoints.set(
        entry.path,
        (this.endpoints.get(entry.path) ?? []).filter((e) => !removed.includes(e)),
      );
    });
  }

  groupInstances(entry: Entry, body: Wire, add: boolean): Change {
    const current = this.members.get(entry.path) ?? [];
    const urls = arr(body['instances']).map((raw, i) => {
      const field = `instances[${i}].instance`;
      if (!add) return this.url(this.canonical(raw['instance'], field, ['instances']));
      const instance = this.resolve(raw['instance'], field, ['instances']);
      if (instance.scope.name !== entry.scope.name)
        throw invalidField(field, raw['instance'], 'The instance must be in the same zone as the instance group.');
      const network = entry.resource['network'];
      const nic = arr(instance.resource['networkInterfaces'])[0];
      if (network !== undefined && nic?.['network'] !== network)
        throw invalidField(field, raw['instance'], 'The instance must be in the same network as the instance group.');
      const url = this.url(instance.path);
      if (current.includes(url))
        throw new GceError(400, 'memberAlreadyExists', `The resource '${instance.path}' is already a member of '${entry.path}'`);
      return url;
    });
    const firstNetwork = add && entry.resource['network'] === undefined ? urls[0] : undefined;
    return this.mutate(entry, add ? 'addInstances' : 'removeInstances', (r) => {
      const members = this.members.get(entry.path) ?? [];
      this.members.set(entry.path, add ? [...members, ...urls] : members.filter((u) => !urls.includes(u)));
      // An unmanaged group takes the network of its first instance.
      if (firstNetwork !== undefined) {
        const instance = this.find(this.canonical(firstNetwork, 'instance', ['instances']));
        const nic = arr(instance?.resource['networkInterfaces'])[0];
        if (nic) {
          r['network'] = nic['network'];
          r['subnetwork'] = nic['subnetwork'];
        }
      }
    });
  }

  setNamedPorts(entry: Entry, body: Wire): Change {
    checkFingerprint(entry.resource['fingerprint'], body['fingerprint'], false);
    const namedPorts = arr(body['namedPorts']);
    return this.mutate(entry, 'setNamedPorts', (r) => {
      r['namedPorts'] = namedPorts;
    });
  }

  /** A change to a resource in place; resources with a `fingerprint` get a new one with it. */
  private mutate(entry: Entry, operationType: string, change: (resource: Wire) => void): Change {
    return {
      target: entry,
      operationType,
      apply: () => {
        change(entry.resource);
        if (entry.resource['fingerprint'] !== undefined) entry.resource['fingerprint'] = newFingerprint();
      },
    };
  }

  // ---- addresses and quotas ----

  /** Every external IP held in a region: by an address resource, a forwarding rule, or an instance. */
  private externalHolders(region: string): Array<{ ip: string; address?: Entry }> {
    const holders: Array<{ ip: string; address?: Entry }> = [];
    for (const e of this.entries.values()) {
      if (e.collection === 'addresses' && e.scope.name === region && e.resource['addressType'] === 'EXTERNAL')
        holders.push({ ip: String(e.resource['address']), address: e });
      if (e.collection === 'forwardingRules' && e.scope.name === region && e.resource['subnetwork'] === undefined)
        holders.push({ ip: String(e.resource['IPAddress']) });
      if (e.collection === 'instances' && this.regionOfZone(e.scope.name) === region) {
        for (const nic of arr(e.resource['networkInterfaces']))
          for (const ac of arr(nic['accessConfigs'])) if (str(ac['natIP'])) holders.push({ ip: String(ac['natIP']) });
      }
    }
    return holders;
  }

  private freeExternal(region: string): string {
    const taken = new Set<string>();
    for (const r of this.regions.keys()) for (const h of this.externalHolders(r)) taken.add(h.ip);
    for (let ip = this.externalPool.base + 1; ip < this.externalPool.base + this.externalPool.size - 1; ip += 1) {
      if (!taken.has(intToIp(ip))) return intToIp(ip);
    }
    throw new OperationFailure('IP_SPACE_EXHAUSTED', `The fake's external address pool for region ${region} is exhausted.`, 409);
  }

  private internalTaken(subnetPath: string): Set<string> {
    const subnetUrl = this.url(subnetPath);
    const taken = new Set<string>();
    for (const e of this.entries.values()) {
      if ((e.collection === 'addresses' || e.collection === 'forwardingRules') && e.resource['subnetwork'] === subnetUrl) {
        taken.add(String(e.resource[e.collection === 'addresses' ? 'address' : 'IPAddress']));
      }
      if (e.collection === 'instances')
        for (const nic of arr(e.resource['networkInterfaces'])) if (nic['subnetwork'] === subnetUrl) taken.add(String(nic['networkIP']));
    }
    return taken;
  }

  private freeInternal(range: Cidr, subnetPath: string): string {
    const taken = this.internalTaken(subnetPath);
    for (let ip = range.base + 2; ip < range.base + range.size - 2; ip += 1) if (!taken.has(intToIp(ip))) return intToIp(ip);
    throw new OperationFailure('IP_SPACE_EXHAUSTED', `No free IP address in subnetwork '${subnetPath}'.`, 409);
  }

  private checkQuota(collection: Collection, scope: Scope, resource: Wire): void {
    const region = scope.kind === 'zone' ? (this.regionOfZone(scope.name) ?? '') : scope.name;
    const count = (c: Collection, where: (e: Entry) => boolean) =>
      [...this.entries.values()].filter((e) => e.collection === c && where(e)).length;
    const inRegion = (e: Entry) => (e.scope.kind === 'zone' ? this.regionOfZone(e.scope.name) : e.scope.name) === region;
    const check = (name: QuotaName, used: number, where: string) => {
      const limit = this.quotas[name];
      if (limit !== undefined && used + 1 > limit) {
        throw new OperationFailure('QUOTA_EXCEEDED', `Quota '${name}' exceeded.  Limit: ${limit.toFixed(1)} ${where}.`, 403);
      }
    };
    const internal = (e: Wire) => String(e['loadBalancingScheme']).startsWith('INTERNAL');
    switch (collection) {
      case 'forwardingRules':
        if (internal(resource)) {
          const network = resource['network'];
          const networkName = String(network).split('/').pop();
          check(
            'INTERNAL_FORWARDING_RULES_PER_NETWORK',
            count('forwardingRules', (e) => internal(e.resource) && e.resource['network'] === network),
            `in network ${networkName}`,
          );
        } else {
          check(
            'FORWARDING_RULES',
            count('forwardingRules', (e) => inRegion(e) && !internal(e.resource)),
            `in region ${region}`,
          );
          const ip = String(resource['IPAddress']);
          const held = this.externalHolders(region);
          const inUseIps = new Set(held.filter((h) => h.address === undefined).map((h) => h.ip));
          if (!inUseIps.has(ip)) check('IN_USE_ADDRESSES', inUseIps.size, `in region ${region}`);
        }
        return;
      case 'addresses':
        if (resource['addressType'] === 'EXTERNAL')
          check(
            'STATIC_ADDRESSES',
            count('addresses', (e) => inRegion(e) && e.resource['addressType'] === 'EXTERNAL'),
            `in region ${region}`,
          );
        else
          check(
            'INTERNAL_ADDRESSES',
            count('addresses', (e) => inRegion(e) && e.resource['addressType'] === 'INTERNAL'),
            `in region ${region}`,
          );
        return;
      case 'targetPools':
        return check('TARGET_POOLS', count('targetPools', inRegion), `in region ${region}`);
      case 'backendServices':
        return check('REGION_BACKEND_SERVICES', count('backendServices', inRegion), `in region ${region}`);
      case 'healthChecks':
        if (scope.kind === 'global')
          check(
            'HEALTH_CHECKS',
            count('healthChecks', (e) => e.scope.kind === 'global'),
            'globally',
          );
        return;
      case 'firewalls':
        return check(
          'FIREWALLS',
          count('firewalls', () => true),
          'globally',
        );
      case 'networkEndpointGroups':
        return check('NETWORK_ENDPOINT_GROUPS', count('networkEndpointGroups', inRegion), `in region ${region}`);
      case 'instanceGroups':
        return check('INSTANCE_GROUPS', count('instanceGroups', inRegion), `in region ${region}`);
      default:
        return;
    }
  }
}

/** URLs a resource refers to, for "in use" checks on delete. */
function referencesOf(entry: Entry): string[] {
  const r = entry.resource;
  switch (entry.collection) {
    case 'targetPools':
      return [...strings(r['healthChecks']), ...strings(r['instances']), ...(str(r['backupPool']) ? [String(r['backupPool'])] : [])];
    case 'forwardingRules':
      return [r['target'], r['backendService'], r['network'], r['subnetwork']].filter((v): v is string => typeof v === 'string');
    case 'backendServices':
      return [
        ...strings(r['healthChecks']),
        ...arr(r['backends']).map((b) => String(b['group'])),
        ...(str(r['network']) ? [String(r['network'])] : []),
      ];
    case 'targetTcpProxies':
      return [String(r['service'])];
    case 'networkEndpointGroups':
    case 'instanceGroups':
    case 'firewalls':
    case 'addresses':
      return [r['network'], r['subnetwork']].filter((v): v is string => typeof v === 'string');
    default:
      return [];
  }
}

function checkTimeouts(check: Wire): void {
  const interval = Number(check['checkIntervalSec']);
  const timeout = Number(check['timeoutSec']);
  if (timeout > interval)
    throw invalidField('resource.timeoutSec', timeout, 'timeoutSec should be less than or equal to checkIntervalSec.');
}

/**
 * A stale fingerprint fails with 412. `required` (setLabels) also fails a missing one, as Compute does; updates
 * and setNamedPorts accept a request without one.
 */
function checkFingerprint(current: unknown, sent: unknown, required: boolean): void {
  if (sent === undefined || sent === '') {
    if (required) throw labelFingerprintMismatch();
    return;
  }
  if (sent !== current) throw required ? labelFingerprintMismatch() : fingerprintMismatch();
}

/** A VPC subnetwork keeps its first two and last two addresses (network, gateway, and two at the top). */
function subnetReserved(cidr: Cidr, ip: number): boolean {
  const offset = ip - cidr.base;
  return offset < 2 || offset >= cidr.size - 2;
}
