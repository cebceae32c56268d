// VPC facts every Service needs (CIDRs, subnets), read once and cached, so that they cost no calls per sync.

import { DescribeSecurityGroupsCommand, DescribeSubnetsCommand, DescribeVpcsCommand, type Subnet } from '@aws-sdk/client-ec2';
import { quote } from '../../error-message.ts';
import { invalidService, ProviderError } from '../provider.ts';
import type { AwsApi } from './api.ts';
import { Annotations } from './annotations.ts';
import type { AwsProviderConfig } from './config.ts';
import { isAwsError } from './errors.ts';
import type { Scheme } from './model.ts';
import { compareStrings } from '../../compare.ts';

/** Subnets and CIDR blocks change rarely; a new one is picked up within this time. */
const TTL_MS = 10 * 60_000;

interface Cached<T> {
  value: Promise<T>;
  at: number;
}

const ROLE_TAG: Record<Scheme, string> = {
  'internet-facing': 'kubernetes.io/role/elb',
  internal: 'kubernetes.io/role/internal-elb',
};

function tagValue(subnet: Subnet, key: string): string | undefined {
  return subnet.Tags?.find((t) => t.Key === key)?.Value;
}

/**
 * One subnet per zone (an NLB takes at most one per zone): subnets tagged for this cluster first, then by
 * ID, so the choice is stable across restarts.
 */
export function pickSubnetPerZone(subnets: Subnet[], clusterName: string): string[] {
  const clusterTag = `kubernetes.io/cluster/${clusterName}`;
  const rank = (s: Subnet) => (tagValue(s, clusterTag) !== undefined ? 0 : 1);
  const byZone = new Map<string, Subnet>();
  const sorted = [...subnets].sort((a, b) => rank(a) - rank(b) || compareStrings(a.SubnetId ?? '', b.SubnetId ?? ''));
  for (const s of sorted) {
    const zone = s.AvailabilityZone ?? '';
    if (!byZone.has(zone)) byZone.set(zone, s);
  }
  return [...byZone.entries()].sort(([a], [b]) => compareStrings(a, b)).map(([, s]) => s.SubnetId!);
}

export class NetworkInfo {
  readonly #api: AwsApi;
  readonly #config: AwsProviderConfig;
  readonly #clusterName: string;
  readonly #now: () => number;
  #vpcCidrs: Cached<string[]> | undefined;
  #nodeSecurityGroups: Cached<string[]> | undefined;
  readonly #subnets = new Map<string, Cached<string[]>>();
  readonly #securityGroups = new Map<string, Cached<string[]>>();

  constructor(api: AwsApi, config: AwsProviderConfig, clusterName: string, now: () => number = Date.now) {
    this.#api = api;
    this.#config = config;
    this.#clusterName = clusterName;
    this.#now = now;
  }

  vpcCidrs(): Promise<string[]> {
    this.#vpcCidrs = this.#fresh(this.#vpcCidrs, () => this.#readVpcCidrs());
    return this.#vpcCidrs.value;
  }

