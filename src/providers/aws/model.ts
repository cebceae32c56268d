// The AWS-side shapes that planning works on: what we want (DesiredNlb), what is there (ObservedNlb,
// ObservedDeletion), and the ordered changes between them (Action). Plain data, no SDK types, so planning
// stays pure.

export type Scheme = 'internet-facing' | 'internal';
export type TargetGroupProtocol = 'TCP' | 'UDP' | 'TCP_UDP' | 'TLS';
export type ListenerProtocol = TargetGroupProtocol;
export type TargetType = 'ip' | 'instance';
export type HealthCheckProtocol = 'TCP' | 'HTTP' | 'HTTPS';

export interface SubnetMapping {
  subnetId: string;
  allocationId?: string;
  /** Internal load balancers: the fixed private address in this subnet. */
  privateIPv4Address?: string;
}

export interface HealthCheckSettings {
  protocol: HealthCheckProtocol;
  /** "traffic-port" or a port number. */
  port: string;
  /** HTTP(S) only. */
  path?: string;
  /** HTTP(S) only: success codes, e.g. "200-399". */
  matcher?: string;
  intervalSeconds: number;
  timeoutSeconds: number;
  healthyThreshold: number;
  unhealthyThreshold: number;
}

export interface TargetRef {
  id: string;
  port: number;
  /** "all" for an IP outside the VPC; unset lets AWS pick the subnet's zone. */
  availabilityZone?: 'all';
}

/** One ingress rule of the load balancer's security group. */
export interface SgRule {
  protocol: 'tcp' | 'udp';
  port: number;
  /** Only on observed rules that span a range (added by hand): so that they can be revoked. */
  toPort?: number;
  cidr: string;
}

/**
 * One ingress rule on a node security group: from the load balancer's security group (the source is
 * implied, so that only rules naming our group are ever considered ours) to a NodePort or health check port.
 */
export interface BackendRule {
  groupId: string;
  protocol: 'tcp' | 'udp';
  port: number;
  /** Only on observed rules that span a range. */
  toPort?: number;
}

export interface ListenerTls {
  /** The first is the default certificate; the rest are the listener's certificate list. */
  certificates: string[];
  sslPolicy: string;
  alpnPolicy: string;
}

export interface DesiredTargetGroup {
  name: string;
  protocol: TargetGroupProtocol;
  targetType: TargetType;
  /** The NodePort. */
  port: number;
  healthCheck: HealthCheckSettings;
  /** Only the keys we manage; others are left alone. */
  attributes: Record<string, string>;
  targets: TargetRef[];
}

export interface DesiredListener {
  port: number;
  protocol: ListenerProtocol;
  targetGroupName: string;
  tls?: ListenerTls;
}

export interface DesiredNlb {
  name: string;
  scheme: Scheme;
  subnetMappings: SubnetMapping[];
  /** Ownership tags plus the additional-resource-tags annotation: on the LB, its groups and its SG. */
  tags: Record<string, string>;
  ipAddressType: 'ipv4' | 'dualstack';
  /** Only the keys we manage (cross-zone always, so that it reverts); others are left alone. */
  attributes: Record<string, string>;
  /** Ours, unless securityGroupIds is set. */
  securityGroup: { name: string; description: string; rules: SgRule[] };
  /** The security-groups annotation, resolved: attached instead of ours, and never edited. */
  securityGroupIds?: string[];
  /** Openings on the nodes' security groups from ours; empty when not managed. */
  backendRules: BackendRule[];
  targetGroups: DesiredTargetGroup[];
  listeners: DesiredListener[];
}

export interface ObservedLoadBalancerResource {
  arn: string;
  name: string;
  dnsName: string;
  type: string;
  scheme: Scheme;
  ipAddressType: string;
  subnetMappings: SubnetMapping[];
  /** False when AWS did not say which addresses (EIPs, private IPs) are attached (then they are not compared). */
  allocationsKnown: boolean;
  securityGroups: string[];
  tags: Record<string, string>;
  attributes: Record<string, string>;
}

export interface ObservedListener {
  arn: string;
  port: number;
  protocol: string;
  targetGroupArn?: string;
  /** TLS listeners only; certificates with the default first (filled in by the full read). */
  tls?: ListenerTls;
}

export interface ObservedTargetGroup {
  arn: string;
  name: string;
  protocol: string;
  port: number;
  healthCheck: Partial<HealthCheckSettings>;
  attributes: Record<string, string>;
  tags: Record<string, string>;
  /** Registered targets that are not draining. */
  targets: TargetRef[];
}

export interface ObservedSecurityGroup {
  id: string;
  name: string;
  rules: SgRule[];
  tags: Record<string, string>;
}

