// The clouds the chaos suite runs against: how to start each one, what a node looks like there, how to
// make its calls fail, and what its own state (never the controller's view) says about every Service.
import { execFileSync } from 'node:child_process';
import { createConnection, createServer, type Server } from 'node:net';
import type { ConfigInput } from '../../../src/config/schema.ts';
import type { NodeOptions } from '../../harness/control-plane.ts';
import { account, clients, createVpc, REGION, targetsOf, useTestCredentials } from '../../fakes/aws-cloud.ts';
import { AwsFaultProxy } from '../../fakes/aws-fault-proxy.ts';
import { startMoto, type Moto } from '../../fakes/aws-moto.ts';
import type { AzureArmFake, Wire } from '../../fakes/azure-arm/index.ts';
import { RG, startArm } from '../../fakes/azure-suite.ts';
import { seededRandom } from '../../fakes/azure-arm/faults.ts';
import { GceFake, PROVIDER_COLLECTIONS, type Collection } from '../../fakes/gce/index.ts';
import { freePort } from '../ports.ts';

export type ChaosProviderName = 'local' | 'aws' | 'azure' | 'gcp';

/** A Service that should have a load balancer now, as the API server has it. */
export interface WantedService {
  key: string;
  uid: string;
  lbName: string;
  /** ip or hostname of status.loadBalancer.ingress[0]; undefined while it has none. */
  address: string | undefined;
  ports: Array<{ port: number; protocol: string; nodePort: number }>;
  /** The nodes that must be targets. */
  nodes: Array<{ name: string; address: string }>;
}

export interface ChaosCloud {
  readonly name: ChaosProviderName;
  readonly clusterName: string;
  provider(): NonNullable<ConfigInput['provider']>;
  /** Extra options for the replica process. */
  readonly replicaExtras: { armCaPem?: string };
  /** The n-th node of the run, with whatever the cloud needs to know of it. */
  node(n: number): Promise<{ name: string; address: string; options: NodeOptions }>;
  /** Random faults on (rate > 0) or off. */
  faults(rate: number, seed: number): void;
  faultsInjected(): number;
  /** Calls the cloud received (faulted ones included). */
  cloudCalls(): number;
  /** Creates of a resource that already existed: a replica that did not find what another made. */
  duplicateCreates(): string[];
  /** Everything wrong between the cloud and the wanted Services; empty when they agree. */
  problems(wanted: WantedService[]): Promise<string[]>;
  stop(): Promise<void>;
}

const sameSet = (a: Iterable<string | number>, b: Iterable<string | number>) =>
  JSON.stringify([...new Set([...a].map(String))].sort()) === JSON.stringify([...new Set([...b].map(String))].sort());

/** The Service UID an owned resource name points at (our names embed `a` + the UID without dashes). */
function uidPart(name: string): string | undefined {
  return /a[0-9a-f]{31}/.exec(name)?.[0];
}

// ---- local: VIPs on loopback, listeners seen with ss, traffic through them to echo servers on the nodes ----

const LOCAL_POOL = '127.13.0.0/24';
const VIP_PREFIX = '127.13.0.';

class LocalCloud implements ChaosCloud {
  readonly name = 'local' as const;
  readonly clusterName = 'chaos';
  readonly replicaExtras = {};
  readonly #servers = new Map<string, Server>();
  #healthPort = 0;

  static async start(): Promise<LocalCloud> {
    const cloud = new LocalCloud();
    cloud.#healthPort = await freePort();
    return cloud;
  }

