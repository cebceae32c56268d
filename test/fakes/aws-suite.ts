// The hooks every provider-level AWS suite shares: one moto per suite behind a fault proxy, and for each
// test a clean account, a fresh VPC and a provider pointed at the proxy.
import { after, afterEach, before, beforeEach } from 'node:test';
import type { EC2Client } from '@aws-sdk/client-ec2';
import type { ElasticLoadBalancingClient } from '@aws-sdk/client-elastic-load-balancing';
import type { ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import { clients, createVpc, makeProvider, type TestProvider, type TestVpc } from './aws-cloud.ts';
import { AwsFaultProxy } from './aws-fault-proxy.ts';
import { startMoto, type Moto } from './aws-moto.ts';

export interface MotoSuite {
  moto: Moto;
  proxy: AwsFaultProxy;
  elb: ElasticLoadBalancingV2Client;
  ec2: EC2Client;
  /** The Classic ELB API, for what cloud-provider-aws leaves behind. */
  classicElb: ElasticLoadBalancingClient;
  vpc: TestVpc;
  aws: TestProvider;
}

/** Registers the hooks; the fields are filled in by them, so read them inside tests only. */
export function useMotoSuite(options: { startProvider: boolean }): MotoSuite {
  const suite = {} as MotoSuite;
  before(async () => {
    suite.moto = await startMoto();
    suite.proxy = await AwsFaultProxy.start(suite.moto.url);
    Object.assign(suite, clients(suite.moto.url));
  });
  after(async () => {
    await suite.proxy?.stop();
    await suite.moto?.stop();
  });
  beforeEach(async () => {
    await suite.moto.reset();
    suite.vpc = await createVpc(suite.ec2);
    suite.aws = makeProvider(suite.proxy.url, suite.vpc.vpcId);
    if (options.startProvider) await suite.aws.provider.start([]);
    suite.proxy.takeCalls();
  });
  afterEach(async () => {
    suite.proxy.clearFaults();
    await suite.aws.provider.stop();
  });
  return suite;
}
