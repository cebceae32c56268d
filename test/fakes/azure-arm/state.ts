// Resource state of the Azure ARM fake and the Microsoft.Network rules every write must pass.

import { randomUUID } from 'node:crypto';
import { ArmError, invalidReference, resourceGroupNotFound, resourceNotFound } from './errors.ts';
import { cidrContains, intToIp, ipToInt, parseCidr, type Cidr } from '../ipv4.ts';

/** A JSON object as it travels on the wire. */
export type Wire = Record<string, unknown>;

/** A top-level tracked resource in ARM's wire shape (properties nested, as the REST API sends them). */
export interface ArmResource {
  id: string;
  name: string;
  type: string;
  location: string;
  etag: string;
  tags?: Record<string, string>;
  sku?: Wire;
  properties: Wire;
}

export const TOP_TYPES = ['loadBalancers', 'publicIPAddresses', 'networkSecurityGroups', 'virtualNetworks'] as const;
export type TopType = (typeof TOP_TYPES)[number];

export const LB_CHILDREN = [
  'frontendIPConfigurations',
  'backendAddressPools',
  'loadBalancingRules',
  'probes',
  'inboundNatRules',
  'outboundRules',
] as const;
export const NSG_CHILDREN = ['securityRules', 'defaultSecurityRules'] as const;
export const VNET_CHILDREN = ['subnets'] as const;

/** Child collections per top-level type, in the casing ARM uses in ids. */
export const CHILDREN: Readonly<Record<TopType, readonly string[]>> = {
  loadBalancers: LB_CHILDREN,
  publicIPAddresses: [],
  networkSecurityGroups: NSG_CHILDREN,
  virtualNetworks: VNET_CHILDREN,
};

export interface Limits {
  frontendIpConfigurationsPerLoadBalancer: number;
  loadBalancingRulesPerLoadBalancer: number;
}

export function obj(value: unknown): Wire {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Wire) : {};
}

export function arr(value: unknown): Wire[] {
  return Array.isArray(value) ? value.map(obj) : [];
}

export function str(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

function refId(value: unknown): string | undefined {
  return str(obj(value)['id']);
}

function lower(value: string | undefined): string {
  return (value ?? '').toLowerCase();
}

export function newEtag(): string {
  return `W/"${randomUUID()}"`;
}

function omit(source: Wire, keys: readonly string[]): Wire {
  const copy: Wire = { ...source };
  for (const key of keys) delete copy[key];
  return copy;
}

function badRequest(message: string): ArmError {
  return new ArmError(400, 'InvalidRequestFormat', `Cannot parse the request. ${message}`);
}

/** ARM stores locations normalised: "West Europe" and "westeurope" are the same region. */
export function normaliseLocation(location: string): string {
  return location.toLowerCase().replace(/\s+/g, '');
}

function tagsOf(body: Wire): Record<string, string> | undefined {
  const tags = body['tags'];
  if (tags === undefined) return undefined;
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(obj(tags))) out[key] = String(value);
  return out;
}

/** Sets provisioningState on a resource and on every child it embeds, as ARM reports them together. */
export function setProvisioningState(resource: ArmResource, state: string): void {
  resource.properties['provisioningState'] = state;
  for (const collection of CHILDREN[resource.type.split('/')[1] as TopType] ?? []) {
    for (const child of arr(resource.properties[collection])) obj(child['properties'])['provisioningState'] = state;
  }
}

const DEFAULT_SECURITY_RULES: readonly Wire[] = [
  {
    name: 'AllowVnetInBound',
    direction: 'Inbound',
    priority: 65000,
    access: 'Allow',
    source: 'VirtualNetwork',
    destination: 'VirtualNetwork',
  },
  {
    name: 'AllowAzureLoadBalancerInBound',
    direction: 'Inbound',
    priority: 65001,
    access: 'Allow',
    source: 'AzureLoadBalancer',
    destination: '*',
  },
  { name: 'DenyAllInBound', direction: 'Inbound', priority: 65500, access: 'Deny', source: '*', destination: '*' },
  {
    name: 'AllowVnetOutBound',
    direction: 'Outbound',
    priority: 65000,
    access: 'Allow',
    source: 'VirtualNetwork',
    destination: 'VirtualNetwork',
  },
  { name: 'AllowInternetOutBound', direction: 'Outbound', priority: 65001, access: 'Allow', source: '*', destination: 'Internet' },
  { name: 'DenyAllOutBound', direction: 'Outbound', priority: 65500, access: 'Deny', source: '*', destination: '*' },
];