  provider(): NonNullable<ConfigInput['provider']> {
    return {
      name: 'local',
      local: {
        addressPools: [{ name: 'chaos', addresses: [LOCAL_POOL] }],
        healthCheck: { intervalSeconds: 0.5, timeoutSeconds: 1, cluster: { protocol: 'TCP', port: this.#healthPort } },
        drainGraceSeconds: 1,
      },
    };
  }

  async node(n: number) {
    const address = `127.13.1.${n + 1}`;
    // The node's health check port, always open (kube-proxy's part on a real node).
    await this.#serve(address, this.#healthPort);
    return { name: `node-${n}`, address, options: { addresses: [{ type: 'InternalIP' as const, address }] } };
  }

  faults(): void {}
  faultsInjected(): number {
    return 0;
  }
  cloudCalls(): number {
    return 0;
  }
  duplicateCreates(): string[] {
    return [];
  }

  /** An echo server on address:port answering `<address> <what it got>`, as a node's NodePort would. */
  async #serve(address: string, port: number): Promise<void> {
    const key = `${address}:${port}`;
    if (this.#servers.has(key)) return;
    const server = createServer((socket) => {
      socket.on('data', (data) => socket.end(`${address} ${data.toString()}`));
      socket.on('error', () => undefined);
    });
    this.#servers.set(key, server);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, address, () => resolve());
    });
  }

  async problems(wanted: WantedService[]): Promise<string[]> {
    const problems: string[] = [];
    const listening = new Set(
      execFileSync('ss', ['-Hltn'], { encoding: 'utf8' })
        .split('\n')
        .map((line) => line.trim().split(/\s+/)[3] ?? '')
        .filter((local) => local.startsWith(VIP_PREFIX)),
    );
    const expected = new Set<string>();
    for (const svc of wanted) {
      if (!svc.address) {
        problems.push(`${svc.key}: no address`);
        continue;
      }
      for (const p of svc.ports) expected.add(`${svc.address}:${p.port}`);
    }
    for (const l of listening) if (!expected.has(l)) problems.push(`a listener on ${l}, which no Service has`);
    for (const e of expected) if (!listening.has(e)) problems.push(`nothing listens on ${e}`);
    if (problems.length > 0) return problems;
    // Real traffic: every port of every Service reaches a node that serves its NodePort.
    for (const svc of wanted) {
      for (const node of svc.nodes) for (const p of svc.ports) await this.#serve(node.address, p.nodePort);
      for (const p of svc.ports) {
        const reply = await ask(svc.address!, p.port, svc.key);
        const node = reply.split(' ')[0];
        if (!svc.nodes.some((n) => n.address === node)) problems.push(`${svc.key}: ${svc.address}:${p.port} answered "${reply}"`);
      }
    }
    return problems;
  }

  async stop(): Promise<void> {
    await Promise.all([...this.#servers.values()].map((s) => new Promise((resolve) => s.close(resolve))));
  }
}

function ask(host: string, port: number, message: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = createConnection({ host, port });
    let reply = '';
    const done = (text: string) => {
      socket.destroy();
      resolve(text);
    };
    socket.setTimeout(5_000, () => done(`(timeout) ${reply}`));
    socket.on('connect', () => socket.write(message));
    socket.on('data', (d) => (reply += d.toString()));
    socket.on('end', () => done(reply));
    socket.on('error', (err) => done(`(${err.message})`));
  });
}

// ---- aws: moto behind the fault proxy ----

class AwsCloud implements ChaosCloud {
  readonly name = 'aws' as const;
  readonly clusterName = 'chaos';
  readonly replicaExtras = {};
  #moto!: Moto;
  #proxy!: AwsFaultProxy;
  #vpcId = '';

  static async start(): Promise<AwsCloud> {
    useTestCredentials();
    const cloud = new AwsCloud();
    cloud.#moto = await startMoto();
    cloud.#proxy = await AwsFaultProxy.start(cloud.#moto.url);
    cloud.#vpcId = (await createVpc(clients(cloud.#moto.url).ec2)).vpcId;
    return cloud;
  }

