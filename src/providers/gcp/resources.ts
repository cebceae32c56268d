// Per resource kind: how to read, create, update and delete it, and how to read and change its members,
// each through the one call wrapper. This is the only file that knows the SDK's request shapes.

import type { GcpApi } from './api.ts';
import { isNotFound } from './errors.ts';
import type { DesiredResource, Kind, Member, ResourceRef } from './model.ts';

type Raw = Record<string, unknown>;
type Lro = [{ latestResponse: unknown }, ...unknown[]];

export interface KindOps {
  get(ref: ResourceRef): Promise<Raw>;
  insert(resource: DesiredResource, body: Raw): Promise<void>;
  /** Writes spec over what exists; fingerprint is the observed one, for kinds that guard writes with it. */
  update(resource: DesiredResource, body: Raw, fingerprint: string | undefined): Promise<void>;
  delete(ref: ResourceRef): Promise<void>;
  members?(ref: ResourceRef, raw: Raw): Promise<Member[]>;
  add?(ref: ResourceRef, members: Member[]): Promise<void>;
  remove?(ref: ResourceRef, members: Member[]): Promise<void>;
  list(): Promise<Raw[]>;
}

/** The path from "projects/" of a full URL; what we compare and key members by. */
export function toPath(url: unknown): string {
  const s = String(url ?? '');
  const at = s.indexOf('projects/');
  return at >= 0 ? s.slice(at) : s;
}

function lastSegment(url: unknown): string {
  return String(url ?? '')
    .split('/')
    .pop()!;
}

