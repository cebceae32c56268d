// Parsing of the azure-* Service annotations: values, errors naming the annotation, Warnings for what is not implemented.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ProviderError } from '../../src/providers/provider.ts';
import { MAX_QUOTED_CHARS } from '../../src/error-message.ts';
import { Annotations, parseAzureAnnotations } from '../../src/providers/azure/annotations.ts';

function rejects(annotations: Record<string, string>, annotation: string): void {
  assert.throws(
    () => parseAzureAnnotations(annotations),
    (err: unknown) => err instanceof ProviderError && !err.retryable && err.message.includes(annotation),
  );
}

describe('azure annotations', () => {
  test('none: public, no warnings', () => {
    const { options, warnings } = parseAzureAnnotations({ 'example.com/x': 'y' });
    assert.equal(options.internal, false);
    assert.deepEqual(warnings, []);
  });

  test('each key parses', () => {
    const { options } = parseAzureAnnotations({
      [Annotations.internal]: 'true',
      [Annotations.internalSubnet]: 'ilb',
      [Annotations.ipv4]: '10.0.1.9',
      [Annotations.resourceGroup]: 'rg-ips',
      [Annotations.pipTags]: 'team=a, env = prod',
      [Annotations.probeProtocol]: 'http',
      [Annotations.probeRequestPath]: '/ready',
      [Annotations.probeInterval]: '10',
      [Annotations.probeNumOfProbe]: '3',
      [Annotations.tcpIdleTimeout]: '30',
      [Annotations.allowedServiceTags]: 'AzureCloud, Storage.WestUS',
      [Annotations.allowedIpRanges]: '10.0.0.0/8, 192.168.1.1/32',
      [Annotations.disableFloatingIp]: 'true',
    });
    assert.deepEqual(options, {
      internal: true,
      internalSubnet: 'ilb',
      ipv4: '10.0.1.9',
      pipResourceGroup: 'rg-ips',
      pipTags: { team: 'a', env: 'prod' },
      probe: { protocol: 'Http', requestPath: '/ready', intervalInSeconds: 10, probeThreshold: 3 },
      idleTimeoutInMinutes: 30,
      allowedServiceTags: ['AzureCloud', 'Storage.WestUS'],
      allowedIpRanges: ['10.0.0.0/8', '192.168.1.1/32'],
    });
    const pub = parseAzureAnnotations({ [Annotations.pipName]: 'my-ip', [Annotations.dnsLabelName]: 'my-app' }).options;
    assert.equal(pub.pipName, 'my-ip');
    assert.equal(pub.dnsLabelName, 'my-app');
  });

  test('malformed values name their annotation', () => {
    rejects({ [Annotations.internal]: 'yes' }, Annotations.internal);
    rejects({ [Annotations.internalSubnet]: 'ilb' }, Annotations.internalSubnet);
    rejects({ [Annotations.ipv4]: '10.0.0.256' }, Annotations.ipv4);
    rejects({ [Annotations.ipv4]: '2001:db8::1' }, Annotations.ipv4);
    rejects({ [Annotations.ipv6]: '2001:db8::1' }, Annotations.ipv6);
    rejects({ [Annotations.pipName]: 'bad name' }, Annotations.pipName);
    rejects({ [Annotations.dnsLabelName]: 'Upper_Case' }, Annotations.dnsLabelName);
    rejects({ [Annotations.pipTags]: 'novalue' }, Annotations.pipTags);
    rejects({ [Annotations.pipTags]: 'k8s-azure-service=x' }, Annotations.pipTags);
    rejects({ [Annotations.probeProtocol]: 'udp' }, Annotations.probeProtocol);
    rejects({ [Annotations.probeRequestPath]: 'healthz' }, Annotations.probeRequestPath);
    rejects({ [Annotations.probeInterval]: '4' }, Annotations.probeInterval);
    rejects({ [Annotations.probeNumOfProbe]: '1' }, Annotations.probeNumOfProbe);
    rejects({ [Annotations.probeInterval]: '30', [Annotations.probeNumOfProbe]: '4' }, Annotations.probeNumOfProbe);
    rejects({ [Annotations.tcpIdleTimeout]: '3' }, Annotations.tcpIdleTimeout);
    rejects({ [Annotations.tcpIdleTimeout]: '101' }, Annotations.tcpIdleTimeout);
    rejects({ [Annotations.allowedServiceTags]: 'Azure Cloud' }, Annotations.allowedServiceTags);
    rejects({ [Annotations.allowedIpRanges]: '10.0.0.0/33' }, Annotations.allowedIpRanges);
    rejects({ [Annotations.allowedIpRanges]: '10.0.0.1' }, Annotations.allowedIpRanges);
    rejects({ [Annotations.disableFloatingIp]: 'maybe' }, Annotations.disableFloatingIp);
  });

  test('a 20 KB bad value is quoted cut short in the error, with its size: every key', () => {
    const huge = '!'.repeat(20_000);
    const failure = (annotations: Record<string, string>, key: string): ProviderError => {
      try {
        parseAzureAnnotations(annotations);
      } catch (err) {
        assert.ok(err instanceof ProviderError && err.message.includes(key), String(err));
        return err;
      }
      assert.fail(`${key}: accepted`);
    };
    let quoted = 0;
    for (const key of Object.values(Annotations)) {
      const err = failure({ [key]: huge, [Annotations.internal]: key === Annotations.internal ? huge : 'false' }, key);
      assert.ok(err.message.length < MAX_QUOTED_CHARS + 400, `${key}: ${err.message.length} characters`);
      assert.ok(!err.message.includes('!'.repeat(MAX_QUOTED_CHARS + 1)), `${key} quotes more than ${MAX_QUOTED_CHARS} characters`);
      if (err.message.includes('…(20000 bytes)')) quoted++;
    }
    assert.ok(quoted >= 12, `${quoted} errors quote the value`);
    const tag = failure({ [Annotations.pipTags]: `team=a,${'!'.repeat(20_000)}=x` }, Annotations.pipTags);
    assert.ok(tag.message.length < MAX_QUOTED_CHARS + 400, tag.message);
  });

  test('unknown azure-* keys and floating IP "false" are Warnings naming them', () => {
    const { warnings } = parseAzureAnnotations({
      'service.beta.kubernetes.io/azure-load-balancer-mode': 'auto',
      'service.beta.kubernetes.io/azure-pls-create': 'true',
      'service.beta.kubernetes.io/aws-load-balancer-type': 'nlb',
      [Annotations.disableFloatingIp]: 'false',
    });
    assert.deepEqual(
      warnings.map((w) => w.reason),
      ['FloatingIPUnsupported', 'UnsupportedAnnotation', 'UnsupportedAnnotation'],
    );
    assert.match(warnings[1]!.message, /azure-load-balancer-mode/);
    assert.match(warnings[2]!.message, /azure-pls-create/);
    assert.match(warnings[0]!.message, /NodePorts/);
  });

  test("cloud-provider-azure's per-port probe and rule keys are Warnings naming them, and change nothing", () => {
    const perPort = {
      'service.beta.kubernetes.io/port_80_health-probe_protocol': 'Http',
      'service.beta.kubernetes.io/port_80_health-probe_request-path': '/healthz',
      'service.beta.kubernetes.io/port_443_health-probe_port': '10256',
      'service.beta.kubernetes.io/port_443_health-probe_interval': '10',
      'service.beta.kubernetes.io/port_443_health-probe_num-of-probe': '3',
      'service.beta.kubernetes.io/port_3306_no_lb_rule': 'true',
      'service.beta.kubernetes.io/port_3306_no_probe_rule': 'true',
    };
    const { options, warnings } = parseAzureAnnotations({ ...perPort, 'service.beta.kubernetes.io/portal': 'x' });
    assert.deepEqual(options, parseAzureAnnotations({}).options);
    assert.deepEqual(
      warnings.map((w) => w.reason),
      Object.keys(perPort).map(() => 'UnsupportedAnnotation'),
    );
    for (const key of Object.keys(perPort)) {
      const warning = warnings.find((w) => w.message.startsWith(`annotation ${key} `));
      assert.ok(warning, `a Warning naming ${key}`);
      assert.match(warning.message, /azure-load-balancer-health-probe-protocol/);
    }
  });
});