export class NetworkState {
  readonly subscriptionId: string;
  readonly limits: Limits;
  private readonly groups = new Map<string, { name: string; location: string }>();
  private readonly resources = new Map<string, ArmResource>();
  private readonly publicPool: Cidr;
  private publicNext = 0;

  constructor(subscriptionId: string, limits: Limits, publicIpRange: string) {
    this.subscriptionId = subscriptionId;
    this.limits = limits;
    this.publicPool = parseCidr(publicIpRange);
  }

  addGroup(name: string, location: string): void {
    if (!this.groups.has(name.toLowerCase())) this.groups.set(name.toLowerCase(), { name, location: normaliseLocation(location) });
  }

  hasGroup(name: string): boolean {
    return this.groups.has(name.toLowerCase());
  }

  /** The group's name as it was created: ARM keeps the creator's casing in ids. */
  groupName(name: string): string {
    const group = this.groups.get(name.toLowerCase());
    if (!group) throw resourceGroupNotFound(name);
    return group.name;
  }

  resourceId(group: string, type: TopType, name: string): string {
    return `/subscriptions/${this.subscriptionId}/resourceGroups/${this.groupName(group)}/providers/Microsoft.Network/${type}/${name}`;
  }

  find(type: TopType, group: string, name: string): ArmResource | undefined {
    if (!this.hasGroup(group)) return undefined;
    return this.resources.get(this.resourceId(group, type, name).toLowerCase());
  }

  findById(id: string | undefined): ArmResource | undefined {
    return id === undefined ? undefined : this.resources.get(id.toLowerCase());
  }

  require(type: TopType, group: string, name: string): ArmResource {
    this.groupName(group);
    const found = this.find(type, group, name);
    if (!found) throw resourceNotFound(type, name, group);
    return found;
  }

  list(type: TopType, group?: string): ArmResource[] {
    const prefix = group === undefined ? undefined : `/subscriptions/${this.subscriptionId}/resourcegroups/${group.toLowerCase()}/`;
    return [...this.resources.values()]
      .filter((r) => r.type === `Microsoft.Network/${type}` && (prefix === undefined || r.id.toLowerCase().startsWith(prefix)))
      .sort((a, b) => a.id.toLowerCase().localeCompare(b.id.toLowerCase()));
  }

  /** Stores a built resource under a fresh etag (children share it, as ARM does) and refreshes back-references. */
  commit(resource: ArmResource, provisioningState: string): ArmResource {
    resource.etag = newEtag();
    for (const collection of CHILDREN[resource.type.split('/')[1] as TopType] ?? []) {
      for (const child of arr(resource.properties[collection])) child['etag'] = resource.etag;
    }
    setProvisioningState(resource, provisioningState);
    this.resources.set(resource.id.toLowerCase(), resource);
    this.relink();
    return resource;
  }

  remove(resource: ArmResource): void {
    this.resources.delete(resource.id.toLowerCase());
    this.relink();
  }

  // ---- public IP addresses ----

  buildPublicIp(group: string, name: string, body: Wire, existing: ArmResource | undefined): ArmResource {
    const location = this.locationOf(body);
    const props = obj(body['properties']);
    const old = obj(existing?.properties);
    const skuIn = obj(body['sku']);
    const sku = { name: str(skuIn['name']) ?? 'Standard', tier: str(skuIn['tier']) ?? 'Regional' };
    const method = str(props['publicIPAllocationMethod']) ?? (sku.name === 'Standard' ? 'Static' : 'Dynamic');
    const properties: Wire = {
      ...omit(props, ['ipAddress', 'ipConfiguration', 'provisioningState', 'resourceGuid', 'dnsSettings']),
      provisioningState: 'Succeeded',
      resourceGuid: str(old['resourceGuid']) ?? randomUUID(),
      publicIPAddressVersion: str(props['publicIPAddressVersion']) ?? 'IPv4',
      publicIPAllocationMethod: method,
      idleTimeoutInMinutes: typeof props['idleTimeoutInMinutes'] === 'number' ? props['idleTimeoutInMinutes'] : 4,
      ipTags: arr(props['ipTags']),
    };
    // A static address is held from creation until deletion; a dynamic one only while something uses it.
    const address = str(old['ipAddress']) ?? (method === 'Static' ? this.nextPublicIp() : undefined);
    if (address !== undefined) properties['ipAddress'] = address;
    if (old['ipConfiguration'] !== undefined) properties['ipConfiguration'] = old['ipConfiguration'];
    const dns = obj(props['dnsSettings']);
    const label = str(dns['domainNameLabel']);
    if (label) properties['dnsSettings'] = { ...dns, fqdn: `${label.toLowerCase()}.${location}.cloudapp.azure.com` };
    return this.shell(group, 'publicIPAddresses', name, body, location, existing, properties, sku);
  }

