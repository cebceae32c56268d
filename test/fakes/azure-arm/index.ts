// A stateful HTTPS fake of Azure Resource Manager (Microsoft.Network) for tests that drive @azure/arm-network.

import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { TokenCredential } from '@azure/core-auth';
import { NetworkManagementClient, type NetworkManagementClientOptionalParams } from '@azure/arm-network';
import { generateClusterPki } from '../../harness/certs.ts';
import { ArmError } from './errors.ts';
import { FaultPlan, type CustomFault, type FaultKind, type RandomFaults, type TargetedFault } from './faults.ts';
import {
  type ArmResource,
  arr,
  CHILDREN,
  type Limits,
  NetworkState,
  normaliseLocation,
  obj,
  setProvisioningState,
  str,
  TOP_TYPES,
  type TopType,
  type Wire,
} from './state.ts';
import { HeldRequests } from '../held-requests.ts';

export type { ArmResource, Wire } from './state.ts';
export type { CustomFault, FaultKind, RandomFaults, TargetedFault } from './faults.ts';

/** The api-version @azure/arm-network 39 sends for every operation the fake serves. */
export const SDK_API_VERSION = '2026-01-01';

export interface AzureArmFakeOptions {
  subscriptionId?: string;
  /** Region of the default resource group and of async-operation URLs. */
  location?: string;
  /** Added before every PUT, PATCH and DELETE is processed. */
  writeLatencyMs?: number;
  /** Time from a write's response until its async operation reports a terminal status. */
  lroDelayMs?: number;
  /** Retry-After (seconds) on LRO responses and InProgress polls; ARM's network provider sends 10. */
  lroRetryAfterSeconds?: number;
  /** Items per list page; small so that clients must follow nextLink. */
  pageSize?: number;
  apiVersions?: readonly string[];
  /** Subscription write budget per window; ARM's classic limit is 1200 writes an hour. */
  writeBudget?: { limit: number; windowMs: number };
  readBudget?: { limit: number; windowMs: number };
  limits?: Partial<Limits>;
  /** Pool for public IP addresses. */
  publicIpRange?: string;
  /** Resource group created at start; pass null for none. */
  resourceGroup?: string | null;
  /** Retry-After (seconds) on injected 429 and 503 answers; default 1. */
  faultRetryAfterSeconds?: number;
  /** Extra time a 'slow-lro' fault adds to its operation; default 5000 ms. */
  slowLroMs?: number;
  /** How long a 'timeout' fault holds its request before dropping the connection; default until stop(). */
  timeoutHoldMs?: number;
}

/** One request the fake answered, for counting calls per method and resource. */
export interface CallRecord {
  method: string;
  path: string;
  /** Top-level type as ARM spells it ('loadBalancers'), 'operations' for LRO polls, undefined otherwise. */
  type?: string;
  name?: string;
  child?: string;
  childName?: string;
  /** 0 when no answer was sent (a 'timeout' fault). */
  status: number;
  /** The fault injected instead of processing the request (or, for slow-lro and lro-failure, with it). */
  fault?: string;
}

export interface CallFilter {
  method?: string;
  type?: string;
  name?: string;
  child?: string | null;
  status?: number;
}

interface Operation {
  id: string;
  key: string;
  kind: 'write' | 'delete';
  location: string;
  completeAt: number;
  failure?: { code: string; message: string };
  settled: boolean;
}

interface Reply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
  /** A 'timeout' fault: no answer, the connection is dropped later. */
  hold?: boolean;
}

interface Route {
  type?: TopType;
  group?: string;
  name?: string;
  child?: string;
  childName?: string;
  operation?: { id: string; result: boolean };
}

const CANONICAL_TYPES = new Map<string, TopType>(TOP_TYPES.map((t) => [t.toLowerCase(), t]));
const WRITE_METHODS = new Set(['PUT', 'PATCH', 'DELETE', 'POST']);
const WRITABLE_CHILDREN: Readonly<Record<string, string>> = {
  loadBalancers: 'backendAddressPools',
  networkSecurityGroups: 'securityRules',
};

