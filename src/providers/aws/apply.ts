// Executes a plan, one AWS write per action, in order. Created resources are reported as soon as they
// exist (before the next step), so a failure later in the plan never loses track of them.

import {
  AuthorizeSecurityGroupIngressCommand,
  CreateSecurityGroupCommand,
  CreateTagsCommand,
  DeleteSecurityGroupCommand,
  RevokeSecurityGroupIngressCommand,
  type IpPermission,
} from '@aws-sdk/client-ec2';
import {
  AddListenerCertificatesCommand,
  AddTagsCommand,
  CreateListenerCommand,
  CreateLoadBalancerCommand,
  CreateTargetGroupCommand,
  DeleteListenerCommand,
  DeleteLoadBalancerCommand,
  DeleteTargetGroupCommand,
  DeregisterTargetsCommand,
  ModifyListenerCommand,
  ModifyLoadBalancerAttributesCommand,
  ModifyTargetGroupAttributesCommand,
  ModifyTargetGroupCommand,
  RegisterTargetsCommand,
  RemoveListenerCertificatesCommand,
  SetIpAddressTypeCommand,
  SetSecurityGroupsCommand,
  SetSubnetsCommand,
  type Tag,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import type { Logger } from 'pino';
import type { AwsApi } from './api.ts';
import { isAwsError, settling } from './errors.ts';
import { parseCidr } from '../../net/cidr.ts';
import type { Action, BackendRule, HealthCheckSettings, ListenerTls, ObservedNlb, SgRule, SubnetMapping, TargetRef } from './model.ts';

export interface AppliedListener {
  arn: string;
  protocol: string;
  targetGroupArn: string;
}

/** Where things are after (part of) a plan ran: seeded from what was observed, updated per action. */
export interface ApplyState {
  securityGroupId?: string;
  loadBalancerArn?: string;
  dnsName?: string;
  targetGroupArns: Map<string, string>;
  listeners: Map<number, AppliedListener>;
}

export interface ApplyContext {
  api: AwsApi;
  vpcId: string;
  logger: Logger;
  service: string;
  /** Called the moment a target group exists, before anything else can fail. */
  targetGroupCreated(arn: string, name: string): void;
  targetGroupDeleted(arn: string): void;
  /** A create hit a same-named resource we did not know about: remember it so that the next sync sees it. */
  targetGroupFound(name: string): Promise<void>;
  /** An event on the Service, for what its owner should know (a replacement changes the DNS name). */
  event(type: 'Normal' | 'Warning', reason: string, message: string): void;
}

/** How soon to retry when AWS is still settling after our own change (names freed, groups released). */
const SETTLE_MS = 5_000;

/** A security group stays "in use" for a while after its NLB is deleted (its network interfaces linger). */
const SECURITY_GROUP_SETTLE_MS = 10_000;

export function stateFromObserved(observed: ObservedNlb): ApplyState {
  const state: ApplyState = {
    targetGroupArns: new Map(observed.targetGroups.map((tg) => [tg.name, tg.arn])),
    listeners: new Map(),
  };
  if (observed.securityGroup) state.securityGroupId = observed.securityGroup.id;
  if (observed.loadBalancer) {
    state.loadBalancerArn = observed.loadBalancer.arn;
    state.dnsName = observed.loadBalancer.dnsName;
  }
  for (const l of observed.listeners) {
    if (l.targetGroupArn) state.listeners.set(l.port, { arn: l.arn, protocol: l.protocol, targetGroupArn: l.targetGroupArn });
  }
  return state;
}

/** For plans that only touch known target groups (a node change) or only delete (nothing to look up). */
export function stateOfTargetGroups(targetGroupArns: ReadonlyMap<string, string> = new Map()): ApplyState {
  return { targetGroupArns: new Map(targetGroupArns), listeners: new Map() };
}

function elbTags(tags: Record<string, string>): Tag[] {
  return Object.entries(tags).map(([Key, Value]) => ({ Key, Value }));
}

/** One permission per protocol and port range, listing its CIDRs. */
function permissions(rules: SgRule[]): IpPermission[] {
  const byPort = new Map<string, IpPermission>();
  for (const r of rules) {
    const toPort = r.toPort ?? r.port;
    const key = `${r.protocol}/${r.port}/${toPort}`;
    let p = byPort.get(key);
    if (!p) {
      p = { IpProtocol: r.protocol, FromPort: r.port, ToPort: toPort, IpRanges: [], Ipv6Ranges: [] };
      byPort.set(key, p);
    }
    if (parseCidr(r.cidr)?.family === 'IPv6') p.Ipv6Ranges!.push({ CidrIpv6: r.cidr });
    else p.IpRanges!.push({ CidrIp: r.cidr });
  }
  return [...byPort.values()];
}

/** One permission per protocol and port range on a node group, from the given (our) security group. */
function backendPermissions(rules: BackendRule[], sourceGroupId: string): IpPermission[] {
  return rules.map((r) => ({
    IpProtocol: r.protocol,
    FromPort: r.port,
    ToPort: r.toPort ?? r.port,
    UserIdGroupPairs: [{ GroupId: sourceGroupId }],
  }));
}

function byGroup(rules: BackendRule[]): Map<string, BackendRule[]> {
  const groups = new Map<string, BackendRule[]>();
  for (const r of rules) groups.set(r.groupId, [...(groups.get(r.groupId) ?? []), r]);
  return groups;
}

function tlsInput(tls: ListenerTls | undefined) {
  if (!tls) return {};
  return {
    Certificates: [{ CertificateArn: tls.certificates[0]! }],
    SslPolicy: tls.sslPolicy,
    AlpnPolicy: [tls.alpnPolicy],
  };
}

function subnetMappingsInput(mappings: SubnetMapping[]) {
  return mappings.map((m) => ({
    SubnetId: m.subnetId,
    ...(m.allocationId ? { AllocationId: m.allocationId } : {}),
    ...(m.privateIPv4Address ? { PrivateIPv4Address: m.privateIPv4Address } : {}),
  }));
}

function healthCheckInput(hc: HealthCheckSettings) {
  return {
    HealthCheckEnabled: true,
    HealthCheckProtocol: hc.protocol,
    HealthCheckPort: hc.port,
    HealthCheckIntervalSeconds: hc.intervalSeconds,
    HealthCheckTimeoutSeconds: hc.timeoutSeconds,
    HealthyThresholdCount: hc.healthyThreshold,
    UnhealthyThresholdCount: hc.unhealthyThreshold,
    ...(hc.path !== undefined ? { HealthCheckPath: hc.path } : {}),
    ...(hc.matcher !== undefined ? { Matcher: { HttpCode: hc.matcher } } : {}),
  };
}

function targetsInput(targets: TargetRef[]) {
  return targets.map((t) => ({ Id: t.id, Port: t.port, ...(t.availabilityZone ? { AvailabilityZone: t.availabilityZone } : {}) }));
}

function required<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`aws plan applied out of order: no ${what} yet`);
  return value;
}