  private nextPublicIp(): string {
    const used = new Set(this.list('publicIPAddresses').map((p) => str(p.properties['ipAddress'])));
    for (let i = 0; i < this.publicPool.size; i++) {
      const candidate = intToIp(this.publicPool.base + ((this.publicNext + i) % this.publicPool.size));
      if (!used.has(candidate) && !candidate.endsWith('.0') && !candidate.endsWith('.255')) {
        this.publicNext += i + 1;
        return candidate;
      }
    }
    throw new ArmError(
      400,
      'PublicIPCountLimitReached',
      'Cannot create more than the available public IP addresses for this subscription in this region.',
    );
  }

  /** ARM refuses to delete what is still in use; these are the checks DELETE runs before accepting. */
  assertDeletable(resource: ArmResource): void {
    const ipConfiguration = refId(resource.properties['ipConfiguration']);
    if (resource.type === 'Microsoft.Network/publicIPAddresses' && ipConfiguration) {
      throw new ArmError(
        400,
        'PublicIPAddressCannotBeDeleted',
        `Public IP address ${resource.id} can not be deleted since it is still allocated to resource ${ipConfiguration}. In order to delete the public IP, disassociate/detach the Public IP address from the resource.  To learn how to do this, see aka.ms/deletepublicip.`,
      );
    }
    const subnets = arr(resource.properties['subnets']).map((s) => str(s['id']));
    if (resource.type === 'Microsoft.Network/networkSecurityGroups' && subnets.length > 0) {
      throw new ArmError(
        400,
        'InUseNetworkSecurityGroupCannotBeDeleted',
        `Network security group ${resource.id} cannot be deleted because it is in use by the following resources: ${subnets.join(', ')}.`,
      );
    }
  }

  // ---- load balancers ----