/** Everything that exists for one Service; target groups and security group are only ours (by tags). */
export interface ObservedNlb {
  loadBalancer?: ObservedLoadBalancerResource;
  listeners: ObservedListener[];
  targetGroups: ObservedTargetGroup[];
  securityGroup?: ObservedSecurityGroup;
  /** Rules on node security groups whose source is our security group. */
  backendRules: BackendRule[];
}

/** What exists for a Service being deleted, found by name and by ownership tags. */
export interface ObservedDeletion {
  /** The load balancer with the Service's name; its listeners are only read when it is ours. */
  loadBalancer?: { arn: string; owned: boolean; listeners: ObservedListener[] };
  /** Ours: the groups we know of, plus (when the load balancer is ours) the owned ones its listeners use. */
  targetGroups: Array<{ arn: string; name: string }>;
  /** Ours, by tag filter. */
  securityGroupIds: string[];
  /** Rules on node security groups that name one of ours as their source (revoked first, or ours cannot go). */
  backendRules: Array<BackendRule & { sourceGroupId: string }>;
}

/** Target groups are referred to by name: a group created earlier in the same plan has no ARN yet. */
export type Action =
  | { type: 'createSecurityGroup'; name: string; description: string; tags: Record<string, string> }
  | { type: 'tagSecurityGroup'; tags: Record<string, string> }
  | { type: 'authorizeIngress'; rules: SgRule[] }
  | { type: 'revokeIngress'; rules: SgRule[] }
  /** With a reason when the load balancer is replaced; without one when the Service is deleted. */
  | { type: 'deleteLoadBalancer'; arn: string; reason?: string }
  | {
      type: 'createLoadBalancer';
      name: string;
      scheme: Scheme;
      ipAddressType: 'ipv4' | 'dualstack';
      subnetMappings: SubnetMapping[];
      /** Undefined: ours. */
      securityGroupIds?: string[];
      tags: Record<string, string>;
    }
  | { type: 'setSubnets'; subnetMappings: SubnetMapping[] }
  | { type: 'setIpAddressType'; ipAddressType: 'ipv4' | 'dualstack' }
  /** Undefined ids: ours. */
  | { type: 'setSecurityGroups'; ids?: string[] }
  | { type: 'authorizeBackend'; rules: BackendRule[] }
  /** sourceGroupId undefined: ours. */
  | { type: 'revokeBackend'; rules: BackendRule[]; sourceGroupId?: string }
  | { type: 'tagLoadBalancer'; tags: Record<string, string> }
  | { type: 'modifyLoadBalancerAttributes'; attributes: Record<string, string> }
  | { type: 'createTargetGroup'; targetGroup: DesiredTargetGroup; tags: Record<string, string> }
  | { type: 'modifyTargetGroup'; name: string; healthCheck: HealthCheckSettings }
  | { type: 'modifyTargetGroupAttributes'; name: string; attributes: Record<string, string> }
  | { type: 'tagTargetGroup'; name: string; tags: Record<string, string> }
  | { type: 'deregisterTargets'; name: string; targets: TargetRef[] }
  | { type: 'registerTargets'; name: string; targets: TargetRef[] }
  | { type: 'createListener'; port: number; protocol: ListenerProtocol; targetGroupName: string; tls?: ListenerTls }
  /** protocol undefined: unchanged (AWS keeps it when the field is left out). */
  | { type: 'modifyListener'; arn: string; port: number; protocol?: ListenerProtocol; targetGroupName: string; tls?: ListenerTls }
  | { type: 'addListenerCertificates'; port: number; certificates: string[] }
  | { type: 'removeListenerCertificates'; port: number; certificates: string[] }
  | { type: 'deleteListener'; arn: string; port: number }
  | { type: 'deleteTargetGroup'; arn: string; name: string }
  | { type: 'deleteSecurityGroup'; id: string };

/** The writes AWS allows per RegisterTargets / DeregisterTargets call (we stay at or under it). */
export const TARGETS_PER_CALL = 100;

/** What AWS gives a new NLB and a new target group, so a create needs no read-back. */
export const NLB_DEFAULT_ATTRIBUTES: Readonly<Record<string, string>> = {
  'load_balancing.cross_zone.enabled': 'false',
  'deletion_protection.enabled': 'false',
  'access_logs.s3.enabled': 'false',
};
export const TARGET_GROUP_DEFAULT_ATTRIBUTES: Readonly<Record<string, string>> = {
  'stickiness.enabled': 'false',
  'proxy_protocol_v2.enabled': 'false',
  'deregistration_delay.timeout_seconds': '300',
};