/** Reads a resource; undefined when it is not there. */
export async function getOptional(ops: KindOps, ref: ResourceRef): Promise<Raw | undefined> {
  try {
    return await ops.get(ref);
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

/** The zone names of a region, from its Region resource (which lists them as URLs). */
export async function regionZones(api: GcpApi, region: string): Promise<string[]> {
  const [raw] = await api.call('regions.get', (o) => api.clients.regions.get({ project: api.project, region }, o));
  return (raw.zones ?? []).map(lastSegment);
}

/**
 * The NEGs whose whole name matches `namePattern` (an RE2 regex, as Compute's `eq` filter reads it) in the given
 * zones: one aggregatedList over the project (a call per 500 NEGs), not a list per zone.
 */
export async function findNetworkEndpointGroups(
  api: GcpApi,
  namePattern: string,
  zones: ReadonlySet<string>,
): Promise<Array<{ ref: ResourceRef; raw: Raw }>> {
  const found: Array<{ ref: ResourceRef; raw: Raw }> = [];
  let token: string | undefined;
  do {
    const page = await api.call('networkEndpointGroups.aggregatedList', (_o, g) =>
      api.aggregatedNetworkEndpointGroups.aggregatedList(
        { project: api.project, filter: `name eq '${namePattern}'`, ...(token ? { pageToken: token } : {}) },
        g,
      ),
    );
    for (const [scope, scoped] of Object.entries(page.data.items ?? {})) {
      const zone = scope.replace(/^zones\//, '');
      if (!zones.has(zone)) continue;
      for (const neg of scoped.networkEndpointGroups ?? [])
        found.push({ ref: { kind: 'networkEndpointGroup', name: String(neg.name), zone }, raw: asRaw(neg) });
    }
    token = page.data.nextPageToken ?? undefined;
  } while (token);
  return found;
}

function asRaw(value: unknown): Raw {
  return (value ?? {}) as Raw;
}

export function kindOps(api: GcpApi, region: string): Record<Kind, KindOps> {
  const c = api.clients;
  const project = api.project;
  const zoneOf = (ref: ResourceRef): string => ref.zone ?? '';
  const hc = api.httpHealthChecks;
  // A googleapis answer's body is the Operation, which mutate() reads where the SDK puts it.
  const asLro = async (p: Promise<{ data: unknown }>): Promise<Lro> => [{ latestResponse: (await p).data }];

  return {
    address: {
      get: async (ref) => asRaw((await api.call('addresses.get', (o) => c.addresses.get({ project, region, address: ref.name }, o)))[0]),
      insert: (_r, body) => api.mutate('addresses.insert', (o) => c.addresses.insert({ project, region, addressResource: body }, o)),
      update: async () => {
        throw new Error('addresses cannot be updated in place');
      },
      delete: (ref) => api.mutate('addresses.delete', (o) => c.addresses.delete({ project, region, address: ref.name }, o)),
      list: async () =>
        (
          await api.list('addresses.list', (pageToken, o) => c.addresses.list({ project, region, ...(pageToken ? { pageToken } : {}) }, o))
        ).map(asRaw),
    },
    firewall: {
      get: async (ref) => asRaw((await api.call('firewalls.get', (o) => c.firewalls.get({ project, firewall: ref.name }, o)))[0]),
      insert: (_r, body) => api.mutate('firewalls.insert', (o) => c.firewalls.insert({ project, firewallResource: body }, o)),
      update: (r, body) =>
        api.mutate('firewalls.patch', (o) => c.firewalls.patch({ project, firewall: r.name, firewallResource: body }, o)),
      delete: (ref) => api.mutate('firewalls.delete', (o) => c.firewalls.delete({ project, firewall: ref.name }, o)),
      list: async () =>
        (await api.list('firewalls.list', (pageToken, o) => c.firewalls.list({ project, ...(pageToken ? { pageToken } : {}) }, o))).map(
          asRaw,
        ),
    },
    // @google-cloud/compute 7 has no client for legacy httpHealthChecks, the only checks target pools take:
    // the official googleapis client serves them, through the same wrapper and the same credentials.
    httpHealthCheck: {
      get: async (ref) =>
        asRaw((await api.call('httpHealthChecks.get', (_o, g) => hc.get({ project, httpHealthCheck: ref.name }, g))).data),
      insert: (_r, body) => api.mutate('httpHealthChecks.insert', (_o, g) => asLro(hc.insert({ project, requestBody: body }, g))),
      update: (r, body) =>
        api.mutate('httpHealthChecks.patch', (_o, g) => asLro(hc.patch({ project, httpHealthCheck: r.name, requestBody: body }, g))),
      delete: (ref) => api.mutate('httpHealthChecks.delete', (_o, g) => asLro(hc.delete({ project, httpHealthCheck: ref.name }, g))),
      list: async () => {
        const items: Raw[] = [];
        let token: string | undefined;
        do {
          const page = await api.call('httpHealthChecks.list', (_o, g) => hc.list({ project, ...(token ? { pageToken: token } : {}) }, g));
          items.push(...(page.data.items ?? []).map(asRaw));
          token = page.data.nextPageToken ?? undefined;
        } while (token);
        return items;
      },
    },
    healthCheck: {
      get: async (ref) => asRaw((await api.call('healthChecks.get', (o) => c.healthChecks.get({ project, healthCheck: ref.name }, o)))[0]),
      insert: (_r, body) => api.mutate('healthChecks.insert', (o) => c.healthChecks.insert({ project, healthCheckResource: body }, o)),
      update: (r, body) =>
        api.mutate('healthChecks.patch', (o) => c.healthChecks.patch({ project, healthCheck: r.name, healthCheckResource: body }, o)),
      delete: (ref) => api.mutate('healthChecks.delete', (o) => c.healthChecks.delete({ project, healthCheck: ref.name }, o)),
      list: async () =>
        (
          await api.list('healthChecks.list', (pageToken, o) => c.healthChecks.list({ project, ...(pageToken ? { pageToken } : {}) }, o))
        ).map(asRaw),
    },
    regionHealthCheck: {
      get: async (ref) =>
        asRaw(
          (await api.call('regionHealthChecks.get', (o) => c.regionHealthChecks.get({ project, region, healthCheck: ref.name }, o)))[0],
        ),
      insert: (_r, body) =>
        api.mutate('regionHealthChecks.insert', (o) => c.regionHealthChecks.insert({ project, region, healthCheckResource: body }, o)),
      update: (r, body) =>
        api.mutate('regionHealthChecks.patch', (o) =>
          c.regionHealthChecks.patch({ project, region, healthCheck: r.name, healthCheckResource: body }, o),
        ),
      delete: (ref) =>
        api.mutate('regionHealthChecks.delete', (o) => c.regionHealthChecks.delete({ project, region, healthCheck: ref.name }, o)),
      list: async () =>
        (
          await api.list('regionHealthChecks.list', (pageToken, o) =>
            c.regionHealthChecks.list({ project, region, ...(pageToken ? { pageToken } : {}) }, o),
          )
        ).map(asRaw),
    },
    targetPool: {
      get: async (ref) =>
        asRaw((await api.call('targetPools.get', (o) => c.targetPools.get({ project, region, targetPool: ref.name }, o)))[0]),
      insert: (r, body) =>
        api.mutate('targetPools.insert', (o) =>
          c.targetPools.insert(
            { project, region, targetPoolResource: { ...body, instances: (r.members ?? []).map((m) => String(m.value['instance'])) } },
            o,
          ),
        ),
      update: async () => {
        throw new Error('target pools cannot be updated in place');
      },
      delete: (ref) => api.mutate('targetPools.delete', (o) => c.targetPools.delete({ project, region, targetPool: ref.name }, o)),
      members: async (_ref, raw) =>
        ((raw['instances'] as string[] | undefined) ?? []).map((url) => ({ key: toPath(url), value: { instance: toPath(url) } })),
      add: (ref, members) =>
        api.mutate('targetPools.addInstance', (o) =>
          c.targetPools.addInstance(
            { project, region, targetPool: ref.name, targetPoolsAddInstanceRequestResource: { instances: members.map((m) => m.value) } },
            o,
          ),
        ),
      remove: (ref, members) =>
        api.mutate('targetPools.removeInstance', (o) =>
          c.targetPools.removeInstance(
            { project, region, targetPool: ref.name, targetPoolsRemoveInstanceRequestResource: { instances: members.map((m) => m.value) } },
            o,
          ),
        ),
      list: async () =>
        (
          await api.list('targetPools.list', (pageToken, o) =>
            c.targetPools.list({ project, region, ...(pageToken ? { pageToken } : {}) }, o),
          )
        ).map(asRaw),
    },
    instanceGroup: {
      get: async (ref) =>
        asRaw(
          (
            await api.call('instanceGroups.get', (o) => c.instanceGroups.get({ project, zone: zoneOf(ref), instanceGroup: ref.name }, o))
          )[0],
        ),
      insert: (r, body) =>
        api.mutate('instanceGroups.insert', (o) => c.instanceGroups.insert({ project, zone: zoneOf(r), instanceGroupResource: body }, o)),
      update: async () => {
        throw new Error('instance groups cannot be updated in place');
      },
      delete: (ref) =>
        api.mutate('instanceGroups.delete', (o) => c.instanceGroups.delete({ project, zone: zoneOf(ref), instanceGroup: ref.name }, o)),
      members: async (ref) =>
        (
          await api.list('instanceGroups.listInstances', (pageToken, o) =>
            c.instanceGroups.listInstances(
              {
                project,
                zone: zoneOf(ref),
                instanceGroup: ref.name,
                instanceGroupsListInstancesRequestResource: { instanceState: 'ALL' },
                ...(pageToken ? { pageToken } : {}),
              },
              o,
            ),
          )
        ).map((i) => ({ key: toPath(i.instance), value: { instance: toPath(i.instance) } })),
      add: (ref, members) =>
        api.mutate('instanceGroups.addInstances', (o) =>
          c.instanceGroups.addInstances(
            {
              project,
              zone: zoneOf(ref),
              instanceGroup: ref.name,
              instanceGroupsAddInstancesRequestResource: { instances: members.map((m) => m.value) },
            },
            o,
          ),
        ),
      remove: (ref, members) =>
        api.mutate('instanceGroups.removeInstances', (o) =>
          c.instanceGroups.removeInstances(
            {
              project,
              zone: zoneOf(ref),
              instanceGroup: ref.name,
              instanceGroupsRemoveInstancesRequestResource: { instances: members.map((m) => m.value) },
            },
            o,
          ),
        ),
      list: async () => [],
    },
    networkEndpointGroup: {
      get: async (ref) =>
        asRaw(
          (
            await api.call('networkEndpointGroups.get', (o) =>
              c.networkEndpointGroups.get({ project, zone: zoneOf(ref), networkEndpointGroup: ref.name }, o),
            )
          )[0],
        ),
      insert: (r, body) =>
        api.mutate('networkEndpointGroups.insert', (o) =>
          c.networkEndpointGroups.insert({ project, zone: zoneOf(r), networkEndpointGroupResource: body }, o),
        ),
      update: async () => {
        throw new Error('network endpoint groups cannot be updated in place');
      },
      delete: (ref) =>
        api.mutate('networkEndpointGroups.delete', (o) =>
          c.networkEndpointGroups.delete({ project, zone: zoneOf(ref), networkEndpointGroup: ref.name }, o),
        ),
      members: async (ref) =>
        (
          await api.list('networkEndpointGroups.listNetworkEndpoints', (pageToken, o) =>
            c.networkEndpointGroups.listNetworkEndpoints(
              {
                project,
                zone: zoneOf(ref),
                networkEndpointGroup: ref.name,
                networkEndpointGroupsListEndpointsRequestResource: {},
                ...(pageToken ? { pageToken } : {}),
              },
              o,
            ),
          )
        ).map((e) => {
          const ep = e.networkEndpoint ?? {};
          const instance = lastSegment(ep.instance);
          return { key: `${instance}|${ep.ipAddress}|${ep.port}`, value: { instance, ipAddress: ep.ipAddress, port: ep.port } };
        }),
      add: (ref, members) =>
        api.mutate('networkEndpointGroups.attachNetworkEndpoints', (o) =>
          c.networkEndpointGroups.attachNetworkEndpoints(
            {
              project,
              zone: zoneOf(ref),
              networkEndpointGroup: ref.name,
              networkEndpointGroupsAttachEndpointsRequestResource: { networkEndpoints: members.map((m) => m.value) },
            },
            o,
          ),
        ),
      remove: (ref, members) =>
        api.mutate('networkEndpointGroups.detachNetworkEndpoints', (o) =>
          c.networkEndpointGroups.detachNetworkEndpoints(
            {
              project,
              zone: zoneOf(ref),
              networkEndpointGroup: ref.name,
              networkEndpointGroupsDetachEndpointsRequestResource: { networkEndpoints: members.map((m) => m.value) },
            },
            o,
          ),
        ),
      list: async () => [],
    },
    regionBackendService: {
      get: async (ref) =>
        asRaw(
          (
            await api.call('regionBackendServices.get', (o) =>
              c.regionBackendServices.get({ project, region, backendService: ref.name }, o),
            )
          )[0],
        ),
      insert: (_r, body) =>
        api.mutate('regionBackendServices.insert', (o) =>
          c.regionBackendServices.insert({ project, region, backendServiceResource: body }, o),
        ),
      update: (r, body, fingerprint) =>
        api.mutate('regionBackendServices.patch', (o) =>
          c.regionBackendServices.patch(
            { project, region, backendService: r.name, backendServiceResource: { ...body, ...(fingerprint ? { fingerprint } : {}) } },
            o,
          ),
        ),
      delete: (ref) =>
        api.mutate('regionBackendServices.delete', (o) => c.regionBackendServices.delete({ project, region, backendService: ref.name }, o)),
      list: async () =>
        (
          await api.list('regionBackendServices.list', (pageToken, o) =>
            c.regionBackendServices.list({ project, region, ...(pageToken ? { pageToken } : {}) }, o),
          )
        ).map(asRaw),
    },
    regionTargetTcpProxy: {
      get: async (ref) =>
        asRaw(
          (
            await api.call('regionTargetTcpProxies.get', (o) =>
              c.regionTargetTcpProxies.get({ project, region, targetTcpProxy: ref.name }, o),
            )
          )[0],
        ),
      insert: (_r, body) =>
        api.mutate('regionTargetTcpProxies.insert', (o) =>
          c.regionTargetTcpProxies.insert({ project, region, targetTcpProxyResource: body }, o),
        ),
      update: async () => {
        throw new Error('target TCP proxies cannot be updated in place');
      },
      delete: (ref) =>
        api.mutate('regionTargetTcpProxies.delete', (o) =>
          c.regionTargetTcpProxies.delete({ project, region, targetTcpProxy: ref.name }, o),
        ),
      list: async () =>
        (
          await api.list('regionTargetTcpProxies.list', (pageToken, o) =>
            c.regionTargetTcpProxies.list({ project, region, ...(pageToken ? { pageToken } : {}) }, o),
          )
        ).map(asRaw),
    },
    forwardingRule: {
      get: async (ref) =>
        asRaw((await api.call('forwardingRules.get', (o) => c.forwardingRules.get({ project, region, forwardingRule: ref.name }, o)))[0]),
      insert: (_r, body) =>
        api.mutate('forwardingRules.insert', (o) => c.forwardingRules.insert({ project, region, forwardingRuleResource: body }, o)),
      update: async () => {
        throw new Error('forwarding rules are replaced, not updated');
      },
      delete: (ref) =>
        api.mutate('forwardingRules.delete', (o) => c.forwardingRules.delete({ project, region, forwardingRule: ref.name }, o)),
      list: async () =>
        (
          await api.list('forwardingRules.list', (pageToken, o) =>
            c.forwardingRules.list({ project, region, ...(pageToken ? { pageToken } : {}) }, o),
          )
        ).map(asRaw),
    },
  };
}