  buildLoadBalancer(group: string, name: string, body: Wire, existing: ArmResource | undefined): ArmResource {
    const location = this.locationOf(body);
    const id = existing?.id ?? this.resourceId(group, 'loadBalancers', name);
    const props = obj(body['properties']);
    const skuIn = obj(body['sku']);
    const sku = { name: str(skuIn['name']) ?? 'Standard', tier: str(skuIn['tier']) ?? 'Regional' };

    const children: Record<string, Wire[]> = {};
    const known: Record<string, Set<string>> = {};
    for (const collection of LB_CHILDREN) {
      children[collection] = arr(props[collection]).map((item) => {
        const childName = str(item['name']);
        if (!childName) throw badRequest(`Every item of ${collection} needs a name.`);
        return {
          name: childName,
          id: `${id}/${collection}/${childName}`,
          etag: '',
          type: `Microsoft.Network/loadBalancers/${collection}`,
          properties: omit(obj(item['properties']), [
            'provisioningState',
            'loadBalancingRules',
            'inboundNatRules',
            'outboundRules',
            'backendIPConfigurations',
          ]),
        };
      });
      known[collection] = new Set(children[collection].map((c) => lower(str(c['id']))));
    }
    const frontends = children['frontendIPConfigurations'] ?? [];
    const rules = children['loadBalancingRules'] ?? [];
    if (frontends.length > this.limits.frontendIpConfigurationsPerLoadBalancer) {
      throw new ArmError(
        400,
        'LoadBalancerFrontendIPConfigurationCountLimitReached',
        `A load balancer cannot have more than ${this.limits.frontendIpConfigurationsPerLoadBalancer} FrontendIPConfigurations.`,
      );
    }
    if (rules.length > this.limits.loadBalancingRulesPerLoadBalancer) {
      throw new ArmError(
        400,
        'LoadBalancerLoadBalancingRuleCountLimitReached',
        `A load balancer cannot have more than ${this.limits.loadBalancingRulesPerLoadBalancer} LoadBalancingRules.`,
      );
    }

    this.checkFrontends(id, sku.name, frontends, existing);
    for (const pool of children['backendAddressPools'] ?? []) {
      for (const address of arr(obj(pool['properties'])['loadBalancerBackendAddresses'])) {
        const vnet = refId(obj(address['properties'])['virtualNetwork']);
        if (vnet !== undefined && !this.findById(vnet)) throw invalidReference(vnet, str(pool['id']) ?? id);
      }
    }

    // Every reference inside a load balancer must name a sibling in this same body.
    const check = (ref: string | undefined, collection: string, by: string): void => {
      if (ref !== undefined && !known[collection]?.has(ref.toLowerCase())) throw invalidReference(ref, by);
    };
    const backRefs: Array<{ target: string; collection: string; from: string }> = [];
    for (const collection of ['loadBalancingRules', 'inboundNatRules', 'outboundRules'] as const) {
      for (const item of children[collection] ?? []) {
        const from = str(item['id']) ?? id;
        const p = obj(item['properties']);
        const refs: Array<[string | undefined, string]> = [
          [refId(p['frontendIPConfiguration']), 'frontendIPConfigurations'],
          ...arr(p['frontendIPConfigurations']).map((r): [string | undefined, string] => [str(r['id']), 'frontendIPConfigurations']),
          [refId(p['backendAddressPool']), 'backendAddressPools'],
          ...arr(p['backendAddressPools']).map((r): [string | undefined, string] => [str(r['id']), 'backendAddressPools']),
          [refId(p['probe']), 'probes'],
        ];
        for (const [ref, target] of refs) {
          if (ref === undefined) continue;
          check(ref, target, from);
          backRefs.push({ target: ref.toLowerCase(), collection, from });
        }
      }
    }
    // ARM answers with read-only back-references from frontends, pools and probes to the rules using them.
    for (const collection of ['frontendIPConfigurations', 'backendAddressPools', 'probes'] as const) {
      for (const item of children[collection] ?? []) {
        const p = obj(item['properties']);
        for (const ruleCollection of ['loadBalancingRules', 'inboundNatRules', 'outboundRules']) {
          const users = backRefs.filter((b) => b.target === lower(str(item['id'])) && b.collection === ruleCollection);
          if (users.length > 0) p[ruleCollection] = users.map((b) => ({ id: b.from }));
        }
      }
    }

    const properties: Wire = {
      ...omit(props, [...LB_CHILDREN, 'provisioningState', 'resourceGuid']),
      provisioningState: 'Succeeded',
      resourceGuid: str(obj(existing?.properties)['resourceGuid']) ?? randomUUID(),
    };
    for (const collection of LB_CHILDREN) properties[collection] = children[collection] ?? [];
    return this.shell(group, 'loadBalancers', name, body, location, existing, properties, sku);
  }