class WindowBudget {
  private readonly limit: number;
  private readonly windowMs: number;
  private windowStart = Date.now();
  private used = 0;

  constructor(limit: number, windowMs: number) {
    this.limit = limit;
    this.windowMs = windowMs;
  }

  /** Takes one unit; returns what is left, or the seconds until the window refills when none is. */
  take(now: number): { remaining: number } | { retryAfterSeconds: number } {
    if (now - this.windowStart >= this.windowMs) {
      this.windowStart = now;
      this.used = 0;
    }
    if (this.used >= this.limit) return { retryAfterSeconds: Math.max(1, Math.ceil((this.windowStart + this.windowMs - now) / 1000)) };
    this.used += 1;
    return { remaining: this.limit - this.used };
  }
}

/** Any bearer token is accepted: the fake checks that one is sent, not who sent it. */
const fakeCredential: TokenCredential = {
  getToken: async () => ({ token: 'fake-arm-token', expiresOnTimestamp: Date.now() + 3_600_000 }),
};

export class AzureArmFake {
  readonly endpoint: string;
  readonly caPem: string;
  readonly subscriptionId: string;
  readonly location: string;
  /** Latency knobs, adjustable between requests (e.g. for a benchmark phase). */
  writeLatencyMs: number;
  lroDelayMs: number;
  lroRetryAfterSeconds: number;
  pageSize: number;
  slowLroMs: number;
  timeoutHoldMs: number | undefined;

  private readonly server: Server;
  private readonly state: NetworkState;
  private readonly apiVersions: readonly string[];
  private readonly writeBudget: WindowBudget;
  private readonly readBudget: WindowBudget;
  private readonly operations = new Map<string, Operation>();
  /** Resource key (lower-case id) → the operation that still owns it. */
  private readonly pending = new Map<string, string>();
  private readonly plan = new FaultPlan();
  private readonly faultRetryAfterSeconds: number;
  private readonly log: CallRecord[] = [];
  private readonly held = new HeldRequests(() => this.timeoutHoldMs);
  private readonly pkiDir: string;

  private constructor(server: Server, endpoint: string, caPem: string, pkiDir: string, options: AzureArmFakeOptions) {
    this.server = server;
    this.endpoint = endpoint;
    this.caPem = caPem;
    this.pkiDir = pkiDir;
    this.subscriptionId = options.subscriptionId ?? '00000000-0000-0000-0000-000000000001';
    this.location = normaliseLocation(options.location ?? 'westeurope');
    this.writeLatencyMs = options.writeLatencyMs ?? 0;
    this.lroDelayMs = options.lroDelayMs ?? 0;
    this.lroRetryAfterSeconds = options.lroRetryAfterSeconds ?? 10;
    this.pageSize = options.pageSize ?? 3;
    this.faultRetryAfterSeconds = options.faultRetryAfterSeconds ?? 1;
    this.slowLroMs = options.slowLroMs ?? 5000;
    this.timeoutHoldMs = options.timeoutHoldMs;
    this.apiVersions = options.apiVersions ?? [SDK_API_VERSION];
    this.writeBudget = new WindowBudget(options.writeBudget?.limit ?? 1200, options.writeBudget?.windowMs ?? 3_600_000);
    this.readBudget = new WindowBudget(options.readBudget?.limit ?? 12000, options.readBudget?.windowMs ?? 3_600_000);
    this.state = new NetworkState(
      this.subscriptionId,
      {
        frontendIpConfigurationsPerLoadBalancer: options.limits?.frontendIpConfigurationsPerLoadBalancer ?? 600,
        loadBalancingRulesPerLoadBalancer: options.limits?.loadBalancingRulesPerLoadBalancer ?? 1500,
      },
      options.publicIpRange ?? '20.50.0.0/16',
    );
    const group = options.resourceGroup === undefined ? 'rg-test' : options.resourceGroup;
    if (group !== null) this.state.addGroup(group, this.location);
  }