function forward(targetGroupArn: string) {
  return [{ Type: 'forward' as const, TargetGroupArn: targetGroupArn }];
}

async function applyOne(ctx: ApplyContext, state: ApplyState, action: Action): Promise<void> {
  const { api } = ctx;
  const tgArn = (name: string) => required(state.targetGroupArns.get(name), `target group ${name}`);
  const lbArn = () => required(state.loadBalancerArn, 'load balancer');
  const sgId = () => required(state.securityGroupId, 'security group');
  switch (action.type) {
    case 'createSecurityGroup': {
      try {
        const out = await api.ec2(
          new CreateSecurityGroupCommand({
            GroupName: action.name,
            Description: action.description,
            VpcId: ctx.vpcId,
            TagSpecifications: [{ ResourceType: 'security-group', Tags: elbTags(action.tags) }],
          }),
        );
        state.securityGroupId = required(out.GroupId, 'security group id in the CreateSecurityGroup answer');
      } catch (err) {
        if (isAwsError(err, 'InvalidGroup.Duplicate'))
          throw settling(`security group ${action.name} appeared concurrently; syncing again`, SETTLE_MS, err);
        throw err;
      }
      return;
    }
    case 'tagSecurityGroup':
      await api.ec2(new CreateTagsCommand({ Resources: [sgId()], Tags: elbTags(action.tags) }));
      return;
    case 'authorizeIngress':
      try {
        await api.ec2(new AuthorizeSecurityGroupIngressCommand({ GroupId: sgId(), IpPermissions: permissions(action.rules) }));
      } catch (err) {
        if (isAwsError(err, 'InvalidPermission.Duplicate'))
          throw settling('security group rules changed concurrently; syncing again', SETTLE_MS, err);
        throw err;
      }
      return;
    case 'authorizeBackend':
      for (const [groupId, rules] of byGroup(action.rules)) {
        try {
          await api.ec2(new AuthorizeSecurityGroupIngressCommand({ GroupId: groupId, IpPermissions: backendPermissions(rules, sgId()) }));
        } catch (err) {
          if (isAwsError(err, 'InvalidPermission.Duplicate'))
            throw settling(`rules on node security group ${groupId} changed concurrently; syncing again`, SETTLE_MS, err);
          throw err;
        }
      }
      return;
    case 'revokeBackend':
      for (const [groupId, rules] of byGroup(action.rules)) {
        try {
          await api.ec2(
            new RevokeSecurityGroupIngressCommand({
              GroupId: groupId,
              IpPermissions: backendPermissions(rules, action.sourceGroupId ?? sgId()),
            }),
          );
        } catch (err) {
          if (!isAwsError(err, 'InvalidPermission.NotFound', 'InvalidGroup.NotFound')) throw err;
        }
      }
      return;
    case 'revokeIngress':
      try {
        await api.ec2(new RevokeSecurityGroupIngressCommand({ GroupId: sgId(), IpPermissions: permissions(action.rules) }));
      } catch (err) {
        if (!isAwsError(err, 'InvalidPermission.NotFound')) throw err;
      }
      return;
    case 'deleteLoadBalancer':
      if (action.reason !== undefined) {
        ctx.logger.warn({ service: ctx.service, reason: action.reason }, 'replacing the load balancer (its DNS name will change)');
        ctx.event(
          'Warning',
          'ReplacingLoadBalancer',
          `replacing the load balancer because ${action.reason}; AWS cannot change that in place, so its DNS name will change`,
        );
      }
      try {
        await api.elb(new DeleteLoadBalancerCommand({ LoadBalancerArn: action.arn }));
      } catch (err) {
        if (!isAwsError(err, 'LoadBalancerNotFound')) throw err;
      }
      delete state.loadBalancerArn;
      delete state.dnsName;
      state.listeners.clear();
      return;
    case 'createLoadBalancer': {
      try {
        const out = await api.elb(
          new CreateLoadBalancerCommand({
            Name: action.name,
            Type: 'network',
            Scheme: action.scheme,
            IpAddressType: action.ipAddressType,
            SubnetMappings: subnetMappingsInput(action.subnetMappings),
            SecurityGroups: action.securityGroupIds ?? [sgId()],
            Tags: elbTags(action.tags),
          }),
        );
        const lb = required(out.LoadBalancers?.[0], 'load balancer in the CreateLoadBalancer answer');
        state.loadBalancerArn = required(lb.LoadBalancerArn, 'load balancer ARN');
        state.dnsName = lb.DNSName ?? '';
      } catch (err) {
        if (isAwsError(err, 'DuplicateLoadBalancerName'))
          throw settling(`load balancer name ${action.name} is still in use; syncing again`, SETTLE_MS, err);
        throw err;
      }
      return;
    }
    case 'setSubnets':
      await api.elb(
        new SetSubnetsCommand({
          LoadBalancerArn: lbArn(),
          SubnetMappings: subnetMappingsInput(action.subnetMappings),
        }),
      );
      return;
    case 'setIpAddressType':
      await api.elb(new SetIpAddressTypeCommand({ LoadBalancerArn: lbArn(), IpAddressType: action.ipAddressType }));
      return;
    case 'setSecurityGroups':
      await api.elb(new SetSecurityGroupsCommand({ LoadBalancerArn: lbArn(), SecurityGroups: action.ids ?? [sgId()] }));
      return;
    case 'tagLoadBalancer':
      await api.elb(new AddTagsCommand({ ResourceArns: [lbArn()], Tags: elbTags(action.tags) }));
      return;
    case 'modifyLoadBalancerAttributes':
      await api.elb(
        new ModifyLoadBalancerAttributesCommand({
          LoadBalancerArn: lbArn(),
          Attributes: Object.entries(action.attributes).map(([Key, Value]) => ({ Key, Value })),
        }),
      );
      return;
    case 'createTargetGroup': {
      const tg = action.targetGroup;
      try {
        const out = await api.elb(
          new CreateTargetGroupCommand({
            Name: tg.name,
            Protocol: tg.protocol,
            Port: tg.port,
            VpcId: ctx.vpcId,
            TargetType: tg.targetType,
            IpAddressType: 'ipv4',
            ...healthCheckInput(tg.healthCheck),
            Tags: elbTags(action.tags),
          }),
        );
        const arn = required(out.TargetGroups?.[0]?.TargetGroupArn, 'target group ARN in the CreateTargetGroup answer');
        ctx.targetGroupCreated(arn, tg.name);
        state.targetGroupArns.set(tg.name, arn);
      } catch (err) {
        if (isAwsError(err, 'DuplicateTargetGroupName')) {
          await ctx.targetGroupFound(tg.name);
          throw settling(`target group ${tg.name} already exists; syncing again to adopt it`, 1_000, err);
        }
        throw err;
      }
      return;
    }
    case 'modifyTargetGroup':
      await api.elb(new ModifyTargetGroupCommand({ TargetGroupArn: tgArn(action.name), ...healthCheckInput(action.healthCheck) }));
      return;
    case 'modifyTargetGroupAttributes':
      await api.elb(
        new ModifyTargetGroupAttributesCommand({
          TargetGroupArn: tgArn(action.name),
          Attributes: Object.entries(action.attributes).map(([Key, Value]) => ({ Key, Value })),
        }),
      );
      return;
    case 'tagTargetGroup':
      await api.elb(new AddTagsCommand({ ResourceArns: [tgArn(action.name)], Tags: elbTags(action.tags) }));
      return;
    case 'deregisterTargets':
      await api.elb(new DeregisterTargetsCommand({ TargetGroupArn: tgArn(action.name), Targets: targetsInput(action.targets) }));
      return;
    case 'registerTargets':
      await api.elb(new RegisterTargetsCommand({ TargetGroupArn: tgArn(action.name), Targets: targetsInput(action.targets) }));
      return;
    case 'createListener': {
      const targetGroupArn = tgArn(action.targetGroupName);
      try {
        const out = await api.elb(
          new CreateListenerCommand({
            LoadBalancerArn: lbArn(),
            Port: action.port,
            Protocol: action.protocol,
            DefaultActions: forward(targetGroupArn),
            ...tlsInput(action.tls),
          }),
        );
        const arn = required(out.Listeners?.[0]?.ListenerArn, 'listener ARN in the CreateListener answer');
        state.listeners.set(action.port, { arn, protocol: action.protocol, targetGroupArn });
      } catch (err) {
        if (isAwsError(err, 'DuplicateListener'))
          throw settling(`a listener on port ${action.port} appeared concurrently; syncing again`, 1_000, err);
        throw err;
      }
      return;
    }
    case 'modifyListener': {
      const targetGroupArn = tgArn(action.targetGroupName);
      await api.elb(
        new ModifyListenerCommand({
          ListenerArn: action.arn,
          Port: action.port,
          ...(action.protocol ? { Protocol: action.protocol } : {}),
          DefaultActions: forward(targetGroupArn),
          ...tlsInput(action.tls),
        }),
      );
      const protocol = action.protocol ?? state.listeners.get(action.port)?.protocol ?? '';
      state.listeners.set(action.port, { arn: action.arn, protocol, targetGroupArn });
      return;
    }
    case 'addListenerCertificates': {
      const arn = required(state.listeners.get(action.port)?.arn, `listener on port ${action.port}`);
      await api.elb(
        new AddListenerCertificatesCommand({
          ListenerArn: arn,
          Certificates: action.certificates.map((CertificateArn) => ({ CertificateArn })),
        }),
      );
      return;
    }
    case 'removeListenerCertificates': {
      const arn = required(state.listeners.get(action.port)?.arn, `listener on port ${action.port}`);
      await api.elb(
        new RemoveListenerCertificatesCommand({
          ListenerArn: arn,
          Certificates: action.certificates.map((CertificateArn) => ({ CertificateArn })),
        }),
      );
      return;
    }
    case 'deleteListener':
      try {
        await api.elb(new DeleteListenerCommand({ ListenerArn: action.arn }));
      } catch (err) {
        if (!isAwsError(err, 'ListenerNotFound')) throw err;
      }
      state.listeners.delete(action.port);
      return;
    case 'deleteTargetGroup':
      // A group already gone is fine; one still in use (AWS lags after a listener change) is retried.
      try {
        await api.elb(new DeleteTargetGroupCommand({ TargetGroupArn: action.arn }));
      } catch (err) {
        if (isAwsError(err, 'ResourceInUse'))
          throw settling(`target group ${action.arn} is still in use; deleting it again shortly`, SETTLE_MS, err);
        if (!isAwsError(err, 'TargetGroupNotFound')) throw err;
      }
      ctx.targetGroupDeleted(action.arn);
      state.targetGroupArns.delete(action.name);
      return;
    case 'deleteSecurityGroup':
      try {
        await api.ec2(new DeleteSecurityGroupCommand({ GroupId: action.id }));
      } catch (err) {
        if (isAwsError(err, 'DependencyViolation')) {
          throw settling(
            `security group ${action.id} is still attached while AWS releases the load balancer; deleting it again shortly`,
            SECURITY_GROUP_SETTLE_MS,
            err,
          );
        }
        if (!isAwsError(err, 'InvalidGroup.NotFound')) throw err;
      }
      if (state.securityGroupId === action.id) delete state.securityGroupId;
      return;
  }
}

export async function applyActions(ctx: ApplyContext, state: ApplyState, actions: Action[]): Promise<void> {
  for (const action of actions) {
    ctx.logger.info({ service: ctx.service, change: action.type, ...('name' in action ? { resource: action.name } : {}) }, 'AWS change');
    await applyOne(ctx, state, action);
  }
}