  private checkFrontends(lbId: string, skuName: string, frontends: Wire[], existing: ArmResource | undefined): void {
    const oldFrontends = arr(existing?.properties['frontendIPConfigurations']);
    const taken = new Map<number, string>();
    for (const lb of this.list('loadBalancers')) {
      if (lower(lb.id) === lower(lbId)) continue;
      for (const fe of arr(lb.properties['frontendIPConfigurations'])) {
        const ip = ipToInt(str(obj(fe['properties'])['privateIPAddress']) ?? '');
        if (ip !== undefined) taken.set(ip, str(fe['id']) ?? lb.id);
      }
    }
    const dynamic: Array<{ fe: Wire; subnet: Cidr; subnetId: string }> = [];
    for (const fe of frontends) {
      const feId = str(fe['id']) ?? lbId;
      const p = obj(fe['properties']);
      const publicIpId = refId(p['publicIPAddress']);
      const subnetId = refId(p['subnet']);
      if (publicIpId !== undefined && subnetId !== undefined) {
        throw new ArmError(
          400,
          'FrontendIPConfigHasBothSubnetAndPublicIP',
          `Frontend IP Configuration ${feId} must not reference both a Subnet and a Public IP Address.`,
        );
      }
      if (publicIpId === undefined && subnetId === undefined && refId(p['publicIPPrefix']) === undefined) {
        throw new ArmError(
          400,
          'FrontendIPConfigHasNoSubnetOrPublicIP',
          `Frontend IP Configuration ${feId} must reference either a Subnet or a Public IP Address.`,
        );
      }
      if (publicIpId !== undefined) {
        const pip = this.findById(publicIpId);
        if (!pip || pip.properties['provisioningState'] === 'Deleting') throw invalidReference(publicIpId, feId);
        const pipSku = str(obj(pip.sku)['name']) ?? 'Basic';
        if (pipSku.toLowerCase() !== skuName.toLowerCase()) {
          throw new ArmError(
            400,
            'DifferentSkuLoadBalancersAndPublicIPAddressNotAllowed',
            `${skuName} sku load balancer ${lbId} cannot reference ${pipSku} sku publicIP ${pip.id}.`,
          );
        }
        const holder = refId(pip.properties['ipConfiguration']);
        if (holder !== undefined && !lower(holder).startsWith(`${lower(lbId)}/`)) {
          throw new ArmError(
            400,
            'PublicIPAddressInUse',
            `Resource ${feId} is referencing public IP address ${pip.id} that is already allocated to resource ${holder}.`,
          );
        }
        p['publicIPAddress'] = { id: pip.id };
        continue;
      }
      if (subnetId === undefined) continue;
      const subnet = this.findSubnet(subnetId);
      if (!subnet) throw invalidReference(subnetId, feId);
      const prefix = parseCidr(str(obj(subnet['properties'])['addressPrefix']) ?? '0.0.0.0/32');
      p['subnet'] = { id: str(subnet['id']) };
      p['privateIPAddressVersion'] = str(p['privateIPAddressVersion']) ?? 'IPv4';
      if (str(p['privateIPAllocationMethod']) === 'Static') {
        const text = str(p['privateIPAddress']) ?? '';
        const ip = ipToInt(text);
        if (ip === undefined || !cidrContains(prefix, ip)) {
          throw new ArmError(
            400,
            'PrivateIPAddressNotInSubnet',
            `Private static IP address ${text} does not belong to the range of subnet prefix ${prefix.text}.`,
          );
        }
        if (azureReserved(prefix, ip)) {
          throw new ArmError(
            400,
            'PrivateIPAddressInReservedRange',
            `Private static IP address ${text} falls within reserved IP range of subnet prefix ${prefix.text}.`,
          );
        }
        const holder = taken.get(ip);
        if (holder !== undefined) {
          throw new ArmError(
            400,
            'PrivateIPAddressIsAllocated',
            `IP configuration ${feId} is using the private IP address ${text} which is already allocated to resource ${holder}.`,
          );
        }
        taken.set(ip, feId);
      } else {
        p['privateIPAllocationMethod'] = 'Dynamic';
        dynamic.push({ fe, subnet: prefix, subnetId: lower(subnetId) });
      }
    }
    // Dynamic frontends keep the address they already hold; new ones take the lowest free address.
    for (const { fe, subnet, subnetId } of dynamic) {
      const p = obj(fe['properties']);
      const before = oldFrontends.find((o) => lower(str(o['name'])) === lower(str(fe['name'])));
      const beforeProps = obj(before?.['properties']);
      const kept = ipToInt(str(beforeProps['privateIPAddress']) ?? '');
      let chosen: number | undefined;
      if (kept !== undefined && lower(refId(beforeProps['subnet'])) === subnetId && !taken.has(kept)) chosen = kept;
      for (let ip = subnet.base; chosen === undefined && ip < subnet.base + subnet.size; ip++) {
        if (!azureReserved(subnet, ip) && !taken.has(ip)) chosen = ip;
      }
      if (chosen === undefined) {
        throw new ArmError(
          400,
          'SubnetIsFull',
          `Subnet ${refId(p['subnet'])} with address prefix ${subnet.text} does not have enough capacity for 1 IP addresses.`,
        );
      }
      taken.set(chosen, str(fe['id']) ?? '');
      p['privateIPAddress'] = intToIp(chosen);
    }
  }

