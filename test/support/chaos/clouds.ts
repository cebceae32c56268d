// The clouds the chaos suite runs against: how to start each one, what a node looks like there, how to
// make its calls fail, and what its own state (never the controller's view) says about every Service.
import { execFileSync } from 'node:child_process';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer as createHttpServer } from 'node:http';
import { createConnection, createServer, type Server } from 'node:net';
import type { ConfigInput } from '../../../src/config/schema.ts';
import type { NodeOptions } from '../../harness/control-plane.ts';
import { account, clients, createVpc, REGION, targetsOf, useTestCredentials } from '../../fakes/aws-cloud.ts';
import { AwsFaultProxy } from '../../fakes/aws-fault-proxy.ts';
import { startMoto, type Moto } from '../../fakes/aws-moto.ts';
import type { AzureArmFake, Wire } from '../../fakes/azure-arm/index.ts';
import { RG, startArm } from '../../fakes/azure-suite.ts';
import { seededRandom } from '../../fakes/azure-arm/faults.ts';
import { GceFake, PROVIDER_COLLECTIONS, type Collection, type Wire as GceWire } from '../../fakes/gce/index.ts';
import { freePort } from '../ports.ts';

export type ChaosProviderName = 'local' | 'aws' | 'azure' | 'gcp';

/** Created with some Services: an Azure internal load balancer, and GCP's NEG mode (passthrough otherwise). */
export const AZURE_INTERNAL = 'service.beta.kubernetes.io/azure-load-balancer-internal';
export const GCP_MODE = 'service-lb-controller.io/gcp-mode';

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
  annotations: Record<string, string>;
  /** Set with externalTrafficPolicy Local: nodes are health-checked on it (HTTP /healthz). */
  healthCheckNodePort: number | undefined;
}

/** Cloud calls as the cloud saw them: every request, polls included. */
export interface CallTally {
  total: number;
  /** Received while faults were on. */
  window: number;
  /** Of those, answered with a fault or held unanswered, by kind. */
  failed: Record<string, number>;
}

/** Tallies a call log: the calls from index `from` to `to` (the fault window), and which of them failed. */
function tally<T>(log: readonly T[], from: number, to: number | undefined, fault: (call: T) => string | undefined): CallTally {
  const failed: Record<string, number> = {};
  const window = log.slice(from, to ?? log.length);
  for (const call of window) {
    const kind = fault(call);
    if (kind !== undefined) failed[kind] = (failed[kind] ?? 0) + 1;
  }
  return { total: log.length, window: window.length, failed };
}

/** Where a fault window starts and ends in a cloud's call log. */
class FaultWindow {
  from = 0;
  to: number | undefined;

  mark(on: boolean, logLength: number): void {
    if (on) {
      this.from = logLength;
      this.to = undefined;
    } else if (this.to === undefined) this.to = logLength;
  }
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
  /** The calls the cloud received, counted where they arrived (the proxy or the fake). */
  calls(): CallTally;
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

// ---- local: VIPs on loopback, listeners (TCP and UDP) seen with ss, traffic through them to echo servers on the nodes ----

/** A loopback /16 of this run's own, so that two runs on one machine never see each other's listeners. */
const NET = `127.${100 + Math.floor(Math.random() * 100)}`;
const LOCAL_POOL = `${NET}.0.0/24`;
const VIP_PREFIX = `${NET}.0.`;

class LocalCloud implements ChaosCloud {
  readonly name = 'local' as const;
  readonly clusterName = 'chaos';
  readonly replicaExtras = {};
  /** TCP servers by address:port; a port may serve NodePort echo at one time and a health check at another. */
  readonly #servers = new Map<string, { server: Server; kind: 'echo' | 'healthz' }>();
  readonly #udpServers = new Map<string, UdpSocket>();
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
    const address = `${NET}.1.${n + 1}`;
    // The node's health check port, always open (kube-proxy's part on a real node).
    await this.#serve(address, this.#healthPort);
    return { name: `node-${n}`, address, options: { addresses: [{ type: 'InternalIP' as const, address }] } };
  }