  provider(): NonNullable<ConfigInput['provider']> {
    return {
      name: 'aws',
      aws: {
        region: REGION,
        endpoints: { elbv2: this.#proxy.url, ec2: this.#proxy.url },
        vpcId: this.#vpcId,
        callsPerSecond: 200,
        retryBaseDelayMs: 50,
        retryMaxDelayMs: 1_000,
        // The proxy's timeouts hold a call for 4 s: the client gives up first, as against a stuck endpoint.
        requestTimeoutMs: 3_000,
      },
    };
  }

  async node(n: number) {
    const address = `10.0.${1 + (n % 2)}.${10 + n}`;
    const name = `node-${n}`;
    return {
      name,
      address,
      options: {
        addresses: [{ type: 'InternalIP' as const, address }],
        providerID: `aws:///us-east-1${n % 2 ? 'b' : 'a'}/i-${(0x1000 + n).toString(16)}`,
      },
    };
  }

  faults(rate: number, seed: number): void {
    if (rate <= 0) this.#proxy.clearFaults();
    else this.#proxy.randomFaults({ rate, kinds: ['throttle', 'server-error', 'timeout'], random: seededRandom(seed), holdMs: 4_000 });
  }

  faultsInjected(): number {
    return this.#proxy.calls.filter((c) => c.injected).length;
  }

  cloudCalls(): number {
    return this.#proxy.calls.length;
  }

  duplicateCreates(): string[] {
    // Load balancers and target groups: a create that succeeded while one of that name existed (AWS then
    // answers with the existing one, so the duplicate is silent). Security groups: AWS refuses the name.
    const live = new Set<string>();
    const duplicates: string[] = [];
    for (const c of this.#proxy.calls) {
      if (c.injected || c.status !== 200) {
        if (c.action === 'CreateSecurityGroup' && c.status === 400) duplicates.push(`CreateSecurityGroup ${c.params['GroupName']} refused`);
        continue;
      }
      if (c.action === 'CreateLoadBalancer' || c.action === 'CreateTargetGroup') {
        const key = `${c.action === 'CreateLoadBalancer' ? 'loadbalancer' : 'targetgroup'}/${c.params['Name']}`;
        if (live.has(key)) duplicates.push(`${c.action} ${c.params['Name']}`);
        live.add(key);
      } else if (c.action === 'DeleteLoadBalancer' || c.action === 'DeleteTargetGroup') {
        // arn:...:loadbalancer/net/<name>/<id> or arn:...:targetgroup/<name>/<id>
        const arn = c.params['LoadBalancerArn'] ?? c.params['TargetGroupArn'] ?? '';
        const parts = arn.split(':').at(-1)!.split('/');
        live.delete(`${parts[0]}/${parts.at(-2)}`);
      }
    }
    return duplicates;
  }

  async problems(wanted: WantedService[]): Promise<string[]> {
    const { elb, ec2 } = clients(this.#moto.url);
    const a = await account(elb, ec2, this.#vpcId);
    const problems: string[] = [];
    const byName = new Map(wanted.map((w) => [w.lbName, w]));
    const byUid10 = new Map(wanted.map((w) => [w.uid.replaceAll('-', '').slice(0, 10), w]));
    for (const lb of a.loadBalancers) if (!byName.has(lb.LoadBalancerName!)) problems.push(`orphaned load balancer ${lb.LoadBalancerName}`);
    for (const sg of a.securityGroups)
      if (sg.name.startsWith('k8s-slb-') && !byName.has(sg.name.slice('k8s-slb-'.length)))
        problems.push(`orphaned security group ${sg.name}`);
    const used = new Set([...a.listeners.values()].flat().flatMap((l) => (l.DefaultActions ?? []).map((d) => d.TargetGroupArn ?? '')));
    for (const tg of a.targetGroups) {
      const owner = byUid10.get(tg.TargetGroupName!.split('-')[2] ?? '');
      if (!owner || !used.has(tg.TargetGroupArn!)) problems.push(`orphaned target group ${tg.TargetGroupName}`);
    }
    for (const svc of wanted) {
      const lb = a.loadBalancers.find((l) => l.LoadBalancerName === svc.lbName);
      if (!lb) {
        problems.push(`${svc.key}: no load balancer ${svc.lbName}`);
        continue;
      }
      if (svc.address !== lb.DNSName) problems.push(`${svc.key}: status ${svc.address}, load balancer ${lb.DNSName}`);
      const listeners = a.listeners.get(lb.LoadBalancerArn!) ?? [];
      if (
        !sameSet(
          listeners.map((l) => l.Port!),
          svc.ports.map((p) => p.port),
        )
      )
        problems.push(`${svc.key}: listeners ${listeners.map((l) => l.Port).join(',')}, ports ${svc.ports.map((p) => p.port).join(',')}`);
      for (const l of listeners) {
        const port = svc.ports.find((p) => p.port === l.Port);
        const tgArn = l.DefaultActions?.[0]?.TargetGroupArn;
        if (!port || !tgArn) continue;
        const targets = (await targetsOf(elb, tgArn)).map((t) => t.split('@')[0]!);
        const want = svc.nodes.map((n) => `${n.address}:${port.nodePort}`);
        if (!sameSet(targets, want)) problems.push(`${svc.key}: port ${l.Port} targets ${targets.join(',')}, nodes ${want.join(',')}`);
      }
    }
    return problems;
  }

  async stop(): Promise<void> {
    await this.#proxy.stop();
    await this.#moto.stop();
  }
}

// ---- azure: the ARM fake with its fault mode ----

interface Named {
  name: string;
  properties: Wire;
}

class AzureCloud implements ChaosCloud {
  readonly name = 'azure' as const;
  readonly clusterName = 'test';
  #arm!: AzureArmFake;

  static async start(): Promise<AzureCloud> {
    const cloud = new AzureCloud();
    cloud.#arm = await startArm();
    return cloud;
  }

  get replicaExtras() {
    return { armCaPem: this.#arm.caPem };
  }

  provider(): NonNullable<ConfigInput['provider']> {
    return {
      name: 'azure',
      azure: {
        subscriptionId: this.#arm.subscriptionId,
        resourceGroup: RG,
        location: this.#arm.location,
        vnetName: 'vnet',
        subnetName: 'ilb',
        securityGroupName: 'cluster-nsg',
        resourceManagerEndpoint: this.#arm.endpoint,
        pollIntervalMs: 50,
        retryBaseDelayMs: 50,
        retryMaxDelayMs: 1_000,
        writesPerHour: 10_000_000,
        writeBurst: 10_000,
      },
    };
  }

  async node(n: number) {
    const address = `10.0.0.${4 + n}`;
    return { name: `node-${n}`, address, options: { addresses: [{ type: 'InternalIP' as const, address }] } };
  }

  faults(rate: number, seed: number): void {
    this.#arm.faults(
      rate <= 0
        ? undefined
        : { rate, seed, kinds: ['throttle', 'server-error', 'unavailable', 'slow-lro'], methods: ['GET', 'PUT', 'PATCH', 'DELETE'] },
    );
  }

  faultsInjected(): number {
    return [...this.#arm.injectedFaults().values()].reduce((a, b) => a + b, 0);
  }

  cloudCalls(): number {
    return this.#arm.count();
  }

  duplicateCreates(): string[] {
    // A public IP is the one per-Service resource: ARM answers 201 when a PUT creates it.
    const live = new Set<string>();
    const duplicates: string[] = [];
    for (const c of this.#arm.calls({ type: 'publicIPAddresses', child: null })) {
      if (c.method === 'PUT' && c.status === 201) {
        if (live.has(c.name!)) duplicates.push(`public IP ${c.name}`);
        live.add(c.name!);
      } else if (c.method === 'DELETE' && c.status < 300) live.delete(c.name!);
    }
    return duplicates;
  }

  async problems(wanted: WantedService[]): Promise<string[]> {
    const problems: string[] = [];
    const wantedFe = new Map(wanted.map((w) => [w.lbName, w]));
    const lbs = this.#arm.resources('loadBalancers', RG);
    const frontends = new Map<string, Wire>();
    for (const lb of lbs) {
      const p = lb.properties;
      for (const fe of (p['frontendIPConfigurations'] ?? []) as Named[]) {
        frontends.set(fe.name, { lb: lb.name, ...fe.properties });
        if (!wantedFe.has(fe.name)) problems.push(`orphaned frontend ${fe.name} on ${lb.name}`);
      }
      for (const key of ['loadBalancingRules', 'probes'])
        for (const r of (p[key] ?? []) as Named[]) {
          const uid = uidPart(r.name);
          if (!uid || !wantedFe.has(uid)) problems.push(`orphaned ${key} ${r.name} on ${lb.name}`);
        }
    }
    for (const pip of this.#arm.resources('publicIPAddresses', RG)) {
      const uid = uidPart(pip.name);
      if (pip.tags?.['k8s-azure-service'] !== undefined && (!uid || !wantedFe.has(uid))) problems.push(`orphaned public IP ${pip.name}`);
    }
    const nsgRules = (this.#arm.networkSecurityGroup(RG, 'cluster-nsg')?.properties['securityRules'] ?? []) as Named[];
    for (const r of nsgRules) {
      const uid = uidPart(r.name);
      if (uid && !wantedFe.has(uid)) problems.push(`orphaned NSG rule ${r.name}`);
    }
    for (const svc of wanted) {
      const fe = frontends.get(svc.lbName);
      if (!fe) {
        problems.push(`${svc.key}: no frontend ${svc.lbName}`);
        continue;
      }
      const pip = this.#arm.publicIp(RG, `${this.clusterName}-${svc.lbName}`);
      if (!pip || svc.address !== pip.properties['ipAddress'])
        problems.push(`${svc.key}: status ${svc.address}, public IP ${String(pip?.properties['ipAddress'])}`);
      const lb = lbs.find((l) => l.name === fe['lb'])!;
      const rules = ((lb.properties['loadBalancingRules'] ?? []) as Named[]).filter((r) => r.name.startsWith(`${svc.lbName}-`));
      if (
        !sameSet(
          rules.map((r) => Number(r.properties['frontendPort'])),
          svc.ports.map((p) => p.port),
        )
      )
        problems.push(
          `${svc.key}: rules ${rules.map((r) => r.properties['frontendPort']).join(',')}, ports ${svc.ports.map((p) => p.port).join(',')}`,
        );
      if (
        !sameSet(
          rules.map((r) => Number(r.properties['backendPort'])),
          svc.ports.map((p) => p.nodePort),
        )
      )
        problems.push(`${svc.key}: rules' backend ports ${rules.map((r) => r.properties['backendPort']).join(',')}`);
      const pool = ((lb.properties['backendAddressPools'] ?? []) as Named[]).find((p) => p.name === this.clusterName);
      const poolIPs = ((pool?.properties['loadBalancerBackendAddresses'] ?? []) as Named[]).map((a) => String(a.properties['ipAddress']));
      if (
        !sameSet(
          poolIPs,
          svc.nodes.map((n) => n.address),
        )
      )
        problems.push(`${svc.key}: backend pool ${poolIPs.join(',')} on ${lb.name}`);
    }
    return problems;
  }

  async stop(): Promise<void> {
    await this.#arm.stop();
  }
}

// ---- gcp: the GCE fake with its fault mode, passthrough target pools ----

class GcpCloud implements ChaosCloud {
  readonly name = 'gcp' as const;
  readonly clusterName = 'chaos';
  readonly replicaExtras = {};
  #gce!: GceFake;

  static async start(): Promise<GcpCloud> {
    const cloud = new GcpCloud();
    cloud.#gce = await GceFake.start({ pageSize: 50 });
    return cloud;
  }

  provider(): NonNullable<ConfigInput['provider']> {
    return {
      name: 'gcp',
      gcp: {
        project: this.#gce.project,
        region: this.#gce.region,
        apiEndpoint: '127.0.0.1',
        port: this.#gce.port,
        protocol: 'http',
        nodeTags: ['k8s-node'],
        subnetwork: 'default',
        callsPerSecond: 1_000,
        retryBaseDelayMs: 50,
        retryMaxDelayMs: 1_000,
      },
    };
  }

  async node(n: number) {
    const name = `node-${n}`;
    const zone = this.#gce.zones[n % this.#gce.zones.length]!;
    const instance = this.#gce.addInstance(name, { zone, tags: ['k8s-node'] });
    const address = String((instance['networkInterfaces'] as Wire[])[0]!['networkIP']);
    return {
      name,
      address,
      options: { addresses: [{ type: 'InternalIP' as const, address }], providerID: `gce://${this.#gce.project}/${zone}/${name}` },
    };
  }

  faults(rate: number, seed: number): void {
    this.#gce.faults(
      rate <= 0
        ? undefined
        : {
            rate,
            seed,
            kinds: ['rate-limit', 'too-many-requests', 'server-error', 'unavailable', 'slow-operation'],
            methods: ['get', 'list', 'insert', 'delete', 'patch', 'addInstance', 'removeInstance', 'setTarget', 'update'],
          },
    );
  }

  faultsInjected(): number {
    return [...this.#gce.injectedFaults().values()].reduce((a, b) => a + b, 0);
  }

  cloudCalls(): number {
    return this.#gce.count();
  }

  duplicateCreates(): string[] {
    // The fake refuses an insert of a name that exists (409), as Compute does. A Service's own resources
    // only: the cluster's shared health check and its firewall rule are raced for by every Service's first
    // sync by design, and a 409 there is adopted (as cloud-provider-gcp does).
    return this.#gce
      .calls({ method: 'insert', status: 409 })
      .filter((c) => PROVIDER_COLLECTIONS.includes(c.collection as Collection) && uidPart(c.name ?? '') !== undefined)
      .map((c) => `insert ${c.collection}/${c.name}`);
  }

  async problems(wanted: WantedService[]): Promise<string[]> {
    const problems: string[] = [];
    const byName = new Map(wanted.map((w) => [w.lbName, w]));
    for (const collection of PROVIDER_COLLECTIONS)
      for (const r of this.#gce.resources(collection)) {
        const uid = uidPart(String(r['name']));
        if (uid && !byName.has(uid)) problems.push(`orphaned ${collection}/${String(r['name'])}`);
      }
    for (const svc of wanted) {
      const rule = this.#gce.resource('forwardingRules', svc.lbName);
      if (!rule) {
        problems.push(`${svc.key}: no forwarding rule ${svc.lbName}`);
        continue;
      }
      if (svc.address !== rule['IPAddress'])
        problems.push(`${svc.key}: status ${svc.address}, forwarding rule ${String(rule['IPAddress'])}`);
      const ports = svc.ports.map((p) => p.port);
      const range = `${Math.min(...ports)}-${Math.max(...ports)}`;
      if (rule['portRange'] !== range) problems.push(`${svc.key}: port range ${String(rule['portRange'])}, ports ${ports.join(',')}`);
      const pool = ((this.#gce.resource('targetPools', svc.lbName)?.['instances'] as string[] | undefined) ?? []).map(
        (u) => u.split('/').pop()!,
      );
      if (
        !sameSet(
          pool,
          svc.nodes.map((n) => n.name),
        )
      )
        problems.push(`${svc.key}: target pool ${pool.join(',')}`);
    }
    return problems;
  }

  async stop(): Promise<void> {
    await this.#gce.stop();
  }
}

export async function startCloud(name: ChaosProviderName): Promise<ChaosCloud> {
  switch (name) {
    case 'local':
      return LocalCloud.start();
    case 'aws':
      return AwsCloud.start();
    case 'azure':
      return AzureCloud.start();
    case 'gcp':
      return GcpCloud.start();
  }
}