  // ---- backend pools and security rules: child writes rebuild their parent through the same checks ----

  withChild(parent: ArmResource, collection: string, childName: string, child: Wire | undefined): Wire {
    const body: Wire = structuredClone({ location: parent.location, tags: parent.tags, sku: parent.sku, properties: parent.properties });
    const props = obj(body['properties']);
    const items = arr(props[collection]).filter((c) => lower(str(c['name'])) !== lower(childName));
    if (child !== undefined) {
      const index = arr(props[collection]).findIndex((c) => lower(str(c['name'])) === lower(childName));
      items.splice(index === -1 ? items.length : index, 0, { name: childName, properties: obj(child['properties']) });
    }
    props[collection] = items;
    return body;
  }

  // ---- network security groups ----

  buildNetworkSecurityGroup(group: string, name: string, body: Wire, existing: ArmResource | undefined): ArmResource {
    const location = this.locationOf(body);
    const id = existing?.id ?? this.resourceId(group, 'networkSecurityGroups', name);
    const props = obj(body['properties']);
    const rules = arr(props['securityRules']).map((item) => {
      const ruleName = str(item['name']);
      if (!ruleName) throw badRequest('Every security rule needs a name.');
      return {
        name: ruleName,
        id: `${id}/securityRules/${ruleName}`,
        etag: '',
        type: 'Microsoft.Network/networkSecurityGroups/securityRules',
        properties: omit(obj(item['properties']), ['provisioningState']),
      };
    });
    for (const [i, rule] of rules.entries()) {
      const p = obj(rule.properties);
      for (const other of rules.slice(0, i)) {
        const q = obj(other.properties);
        if (p['priority'] === q['priority'] && lower(str(p['direction'])) === lower(str(q['direction']))) {
          throw new ArmError(
            400,
            'SecurityRuleConflict',
            `Security rule ${other.name} conflicts with rule ${rule.name}. Rules cannot have the same Priority and Direction. To learn more, see aka.ms/nsgrules.`,
          );
        }
      }
    }
    const defaults = DEFAULT_SECURITY_RULES.map((d) => ({
      name: d['name'],
      id: `${id}/defaultSecurityRules/${String(d['name'])}`,
      etag: '',
      type: 'Microsoft.Network/networkSecurityGroups/defaultSecurityRules',
      properties: {
        provisioningState: 'Succeeded',
        description: `Default rule ${String(d['name'])}`,
        protocol: '*',
        sourcePortRange: '*',
        destinationPortRange: '*',
        sourceAddressPrefix: d['source'],
        destinationAddressPrefix: d['destination'],
        access: d['access'],
        priority: d['priority'],
        direction: d['direction'],
      },
    }));
    const properties: Wire = {
      ...omit(props, ['securityRules', 'defaultSecurityRules', 'provisioningState', 'resourceGuid', 'subnets']),
      provisioningState: 'Succeeded',
      resourceGuid: str(obj(existing?.properties)['resourceGuid']) ?? randomUUID(),
      securityRules: rules,
      defaultSecurityRules: defaults,
    };
    return this.shell(group, 'networkSecurityGroups', name, body, location, existing, properties, undefined);
  }

  // ---- virtual networks (seeded only) ----

  buildVirtualNetwork(group: string, name: string, location: string, addressPrefixes: string[], subnets: Wire[]): ArmResource {
    const id = this.resourceId(group, 'virtualNetworks', name);
    const properties: Wire = {
      provisioningState: 'Succeeded',
      resourceGuid: randomUUID(),
      addressSpace: { addressPrefixes },
      subnets: subnets.map((s) => {
        const subnetName = String(s['name']);
        const p: Wire = { provisioningState: 'Succeeded', addressPrefix: s['addressPrefix'] };
        const nsg = str(s['networkSecurityGroup']);
        if (nsg !== undefined) {
          if (!this.findById(nsg)) throw invalidReference(nsg, `${id}/subnets/${subnetName}`);
          p['networkSecurityGroup'] = { id: this.findById(nsg)?.id };
        }
        return {
          name: subnetName,
          id: `${id}/subnets/${subnetName}`,
          etag: '',
          type: 'Microsoft.Network/virtualNetworks/subnets',
          properties: p,
        };
      }),
    };
    return this.shell(group, 'virtualNetworks', name, { location }, normaliseLocation(location), undefined, properties, undefined);
  }

