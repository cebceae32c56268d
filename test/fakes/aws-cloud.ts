// Test-side view of the emulated AWS account: the VPC the provider works in, direct SDK clients for
// assertions (not through the provider), and an inventory to prove nothing leaked.

import {
  AllocateAddressCommand,
  CreateSubnetCommand,
  CreateVpcCommand,
  DescribeSecurityGroupsCommand,
  EC2Client,
} from '@aws-sdk/client-ec2';
import { CreateLoadBalancerCommand as CreateClassicElbCommand, ElasticLoadBalancingClient } from '@aws-sdk/client-elastic-load-balancing';
import {
  DescribeListenersCommand,
  DescribeLoadBalancersCommand,
  DescribeTagsCommand,
  DescribeTargetGroupsCommand,
  DescribeTargetHealthCommand,
  ElasticLoadBalancingV2Client,
  type Listener,
  type LoadBalancer,
  type TargetGroup,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import { pino } from 'pino';
import { awsProviderConfigSchema, type AwsProviderConfigInput } from '../../src/providers/aws/config.ts';
import { AwsNlbProvider } from '../../src/providers/aws/nlb-provider.ts';
import { providerDeps, type RecordedProviderEvent } from './provider-deps.ts';
import { MetricsRegistry } from '../../src/server/metrics-registry.ts';

export const REGION = 'us-east-1';

/** moto accepts any credentials; the SDK's default chain finds these in the environment. */
export function useTestCredentials(): void {
  process.env['AWS_ACCESS_KEY_ID'] ??= 'testing';
  process.env['AWS_SECRET_ACCESS_KEY'] ??= 'testing';
  process.env['AWS_EC2_METADATA_DISABLED'] = 'true';
}

export function clients(url: string): { elb: ElasticLoadBalancingV2Client; ec2: EC2Client; classicElb: ElasticLoadBalancingClient } {
  const config = { region: REGION, endpoint: url, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } };
  return { elb: new ElasticLoadBalancingV2Client(config), ec2: new EC2Client(config), classicElb: new ElasticLoadBalancingClient(config) };
}

/** A Classic ELB as cloud-provider-aws makes one (name, one TCP listener to the NodePort, tags); its DNS name. */
export async function createClassicElb(
  classicElb: ElasticLoadBalancingClient,
  name: string,
  subnetId: string,
  tags: Record<string, string>,
): Promise<string> {
  const out = await classicElb.send(
    new CreateClassicElbCommand({
      LoadBalancerName: name,
      Listeners: [{ Protocol: 'TCP', LoadBalancerPort: 80, InstanceProtocol: 'TCP', InstancePort: 30080 }],
      Subnets: [subnetId],
      Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })),
    }),
  );
  return out.DNSName!;
}

export interface TestVpc {
  vpcId: string;
  /** Public subnets (tagged kubernetes.io/role/elb), one per zone, Names public-a and public-b. */
  publicSubnets: string[];
  /** Internal subnets (tagged kubernetes.io/role/internal-elb), Names private-a and private-b. */
  privateSubnets: string[];
}

export async function createVpc(ec2: EC2Client): Promise<TestVpc> {
  const vpc = await ec2.send(new CreateVpcCommand({ CidrBlock: '10.0.0.0/16' }));
  const vpcId = vpc.Vpc!.VpcId!;
  const subnet = async (cidr: string, zone: string, name: string, role: string) => {
    const out = await ec2.send(
      new CreateSubnetCommand({
        VpcId: vpcId,
        CidrBlock: cidr,
        AvailabilityZone: zone,
        TagSpecifications: [
          {
            ResourceType: 'subnet',
            Tags: [
              { Key: 'Name', Value: name },
              { Key: role, Value: '1' },
            ],
          },
        ],
      }),
    );
    return out.Subnet!.SubnetId!;
  };
  return {
    vpcId,
    publicSubnets: [
      await subnet('10.0.1.0/24', 'us-east-1a', 'public-a', 'kubernetes.io/role/elb'),
      await subnet('10.0.2.0/24', 'us-east-1b', 'public-b', 'kubernetes.io/role/elb'),
    ],
    privateSubnets: [
      await subnet('10.0.3.0/24', 'us-east-1a', 'private-a', 'kubernetes.io/role/internal-elb'),
      await subnet('10.0.4.0/24', 'us-east-1b', 'private-b', 'kubernetes.io/role/internal-elb'),
    ],
  };
}