  static async start(options: AzureArmFakeOptions = {}): Promise<AzureArmFake> {
    const pkiDir = mkdtempSync(join(tmpdir(), 'azure-arm-fake-'));
    const pki = generateClusterPki(pkiDir);
    const server = createServer({ cert: readFileSync(pki.servingCertPath), key: readFileSync(pki.servingKeyPath) });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const port = (server.address() as AddressInfo).port;
    const fake = new AzureArmFake(server, `https://127.0.0.1:${port}`, pki.caCertPem, pkiDir, options);
    server.on('request', (req, res) => void fake.handle(req, res));
    return fake;
  }

  async stop(): Promise<void> {
    this.held.dropAll();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    rmSync(this.pkiDir, { recursive: true, force: true });
  }

  /**
   * A NetworkManagementClient wired to this fake: its endpoint, trust in the fake's CA through the pipeline's
   * tlsOptions, and a credential that hands out a dummy bearer token. `options` override (e.g. retryOptions).
   */
  client(options: NetworkManagementClientOptionalParams = {}): NetworkManagementClient {
    return new NetworkManagementClient(fakeCredential, this.subscriptionId, {
      endpoint: this.endpoint,
      tlsOptions: { ca: this.caPem },
      ...options,
    });
  }

  // ---- seeding (no HTTP, no counters, no budgets; resources start Succeeded) ----

  addResourceGroup(name: string, location: string = this.location): void {
    this.state.addGroup(name, location);
  }

  addVirtualNetwork(
    group: string,
    name: string,
    spec: {
      addressPrefixes: string[];
      subnets: Array<{ name: string; addressPrefix: string; networkSecurityGroupId?: string }>;
      location?: string;
    },
  ): ArmResource {
    const subnets = spec.subnets.map((s) => ({
      name: s.name,
      addressPrefix: s.addressPrefix,
      networkSecurityGroup: s.networkSecurityGroupId,
    }));
    const vnet = this.state.buildVirtualNetwork(group, name, spec.location ?? this.location, spec.addressPrefixes, subnets);
    return structuredClone(this.state.commit(vnet, 'Succeeded'));
  }

  /** Rules are given flat, as the SDK models them: `{name, priority, direction, access, protocol, ...}`. */
  addNetworkSecurityGroup(
    group: string,
    name: string,
    spec: { securityRules?: Array<{ name: string } & Wire>; location?: string } = {},
  ): ArmResource {
    const rules = (spec.securityRules ?? []).map(({ name: ruleName, ...properties }) => ({ name: ruleName, properties }));
    const body = { location: spec.location ?? this.location, properties: { securityRules: rules } };
    const nsg = this.state.buildNetworkSecurityGroup(group, name, body, undefined);
    return structuredClone(this.state.commit(nsg, 'Succeeded'));
  }

  addPublicIp(
    group: string,
    name: string,
    spec: {
      sku?: 'Standard' | 'Basic';
      allocationMethod?: 'Static' | 'Dynamic';
      domainNameLabel?: string;
      tags?: Record<string, string>;
      location?: string;
    } = {},
  ): ArmResource {
    const properties: Wire = {};
    if (spec.allocationMethod) properties['publicIPAllocationMethod'] = spec.allocationMethod;
    if (spec.domainNameLabel) properties['dnsSettings'] = { domainNameLabel: spec.domainNameLabel };
    const body: Wire = { location: spec.location ?? this.location, sku: { name: spec.sku ?? 'Standard' }, properties };
    if (spec.tags) body['tags'] = spec.tags;
    const pip = this.state.buildPublicIp(group, name, body, undefined);
    return structuredClone(this.state.commit(pip, 'Succeeded'));
  }

  // ---- introspection (settles due operations first, returns copies) ----

  loadBalancer(group: string, name: string): ArmResource | undefined {
    return this.snapshot('loadBalancers', group, name);
  }