  findSubnet(subnetId: string): Wire | undefined {
    const vnetId = subnetId.replace(/\/subnets\/[^/]+$/i, '');
    return arr(this.findById(vnetId)?.properties['subnets']).find((s) => lower(str(s['id'])) === lower(subnetId));
  }

  // ---- shared ----

  private locationOf(body: Wire): string {
    const location = str(body['location']);
    if (!location) throw new ArmError(400, 'LocationRequired', 'The location property is required for this definition.');
    return normaliseLocation(location);
  }

  private shell(
    group: string,
    type: TopType,
    name: string,
    body: Wire,
    location: string,
    existing: ArmResource | undefined,
    properties: Wire,
    sku: Wire | undefined,
  ): ArmResource {
    const resource: ArmResource = {
      id: existing?.id ?? this.resourceId(group, type, name),
      name: existing?.name ?? name,
      type: `Microsoft.Network/${type}`,
      location,
      etag: existing?.etag ?? '',
      properties,
    };
    const tags = tagsOf(body);
    if (tags !== undefined) resource.tags = tags;
    if (sku !== undefined) resource.sku = sku;
    return resource;
  }

  /**
   * Recomputes the read-only links ARM maintains on the far side of a reference: a public IP's ipConfiguration,
   * a subnet's ipConfigurations, an NSG's subnets. A public IP whose link changes gets a new etag, as in ARM.
   */
  private relink(): void {
    const pipUsers = new Map<string, string>();
    const subnetUsers = new Map<string, string[]>();
    for (const lb of this.list('loadBalancers')) {
      for (const fe of arr(lb.properties['frontendIPConfigurations'])) {
        const p = obj(fe['properties']);
        const feId = str(fe['id']) ?? lb.id;
        const pip = refId(p['publicIPAddress']);
        if (pip !== undefined) pipUsers.set(lower(pip), feId);
        const subnet = refId(p['subnet']);
        if (subnet !== undefined) subnetUsers.set(lower(subnet), [...(subnetUsers.get(lower(subnet)) ?? []), feId]);
      }
    }
    for (const pip of this.list('publicIPAddresses')) {
      const user = pipUsers.get(lower(pip.id));
      const before = refId(pip.properties['ipConfiguration']);
      if (lower(before) === lower(user)) continue;
      if (user === undefined) {
        delete pip.properties['ipConfiguration'];
        if (pip.properties['publicIPAllocationMethod'] === 'Dynamic') delete pip.properties['ipAddress'];
      } else {
        pip.properties['ipConfiguration'] = { id: user };
        if (pip.properties['ipAddress'] === undefined) pip.properties['ipAddress'] = this.nextPublicIp();
      }
      pip.etag = newEtag();
    }
    const nsgSubnets = new Map<string, string[]>();
    for (const vnet of this.list('virtualNetworks')) {
      for (const subnet of arr(vnet.properties['subnets'])) {
        const p = obj(subnet['properties']);
        const users = subnetUsers.get(lower(str(subnet['id']))) ?? [];
        if (users.length > 0) p['ipConfigurations'] = users.map((u) => ({ id: u }));
        else delete p['ipConfigurations'];
        const nsg = refId(p['networkSecurityGroup']);
        if (nsg !== undefined) nsgSubnets.set(lower(nsg), [...(nsgSubnets.get(lower(nsg)) ?? []), str(subnet['id']) ?? '']);
      }
    }
    for (const nsg of this.list('networkSecurityGroups')) {
      const subnets = nsgSubnets.get(lower(nsg.id)) ?? [];
      if (subnets.length > 0) nsg.properties['subnets'] = subnets.map((s) => ({ id: s }));
      else delete nsg.properties['subnets'];
    }
  }
}

/** Azure keeps the network address, the next three (gateway, DNS) and the broadcast address of every subnet. */
function azureReserved(cidr: Cidr, ip: number): boolean {
  const offset = ip - cidr.base;
  return offset < 4 || offset === cidr.size - 1;
}
