// The AWS provider's readiness: the credentials work and the configured VPC exists, in one DescribeVpcs.
import { DescribeVpcsCommand } from '@aws-sdk/client-ec2';
import type { AwsApi } from './api.ts';
import type { AwsProviderConfig } from './config.ts';
import { isAwsError, toProviderError } from './errors.ts';

/** Empty when the VPC can be read; else why not (refused credentials and IAM denials come back as AWS words them). */
export async function vpcProblems(api: AwsApi, config: Pick<AwsProviderConfig, 'vpcId' | 'region'>): Promise<string[]> {
  try {
    const out = await api.ec2(new DescribeVpcsCommand({ VpcIds: [config.vpcId] }));
    if (out.Vpcs?.some((v) => v.VpcId === config.vpcId)) return [];
  } catch (err) {
    if (!isAwsError(err, 'InvalidVpcID.NotFound', 'InvalidVpcID.Malformed'))
      return [toProviderError(err, `reading VPC ${config.vpcId}`).message];
  }
  return [`VPC ${config.vpcId} (provider.aws.vpcId) not found in region ${config.region}`];
}