  publicIp(group: string, name: string): ArmResource | undefined {
    return this.snapshot('publicIPAddresses', group, name);
  }

  networkSecurityGroup(group: string, name: string): ArmResource | undefined {
    return this.snapshot('networkSecurityGroups', group, name);
  }

  subnet(group: string, vnet: string, subnet: string): Wire | undefined {
    this.settle();
    const found = arr(this.state.find('virtualNetworks', group, vnet)?.properties['subnets']).find(
      (s) => str(s['name'])?.toLowerCase() === subnet.toLowerCase(),
    );
    return found === undefined ? undefined : structuredClone(found);
  }

  resources(type: TopType, group?: string): ArmResource[] {
    this.settle();
    return structuredClone(this.state.list(type, group));
  }

  /** Async operations not yet terminal. */
  pendingOperations(): number {
    this.settle();
    return [...this.operations.values()].filter((op) => !op.settled).length;
  }

  calls(filter: CallFilter = {}): CallRecord[] {
    const same = (a: string | undefined, b: string | undefined) => (a ?? '').toLowerCase() === (b ?? '').toLowerCase();
    return this.log.filter(
      (c) =>
        (filter.method === undefined || same(c.method, filter.method)) &&
        (filter.type === undefined || same(c.type, filter.type)) &&
        (filter.name === undefined || same(c.name, filter.name)) &&
        (filter.child === undefined || (filter.child === null ? c.child === undefined : same(c.child, filter.child))) &&
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

  /** Fails the next `count` requests matching the rule, e.g. the next 2 PUTs of one load balancer. */
  failNext(fault: TargetedFault): void {
    this.plan.addTargeted(fault);
  }

  clearFaults(): void {
    this.plan.clear();
  }

  /** How many faults of each kind (or custom code) were injected so far. */
  injectedFaults(): ReadonlyMap<string, number> {
    return this.plan.injected;
  }

  // ---- HTTP ----

  private snapshot(type: TopType, group: string, name: string): ArmResource | undefined {
    this.settle();
    const found = this.state.find(type, group, name);
    return found === undefined ? undefined : structuredClone(found);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.endpoint);
    const method = (req.method ?? 'GET').toUpperCase();
    const record: CallRecord = { method, path: url.pathname, status: 0 };
    let reply: Reply;
    try {
      const raw = await readBody(req);
      const route = this.route(url.pathname);
      if (route.operation) record.type = 'operations';
      else {
        if (route.type) record.type = route.type;
        if (route.name) record.name = route.name;
        if (route.child) record.child = route.child;
        if (route.childName) record.childName = route.childName;
      }
      reply = await this.process(req, url, method, route, raw, record);
    } catch (error) {
      const armError =
        error instanceof ArmError
          ? error
          : new ArmError(500, 'InternalServerError', `The fake failed: ${error instanceof Error ? error.message : String(error)}`);
      reply = { status: armError.status, body: armError.body(), headers: { ...armError.headers } };
    }
    record.status = reply.status;
    this.log.push(record);
    if (reply.hold) {
      this.held.hold(res);
      return;
    }
    const headers: Record<string, string> = {
      'x-ms-request-id': randomUUID(),
      'x-ms-correlation-request-id': randomUUID(),
      ...reply.headers,
    };
    if (reply.body === undefined) {
      res.writeHead(reply.status, headers).end();
    } else {
      res.writeHead(reply.status, { ...headers, 'content-type': 'application/json; charset=utf-8' }).end(JSON.stringify(reply.body));
    }
  }

  private async process(req: IncomingMessage, url: URL, method: string, route: Route, raw: string, record: CallRecord): Promise<Reply> {
    const auth = req.headers.authorization ?? '';
    if (!auth) throw new ArmError(401, 'AuthenticationFailed', "Authentication failed. The 'Authorization' header is missing.");
    if (!/^Bearer\s+\S+/i.test(auth)) {
      throw new ArmError(
        401,
        'InvalidAuthenticationToken',
        "The access token is invalid: the 'Authorization' header must use the Bearer scheme.",
      );
    }
    const apiVersion = url.searchParams.get('api-version');
    if (apiVersion === null) {
      throw new ArmError(
        400,
        'MissingApiVersionParameter',
        'The api-version query parameter (?api-version=) is required for all requests.',
      );
    }
    if (!this.apiVersions.includes(apiVersion)) {
      const supported = this.apiVersions.join(', ');
      if (!/^\d{4}-\d{2}-\d{2}(-preview)?$/.test(apiVersion)) {
        throw new ArmError(
          400,
          'InvalidApiVersionParameter',
          `The api-version '${apiVersion}' is invalid. The supported versions are '${supported}'.`,
        );
      }
      throw new ArmError(
        400,
        'NoRegisteredProviderFound',
        `No registered resource provider found for location '${this.location}' and API version '${apiVersion}' for type '${route.type ?? 'operations'}'. The supported api-versions are '${supported}'.`,
      );
    }
    const isWrite = WRITE_METHODS.has(method);
    const budget = (isWrite ? this.writeBudget : this.readBudget).take(Date.now());
    const budgetHeader = isWrite ? 'x-ms-ratelimit-remaining-subscription-writes' : 'x-ms-ratelimit-remaining-subscription-reads';
    if ('retryAfterSeconds' in budget) {
      throw new ArmError(
        429,
        'SubscriptionRequestsThrottled',
        `Number of '${isWrite ? 'write' : 'read'}' requests for subscription '${this.subscriptionId}' actor 'fake-arm-token' exceeded. Please try again after '${budget.retryAfterSeconds}' seconds after additional tokens are available. Refer to https://aka.ms/arm-throttling for additional information.`,
        { 'Retry-After': String(budget.retryAfterSeconds), [budgetHeader]: '0' },
      );
    }
    const withBudget = (reply: Reply): Reply => ({ ...reply, headers: { ...reply.headers, [budgetHeader]: String(budget.remaining) } });

    const fault = route.operation
      ? this.plan.pick({ method, type: 'operations', poll: true })
      : this.plan.pick({ method, type: route.type, name: route.name, child: route.child });
    if (fault !== undefined) {
      record.fault = typeof fault === 'string' ? fault : fault.code;
      if (fault === 'timeout') return { status: 0, hold: true };
      const answer = this.faultAnswer(fault);
      if (answer) throw answer;
    }
    if (route.operation) {
      this.settle();
      return withBudget(this.operationStatus(route.operation.id, route.operation.result, apiVersion));
    }

    if (isWrite && this.writeLatencyMs > 0) await sleep(this.writeLatencyMs);
    this.settle();
    const lro = { apiVersion, slow: fault === 'slow-lro', fail: fault === 'lro-failure' };
    return withBudget(this.dispatch(req, url, method, route, raw, lro));
  }

  private faultAnswer(fault: FaultKind | CustomFault): ArmError | undefined {
    const retryAfter = { 'Retry-After': String(this.faultRetryAfterSeconds) };
    switch (fault) {
      case 'throttle':
        return new ArmError(
          429,
          'SubscriptionRequestsThrottled',
          `Number of 'write' requests for subscription '${this.subscriptionId}' actor 'fake-arm-token' exceeded. Please try again after '${this.faultRetryAfterSeconds}' seconds after additional tokens are available. Refer to https://aka.ms/arm-throttling for additional information.`,
          retryAfter,
        );
      case 'server-error':
        return new ArmError(500, 'InternalServerError', 'An error occurred. (injected by the fake)');
      case 'unavailable':
        return new ArmError(503, 'ServiceUnavailable', 'The service is temporarily unavailable. (injected by the fake)', retryAfter);
      case 'slow-lro':
      case 'lro-failure':
      case 'timeout':
        return undefined;
      default:
        return new ArmError(fault.status, fault.code, fault.message);
    }
  }

  private route(path: string): Route {
    const segments = path.split('/').filter(Boolean).map(decodeURIComponent);
    const lowerSegments = segments.map((s) => s.toLowerCase());
    const invalidPath = () =>
      new ArmError(
        404,
        'InvalidResourceType',
        `The resource type could not be found for path '${path}' in the namespace 'Microsoft.Network'.`,
      );
    if (lowerSegments[0] !== 'subscriptions' || segments.length < 4) throw invalidPath();
    if (lowerSegments[1] !== this.subscriptionId.toLowerCase()) {
      throw new ArmError(404, 'SubscriptionNotFound', `The subscription '${segments[1]}' could not be found.`);
    }
    if (lowerSegments[2] === 'providers' && lowerSegments[3] === 'microsoft.network') {
      if (
        segments.length === 8 &&
        lowerSegments[4] === 'locations' &&
        (lowerSegments[6] === 'operations' || lowerSegments[6] === 'operationresults')
      ) {
        return { operation: { id: segments[7] ?? '', result: lowerSegments[6] === 'operationresults' } };
      }
      const type = CANONICAL_TYPES.get(lowerSegments[4] ?? '');
      if (segments.length === 5 && type) return { type };
      throw invalidPath();
    }
    if (lowerSegments[2] !== 'resourcegroups' || lowerSegments[4] !== 'providers' || lowerSegments[5] !== 'microsoft.network')
      throw invalidPath();
    const type = CANONICAL_TYPES.get(lowerSegments[6] ?? '');
    if (!type || segments.length > 10) throw invalidPath();
    const route: Route = { type, group: segments[3] ?? '' };
    if (segments[7] !== undefined) route.name = segments[7];
    if (segments[8] !== undefined) {
      const child = CHILDREN[type].find((c) => c.toLowerCase() === lowerSegments[8]);
      if (!child) throw invalidPath();
      route.child = child;
      if (segments[9] !== undefined) route.childName = segments[9];
    }
    return route;
  }

  private dispatch(req: IncomingMessage, url: URL, method: string, route: Route, raw: string, lro: LroOptions): Reply {
    const type = route.type as TopType;
    if (route.group === undefined || route.name === undefined) {
      if (method !== 'GET') throw methodNotAllowed(method);
      if (route.group !== undefined) this.state.groupName(route.group);
      return this.page(this.state.list(type, route.group), url);
    }
    const group = route.group;
    const name = route.name;
    if (route.child !== undefined) return this.dispatchChild(req, url, method, type, group, name, route.child, route.childName, raw, lro);

    const existing = this.state.find(type, group, name);
    switch (method) {
      case 'GET':
        return { status: 200, body: this.state.require(type, group, name) };
      case 'PUT': {
        if (type === 'virtualNetworks') throw methodNotAllowed(method);
        this.state.groupName(group);
        precondition(req, existing);
        this.assertIdle(existing);
        const body = parseJson(raw);
        const built =
          type === 'loadBalancers'
            ? this.state.buildLoadBalancer(group, name, body, existing)
            : type === 'publicIPAddresses'
              ? this.state.buildPublicIp(group, name, body, existing)
              : this.state.buildNetworkSecurityGroup(group, name, body, existing);
        return this.startWrite(built, existing === undefined ? 201 : 200, lro);
      }
      case 'PATCH': {
        if (type === 'virtualNetworks') throw methodNotAllowed(method);
        const current = this.state.require(type, group, name);
        precondition(req, current);
        const tags = obj(parseJson(raw)['tags']);
        current.tags = Object.fromEntries(Object.entries(tags).map(([k, v]) => [k, String(v)]));
        const state = str(current.properties['provisioningState']) ?? 'Succeeded';
        return { status: 200, body: this.state.commit(current, state) };
      }
      case 'DELETE': {
        if (type === 'virtualNetworks') throw methodNotAllowed(method);
        this.state.groupName(group);
        if (existing === undefined) return { status: 204 };
        precondition(req, existing);
        this.assertIdle(existing);
        this.state.assertDeletable(existing);
        setProvisioningState(existing, 'Deleting');
        return this.startOperation(existing, 'delete', 202, undefined, lro);
      }
      default:
        throw methodNotAllowed(method);
    }
  }

  private dispatchChild(
    req: IncomingMessage,
    url: URL,
    method: string,
    type: TopType,
    group: string,
    name: string,
    child: string,
    childName: string | undefined,
    raw: string,
    lro: LroOptions,
  ): Reply {
    this.state.groupName(group);
    const parent = this.state.find(type, group, name);
    if (!parent) {
      throw new ArmError(
        404,
        'ParentResourceNotFound',
        `Can not perform requested operation on nested resource. Parent resource '${name}' not found.`,
      );
    }
    const items = arr(parent.properties[child]);
    const childId = `${parent.id}/${child}/${childName ?? ''}`;
    const current = items.find((c) => str(c['name'])?.toLowerCase() === childName?.toLowerCase());
    if (childName === undefined) {
      if (method !== 'GET') throw methodNotAllowed(method);
      return this.page(items, url);
    }
    if (method === 'GET') {
      if (!current) throw new ArmError(404, 'NotFound', `Resource ${childId} not found.`);
      return { status: 200, body: current };
    }
    if (WRITABLE_CHILDREN[type] !== child || (method !== 'PUT' && method !== 'DELETE')) throw methodNotAllowed(method);
    if (method === 'DELETE' && !current) return { status: 204 };
    precondition(req, current as { etag?: unknown } | undefined);
    this.assertIdle(parent);
    const childBody = method === 'PUT' ? parseJson(raw) : undefined;
    const body = this.state.withChild(parent, child, childName, childBody);
    const rebuilt =
      type === 'loadBalancers'
        ? this.state.buildLoadBalancer(group, name, body, parent)
        : this.state.buildNetworkSecurityGroup(group, name, body, parent);
    if (method === 'DELETE') {
      this.state.commit(rebuilt, 'Updating');
      return this.startOperation(rebuilt, 'write', 202, undefined, lro);
    }
    const reply = this.startWrite(rebuilt, current === undefined ? 201 : 200, lro);
    const written = arr(rebuilt.properties[child]).find((c) => str(c['name'])?.toLowerCase() === childName.toLowerCase());
    return { ...reply, body: written };
  }

  private startWrite(resource: ArmResource, status: number, lro: LroOptions): Reply {
    this.state.commit(resource, 'Updating');
    return this.startOperation(resource, 'write', status, resource, lro);
  }

  private startOperation(resource: ArmResource, kind: Operation['kind'], status: number, body: unknown, lro: LroOptions): Reply {
    const op: Operation = {
      id: randomUUID(),
      key: resource.id.toLowerCase(),
      kind,
      location: resource.location,
      completeAt: Date.now() + this.lroDelayMs + (lro.slow ? this.slowLroMs : 0),
      settled: false,
    };
    if (lro.fail) op.failure = { code: 'InternalServerError', message: 'An error occurred. (injected by the fake)' };
    this.operations.set(op.id, op);
    this.pending.set(op.key, op.id);
    const headers: Record<string, string> = {
      'Azure-AsyncOperation': this.operationUrl(op, 'operations', lro.apiVersion),
      'Retry-After': String(this.lroRetryAfterSeconds),
    };
    if (kind === 'delete' || status === 202) headers['Location'] = this.operationUrl(op, 'operationResults', lro.apiVersion);
    return { status, body: body === undefined ? undefined : structuredClone(body), headers };
  }

  private operationUrl(op: Operation, kind: 'operations' | 'operationResults', apiVersion: string): string {
    return `${this.endpoint}/subscriptions/${this.subscriptionId}/providers/Microsoft.Network/locations/${op.location}/${kind}/${op.id}?api-version=${apiVersion}`;
  }

  private operationStatus(id: string, result: boolean, apiVersion: string): Reply {
    const op = this.operations.get(id);
    if (!op) throw new ArmError(404, 'NotFound', `Operation ${id} not found.`);
    if (!op.settled) {
      const retry = { 'Retry-After': String(this.lroRetryAfterSeconds) };
      return result
        ? { status: 202, headers: { ...retry, Location: this.operationUrl(op, 'operationResults', apiVersion) } }
        : { status: 200, body: { status: 'InProgress' }, headers: retry };
    }
    if (op.failure) return { status: 200, body: { status: 'Failed', error: op.failure } };
    return result ? { status: 204 } : { status: 200, body: { status: 'Succeeded' } };
  }

  /** Brings every operation whose time has come to its terminal state. */
  private settle(): void {
    const now = Date.now();
    for (const op of this.operations.values()) {
      if (op.settled || op.completeAt > now) continue;
      op.settled = true;
      if (this.pending.get(op.key) === op.id) this.pending.delete(op.key);
      const resource = this.state.findById(op.key);
      if (!resource) continue;
      if (op.kind === 'delete' && !op.failure) this.state.remove(resource);
      else setProvisioningState(resource, op.failure ? 'Failed' : 'Succeeded');
    }
  }

  /** A resource (or the parent of a child) with an operation still running refuses another write. */
  private assertIdle(resource: ArmResource | undefined): void {
    const opId = resource === undefined ? undefined : this.pending.get(resource.id.toLowerCase());
    const op = opId === undefined ? undefined : this.operations.get(opId);
    if (op && !op.settled) {
      throw new ArmError(
        409,
        'AnotherOperationInProgress',
        `Another operation on this or dependent resource is in progress. To retrieve status of the operation use uri: ${this.operationUrl(op, 'operations', SDK_API_VERSION)}.`,
      );
    }
  }

  private page(items: readonly Wire[] | readonly ArmResource[], url: URL): Reply {
    const skip = Number(url.searchParams.get('$skiptoken') ?? '0');
    const start = Number.isInteger(skip) && skip > 0 ? skip : 0;
    const body: { value: unknown[]; nextLink?: string } = { value: structuredClone(items.slice(start, start + this.pageSize)) };
    if (start + this.pageSize < items.length) {
      const next = new URL(url.pathname, this.endpoint);
      next.searchParams.set('api-version', url.searchParams.get('api-version') ?? SDK_API_VERSION);
      next.searchParams.set('$skiptoken', String(start + this.pageSize));
      body.nextLink = next.toString();
    }
    return { status: 200, body };
  }
}

interface LroOptions {
  apiVersion: string;
  slow: boolean;
  fail: boolean;
}

function methodNotAllowed(method: string): ArmError {
  return new ArmError(405, 'MethodNotAllowed', `The requested method '${method}' is not supported for this resource by the Azure fake.`);
}

function parseJson(raw: string): Wire {
  try {
    const parsed: unknown = JSON.parse(raw);
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not an object');
    return parsed as Wire;
  } catch {
    throw new ArmError(400, 'InvalidRequestFormat', 'Cannot parse the request.');
  }
}

/** If-Match (a stale etag, or any etag on a missing resource) and If-None-Match: * fail with 412, as ARM does. */
function precondition(req: IncomingMessage, current: { etag?: unknown } | undefined): void {
  const ifMatch = req.headers['if-match'];
  const ifNoneMatch = req.headers['if-none-match'];
  const strip = (etag: string) => etag.replace(/^W\//, '');
  if (typeof ifMatch === 'string') {
    const etag = typeof current?.etag === 'string' ? current.etag : undefined;
    if (etag === undefined || (ifMatch !== '*' && strip(ifMatch) !== strip(etag))) {
      throw new ArmError(
        412,
        'PreconditionFailed',
        `The condition If-Match: ${ifMatch} does not match the current etag ${etag ?? '(none: the resource does not exist)'}.`,
      );
    }
  }
  if (ifNoneMatch === '*' && current !== undefined) {
    throw new ArmError(412, 'PreconditionFailed', 'The condition If-None-Match: * failed because the resource already exists.');
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
