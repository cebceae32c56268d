// Account-wide listings of what this cluster owns, by ownership tags. Used for garbage collection, and to
// know every target group of a Service, including one an interrupted sync left detached from its listener
// (a load balancer only leads to the groups its listeners use).

import { DescribeLoadBalancersCommand, DescribeTargetGroupsCommand } from '@aws-sdk/client-elastic-load-balancing-v2';
import { defaultLoadBalancerName, identityFromTags, type LoadBalancerIdentity } from '../provider.ts';
import type { AwsApi } from './api.ts';
import { SECURITY_GROUP_PREFIX, targetGroupNamePrefix } from './names.ts';
import { describeTags, listAll, readSecurityGroups, tagRecord } from './observe.ts';

export type OwnedKind = 'load-balancer' | 'target-group' | 'security-group';

export interface OwnedResource {
  kind: OwnedKind;
  /** ARN, or security group ID. */
  id: string;
  name: string;
  identity: LoadBalancerIdentity;
}

/** Target groups per Service UID, kept current by our own creates and deletes and by every scan. */
export class TargetGroupIndex {
  readonly #byUid = new Map<string, Map<string, string>>();

  add(uid: string, arn: string, name: string): void {
    let groups = this.#byUid.get(uid);
    if (!groups) {
      groups = new Map();
      this.#byUid.set(uid, groups);
    }
    groups.set(arn, name);
  }

  remove(arn: string): void {
    for (const [uid, groups] of this.#byUid) {
      if (groups.delete(arn) && groups.size === 0) this.#byUid.delete(uid);
    }
  }

  arnsOf(uid: string): string[] {
    return [...(this.#byUid.get(uid)?.keys() ?? [])];
  }

  groupsOf(uid: string): Array<{ arn: string; name: string }> {
    return [...(this.#byUid.get(uid) ?? [])].map(([arn, name]) => ({ arn, name }));
  }
}

export class Inventory {
  readonly #api: AwsApi;
  readonly #clusterName: string;
  readonly #vpcId: string;
  readonly targetGroups = new TargetGroupIndex();
  #loaded: Promise<void> | undefined;

  constructor(api: AwsApi, clusterName: string, vpcId: string) {
    this.#api = api;
    this.#clusterName = clusterName;
    this.#vpcId = vpcId;
  }

  /**
   * One scan of the account's target groups per process, before the first full sync: after a restart, it
   * is what finds a group that a crash left detached. Later creates and deletes keep the index current.
   */
  ensureLoaded(): Promise<void> {
    this.#loaded ??= this.scanTargetGroups().then(
      () => undefined,
      (err: unknown) => {
        this.#loaded = undefined;
        throw err;
      },
    );
    return this.#loaded;
  }

  async scanTargetGroups(): Promise<OwnedResource[]> {
    const prefix = targetGroupNamePrefix(this.#clusterName);
    const groups = await listAll(async (Marker) => {
      const out = await this.#api.elb(new DescribeTargetGroupsCommand({ PageSize: 400, ...(Marker ? { Marker } : {}) }));
      return { items: out.TargetGroups ?? [], next: out.NextMarker };
    });
    // The name prefix is ours (cluster hash), so only our groups cost a DescribeTags.
    const candidates = groups.filter((g) => g.TargetGroupName?.startsWith(prefix) && g.VpcId === this.#vpcId && g.TargetGroupArn);
    const tags = await describeTags(
      this.#api,
      candidates.map((g) => g.TargetGroupArn!),
    );
    const owned: OwnedResource[] = [];
    for (const g of candidates) {
      const t = tags.get(g.TargetGroupArn!) ?? {};
      const uid = t['kubernetes.io/service-uid'];
      const identity = uid ? identityFromTags(this.#clusterName, defaultLoadBalancerName(uid), t) : undefined;
      if (!identity) continue;
      this.targetGroups.add(identity.uid, g.TargetGroupArn!, g.TargetGroupName!);
      owned.push({ kind: 'target-group', id: g.TargetGroupArn!, name: g.TargetGroupName!, identity });
    }
    return owned;
  }

  async scanLoadBalancers(): Promise<OwnedResource[]> {
    const lbs = await listAll(async (Marker) => {
      const out = await this.#api.elb(new DescribeLoadBalancersCommand({ PageSize: 400, ...(Marker ? { Marker } : {}) }));
      return { items: out.LoadBalancers ?? [], next: out.NextMarker };
    });
    const candidates = lbs.filter((lb) => lb.Type === 'network' && lb.VpcId === this.#vpcId && lb.LoadBalancerArn);
    const tags = await describeTags(
      this.#api,
      candidates.map((lb) => lb.LoadBalancerArn!),
    );
    const owned: OwnedResource[] = [];
    for (const lb of candidates) {
      const identity = identityFromTags(this.#clusterName, lb.LoadBalancerName!, tags.get(lb.LoadBalancerArn!) ?? {});
      if (identity) owned.push({ kind: 'load-balancer', id: lb.LoadBalancerArn!, name: lb.LoadBalancerName!, identity });
    }
    return owned;
  }

  async scanSecurityGroups(): Promise<OwnedResource[]> {
    const groups = await readSecurityGroups(this.#api, [
      { Name: 'vpc-id', Values: [this.#vpcId] },
      { Name: `tag:kubernetes.io/cluster/${this.#clusterName}`, Values: ['owned'] },
    ]);
    const owned: OwnedResource[] = [];
    for (const sg of groups) {
      const tags = tagRecord(sg.Tags);
      const name = sg.GroupName ?? '';
      const uid = tags['kubernetes.io/service-uid'];
      const lbName = name.startsWith(SECURITY_GROUP_PREFIX)
        ? name.slice(SECURITY_GROUP_PREFIX.length)
        : uid
          ? defaultLoadBalancerName(uid)
          : '';
      const identity = identityFromTags(this.#clusterName, lbName, tags);
      if (identity && sg.GroupId) owned.push({ kind: 'security-group', id: sg.GroupId, name, identity });
    }
    return owned;
  }
}
