// The conformance kit (service-lb-controller/conformance) against the built-in providers: local on loopback, aws against moto.
import { describe } from 'node:test';
import { runConformance } from '../../src/conformance/index.ts';
import { Annotations } from '../../src/providers/aws/annotations.ts';
import { localProviderConfigSchema } from '../../src/providers/local/config.ts';
import { createLocalProvider } from '../../src/providers/local/index.ts';
import { account, makeProvider, targetsOf, useTestCredentials } from '../fakes/aws-cloud.ts';
import { useMotoSuite } from '../fakes/aws-suite.ts';

useTestCredentials();

// The default pool is on loopback: VIPs need no interface of their own, so no root and no netns.
runConformance({
  name: 'conformance: local provider',
  createProvider: (deps) =>
    createLocalProvider(
      localProviderConfigSchema.parse({
        // The nodes are unreachable: a short probe keeps ensure (which waits for a first verdict) quick.
        healthCheck: { intervalSeconds: 0.5, timeoutSeconds: 0.1 },
        drainGraceSeconds: 0,
      }),
      deps,
    ),
  invalidService: (desired) => ({ ...desired, listeners: [{ name: 'sctp', protocol: 'SCTP', port: 9000, nodePort: 30900 }] }),
});

describe('aws provider against moto', () => {
  const cloud = useMotoSuite({ startProvider: false });
  runConformance({
    name: 'conformance: aws provider',
    createProvider: (deps) => makeProvider(cloud.proxy.url, cloud.vpc.vpcId, {}, deps.clusterName).provider,
    invalidService: (desired) => ({ ...desired, annotations: { [Annotations.scheme]: 'sideways' } }),
    // Every test has its own VPC, so every target group in it is the load balancer's.
    targetAddresses: async () => {
      const { targetGroups } = await account(cloud.elb, cloud.ec2, cloud.vpc.vpcId);
      const targets = await Promise.all(targetGroups.map((tg) => targetsOf(cloud.elb, tg.TargetGroupArn!)));
      return [...new Set(targets.flat().map((t) => t.split(':')[0]!))];
    },
  });
});
