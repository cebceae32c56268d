// The Classic ELB cloud-provider-aws may have left for a Service: found by name and tags, only ever reported.
//
// cloud-provider-aws makes a Classic ELB (not an NLB) for a Service without aws-load-balancer-type: nlb,
// under the same default name a<uid>. This provider cannot adopt it (it makes NLBs only), and deleting it
// would cut off clients still using its DNS name, so the owner is told, with the commands to remove it.

import { DescribeLoadBalancersCommand, DescribeTagsCommand } from '@aws-sdk/client-elastic-load-balancing';
import { serviceKey, type LoadBalancerIdentity } from '../provider.ts';
import type { AwsApi } from './api.ts';
import { isAwsError } from './errors.ts';
import { tagRecord } from './observe.ts';

export interface LegacyClassicElb {
  name: string;
  dnsName: string;
}

/**
 * cloud-provider-aws tags its ELBs kubernetes.io/service-name=<ns>/<name> and kubernetes.io/cluster/<cluster>
 * (KubernetesCluster=<cluster> in old versions). The name already carries the Service's UID, so either tag
 * is enough; a Service name tag naming another Service is not this Service's.
 */
function leftByCloudProviderAws(tags: Record<string, string>, identity: LoadBalancerIdentity): boolean {
  const service = tags['kubernetes.io/service-name'];
  if (service !== undefined) return service === serviceKey(identity);
  return tags[`kubernetes.io/cluster/${identity.clusterName}`] !== undefined || tags['KubernetesCluster'] === identity.clusterName;
}

/**
 * One DescribeLoadBalancers by the default name; a DescribeTags only when one exists. Classic ELB answers an
 * unknown name with the error code LoadBalancerNotFound, which the SDK names AccessPointNotFoundException.
 */
export async function findLegacyClassicElb(api: AwsApi, identity: LoadBalancerIdentity): Promise<LegacyClassicElb | undefined> {
  let found;
  try {
    found = (await api.classicElb(new DescribeLoadBalancersCommand({ LoadBalancerNames: [identity.lbName] })))
      .LoadBalancerDescriptions?.[0];
  } catch (err) {
    if (isAwsError(err, 'AccessPointNotFound', 'LoadBalancerNotFound')) return undefined;
    throw err;
  }
  if (found?.LoadBalancerName !== identity.lbName) return undefined;
  const tags = (await api.classicElb(new DescribeTagsCommand({ LoadBalancerNames: [identity.lbName] }))).TagDescriptions?.[0]?.Tags;
  if (!leftByCloudProviderAws(tagRecord(tags), identity)) return undefined;
  return { name: identity.lbName, dnsName: found.DNSName ?? '' };
}

/**
 * The Warning's text (well under the 1024 characters an Event keeps): what is left, that nothing here
 * deletes it, and how to remove it; the group goes last, since AWS refuses to delete one still in use.
 */
export function legacyClassicElbMessage(elb: LegacyClassicElb, region: string): string {
  const group = `k8s-elb-${elb.name}`;
  return (
    `Classic ELB ${elb.name} (${elb.dnsName}), made by cloud-provider-aws for this Service, still exists and still costs money; ` +
    `this controller serves the Service with an NLB and never deletes the Classic ELB. When no client uses ${elb.dnsName} any more: ` +
    `aws elb delete-load-balancer --region ${region} --load-balancer-name ${elb.name}; then revoke the node security group rules ` +
    `whose source is the security group ${group} and delete that group ` +
    `(aws ec2 delete-security-group --region ${region} --group-id <its id>); see docs/migration-from-cloud-provider-aws.md`
  );
}
