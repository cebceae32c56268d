// A stateful HTTP fake of the Compute Engine API (compute/v1) for tests that drive @google-cloud/compute over REST.

import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ClientOptions } from 'google-gax';
import { OAuth2Client } from 'google-auth-library';
import { GceError, HTTP_ERROR_MESSAGES, invalidField, notFound, notReady, OperationFailure } from './errors.ts';
import { FaultPlan, type CustomFault, type FaultKind, type RandomFaults, type TargetedFault } from './faults.ts';
import {
  arr,
  type Change,
  type Collection,
  COLLECTIONS,
  type Entry,
  GceState,
  type InstanceSpec,
  isCollection,
  newId,
  obj,
  PROVIDER_COLLECTIONS,
  type Quotas,
  type Scope,
  scopePath,
  str,
  type SubnetworkSpec,
  timestamp,
  type Wire,
} from './state.ts';
import { HeldRequests } from '../held-requests.ts';

export type { Collection, InstanceSpec, QuotaName, Quotas, SubnetworkSpec, Wire } from './state.ts';
export type { CustomFault, FaultKind, RandomFaults, TargetedFault } from './faults.ts';
export { API_BASE, EMPTY_LABEL_FINGERPRINT, PROVIDER_COLLECTIONS } from './state.ts';

export interface GceFakeOptions {
  project?: string;
  region?: string;
  zones?: readonly string[];
  /** Seeds network 'default' (custom mode) with subnetwork 'default' in `region`; null seeds no network. */
  defaultSubnetworkRange?: string | null;
  /** Slept before every request is processed (a benchmark uses 100). */
  callLatencyMs?: number;
  /** Time from a mutation's acceptance until its operation is DONE (a benchmark uses 2000). */
  operationDelayMs?: number;
  /** Extra time a 'slow-operation' fault adds; default 5000 ms. */
  slowOperationMs?: number;
  /** How long a 'timeout' fault holds its request before dropping the connection; default until stop(). */
  timeoutHoldMs?: number;
  /** Longest time `operations/{name}/wait` holds a request before answering a not-yet-DONE operation; Compute's is 2 minutes. */
  waitTimeoutMs?: number;
  /** Items per list page at most (a smaller maxResults wins); small so that clients must follow nextPageToken. */
  pageSize?: number;
  quotas?: Quotas;
  /** Where an exceeded quota shows: a failed operation (default) or a synchronous 403 quotaExceeded. */
  quotaErrors?: 'operation' | 'http';
  /** Pool for external addresses (regional EXTERNAL addresses and ephemeral forwarding-rule IPs). */
  externalRange?: string;
}

/** One request the fake answered. */
export interface CallRecord {
  httpMethod: string;
  /** API method as in the discovery document: 'insert', 'get', 'list', 'delete', 'setLabels', 'wait', ... */
  method: string;
  /** Collection as in the path ('forwardingRules', 'operations', ...); '' when the path was not understood. */
  collection: string;
  scope: string;
  name?: string;
  /** 0 when no answer was sent (a 'timeout' fault). */
  status: number;
  path: string;
  /** The fault injected instead of processing the request (or, for slow-operation and operation-failure, with it). */
  fault?: string;
}

export interface CallFilter {
  httpMethod?: string;
  method?: string;
  collection?: string;
  name?: string;
  status?: number;
}

interface Operation {
  name: string;
  id: string;
  scope: Scope;
  operationType: string;
  targetPath: string;
  targetId: string | undefined;
  insertTime: string;
  endTime?: string;
  completeAt: number;
  /** Compute reports PENDING until the operation has been looked at once, then RUNNING until DONE. */
  observed: boolean;
  done: boolean;
  change?: Change;
  failure?: { code: string; message: string; httpStatus: number };
}

interface Route {
  scope: Scope;
  collection: string;
  name?: string;
  action?: string;
}

interface Reply {
  status: number;
  body?: unknown;
  /** A 'timeout' fault: no answer, the connection is dropped later. */
  hold?: boolean;
}