  /** Subnet IDs for a new load balancer: the annotation's, else the config's, else discovered by role tag. */
  subnets(scheme: Scheme, annotated: string[] | undefined): Promise<string[]> {
    if (annotated) return this.#cachedSubnets(`annotation:${annotated.join(',')}`, () => this.#resolveAnnotated(annotated));
    if (this.#config.subnets.length > 0) return Promise.resolve(this.#config.subnets);
    return this.#cachedSubnets(`discovered:${scheme}`, () => this.#discover(scheme));
  }

  /** The nodes' security groups (config, else tagged for the cluster); [] when their management is off. */
  nodeSecurityGroups(): Promise<string[]> {
    const config = this.#config.nodeSecurityGroups;
    if (!config.manage) return Promise.resolve([]);
    if (config.ids.length > 0) return Promise.resolve([...config.ids].sort());
    this.#nodeSecurityGroups = this.#fresh(this.#nodeSecurityGroups, () => this.#discoverNodeSecurityGroups());
    return this.#nodeSecurityGroups.value;
  }

  /** The security-groups annotation: IDs checked to be in the VPC, names looked up by their Name tag. */
  securityGroups(items: string[]): Promise<string[]> {
    const key = items.join(',');
    const entry = this.#fresh(this.#securityGroups.get(key), () => this.#resolveSecurityGroups(items));
    this.#securityGroups.set(key, entry);
    return entry.value;
  }

  async #discoverNodeSecurityGroups(): Promise<string[]> {
    const out = await this.#api.ec2(
      new DescribeSecurityGroupsCommand({
        Filters: [
          { Name: 'vpc-id', Values: [this.#config.vpcId] },
          { Name: 'tag-key', Values: [`kubernetes.io/cluster/${this.#clusterName}`] },
        ],
      }),
    );
    // Load balancer groups (ours, the AWS Load Balancer Controller's) carry the cluster tag too; they are not nodes'.
    return (out.SecurityGroups ?? [])
      .filter(
        (g) =>
          !g.Tags?.some(
            (t) => t.Key === 'kubernetes.io/service-uid' || t.Key === 'kubernetes.io/service-name' || t.Key === 'elbv2.k8s.aws/cluster',
          ),
      )
      .map((g) => g.GroupId!)
      .sort();
  }

  async #resolveSecurityGroups(items: string[]): Promise<string[]> {
    const annotation = Annotations.securityGroups;
    const vpcFilter = { Name: 'vpc-id', Values: [this.#config.vpcId] };
    const ids = items.filter((s) => s.startsWith('sg-'));
    const names = items.filter((s) => !s.startsWith('sg-'));
    const found: Array<{ id: string; name: string | undefined }> = [];
    const collect = (
      groups: Array<{ GroupId?: string | undefined; Tags?: Array<{ Key?: string | undefined; Value?: string | undefined }> | undefined }>,
    ) => {
      for (const g of groups) if (g.GroupId) found.push({ id: g.GroupId, name: g.Tags?.find((t) => t.Key === 'Name')?.Value });
    };
    if (ids.length > 0)
      collect(
        (await this.#api.ec2(new DescribeSecurityGroupsCommand({ Filters: [vpcFilter, { Name: 'group-id', Values: ids }] })))
          .SecurityGroups ?? [],
      );
    if (names.length > 0)
      collect(
        (await this.#api.ec2(new DescribeSecurityGroupsCommand({ Filters: [vpcFilter, { Name: 'tag:Name', Values: names }] })))
          .SecurityGroups ?? [],
      );
    const resolved = items.map((item) => {
      const matches = found.filter((g) => g.id === item || g.name === item);
      if (matches.length !== 1) {
        throw invalidService(
          `annotation ${annotation}: ${quote(item)} ${matches.length === 0 ? 'is not a security group' : 'names several security groups'} in VPC ${this.#config.vpcId}`,
        );
      }
      return matches[0]!.id;
    });
    return [...new Set(resolved)];
  }

  #cachedSubnets(key: string, load: () => Promise<string[]>): Promise<string[]> {
    const entry = this.#fresh(this.#subnets.get(key), load);
    this.#subnets.set(key, entry);
    return entry.value;
  }

  /** Reuses a cached (or in-flight) value until it expires; a failed load is not cached. */
  #fresh<T>(entry: Cached<T> | undefined, load: () => Promise<T>): Cached<T> {
    const now = this.#now();
    if (entry && now - entry.at < TTL_MS) return entry;
    const fresh: Cached<T> = { value: load(), at: now };
    fresh.value.catch(() => {
      fresh.at = -Infinity;
    });
    return fresh;
  }

  async #readVpcCidrs(): Promise<string[]> {
    const vpcId = this.#config.vpcId;
    let vpc;
    try {
      vpc = (await this.#api.ec2(new DescribeVpcsCommand({ VpcIds: [vpcId] }))).Vpcs?.[0];
    } catch (err) {
      if (!isAwsError(err, 'InvalidVpcID.NotFound')) throw err;
    }
    if (!vpc) throw new ProviderError(`VPC ${vpcId} (provider.aws.vpcId) does not exist`, { retryable: false });
    const cidrs = new Set<string>();
    if (vpc.CidrBlock) cidrs.add(vpc.CidrBlock);
    for (const a of vpc.CidrBlockAssociationSet ?? []) {
      if (a.CidrBlock && (a.CidrBlockState?.State ?? 'associated') === 'associated') cidrs.add(a.CidrBlock);
    }
    return [...cidrs].sort();
  }

  async #discover(scheme: Scheme): Promise<string[]> {
    const tag = ROLE_TAG[scheme];
    const out = await this.#api.ec2(
      new DescribeSubnetsCommand({
        Filters: [
          { Name: 'vpc-id', Values: [this.#config.vpcId] },
          { Name: 'tag-key', Values: [tag] },
        ],
      }),
    );
    const usable = (out.Subnets ?? []).filter((s) => ['', '1', 'true'].includes(tagValue(s, tag) ?? ''));
    const ids = pickSubnetPerZone(usable, this.#clusterName);
    if (ids.length === 0) {
      throw new ProviderError(
        `no subnet in VPC ${this.#config.vpcId} is tagged ${tag}=1 for ${scheme} load balancers; tag one per zone or set provider.aws.subnets`,
        { retryable: false },
      );
    }
    return ids;
  }

  async #resolveAnnotated(items: string[]): Promise<string[]> {
    const annotation = Annotations.subnets;
    const ids = items.filter((s) => s.startsWith('subnet-'));
    const names = items.filter((s) => !s.startsWith('subnet-'));
    const vpcFilter = { Name: 'vpc-id', Values: [this.#config.vpcId] };
    const found: Subnet[] = [];
    try {
      if (ids.length > 0)
        found.push(...((await this.#api.ec2(new DescribeSubnetsCommand({ SubnetIds: ids, Filters: [vpcFilter] }))).Subnets ?? []));
    } catch (err) {
      if (isAwsError(err, 'InvalidSubnetID.NotFound', 'InvalidSubnetID.Malformed'))
        throw invalidService(`annotation ${annotation}: ${(err as Error).message}`);
      throw err;
    }
    if (names.length > 0) {
      const out = await this.#api.ec2(new DescribeSubnetsCommand({ Filters: [vpcFilter, { Name: 'tag:Name', Values: names }] }));
      found.push(...(out.Subnets ?? []));
    }
    const zones = new Map<string, string>();
    const resolved = items.map((item) => {
      const matches = found.filter((s) => s.SubnetId === item || tagValue(s, 'Name') === item);
      if (matches.length !== 1) {
        throw invalidService(
          `annotation ${annotation}: ${quote(item)} ${matches.length === 0 ? 'is not a subnet' : 'names several subnets'} in VPC ${this.#config.vpcId}`,
        );
      }
      const subnet = matches[0]!;
      const zone = subnet.AvailabilityZone ?? '';
      const other = zones.get(zone);
      if (other !== undefined && other !== subnet.SubnetId) {
        throw invalidService(
          `annotation ${annotation}: ${other} and ${subnet.SubnetId} are both in ${zone}; an NLB takes one subnet per zone`,
        );
      }
      zones.set(zone, subnet.SubnetId!);
      return subnet.SubnetId!;
    });
    return [...new Set(resolved)];
  }
}