  faults(): void {}
  calls(): CallTally {
    return { total: 0, window: 0, failed: {} };
  }
  duplicateCreates(): string[] {
    return [];
  }

  /** An echo server on address:port answering `<address> <what it got>`, as a node's NodePort would. */
  async #serve(address: string, port: number): Promise<void> {
    await this.#listen(address, port, 'echo', () =>
      createServer((socket) => {
        socket.on('data', (data) => socket.end(`${address} ${data.toString()}`));
        socket.on('error', () => undefined);
      }),
    );
  }

  async #listen(address: string, port: number, kind: 'echo' | 'healthz', make: () => Server): Promise<void> {
    const key = `${address}:${port}`;
    const existing = this.#servers.get(key);
    if (existing?.kind === kind) return;
    if (existing) await new Promise((resolve) => existing.server.close(resolve));
    const server = make();
    this.#servers.set(key, { server, kind });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, address, () => resolve());
    });
  }

  /** A UDP echo server on address:port answering `<address> <what it got>`, as a node's UDP NodePort would. */
  async #serveUdp(address: string, port: number): Promise<void> {
    const key = `${address}:${port}`;
    if (this.#udpServers.has(key)) return;
    const socket = createSocket('udp4');
    socket.on('message', (data, from) => socket.send(`${address} ${data.toString()}`, from.port, from.address));
    this.#udpServers.set(key, socket);
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(port, address, () => resolve());
    });
  }

  /** kube-proxy's health check on a node (externalTrafficPolicy Local): 200 on /healthz. */
  async #serveHealthz(address: string, port: number): Promise<void> {
    await this.#listen(address, port, 'healthz', () =>
      createHttpServer((req, res) => res.writeHead(req.url === '/healthz' ? 200 : 404).end('{"localEndpoints": 1}')),
    );
  }

  async problems(wanted: WantedService[]): Promise<string[]> {
    const problems: string[] = [];
    // `ss -H -l -n` with -t or -u: the fourth column is the local address of each listening socket.
    const sockets = (flag: string) =>
      new Set(
        execFileSync('ss', [`-Hl${flag}n`], { encoding: 'utf8' })
          .split('\n')
          .map((line) => line.trim().split(/\s+/)[3] ?? '')
          .filter((local) => local.startsWith(VIP_PREFIX)),
      );
    const listening = { TCP: sockets('t'), UDP: sockets('u') };
    const expected = { TCP: new Set<string>(), UDP: new Set<string>() };
    for (const svc of wanted) {
      if (!svc.address) {
        problems.push(`${svc.key}: no address`);
        continue;
      }
      for (const p of svc.ports) expected[p.protocol === 'UDP' ? 'UDP' : 'TCP'].add(`${svc.address}:${p.port}`);
    }
    for (const proto of ['TCP', 'UDP'] as const) {
      for (const l of listening[proto]) if (!expected[proto].has(l)) problems.push(`a ${proto} listener on ${l}, which no Service has`);
      for (const e of expected[proto]) if (!listening[proto].has(e)) problems.push(`nothing listens on ${proto} ${e}`);
    }
    if (problems.length > 0) return problems;
    // Real traffic: every port of every Service reaches a node that serves its NodePort. With no eligible
    // node a load balancer has no target: a TCP connection must fail (UDP, with nothing to answer, is not
    // asked: its silence would prove nothing).
    for (const svc of wanted.filter((w) => w.nodes.length === 0)) {
      for (const p of svc.ports.filter((port) => port.protocol !== 'UDP')) {
        const reply = await ask(svc.address!, p.port, svc.key);
        if (!reply.startsWith('(')) problems.push(`${svc.key}: TCP ${svc.address}:${p.port} answered "${reply}" with no eligible node`);
      }
    }
    for (const svc of wanted.filter((w) => w.nodes.length > 0)) {
      for (const node of svc.nodes) {
        if (svc.healthCheckNodePort) await this.#serveHealthz(node.address, svc.healthCheckNodePort);
        for (const p of svc.ports)
          await (p.protocol === 'UDP' ? this.#serveUdp(node.address, p.nodePort) : this.#serve(node.address, p.nodePort));
      }
      for (const p of svc.ports) {
        const reply = p.protocol === 'UDP' ? await askUdp(svc.address!, p.port, svc.key) : await ask(svc.address!, p.port, svc.key);
        const node = reply.split(' ')[0];
        if (!svc.nodes.some((n) => n.address === node))
          problems.push(`${svc.key}: ${p.protocol} ${svc.address}:${p.port} answered "${reply}"`);
      }
    }
    return problems;
  }

  async stop(): Promise<void> {
    for (const socket of this.#udpServers.values()) socket.close();
    await Promise.all([...this.#servers.values()].map((s) => new Promise((resolve) => s.server.close(resolve))));
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

/** One datagram to host:port and the first answer; sent again each second (UDP may lose one), 5 tries. */
function askUdp(host: string, port: number, message: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = createSocket('udp4');
    let tries = 0;
    const done = (text: string) => {
      clearInterval(timer);
      socket.close();
      resolve(text);
    };
    const send = () => {
      if (tries++ === 5) return done('(no answer)');
      socket.send(message, port, host);
    };
    const timer = setInterval(send, 1_000);
    socket.on('message', (data) => done(data.toString()));
    socket.on('error', (err) => done(`(${err.message})`));
    send();
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

  readonly #window = new FaultWindow();

  faults(rate: number, seed: number): void {
    this.#window.mark(rate > 0, this.#proxy.calls.length);
    if (rate <= 0) this.#proxy.clearFaults();
    else this.#proxy.randomFaults({ rate, kinds: ['throttle', 'server-error', 'timeout'], random: seededRandom(seed), holdMs: 4_000 });
  }

  calls(): CallTally {
    return tally(this.#proxy.calls, this.#window.from, this.#window.to, (c) => c.injected);
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
        if (l.Protocol !== port.protocol) problems.push(`${svc.key}: listener ${l.Port} is ${l.Protocol}, the port ${port.protocol}`);
        const targets = (await targetsOf(elb, tgArn)).map((t) => t.split('@')[0]!);
        const want = svc.nodes.map((n) => `${n.address}:${port.nodePort}`);
        if (!sameSet(targets, want)) problems.push(`${svc.key}: port ${l.Port} targets ${targets.join(',')}, nodes ${want.join(',')}`);
        // externalTrafficPolicy Local: kube-proxy's healthCheckNodePort; Cluster: the traffic port, or for UDP
        // (a UDP NodePort cannot answer a TCP connect) kube-proxy's own health endpoint.
        const tg = a.targetGroups.find((t) => t.TargetGroupArn === tgArn);
        const check = `${tg?.HealthCheckProtocol} ${tg?.HealthCheckPort}${tg?.HealthCheckProtocol === 'TCP' ? '' : ` ${tg?.HealthCheckPath}`}`;
        const wantCheck = svc.healthCheckNodePort
          ? `HTTP ${svc.healthCheckNodePort} /healthz`
          : port.protocol === 'UDP'
            ? 'HTTP 10256 /healthz'
            : 'TCP traffic-port';
        if (check !== wantCheck) problems.push(`${svc.key}: port ${l.Port} health check ${check}, expected ${wantCheck}`);
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
    cloud.#arm = await startArm({ timeoutHoldMs: 4_000 });
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
        // The fake holds a 'timeout' for 4 s: the client gives up first, as against a stuck endpoint.
        requestTimeoutMs: 3_000,
        writesPerHour: 10_000_000,
        writeBurst: 10_000,
      },
    };
  }

  async node(n: number) {
    const address = `10.0.0.${4 + n}`;
    return { name: `node-${n}`, address, options: { addresses: [{ type: 'InternalIP' as const, address }] } };
  }

  readonly #window = new FaultWindow();

  faults(rate: number, seed: number): void {
    this.#window.mark(rate > 0, this.#arm.count());
    // Every request may fail, Azure-AsyncOperation and Location polls included.
    this.#arm.faults(rate <= 0 ? undefined : { rate, seed, kinds: ['throttle', 'server-error', 'unavailable', 'timeout'], all: true });
  }

  calls(): CallTally {
    return tally(this.#arm.calls(), this.#window.from, this.#window.to, (c) => c.fault);
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
      const internal = svc.annotations[AZURE_INTERNAL] === 'true';
      if (internal !== String(fe['lb']).startsWith(`${this.clusterName}-internal`))
        problems.push(`${svc.key}: its frontend is on ${String(fe['lb'])}, internal is ${internal}`);
      if (internal) {
        if (svc.address !== fe['privateIPAddress'])
          problems.push(`${svc.key}: status ${svc.address}, frontend ${String(fe['privateIPAddress'])}`);
      } else {
        const pip = this.#arm.publicIp(RG, `${this.clusterName}-${svc.lbName}`);
        if (!pip || svc.address !== pip.properties['ipAddress'])
          problems.push(`${svc.key}: status ${svc.address}, public IP ${String(pip?.properties['ipAddress'])}`);
      }
      const lb = lbs.find((l) => l.name === fe['lb'])!;
      const rules = ((lb.properties['loadBalancingRules'] ?? []) as Named[]).filter((r) => r.name.startsWith(`${svc.lbName}-`));
      const title = (protocol: string) => (protocol === 'UDP' ? 'Udp' : 'Tcp');
      if (
        !sameSet(
          rules.map((r) => `${r.properties['protocol']}/${r.properties['frontendPort']}`),
          svc.ports.map((p) => `${title(p.protocol)}/${p.port}`),
        )
      )
        problems.push(
          `${svc.key}: rules ${rules.map((r) => `${r.properties['protocol']}/${r.properties['frontendPort']}`).join(',')}, ports ${svc.ports.map((p) => `${p.protocol}/${p.port}`).join(',')}`,
        );
      // externalTrafficPolicy Local: HTTP /healthz on the healthCheckNodePort; Cluster: a TCP connect to
      // the nodePort, and no probe for UDP (a UDP NodePort cannot answer a TCP connect).
      const probes = (lb.properties['probes'] ?? []) as Named[];
      for (const rule of rules) {
        const probeId = (rule.properties['probe'] as { id?: string } | undefined)?.id;
        const probe = probeId ? probes.find((p) => probeId.endsWith(`/probes/${p.name}`)) : undefined;
        const got = probe
          ? `${probe.properties['protocol']} ${probe.properties['port']}${probe.properties['requestPath'] ? ` ${probe.properties['requestPath']}` : ''}`
          : 'none';
        const want = svc.healthCheckNodePort
          ? `Http ${svc.healthCheckNodePort} /healthz`
          : rule.properties['protocol'] === 'Udp'
            ? 'none'
            : `Tcp ${rule.properties['backendPort']}`;
        if (got !== want) problems.push(`${svc.key}: rule ${rule.name} probe ${got}, expected ${want}`);
      }
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
    cloud.#gce = await GceFake.start({ pageSize: 50, timeoutHoldMs: 4_000 });
    // NEG mode's regional TCP proxies need the region's proxy-only subnetwork.
    cloud.#gce.addSubnetwork('proxy-only', { ipCidrRange: '10.129.0.0/23', purpose: 'REGIONAL_MANAGED_PROXY', role: 'ACTIVE' });
    return cloud;
  }

  provider(): NonNullable<ConfigInput['provider']> {
    return {
      name: 'gcp',
      gcp: {
        ...this.#gce.providerConfig(),
        callsPerSecond: 1_000,
        retryBaseDelayMs: 50,
        retryMaxDelayMs: 1_000,
        // The fake holds a 'timeout' for 4 s: the client gives up first, as against a stuck endpoint.
        requestTimeoutMs: 3_000,
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

  readonly #window = new FaultWindow();

  faults(rate: number, seed: number): void {
    this.#window.mark(rate > 0, this.#gce.count());
    // Every request may fail, operation gets and waits included.
    this.#gce.faults(
      rate <= 0
        ? undefined
        : { rate, seed, kinds: ['rate-limit', 'too-many-requests', 'server-error', 'unavailable', 'timeout'], all: true },
    );
  }

  calls(): CallTally {
    return tally(this.#gce.calls(), this.#window.from, this.#window.to, (c) => c.fault);
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
    for (const svc of wanted)
      problems.push(...(svc.annotations[GCP_MODE] === 'neg' ? this.#negProblems(svc) : this.#passthroughProblems(svc)));
    return problems;
  }

  /** The forwarding rule, once it exists and carries the Service's address; else what is wrong goes to problems. */
  #forwardingRule(svc: WantedService, name: string, problems: string[]): GceWire | undefined {
    const rule = this.#gce.resource('forwardingRules', name);
    if (!rule) {
      problems.push(`${svc.key}: no forwarding rule ${name}`);
      return undefined;
    }
    if (svc.address !== rule['IPAddress'])
      problems.push(`${svc.key}: status ${svc.address}, forwarding rule ${name} ${String(rule['IPAddress'])}`);
    return rule;
  }

  /** A forwarding rule per protocol (the UDP one named lbName-udp beside TCP) into one target pool. */
  #passthroughProblems(svc: WantedService): string[] {
    const problems: string[] = [];
    const protocols = (['TCP', 'UDP'] as const).filter((proto) => svc.ports.some((p) => p.protocol === proto));
    for (const protocol of protocols) {
      const name = protocols.length > 1 && protocol === 'UDP' ? `${svc.lbName}-udp` : svc.lbName;
      const rule = this.#forwardingRule(svc, name, problems);
      if (!rule) continue;
      if (rule['IPProtocol'] !== protocol) problems.push(`${svc.key}: forwarding rule ${name} is ${String(rule['IPProtocol'])}`);
      const ports = svc.ports.filter((p) => p.protocol === protocol).map((p) => p.port);
      const range = `${Math.min(...ports)}-${Math.max(...ports)}`;
      if (rule['portRange'] !== range)
        problems.push(`${svc.key}: ${name} port range ${String(rule['portRange'])}, ports ${ports.join(',')}`);
    }
    const pool = this.#gce.resource('targetPools', svc.lbName);
    const instances = ((pool?.['instances'] as string[] | undefined) ?? []).map((u) => u.split('/').pop()!);
    if (
      !sameSet(
        instances,
        svc.nodes.map((n) => n.name),
      )
    )
      problems.push(`${svc.key}: target pool ${instances.join(',')}`);
    // externalTrafficPolicy Local: the Service's own check on its healthCheckNodePort; Cluster: the
    // cluster's shared check on kube-proxy (10256).
    const checkName = ((pool?.['healthChecks'] as string[] | undefined) ?? []).map((u) => u.split('/').pop()!)[0];
    const check = checkName ? this.#gce.resource('httpHealthChecks', checkName) : undefined;
    const got = check ? `${checkName} ${String(check['port'])}` : 'none';
    const want = svc.healthCheckNodePort ? `${svc.lbName} ${svc.healthCheckNodePort}` : `k8s-${this.clusterName}-node 10256`;
    if (got !== want) problems.push(`${svc.key}: target pool health check ${got}, expected ${want}`);
    return problems;
  }

  /** Per port: a forwarding rule on the Service's address into a TCP proxy, and NEGs of NodeIP:NodePort. */
  #negProblems(svc: WantedService): string[] {
    const problems: string[] = [];
    for (const p of svc.ports) {
      const name = `${svc.lbName}-${p.port}`;
      const rule = this.#forwardingRule(svc, name, problems);
      if (!rule) continue;
      if (rule['portRange'] !== `${p.port}-${p.port}`) problems.push(`${svc.key}: ${name} port range ${String(rule['portRange'])}`);
      const endpoints = this.#gce.zones.flatMap((zone) =>
        this.#gce.resource('networkEndpointGroups', name, zone)
          ? this.#gce.networkEndpoints(name, zone).map((e) => `${String(e['ipAddress'])}:${String(e['port'])}`)
          : [],
      );
      const want = svc.nodes.map((n) => `${n.address}:${p.nodePort}`);
      if (!sameSet(endpoints, want)) problems.push(`${svc.key}: NEG endpoints of ${name} ${endpoints.join(',')}, nodes ${want.join(',')}`);
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