/** Actions (POST .../{name}/{action}) per collection; `read` ones answer data instead of an operation. */
const ACTIONS: Readonly<Partial<Record<Collection, readonly string[]>>> = {
  addresses: ['setLabels'],
  forwardingRules: ['setLabels', 'setTarget'],
  targetPools: ['addInstance', 'removeInstance', 'addHealthCheck', 'removeHealthCheck'],
  networkEndpointGroups: ['attachNetworkEndpoints', 'detachNetworkEndpoints', 'listNetworkEndpoints'],
  instanceGroups: ['addInstances', 'removeInstances', 'listInstances', 'setNamedPorts'],
};
const READ_METHODS = new Set(['get', 'list', 'listNetworkEndpoints', 'listInstances']);
const MODIFIABLE = new Set<Collection>(['firewalls', 'httpHealthChecks', 'healthChecks', 'backendServices', 'forwardingRules']);

export class GceFake {
  readonly project: string;
  readonly region: string;
  readonly zones: readonly string[];
  readonly port: number;
  /** Latency knobs, adjustable between requests (e.g. for a benchmark phase). */
  callLatencyMs: number;
  operationDelayMs: number;
  slowOperationMs: number;
  timeoutHoldMs: number | undefined;
  waitTimeoutMs: number;
  pageSize: number;
  quotaErrors: 'operation' | 'http';

  private readonly server: Server;
  private readonly state: GceState;
  private readonly operations = new Map<string, Operation>();
  /** `requestId` → operation, so that a retried mutation is not applied twice (Compute keeps these for a while). */
  private readonly requestIds = new Map<string, string>();
  private readonly plan = new FaultPlan();
  private readonly log: CallRecord[] = [];
  private readonly held = new HeldRequests(() => this.timeoutHoldMs);
  private readonly auth: OAuth2Client;

  private constructor(server: Server, port: number, options: GceFakeOptions) {
    this.server = server;
    this.port = port;
    this.project = options.project ?? 'fake-project';
    this.region = options.region ?? 'us-central1';
    this.zones = options.zones ?? [`${this.region}-a`, `${this.region}-b`];
    this.callLatencyMs = options.callLatencyMs ?? 0;
    this.operationDelayMs = options.operationDelayMs ?? 0;
    this.slowOperationMs = options.slowOperationMs ?? 5000;
    this.timeoutHoldMs = options.timeoutHoldMs;
    this.waitTimeoutMs = options.waitTimeoutMs ?? 120_000;
    this.pageSize = options.pageSize ?? 3;
    this.quotaErrors = options.quotaErrors ?? 'operation';
    this.state = new GceState(this.project, options.quotas ?? {}, options.externalRange ?? '34.118.0.0/16');
    this.state.seedRegion(this.region, this.zones);
    const range = options.defaultSubnetworkRange === undefined ? '10.128.0.0/20' : options.defaultSubnetworkRange;
    if (range !== null) {
      this.state.seedNetwork('default', false);
      this.state.seedSubnetwork(this.region, 'default', { ipCidrRange: range });
    }
    this.auth = new OAuth2Client();
    // Any bearer token is accepted; the expiry keeps the client from trying to refresh it.
    this.auth.setCredentials({ access_token: 'fake-gce-token', expiry_date: Date.now() + 24 * 3_600_000 });
  }

  static async start(options: GceFakeOptions = {}): Promise<GceFake> {
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const fake = new GceFake(server, (server.address() as AddressInfo).port, options);
    server.on('request', (req, res) => void fake.handle(req, res));
    return fake;
  }