export async function allocateEip(ec2: EC2Client): Promise<{ allocationId: string; publicIp: string }> {
  const out = await ec2.send(new AllocateAddressCommand({ Domain: 'vpc' }));
  return { allocationId: out.AllocationId!, publicIp: out.PublicIp! };
}

export interface TestProvider {
  provider: AwsNlbProvider;
  registry: MetricsRegistry;
  /** Events the provider recorded on Services, in order. */
  events: RecordedProviderEvent[];
}

export function makeProvider(
  endpoint: string,
  vpcId: string,
  overrides: Partial<AwsProviderConfigInput> = {},
  clusterName = 'test',
): TestProvider {
  const config = awsProviderConfigSchema.parse({
    region: REGION,
    endpoints: { elbv2: endpoint, ec2: endpoint },
    vpcId,
    callsPerSecond: 1000,
    maxRetries: 4,
    retryBaseDelayMs: 5,
    retryMaxDelayMs: 50,
    requestTimeoutMs: 10_000,
    ...overrides,
  });
  const registry = new MetricsRegistry();
  const deps = providerDeps({ clusterName, logger: pino({ level: process.env['LOG_LEVEL'] ?? 'silent' }), registry });
  return { provider: new AwsNlbProvider(config, deps), registry, events: deps.recorded };
}

/** Calls counted by the provider's own metric, per operation (every attempt). */
export async function callCounts(registry: MetricsRegistry): Promise<Map<string, number>> {
  const metric = registry.getSingleMetric('service_lb_aws_api_calls_total');
  const counts = new Map<string, number>();
  if (!metric) return counts;
  for (const v of (await metric.get()).values) {
    const op = String(v.labels['operation']);
    counts.set(op, (counts.get(op) ?? 0) + v.value);
  }
  return counts;
}

export function isWrite(operation: string): boolean {
  return !/^Describe/.test(operation);
}

export interface Account {
  loadBalancers: LoadBalancer[];
  listeners: Map<string, Listener[]>;
  targetGroups: TargetGroup[];
  /** Security groups other than the VPC default. */
  securityGroups: Array<{
    id: string;
    name: string;
    tags: Record<string, string>;
    rules: Array<{ protocol: string; port: number; cidr: string }>;
  }>;
}

export async function account(elb: ElasticLoadBalancingV2Client, ec2: EC2Client, vpcId: string): Promise<Account> {
  const loadBalancers = (await elb.send(new DescribeLoadBalancersCommand({}))).LoadBalancers ?? [];
  const listeners = new Map<string, Listener[]>();
  for (const lb of loadBalancers)
    listeners.set(
      lb.LoadBalancerArn!,
      (await elb.send(new DescribeListenersCommand({ LoadBalancerArn: lb.LoadBalancerArn! }))).Listeners ?? [],
    );
  const targetGroups = (await elb.send(new DescribeTargetGroupsCommand({}))).TargetGroups ?? [];
  const sgs = (await ec2.send(new DescribeSecurityGroupsCommand({ Filters: [{ Name: 'vpc-id', Values: [vpcId] }] }))).SecurityGroups ?? [];
  return {
    loadBalancers,
    listeners,
    targetGroups,
    securityGroups: sgs
      .filter((g) => g.GroupName !== 'default')
      .map((g) => ({
        id: g.GroupId!,
        name: g.GroupName!,
        tags: Object.fromEntries((g.Tags ?? []).map((t) => [t.Key!, t.Value ?? ''])),
        rules: (g.IpPermissions ?? []).flatMap((p) =>
          [...(p.IpRanges ?? []).map((r) => r.CidrIp!), ...(p.Ipv6Ranges ?? []).map((r) => r.CidrIpv6!)].map((cidr) => ({
            protocol: p.IpProtocol!,
            port: p.FromPort!,
            cidr,
          })),
        ),
      })),
  };
}

export async function tagsOf(elb: ElasticLoadBalancingV2Client, arn: string): Promise<Record<string, string>> {
  const out = await elb.send(new DescribeTagsCommand({ ResourceArns: [arn] }));
  return Object.fromEntries((out.TagDescriptions?.[0]?.Tags ?? []).map((t) => [t.Key!, t.Value ?? '']));
}

export async function targetsOf(elb: ElasticLoadBalancingV2Client, targetGroupArn: string): Promise<string[]> {
  const out = await elb.send(new DescribeTargetHealthCommand({ TargetGroupArn: targetGroupArn }));
  return (out.TargetHealthDescriptions ?? [])
    .map((d) => `${d.Target!.Id}:${d.Target!.Port}${d.Target!.AvailabilityZone ? `@${d.Target!.AvailabilityZone}` : ''}`)
    .sort();
}
