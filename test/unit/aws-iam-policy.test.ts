// deploy/aws/iam-policy.json allows every AWS call the provider's source can send, and scopes its writes by tag.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
const awsDir = join(root, 'src/providers/aws');

interface Statement {
  Effect: string;
  Action: string | string[];
  Resource: string | string[];
  Condition?: Record<string, Record<string, unknown>>;
}

const policy = JSON.parse(readFileSync(join(root, 'deploy/aws/iam-policy.json'), 'utf8')) as { Statement: Statement[] };
const list = (v: string | string[]) => (Array.isArray(v) ? v : [v]);

/** Every `new XxxCommand(` in the provider, as the IAM action it needs (the client it is imported from decides the service). */
function actionsInSource(): string[] {
  const actions = new Set<string>();
  for (const file of readdirSync(awsDir).filter((f) => f.endsWith('.ts'))) {
    const text = readFileSync(join(awsDir, file), 'utf8');
    const serviceOf = new Map<string, string>();
    for (const m of text.matchAll(/import\s*\{([^}]*)\}\s*from\s*'@aws-sdk\/client-([a-z0-9-]+)'/g)) {
      // Both ELB APIs (Classic and v2) share the IAM prefix elasticloadbalancing.
      const service = m[2] === 'ec2' ? 'ec2' : /^elastic-load-balancing(-v2)?$/.test(m[2]!) ? 'elasticloadbalancing' : `unknown:${m[2]}`;
      for (const name of m[1]!.split(',').map((s) => s.replace(/^type\s+/, '').trim())) if (name) serviceOf.set(name, service);
    }
    for (const m of text.matchAll(/new ([A-Za-z0-9]+)Command\(/g)) {
      const service = serviceOf.get(`${m[1]}Command`);
      assert.ok(service, `${file}: ${m[1]}Command is not imported from an AWS SDK client`);
      actions.add(`${service}:${m[1]}`);
    }
  }
  return [...actions].sort();
}

function allowed(action: string): boolean {
  return policy.Statement.some(
    (s) =>
      s.Effect === 'Allow' &&
      list(s.Action).some((a) => new RegExp(`^${a.replaceAll('.', '\\.').replaceAll('*', '.*')}$`, 'i').test(action)),
  );
}

describe('deploy/aws/iam-policy.json', () => {
  test('allows every command the provider can send', () => {
    const actions = actionsInSource();
    assert.ok(actions.length >= 30, `found only ${actions.length} commands: is the scan broken?`);
    assert.ok(!actions.some((a) => a.startsWith('unknown:')), `commands of an unexpected client: ${actions.join(', ')}`);
    assert.deepEqual(
      actions.filter((a) => !allowed(a)),
      [],
    );
  });

  test('least privilege: no wildcard actions, and only reads (and the service-linked role) on every resource unconditioned', () => {
    for (const s of policy.Statement) {
      for (const a of list(s.Action)) assert.ok(!a.includes('*'), `wildcard action ${a}`);
      const unconditioned = !s.Condition && list(s.Resource).includes('*');
      if (unconditioned)
        assert.ok(
          list(s.Action).every((a) => /:Describe/.test(a)),
          `unconditioned writes: ${list(s.Action).join(', ')}`,
        );
    }
    const creates = policy.Statement.filter((s) => list(s.Action).some((a) => /:Create(LoadBalancer|TargetGroup|SecurityGroup)$/.test(a)));
    assert.ok(creates.some((s) => JSON.stringify(s.Condition ?? {}).includes('aws:RequestTag/kubernetes.io/cluster/CLUSTER_NAME')));
  });
});