  async stop(): Promise<void> {
    this.held.dropAll();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** Options that point any @google-cloud/compute client at this fake over plain HTTP/1.1 REST. */
  clientOptions(): ClientOptions {
    return { apiEndpoint: '127.0.0.1', port: this.port, protocol: 'http', fallback: true, authClient: this.auth, projectId: this.project };
  }

  /** A client of the given class wired to this fake, e.g. `gce.client(ForwardingRulesClient)`; `options` override. */
  client<C>(Client: new (options?: ClientOptions) => C, options: ClientOptions = {}): C {
    return new Client({ ...this.clientOptions(), ...options });
  }

  // ---- seeding (no HTTP, no counters, no operations; resources are ready at once) ----

  addRegion(region: string, zones: readonly string[]): void {
    this.state.seedRegion(region, zones);
  }

  addNetwork(name: string, spec: { autoCreateSubnetworks?: boolean } = {}): Wire {
    return structuredClone(this.state.seedNetwork(name, spec.autoCreateSubnetworks ?? false));
  }

  /** E.g. a proxy-only subnet: `{ ipCidrRange: '10.129.0.0/23', purpose: 'REGIONAL_MANAGED_PROXY' }` (role ACTIVE). */
  addSubnetwork(name: string, spec: SubnetworkSpec & { region?: string }): Wire {
    return structuredClone(this.state.seedSubnetwork(spec.region ?? this.region, name, spec));
  }

  addInstance(name: string, spec: InstanceSpec & { zone?: string } = {}): Wire {
    return structuredClone(this.state.seedInstance(spec.zone ?? this.zones[0] ?? '', name, spec));
  }

  /** Legacy HTTP health checks: @google-cloud/compute 7 has no client for them, so tests seed them here. */
  addHttpHealthCheck(name: string, spec: Wire = {}): Wire {
    return structuredClone(this.state.seedHttpHealthCheck(name, spec));
  }

  setQuotas(quotas: Quotas): void {
    this.state.quotas = quotas;
  }

  // ---- introspection (settles due operations first, returns copies) ----

  /** The resource as GET would return it; `where` is a region or zone name for scoped collections. */
  resource(collection: Collection, name: string, where?: string): Wire | undefined {
    this.settle();
    const entry = this.state.visible(this.state.path(collection, this.scopeFor(collection, where), name));
    return entry === undefined ? undefined : this.state.render(entry);
  }

  resources(collection: Collection, where?: string): Wire[] {
    this.settle();
    const scope = where === undefined && COLLECTIONS[collection].scopes[0] !== 'global' ? undefined : this.scopeFor(collection, where);
    return this.state.list(collection, scope).map((e) => this.state.render(e));
  }

  /** "collection/name" of everything in the global and regional collections the gcp provider creates in. */
  providerResourceNames(): string[] {
    return PROVIDER_COLLECTIONS.flatMap((c) => this.resources(c).map((r) => `${c}/${String(r['name'])}`));
  }

  /**
   * provider.gcp fields that point the gcp provider at this fake: endpoint, project, region, the node tag the
   * tests give instances, the seeded subnetwork, and the proxy-only subnet the tests add (addSubnetwork).
   */
  providerConfig() {
    return {
      project: this.project,
      region: this.region,
      apiEndpoint: '127.0.0.1',
      port: this.port,
      protocol: 'http' as const,
      nodeTags: ['k8s-node'],
      subnetwork: 'default',
      proxySubnet: 'proxy-only',
    };
  }

  networkEndpoints(neg: string, zone: string = this.zones[0] ?? ''): Wire[] {
    this.settle();
    return this.state.networkEndpoints(this.state.path('networkEndpointGroups', { kind: 'zone', name: zone }, neg));
  }

  instanceGroupMembers(group: string, zone: string = this.zones[0] ?? ''): string[] {
    this.settle();
    return this.state.groupMembers(this.state.path('instanceGroups', { kind: 'zone', name: zone }, group));
  }

  /** The operation as Compute would render it, without counting as a look (it does not turn PENDING into RUNNING). */
  operation(name: string): Wire | undefined {
    this.settle();
    const op = this.operations.get(name);
    return op === undefined ? undefined : this.renderOperation(op, false);
  }

  pendingOperations(): number {
    this.settle();
    return [...this.operations.values()].filter((op) => !op.done).length;
  }

  calls(filter: CallFilter = {}): CallRecord[] {
    return this.log.filter(
      (c) =>
        (filter.httpMethod === undefined || c.httpMethod === filter.httpMethod.toUpperCase()) &&
        (filter.method === undefined || c.method === filter.method) &&
        (filter.collection === undefined || c.collection === filter.collection) &&
        (filter.name === undefined || c.name === filter.name) &&
        (filter.status === undefined || c.status === filter.status),
    );
  }

  count(filter: CallFilter = {}): number {
    return this.calls(filter).length;
  }

  resetCalls(): void {
    this.log.length = 0;
  }

  // ---- faults ----

  /** Random faults from a seeded generator; `faults(undefined)` or rate 0 turns them off. */
  faults(options: RandomFaults | undefined): void {
    this.plan.setRandom(options);
  }

  /** Fails the next `count` requests matching the rule, e.g. the next 2 inserts of forwarding rules. */
  failNext(fault: TargetedFault): void {
    this.plan.addTargeted(fault);
  }

  clearFaults(): void {
    this.plan.clear();
  }

  injectedFaults(): ReadonlyMap<string, number> {
    return this.plan.injected;
  }

  // ---- HTTP ----

  private scopeFor(collection: Collection, where: string | undefined): Scope {
    const kind = COLLECTIONS[collection].scopes[0] ?? 'global';
    if (kind === 'global' && where === undefined) return { kind, name: '' };
    if (where !== undefined && this.state.regions.has(where) && COLLECTIONS[collection].scopes.includes('region'))
      return { kind: 'region', name: where };
    if (kind === 'zone') return { kind, name: where ?? this.zones[0] ?? '' };
    return { kind, name: where ?? this.region };
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', `http://127.0.0.1:${this.port}`);
    const httpMethod = (req.method ?? 'GET').toUpperCase();
    const record: CallRecord = { httpMethod, method: '', collection: '', scope: '', status: 0, path: url.pathname };
    let reply: Reply;
    try {
      const raw = await readBody(req);
      if (this.callLatencyMs > 0) await sleep(this.callLatencyMs);
      reply = await this.process(req, url, httpMethod, raw, record);
    } catch (error) {
      const gceError =
        error instanceof GceError
          ? error
          : new GceError(500, 'backendError', `The GCE fake failed: ${error instanceof Error ? error.message : String(error)}`);
      reply = { status: gceError.status, body: gceError.body() };
    }
    record.status = reply.status;
    this.log.push(record);
    if (reply.hold) {
      this.held.hold(res);
      return;
    }
    if (reply.body === undefined) {
      res.writeHead(reply.status).end();
      return;
    }
    res.writeHead(reply.status, { 'content-type': 'application/json; charset=UTF-8' }).end(JSON.stringify(reply.body));
  }

  private async process(req: IncomingMessage, url: URL, httpMethod: string, raw: string, record: CallRecord): Promise<Reply> {
    const authorization = req.headers.authorization;
    if (typeof authorization !== 'string' || !/^Bearer \S+/.test(authorization)) {
      throw new GceError(
        401,
        'required',
        'Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or other valid authentication credential.',
        { location: 'Authorization', locationType: 'header' },
        true,
      );
    }
    const special = this.regionOrAggregated(url, httpMethod, record);
    if (special) return special;
    const route = this.route(url.pathname);
    record.collection = route.collection;
    record.scope = scopePath(route.scope);
    if (route.name !== undefined) record.name = route.name;
    const body = raw.trim() === '' || raw.trim() === '""' ? {} : parseJson(raw);
    const method = methodOf(httpMethod, route);
    record.method = method;
    if (method === 'insert' && typeof body['name'] === 'string') record.name = body['name'];
    this.settle();

    const poll = route.collection === 'operations';
    const fault = this.plan.pick({
      method,
      collection: route.collection,
      ...(record.name === undefined ? {} : { name: record.name }),
      mutation: !poll && !READ_METHODS.has(method),
      poll,
    });
    if (fault !== undefined) record.fault = typeof fault === 'string' ? fault : fault.reason;
    if (fault === 'timeout') return { status: 0, hold: true };
    const answer = fault === undefined ? undefined : faultAnswer(fault);
    if (answer) throw answer;
    if (poll) return this.operationCall(method, route, url);
    const collection = route.collection as Collection;

    if (method === 'list')
      return this.page(
        this.state.list(collection, route.scope).map((e) => this.state.render(e)),
        url,
        COLLECTIONS[collection].kind + 'List',
      );
    if (method === 'get') return { status: 200, body: this.state.render(this.state.require(collection, route.scope, route.name ?? '')) };
    if (method === 'listNetworkEndpoints' || method === 'listInstances') return this.listMembers(method, collection, route, url);

    const requestKey =
      str(url.searchParams.get('requestId')) === undefined ? undefined : `${method}|${url.pathname}|${url.searchParams.get('requestId')}`;
    const earlier = requestKey === undefined ? undefined : this.operations.get(this.requestIds.get(requestKey) ?? '');
    if (earlier) return { status: 200, body: this.renderOperation(earlier, true) };

    const extra = fault === 'slow-operation' ? this.slowOperationMs : 0;
    let op: Operation;
    try {
      const change = this.mutation(method, collection, route, body);
      op = this.startOperation(route.scope, change.operationType, change.target.path, String(change.target.resource['id']), extra, change);
      if (fault === 'operation-failure')
        op.failure = {
          code: 'INTERNAL_ERROR',
          message: 'Internal error. Please try again or contact Google Support. (injected by the GCE fake)',
          httpStatus: 500,
        };
    } catch (error) {
      if (!(error instanceof OperationFailure)) throw error;
      if (error.code === 'QUOTA_EXCEEDED' && this.quotaErrors === 'http') throw new GceError(403, 'quotaExceeded', error.message);
      const target = this.state.path(collection, route.scope, route.name ?? String(body['name'] ?? ''));
      op = this.startOperation(route.scope, method, target, undefined, extra, undefined);
      op.failure = { code: error.code, message: error.message, httpStatus: error.httpStatus };
    }
    if (requestKey !== undefined) this.requestIds.set(requestKey, op.name);
    return { status: 200, body: this.renderOperation(op, true) };
  }

  private mutation(method: string, collection: Collection, route: Route, body: Wire): Change {
    if (method === 'insert') {
      if (COLLECTIONS[collection].readOnly)
        throw new GceError(405, 'httpMethodNotAllowed', `The GCE fake serves ${collection} read-only; seed them instead.`);
      return this.state.insert(collection, route.scope, body);
    }
    const entry = this.state.require(collection, route.scope, route.name ?? '');
    this.assertIdle(entry);
    let change: Change;
    switch (method) {
      case 'delete':
        change = this.state.delete(entry);
        break;
      case 'patch':
      case 'update':
        if (!MODIFIABLE.has(collection))
          throw new GceError(405, 'httpMethodNotAllowed', `The GCE fake does not serve ${method} for ${collection}.`);
        change = this.state.modify(entry, body, method === 'patch');
        break;
      case 'setLabels':
        change = this.state.setLabels(entry, body);
        break;
      case 'setTarget':
        change = this.state.setTarget(entry, body);
        break;
      case 'addInstance':
      case 'removeInstance':
        change = this.state.targetPoolInstances(entry, body, method === 'addInstance');
        break;
      case 'addHealthCheck':
      case 'removeHealthCheck':
        change = this.state.targetPoolHealthChecks(entry, body, method === 'addHealthCheck');
        break;
      case 'attachNetworkEndpoints':
        change = this.state.attachEndpoints(entry, body);
        break;
      case 'detachNetworkEndpoints':
        change = this.state.detachEndpoints(entry, body);
        break;
      case 'addInstances':
      case 'removeInstances':
        change = this.state.groupInstances(entry, body, method === 'addInstances');
        break;
      case 'setNamedPorts':
        change = this.state.setNamedPorts(entry, body);
        break;
      default:
        throw new GceError(405, 'httpMethodNotAllowed', `The GCE fake does not serve ${method} for ${collection}.`);
    }
    return change;
  }

  /** Compute refuses a change to a resource whose previous operation is still running. */
  private assertIdle(entry: Entry): void {
    const op = entry.busy === undefined ? undefined : this.operations.get(entry.busy);
    if (op && !op.done) throw notReady(entry.path);
  }

  private startOperation(
    scope: Scope,
    operationType: string,
    targetPath: string,
    targetId: string | undefined,
    extraMs: number,
    change: Change | undefined,
  ): Operation {
    const op: Operation = {
      name: `operation-${Date.now()}-${randomBytes(6).toString('hex')}`,
      id: newId(),
      scope,
      operationType,
      targetPath,
      targetId,
      insertTime: timestamp(),
      completeAt: Date.now() + this.operationDelayMs + extraMs,
      observed: false,
      done: false,
    };
    if (change !== undefined) {
      op.change = change;
      change.target.busy = op.name;
    }
    this.operations.set(op.name, op);
    return op;
  }

  /** Brings every operation whose time has come to DONE, applying or undoing its change. */
  private settle(): void {
    const now = Date.now();
    for (const op of this.operations.values()) {
      if (op.done || op.completeAt > now) continue;
      op.done = true;
      op.endTime = timestamp();
      const change = op.change;
      if (change === undefined) continue;
      if (change.target.busy === op.name) delete change.target.busy;
      if (op.failure === undefined) change.apply();
      else if (change.operationType === 'insert') this.state.abandon(change.target);
      else if (change.operationType === 'delete') this.state.restore(change.target);
    }
  }

  private renderOperation(op: Operation, look: boolean): Wire {
    const status = op.done ? 'DONE' : op.observed ? 'RUNNING' : 'PENDING';
    if (look) op.observed = true;
    const out: Wire = {
      kind: 'compute#operation',
      id: op.id,
      name: op.name,
      operationType: op.operationType,
      targetLink: this.state.url(op.targetPath),
      status,
      user: `fake@${this.project}.iam.gserviceaccount.com`,
      progress: op.done ? 100 : 0,
      insertTime: op.insertTime,
      startTime: op.insertTime,
      selfLink: this.state.url(`projects/${this.project}/${scopePath(op.scope)}/operations/${op.name}`),
    };
    if (op.targetId !== undefined) out['targetId'] = op.targetId;
    if (op.scope.kind !== 'global') out[op.scope.kind] = this.state.scopeUrl(op.scope);
    if (op.done) {
      out['endTime'] = op.endTime;
      if (op.failure) {
        out['error'] = { errors: [{ code: op.failure.code, message: op.failure.message }] };
        out['httpErrorStatusCode'] = op.failure.httpStatus;
        out['httpErrorMessage'] = HTTP_ERROR_MESSAGES[op.failure.httpStatus] ?? 'ERROR';
      }
    }
    return out;
  }

  private async operationCall(method: string, route: Route, url: URL): Promise<Reply> {
    if (method === 'list') {
      const ops = [...this.operations.values()].filter((op) => scopePath(op.scope) === scopePath(route.scope));
      return this.page(
        ops.map((op) => this.renderOperation(op, false)),
        url,
        'compute#operationList',
      );
    }
    const path = `projects/${this.project}/${scopePath(route.scope)}/operations/${route.name ?? ''}`;
    const op = this.operations.get(route.name ?? '');
    if (!op || scopePath(op.scope) !== scopePath(route.scope)) throw notFound(path);
    if (method === 'delete') {
      this.operations.delete(op.name);
      return { status: 204 };
    }
    if (method === 'wait') {
      const deadline = Date.now() + this.waitTimeoutMs;
      while (!op.done && Date.now() < deadline) {
        await sleep(Math.max(1, Math.min(op.completeAt, deadline) - Date.now()));
        this.settle();
      }
    }
    return { status: 200, body: this.renderOperation(op, true) };
  }

  private listMembers(method: string, collection: Collection, route: Route, url: URL): Reply {
    const entry = this.state.require(collection, route.scope, route.name ?? '');
    if (method === 'listNetworkEndpoints') {
      const items = this.state.networkEndpoints(entry.path).map((networkEndpoint) => ({ networkEndpoint }));
      return this.page(items, url, 'compute#networkEndpointGroupsListNetworkEndpoints');
    }
    const items = this.state.groupMembers(entry.path).map((instance) => {
      const found = this.state.find(instance.slice(instance.indexOf('projects/')));
      return { instance, status: found?.resource['status'] ?? 'RUNNING', namedPorts: arr(entry.resource['namedPorts']) };
    });
    return this.page(items, url, 'compute#instanceGroupsListInstances');
  }

  private page(all: Wire[], url: URL, kind: string): Reply {
    const { slice, body } = this.pageOf(applyFilter(all, url.searchParams.get('filter')), url, kind);
    if (slice.length > 0) body['items'] = slice;
    return { status: 200, body };
  }

  /** One page of already filtered items, and the list body around it (kind, id, selfLink, nextPageToken). */
  private pageOf<T>(items: T[], url: URL, kind: string): { slice: T[]; body: Wire } {
    const maxText = url.searchParams.get('maxResults');
    const max = maxText === null ? 500 : Number(maxText);
    if (!Number.isInteger(max) || max < 0 || max > 500) throw invalidField('maxResults', maxText, 'Must be in [0, 500].');
    const size = Math.min(max === 0 ? 500 : max, this.pageSize);
    const token = url.searchParams.get('pageToken');
    let start = 0;
    if (token !== null && token !== '') {
      const decoded = decodeToken(token);
      if (decoded === undefined || decoded.path !== url.pathname) throw invalidField('pageToken', token, 'Invalid page token.');
      start = decoded.offset;
    }
    const body: Wire = { kind, id: url.pathname.replace('/compute/v1/', ''), selfLink: API_ORIGIN + url.pathname };
    if (start + size < items.length) body['nextPageToken'] = encodeToken(url.pathname, start + size);
    return { slice: items.slice(start, start + size), body };
  }

  /**
   * `GET .../regions/{r}` (the Region resource, whose `zones` are full URLs as Compute answers) and
   * `GET .../aggregated/networkEndpointGroups` (every zone of every region, keyed `zones/<z>`); undefined for
   * any other path.
   */
  private regionOrAggregated(url: URL, httpMethod: string, record: CallRecord): Reply | undefined {
    const prefix = `/compute/v1/projects/${this.project}/`;
    if (!url.pathname.startsWith(prefix)) return undefined;
    const rest = url.pathname.slice(prefix.length).split('/').map(decodeURIComponent);
    const region = rest[0] === 'regions' && rest.length === 2 ? rest[1] : undefined;
    const aggregated = rest[0] === 'aggregated' && rest[1] === 'networkEndpointGroups' && rest.length === 2;
    if (region === undefined && !aggregated) return undefined;
    if (httpMethod !== 'GET') throw methodNotAllowed(httpMethod);
    record.method = region === undefined ? 'aggregatedList' : 'get';
    record.collection = region === undefined ? 'networkEndpointGroups' : 'regions';
    record.scope = region === undefined ? 'aggregated' : `regions/${region}`;
    if (region !== undefined) record.name = region;
    this.settle();
    const fault = this.plan.pick({ method: record.method, collection: record.collection, mutation: false });
    if (fault !== undefined) record.fault = typeof fault === 'string' ? fault : fault.reason;
    if (fault === 'timeout') return { status: 0, hold: true };
    const answer = fault === undefined ? undefined : faultAnswer(fault);
    if (answer) throw answer;
    if (region !== undefined) {
      const zones = this.state.regions.get(region);
      if (zones === undefined) throw notFound(`projects/${this.project}/regions/${region}`);
      const path = `projects/${this.project}/regions/${region}`;
      return {
        status: 200,
        body: {
          kind: 'compute#region',
          name: region,
          description: region,
          status: 'UP',
          zones: zones.map((z) => this.state.url(`projects/${this.project}/zones/${z}`)),
          selfLink: this.state.url(path),
        },
      };
    }
    return this.aggregatedPage(url);
  }

  /**
   * Pages over the NEGs of all zones together (filter first, then `pageSize` items), and shapes each page as
   * Compute does: every zone is a key, with its NEGs or a NO_RESULTS_ON_PAGE warning.
   */
  private aggregatedPage(url: URL): Reply {
    const zones = [...this.state.regions.values()].flat();
    const all = zones.flatMap((zone) =>
      applyFilter(
        this.state.list('networkEndpointGroups', { kind: 'zone', name: zone }).map((e) => this.state.render(e)),
        url.searchParams.get('filter'),
      ).map((item) => ({ zone, item })),
    );
    const { slice, body } = this.pageOf(all, url, 'compute#networkEndpointGroupAggregatedList');
    const items: Wire = {};
    for (const zone of zones) {
      const negs = slice.filter((s) => s.zone === zone).map((s) => s.item);
      const scope = `zones/${zone}`;
      items[scope] =
        negs.length > 0
          ? { networkEndpointGroups: negs }
          : {
              warning: {
                code: 'NO_RESULTS_ON_PAGE',
                message: `There are no results for scope '${scope}' on this page.`,
                data: [{ key: 'scope', value: scope }],
              },
            };
    }
    body['items'] = items;
    return { status: 200, body };
  }

  private route(path: string): Route {
    const unknown = () => new GceError(404, 'notFound', `The GCE fake does not serve '${path}'.`);
    const prefix = '/compute/v1/projects/';
    if (!path.startsWith(prefix)) throw unknown();
    const segments = path.slice(prefix.length).split('/').map(decodeURIComponent);
    const project = segments.shift() ?? '';
    if (project !== this.project) throw notFound(`projects/${project}`);
    const where = segments.shift();
    let scope: Scope;
    if (where === 'global') scope = { kind: 'global', name: '' };
    else if (where === 'regions' || where === 'zones') {
      const name = segments.shift() ?? '';
      if (where === 'regions' && !this.state.regions.has(name)) throw invalidField('region', name, 'Unknown region.');
      if (where === 'zones' && this.state.regionOfZone(name) === undefined) throw invalidField('zone', name, 'Unknown zone.');
      scope = { kind: where === 'regions' ? 'region' : 'zone', name };
    } else throw unknown();
    const [collection, name, action, ...rest] = segments;
    if (collection === undefined || rest.length > 0) throw unknown();
    if (collection === 'operations') {
      if (action !== undefined && action !== 'wait') throw unknown();
    } else {
      if (!isCollection(collection) || !(COLLECTIONS[collection].scopes as readonly string[]).includes(scope.kind)) throw unknown();
      if (action !== undefined && !(ACTIONS[collection] ?? []).includes(action)) throw unknown();
    }
    const route: Route = { scope, collection };
    if (name !== undefined) route.name = name;
    if (action !== undefined) route.action = action;
    return route;
  }
}

const API_ORIGIN = 'https://www.googleapis.com';

function methodOf(httpMethod: string, route: Route): string {
  if (route.action !== undefined) {
    if (httpMethod !== 'POST') throw methodNotAllowed(httpMethod);
    return route.action;
  }
  if (route.name === undefined) {
    if (httpMethod === 'GET') return 'list';
    if (httpMethod === 'POST' && route.collection !== 'operations') return 'insert';
    throw methodNotAllowed(httpMethod);
  }
  const byVerb: Readonly<Record<string, string>> = { GET: 'get', DELETE: 'delete', PATCH: 'patch', PUT: 'update' };
  const method = byVerb[httpMethod];
  if (method === undefined || (route.collection === 'operations' && method !== 'get' && method !== 'delete'))
    throw methodNotAllowed(httpMethod);
  return method;
}

function methodNotAllowed(httpMethod: string): GceError {
  return new GceError(405, 'httpMethodNotAllowed', `HTTP method ${httpMethod} is not supported by this URL`);
}

function faultAnswer(fault: FaultKind | CustomFault): GceError | undefined {
  switch (fault) {
    case 'rate-limit':
      return new GceError(403, 'rateLimitExceeded', 'Rate Limit Exceeded', { domain: 'usageLimits' });
    case 'too-many-requests':
      return new GceError(
        429,
        'rateLimitExceeded',
        "Quota exceeded for quota metric 'Queries' and limit 'Queries per minute' of service 'compute.googleapis.com'. (injected by the GCE fake)",
        {},
        true,
      );
    case 'server-error':
      return new GceError(500, 'backendError', 'Internal error. Please try again or contact Google Support. (injected by the GCE fake)');
    case 'unavailable':
      return new GceError(503, 'backendError', 'The service is currently unavailable. (injected by the GCE fake)');
    case 'slow-operation':
    case 'operation-failure':
    case 'timeout':
      return undefined;
    default:
      return new GceError(fault.status, fault.reason, fault.message);
  }
}

/**
 * Supports `field = "value"` and `field != "value"` terms (dotted fields such as labels.k), joined by AND, or
 * one regular-expression term `field eq|ne literal` (quoted or not) that must match the whole field, as Compute.
 */
function applyFilter(items: Wire[], filter: string | null): Wire[] {
  if (filter === null || filter.trim() === '') return items;
  const regex = /^\s*([A-Za-z][\w.]*)\s+(eq|ne)\s+(?:"([^"]*)"|'([^']*)'|(\S+))\s*$/.exec(filter);
  if (regex) {
    const path = (regex[1] ?? '').split('.');
    const pattern = new RegExp(`^(?:${regex[3] ?? regex[4] ?? regex[5] ?? ''})$`);
    return items.filter((item) => {
      let value: unknown = item;
      for (const key of path) value = obj(value)[key];
      return (value !== undefined && pattern.test(String(value))) === (regex[2] === 'eq');
    });
  }
  const terms = filter.split(/\s+AND\s+/i).map((term) => {
    const match = /^\(?\s*([A-Za-z][\w.]*)\s*(!=|=)\s*(?:"([^"]*)"|([^\s()"]+))\s*\)?$/.exec(term.trim());
    if (!match)
      throw invalidField(
        'filter',
        filter,
        'The GCE fake understands only field = "value" and field != "value" terms joined by AND, or one field eq|ne regex term.',
      );
    return { path: (match[1] ?? '').split('.'), equal: match[2] === '=', value: match[3] ?? match[4] ?? '' };
  });
  return items.filter((item) =>
    terms.every((t) => {
      let value: unknown = item;
      for (const key of t.path) value = obj(value)[key];
      return (value !== undefined && String(value) === t.value) === t.equal;
    }),
  );
}

function encodeToken(path: string, offset: number): string {
  return Buffer.from(JSON.stringify({ path, offset })).toString('base64url');
}

function decodeToken(token: string): { path: string; offset: number } | undefined {
  try {
    const parsed = obj(JSON.parse(Buffer.from(token, 'base64url').toString('utf8')));
    const offset = parsed['offset'];
    if (typeof parsed['path'] !== 'string' || typeof offset !== 'number' || !Number.isInteger(offset) || offset < 0) return undefined;
    return { path: parsed['path'], offset };
  } catch {
    return undefined;
  }
}

function parseJson(raw: string): Wire {
  try {
    const parsed: unknown = JSON.parse(raw);
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not an object');
    return parsed as Wire;
  } catch {
    throw new GceError(400, 'parseError', 'Parse Error');
  }
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}
