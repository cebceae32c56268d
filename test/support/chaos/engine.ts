// The chaos run: a real control plane, two controller replicas with leader election, one cloud; seeded
// random Service and Node operations while the leader is SIGKILLed, the API server restarted and cloud
// calls fail; then convergence, judged from the cloud's state and the API, never the controller's view.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { V1Lease, V1Node, V1Service } from '@kubernetes/client-node';
import { LB_FINALIZER } from '../../../src/controller/predicates.ts';
import type { ConfigInput } from '../../../src/config/schema.ts';
import { KubeClient } from '../../../src/kube/client.ts';
import { defaultLoadBalancerName } from '../../../src/providers/provider.ts';
import { startControlPlane, type ControlPlane } from '../../harness/control-plane.ts';
import { seededRandom } from '../../fakes/azure-arm/faults.ts';
import { shippedRbacKubeconfig } from '../shipped-rbac.ts';
import {
  AZURE_INTERNAL,
  type CallTally,
  GCP_MODE,
  startCloud,
  type ChaosCloud,
  type ChaosProviderName,
  type WantedService,
} from './clouds.ts';
import { Replicas } from './replicas.ts';

export interface ChaosOptions {
  provider: ChaosProviderName;
  seed: number;
  operations: number;
  /** 'continuous': the leader is killed 5-20 s after each failover completes, as long as operations run. */
  failovers: number | 'continuous';
  apiServerRestarts: number;
  /** Share of cloud calls that fail (throttling, 5xx, timeouts or slow operations). */
  faultRate: number;
  /** How long convergence may take after the last fault before the run fails. */
  convergeTimeoutMs: number;
  log?: (line: string) => void;
  /** Keep the replicas' logs (and the control plane's directory) even when the run passes. */
  keepLogs?: boolean;
  /** The replicas' log level; default info. */
  logLevel?: 'debug' | 'info';
}

export interface ChaosReport {
  provider: ChaosProviderName;
  seed: number;
  operations: Record<string, number>;
  /** Operations the API server refused (a NodePort another Service took meanwhile, ...). */
  refused: number;
  /** Counted where the calls arrived (the fault proxy or the fake), polls included. */
  cloudCalls: CallTally;
  /** SIGKILL of the leader to the new leader's Lease acquisition, per failover. */
  failoverMs: number[];
  apiServerRestarts: number;
  /** Replica exits nobody caused directly (lost leases while the API server was down). */
  replicaExits: number;
  /** From the last fault to the first check that found nothing wrong; undefined if it never converged. */
  convergeMs: number | undefined;
  problems: string[];
  duplicateCreates: string[];
  /** What the last check covered: Services with a load balancer, and how many of them had each feature. */
  checked: { services: number; nodes: number; udp: number; etpLocal: number; azureInternal: number; gcpNeg: number };
  logDir: string | undefined;
}

const NS = 'default';
const LEASE = 'service-lb-controller';
const OTHER_CLASS = 'chaos.example/other';
const SHARE_KEY = 'service-lb-controller.io/allow-shared-ip';
const EXCLUDE = 'node.kubernetes.io/exclude-from-external-load-balancers';

type OpKind =
  | 'create'
  | 'delete'
  | 'port'
  | 'nodePort'
  | 'type'
  | 'class'
  | 'annotation'
  | 'traffic-policy'
  | 'node-add'
  | 'node-remove'
  | 'node-exclude';

interface ModelService {
  name: string;
  loadBalancer: boolean;
  ours: boolean;
  ports: number;
  /** When it last became a LoadBalancer Service of this controller: its address is kept from then on. */
  wantedSince: number;
}

interface ModelNode {
  n: number;
  name: string;
  excluded: boolean;
}

interface Observation {
  at: number;
  address: string | undefined;
}

class ApiError extends Error {
  readonly status: number;

  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

const statusOf = (err: unknown) => (err as { status?: number; code?: number }).status ?? (err as { code?: number }).code ?? 0;

/**
 * Retries through an API server outage and conflicts; refusals (4xx but 409/429) are the caller's. A
 * create whose answer was lost in an outage meets its own object on the retry: `done` says it is there.
 */
async function withRetry<T>(what: string, fn: () => Promise<T>, done: (status: number) => boolean = () => false): Promise<T | undefined> {
  const deadline = Date.now() + 180_000;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      const status = statusOf(err);
      if (done(status)) return undefined;
      if (status >= 400 && status < 500 && status !== 409 && status !== 429) throw new ApiError(status, (err as Error).message);
      if (Date.now() > deadline) throw new Error(`${what}: ${(err as Error).message}`);
      await sleep(500);
    }
  }
}

export async function runChaos(options: ChaosOptions): Promise<ChaosReport> {
  const log = options.log ?? (() => undefined);
  // Operations draw from their own generator, so that the sequence does not depend on the faults' timing.
  const random = seededRandom(options.seed);
  const faultRandom = seededRandom(options.seed ^ 0x5eed);
  const between = (lo: number, hi: number, from = random) => lo + Math.floor(from() * (hi - lo + 1));
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const logDir = mkdtempSync(join(tmpdir(), `slc-chaos-${options.provider}-`));
  const report: ChaosReport = {
    provider: options.provider,
    seed: options.seed,
    operations: {},
    refused: 0,
    cloudCalls: { total: 0, window: 0, failed: {} },
    failoverMs: [],
    apiServerRestarts: 0,
    replicaExits: 0,
    convergeMs: undefined,
    problems: [],
    duplicateCreates: [],
    checked: { services: 0, nodes: 0, udp: 0, etpLocal: 0, azureInternal: 0, gcpNeg: 0 },
    logDir: options.keepLogs ? logDir : undefined,
  };

  let plane: ControlPlane | undefined;
  let cloud: ChaosCloud | undefined;
  let replicas: Replicas | undefined;
  let client: KubeClient | undefined;
  try {
    [plane, cloud] = await Promise.all([startControlPlane({ keepDir: options.keepLogs }), startCloud(options.provider)]);
    const kube = new KubeClient(plane.kubeConfig, () => undefined, { requestTimeoutMs: 10_000 });
    client = kube;
    const api = plane;
    const theCloud = cloud;

    // ---- the model: what the runner has asked for, so that operations are a pure function of the seed ----
    const services: ModelService[] = [];
    const nodes: ModelNode[] = [];
    let serviceCount = 0;
    let nodeCount = 0;
    let nextPort = 20_000;
    const observations = new Map<string, Observation[]>();

    const addNode = async () => {
      const node = await theCloud.node(nodeCount++);
      await withRetry(
        `create node ${node.name}`,
        () => api.createNode(node.name, node.options),
        (status) => status === 409,
      );
      nodes.push({ n: nodeCount - 1, name: node.name, excluded: false });
    };
    for (let i = 0; i < 3; i++) await addNode();

    const config: ConfigInput = {
      clusterName: theCloud.clusterName,
      provider: theCloud.provider(),
      controller: { workers: 4, resyncPeriod: '30s', backoff: { initial: '500ms', max: '10s' }, garbageCollection: { period: '20s' } },
      // The default lease timings (15 s, 10 s, 2 s): the failover bar is stated for them.
      leaderElection: { enabled: true, namespace: 'kube-system', leaseName: LEASE },
      server: { metricsAddress: '127.0.0.1:0', healthAddress: '127.0.0.1:0' },
      logging: { level: options.logLevel ?? 'info' },
    };
    // The replicas run as deployed: with the ServiceAccount and RBAC of deploy/base, not as admin.
    replicas = new Replicas(await shippedRbacKubeconfig(plane), config, theCloud.replicaExtras, logDir);
    replicas.start();
    const reps = replicas;
    theCloud.faults(options.faultRate, options.seed);
    log(`${options.provider}: seed ${options.seed}, logs in ${logDir}`);

    const servicePath = (name = '') => `/api/v1/namespaces/${NS}/services${name ? `/${name}` : ''}`;
    const live = () => services;
    // The final check must judge something: the first KEPT Services that are ours with a load balancer are
    // never deleted, nor taken out of type LoadBalancer or our class (every other operation still hits them).
    const KEPT = 3;
    const removable = () => {
      const kept = new Set(services.filter((s) => s.loadBalancer && s.ours).slice(0, KEPT));
      return services.filter((s) => !kept.has(s));
    };
    // Likewise one eligible node is never removed or excluded, so that the final check sends traffic to nodes.
    const spareNodes = () => {
      const eligible = nodes.filter((n) => !n.excluded);
      return nodes.filter((n) => n.excluded || eligible.length > 1);
    };

    /** One operation, chosen by the seed from what the model allows; returns its kind. */
    async function operate(): Promise<OpKind> {
      // Creates outweigh deletes enough that a few dozen Services are left for the final check to judge.
      const choices: Array<[OpKind, number]> = [
        ['create', services.length < 40 ? 3 : 0],
        ['traffic-policy', services.some((s) => s.loadBalancer) ? 1 : 0],
        ['delete', removable().length > 0 ? 1 : 0],
        ['port', services.some((s) => s.loadBalancer) ? 2 : 0],
        ['nodePort', services.some((s) => s.loadBalancer) ? 1 : 0],
        ['type', removable().length > 0 ? 1.5 : 0],
        ['class', removable().length > 0 ? 1 : 0],
        ['annotation', services.length > 0 ? 1.5 : 0],
        ['node-add', nodes.length < 6 ? 1 : 0],
        ['node-remove', nodes.length > 1 && spareNodes().length > 0 ? 0.7 : 0],
        ['node-exclude', spareNodes().length > 0 ? 1 : 0],
      ];
      const total = choices.reduce((s, [, w]) => s + w, 0);
      let r = random() * total;
      const kind = choices.find(([, w]) => (r -= w) < 0)?.[0] ?? 'create';
      const anyService = () => pick(live());
      const removableService = () => pick(removable());
      const lbService = () => pick(live().filter((s) => s.loadBalancer));
      switch (kind) {
        case 'create': {
          const name = `svc-${serviceCount++}`;
          const ports = random() < 0.3 ? 2 : 1;
          const ours = random() < 0.9;
          const shared = options.provider === 'local' && random() < 0.3;
          const annotations: Record<string, string> = shared ? { [SHARE_KEY]: 'chaos' } : {};
          if (options.provider === 'azure' && random() < 0.3) annotations[AZURE_INTERNAL] = 'true';
          // NEG mode serves TCP only (UDP ports get a Warning and nothing), so its Services have no UDP.
          const neg = options.provider === 'gcp' && random() < 0.3;
          if (neg) annotations[GCP_MODE] = 'neg';
          const protocols = Array.from({ length: ports }, () => (!neg && random() < 0.25 ? 'UDP' : 'TCP'));
          const local = random() < 0.2;
          const svc: ModelService = { name, loadBalancer: true, ours, ports, wantedSince: Date.now() };
          services.push(svc);
          await withRetry(
            `create ${name}`,
            () =>
              kube.request('POST', servicePath(), {
                apiVersion: 'v1',
                kind: 'Service',
                metadata: { name, namespace: NS, annotations },
                spec: {
                  type: 'LoadBalancer',
                  selector: { app: name },
                  ...(ours ? {} : { loadBalancerClass: OTHER_CLASS }),
                  ...(local ? { externalTrafficPolicy: 'Local' } : {}),
                  ports: protocols.map((protocol, i) => ({ name: `p${i}`, port: nextPort++, targetPort: 8080, protocol })),
                },
              }),
            (status) => status === 409,
          );
          return kind;
        }
        case 'delete': {
          const svc = removableService();
          services.splice(services.indexOf(svc), 1);
          await withRetry(`delete ${svc.name}`, () => kube.request('DELETE', servicePath(svc.name)));
          return kind;
        }
        case 'port': {
          // Every port number is used once in a run, so shared addresses never see overlapping ports.
          const svc = lbService();
          const at = between(0, svc.ports - 1);
          await withRetry(`port of ${svc.name}`, () =>
            kube.request('PATCH', servicePath(svc.name), [{ op: 'replace', path: `/spec/ports/${at}/port`, value: nextPort++ }], 'json'),
          );
          return kind;
        }
        case 'nodePort': {
          const svc = lbService();
          const value = between(30_000, 32_767);
          await withRetry(`nodePort of ${svc.name}`, () =>
            kube.request('PATCH', servicePath(svc.name), [{ op: 'replace', path: '/spec/ports/0/nodePort', value }], 'json'),
          );
          return kind;
        }
        case 'type': {
          const svc = removableService();
          svc.loadBalancer = !svc.loadBalancer;
          const spec = svc.loadBalancer
            ? { type: 'LoadBalancer', loadBalancerClass: svc.ours ? null : OTHER_CLASS }
            : { type: 'ClusterIP', loadBalancerClass: null };
          if (svc.loadBalancer && svc.ours) svc.wantedSince = Date.now();
          await withRetry(`type of ${svc.name}`, () => kube.request('PATCH', servicePath(svc.name), { spec }, 'merge'));
          return kind;
        }
        case 'class': {
          // spec.loadBalancerClass cannot change on a LoadBalancer Service: through ClusterIP, as a user must.
          const svc = removableService();
          svc.ours = !svc.ours;
          if (svc.loadBalancer)
            await withRetry(`type of ${svc.name}`, () =>
              kube.request('PATCH', servicePath(svc.name), { spec: { type: 'ClusterIP', loadBalancerClass: null } }, 'merge'),
            );
          svc.loadBalancer = true;
          if (svc.ours) svc.wantedSince = Date.now();
          await withRetry(`class of ${svc.name}`, () =>
            kube.request(
              'PATCH',
              servicePath(svc.name),
              { spec: { type: 'LoadBalancer', loadBalancerClass: svc.ours ? null : OTHER_CLASS } },
              'merge',
            ),
          );
          return kind;
        }
        case 'traffic-policy': {
          // Local <-> Cluster: the API server allocates (or releases) the healthCheckNodePort.
          const svc = lbService();
          const now = await withRetry(`read ${svc.name}`, () => kube.request<V1Service>('GET', servicePath(svc.name)));
          const value = now?.spec?.externalTrafficPolicy === 'Local' ? 'Cluster' : 'Local';
          await withRetry(`traffic policy of ${svc.name}`, () =>
            kube.request('PATCH', servicePath(svc.name), { spec: { externalTrafficPolicy: value } }, 'merge'),
          );
          return kind;
        }
        case 'annotation': {
          const svc = anyService();
          const value = String(between(0, 1_000_000));
          await withRetry(`annotation of ${svc.name}`, () =>
            kube.request('PATCH', servicePath(svc.name), { metadata: { annotations: { 'chaos.example/revision': value } } }, 'merge'),
          );
          return kind;
        }
        case 'node-add':
          await addNode();
          return kind;
        case 'node-remove': {
          const node = pick(spareNodes());
          nodes.splice(nodes.indexOf(node), 1);
          await withRetry(`delete node ${node.name}`, () => api.deleteNode(node.name));
          return kind;
        }
        case 'node-exclude': {
          const node = pick(spareNodes());
          node.excluded = !node.excluded;
          await withRetry(`label node ${node.name}`, () =>
            api.patchNode(node.name, { metadata: { labels: { [EXCLUDE]: node.excluded ? 'true' : null } } }),
          );
          return kind;
        }
      }
    }

    // ---- observation: every address each Service showed, to prove that survivors kept theirs ----
    let observing = true;
    const observer = (async () => {
      while (observing) {
        const at = Date.now();
        try {
          const list = await kube.request<{ items: V1Service[] }>('GET', servicePath());
          for (const s of list.items) {
            const address = s.status?.loadBalancer?.ingress?.[0]?.ip ?? s.status?.loadBalancer?.ingress?.[0]?.hostname;
            const seen = observations.get(s.metadata!.name!) ?? [];
            seen.push({ at, address });
            observations.set(s.metadata!.name!, seen);
          }
        } catch {
          // The API server is down: nothing to observe.
        }
        await sleep(1_000);
      }
    })();

    // ---- faults on the controller: leader kills and API server restarts, one at a time ----
    const readLease = async () => {
      try {
        return await kube.request<V1Lease>('GET', `/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/${LEASE}`);
      } catch {
        return undefined;
      }
    };
    const waitForLeader = async (timeoutMs: number) => {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        const leader = await reps.leader();
        if (leader) return leader;
        await sleep(250);
      }
      return undefined;
    };

    async function failover(): Promise<void> {
      // A failover needs a standby: one still starting (after an exit on a lost lease) would be timed too.
      const readyBy = Date.now() + 180_000;
      while (!(await reps.allReady()) && Date.now() < readyBy) await sleep(250);
      const leader = await waitForLeader(120_000);
      const holder = (await readLease())?.spec?.holderIdentity;
      if (!leader || !holder) throw new Error(`no leader to kill (see ${logDir})`);
      const killedAt = Date.now();
      leader.kill();
      for (;;) {
        const lease = await readLease();
        const next = lease?.spec?.holderIdentity;
        if (next && next !== holder && lease?.spec?.acquireTime) {
          const ms = new Date(lease.spec.acquireTime as unknown as string).getTime() - killedAt;
          report.failoverMs.push(ms);
          log(`${options.provider}: failover ${report.failoverMs.length}: ${(ms / 1000).toFixed(1)} s`);
          return;
        }
        if (Date.now() - killedAt > 180_000) throw new Error(`no new leader within 180 s of the kill (see ${logDir})`);
        await sleep(100);
      }
    }

    async function restartApiServer(): Promise<void> {
      const downMs = between(3_000, 8_000, faultRandom);
      await api.stopApiServer();
      await sleep(downMs);
      await api.startApiServer();
      report.apiServerRestarts += 1;
      log(`${options.provider}: API server restart ${report.apiServerRestarts} (down ${downMs} ms)`);
    }

    let opsDone = 0;
    let opsRunning = true;
    const chaos = (async () => {
      await waitForLeader(180_000);
      const restartAt = Array.from({ length: options.apiServerRestarts }, (_, k) =>
        Math.floor((options.operations * (k + 1)) / (options.apiServerRestarts + 1)),
      );
      let nextKillAt = Date.now() + between(5_000, 20_000, faultRandom);
      const killsLeft = () => (options.failovers === 'continuous' ? opsRunning : report.failoverMs.length < options.failovers);
      while (restartAt.length > 0 || killsLeft()) {
        if (restartAt.length > 0 && opsDone >= restartAt[0]!) {
          restartAt.shift();
          await restartApiServer();
          nextKillAt = Math.max(nextKillAt, Date.now() + 5_000);
        } else if (killsLeft() && Date.now() >= nextKillAt) {
          await failover();
          nextKillAt = Date.now() + between(5_000, 20_000, faultRandom);
        } else {
          await sleep(100);
        }
      }
    })();

    if (!(await waitForLeader(180_000))) throw new Error(`no replica became leader within 180 s (see ${logDir})`);
    const started = Date.now();
    for (; opsDone < options.operations; opsDone++) {
      let kind: OpKind;
      try {
        kind = await operate();
      } catch (err) {
        if (!(err instanceof ApiError)) throw err;
        report.refused += 1;
        continue;
      }
      report.operations[kind] = (report.operations[kind] ?? 0) + 1;
      await sleep(between(100, 700));
    }
    opsRunning = false;
    log(`${options.provider}: ${options.operations} operations in ${((Date.now() - started) / 1000).toFixed(0)} s`);
    await chaos;
    theCloud.faults(0, 0);
    const lastFault = Date.now();

    // ---- convergence, judged from the API and the cloud ----
    async function problems(): Promise<string[]> {
      const list = await kube.request<{ items: V1Service[] }>('GET', servicePath());
      const nodeList = await kube.request<{ items: V1Node[] }>('GET', '/api/v1/nodes');
      const eligible = nodeList.items
        .filter((n) => !n.metadata?.deletionTimestamp)
        .filter((n) => n.metadata?.labels?.[EXCLUDE] === undefined)
        .filter((n) => !(n.spec?.taints ?? []).some((t) => t.key === 'ToBeDeletedByClusterAutoscaler'))
        .map((n) => ({ name: n.metadata!.name!, address: n.status?.addresses?.find((a) => a.type === 'InternalIP')?.address ?? '' }));
      const found: string[] = [];
      const wanted: WantedService[] = [];
      const modelNames = new Set(services.map((s) => s.name));
      for (const s of list.items) {
        const name = s.metadata!.name!;
        const key = `${NS}/${name}`;
        if (name === 'kubernetes') continue;
        const address = s.status?.loadBalancer?.ingress?.[0]?.ip ?? s.status?.loadBalancer?.ingress?.[0]?.hostname;
        const finalizer = (s.metadata?.finalizers ?? []).includes(LB_FINALIZER);
        if (s.metadata?.deletionTimestamp) {
          found.push(`${key}: deleted but still there (finalizers ${JSON.stringify(s.metadata.finalizers)})`);
          continue;
        }
        if (!modelNames.has(name)) found.push(`${key}: exists, but the run deleted it`);
        const isWanted = s.spec?.type === 'LoadBalancer' && !s.spec.loadBalancerClass;
        if (!isWanted) {
          if (finalizer) found.push(`${key}: ${s.spec?.type} ${s.spec?.loadBalancerClass ?? ''} still has the finalizer`);
          if (address) found.push(`${key}: ${s.spec?.type} ${s.spec?.loadBalancerClass ?? ''} still has the address ${address}`);
          continue;
        }
        if (!finalizer) found.push(`${key}: no finalizer`);
        wanted.push({
          key,
          uid: s.metadata!.uid!,
          lbName: defaultLoadBalancerName(s.metadata!.uid!),
          address,
          ports: (s.spec?.ports ?? []).map((p) => ({ port: p.port, protocol: p.protocol ?? 'TCP', nodePort: p.nodePort ?? 0 })),
          nodes: eligible,
          annotations: s.metadata?.annotations ?? {},
          healthCheckNodePort: s.spec?.externalTrafficPolicy === 'Local' ? s.spec.healthCheckNodePort : undefined,
        });
      }
      for (const name of modelNames)
        if (!list.items.some((s) => s.metadata?.name === name)) found.push(`${NS}/${name}: missing from the API`);
      report.checked = {
        services: wanted.length,
        nodes: eligible.length,
        udp: wanted.filter((w) => w.ports.some((p) => p.protocol === 'UDP')).length,
        etpLocal: wanted.filter((w) => w.healthCheckNodePort !== undefined).length,
        azureInternal: wanted.filter((w) => w.annotations[AZURE_INTERNAL] === 'true').length,
        gcpNeg: wanted.filter((w) => w.annotations[GCP_MODE] === 'neg').length,
      };
      // One address, one Service, unless every holder asked to share it.
      const byAddress = new Map<string, V1Service[]>();
      for (const s of list.items) {
        const address = s.status?.loadBalancer?.ingress?.[0]?.ip ?? s.status?.loadBalancer?.ingress?.[0]?.hostname;
        if (address) byAddress.set(address, [...(byAddress.get(address) ?? []), s]);
      }
      for (const [address, holders] of byAddress)
        if (holders.length > 1 && !holders.every((h) => h.metadata?.annotations?.[SHARE_KEY] === 'chaos'))
          found.push(`${address} is held by ${holders.map((h) => h.metadata!.name).join(', ')}, which did not all ask to share`);
      return [...found, ...(await theCloud.problems(wanted))];
    }

    let last: string[] = ['not checked yet'];
    const convergeDeadline = lastFault + options.convergeTimeoutMs;
    while (Date.now() < convergeDeadline) {
      try {
        last = await problems();
      } catch (err) {
        last = [`check failed: ${(err as Error).message}`];
      }
      if (last.length === 0) {
        report.convergeMs = Date.now() - lastFault;
        break;
      }
      await sleep(2_000);
    }
    log(
      report.convergeMs === undefined
        ? `${options.provider}: did not converge within ${options.convergeTimeoutMs / 1000} s`
        : `${options.provider}: converged ${(report.convergeMs / 1000).toFixed(1)} s after the last fault`,
    );
    observing = false;
    await observer;

    // Survivors kept their addresses: one address from the first one shown since it became ours.
    if (report.convergeMs !== undefined) {
      last = await problems();
      const final = await kube.request<{ items: V1Service[] }>('GET', servicePath());
      for (const svc of services.filter((s) => s.loadBalancer && s.ours)) {
        const now = final.items.find((s) => s.metadata?.name === svc.name);
        const address = now?.status?.loadBalancer?.ingress?.[0]?.ip ?? now?.status?.loadBalancer?.ingress?.[0]?.hostname;
        const shown = new Set((observations.get(svc.name) ?? []).filter((o) => o.at > svc.wantedSince && o.address).map((o) => o.address!));
        if (address) shown.add(address);
        if (shown.size > 1) last.push(`${NS}/${svc.name}: its address changed: ${[...shown].join(' -> ')}`);
      }
    }
    report.problems = last;
    report.duplicateCreates = theCloud.duplicateCreates();
    report.cloudCalls = theCloud.calls();
    report.replicaExits = reps.unexpectedExits;
    // A failed run keeps the replicas' logs whatever was asked, for whoever has to read them.
    if (report.convergeMs === undefined || report.problems.length > 0 || report.duplicateCreates.length > 0) report.logDir = logDir;
    return report;
  } finally {
    await replicas?.stop();
    await client?.close();
    await cloud?.stop();
    await plane?.stop();
    if (!report.logDir) rmSync(logDir, { recursive: true, force: true });
  }
}

/** Cloud calls that failed while faults were on. */
export function cloudFaults(r: ChaosReport): number {
  return Object.values(r.cloudCalls.failed).reduce((a, b) => a + b, 0);
}

/** The report as lines for people. */
export function formatReport(r: ChaosReport): string {
  const ops = Object.entries(r.operations)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
  const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
  const failed = cloudFaults(r);
  const kinds = Object.entries(r.cloudCalls.failed)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
  const share = r.cloudCalls.window ? ` (${((100 * failed) / r.cloudCalls.window).toFixed(1)}%${kinds ? `: ${kinds}` : ''})` : '';
  return [
    `provider ${r.provider}, seed ${r.seed} (replay: CHAOS_SEED=${r.seed})`,
    `  operations: ${Object.values(r.operations).reduce((a, b) => a + b, 0)} (${ops}); refused by the API server: ${r.refused}`,
    `  faults: ${r.failoverMs.length} leader kills, ${r.apiServerRestarts} API server restarts; replica exits on lost leases: ${r.replicaExits}`,
    `  cloud calls: ${r.cloudCalls.window} while faults were on, ${failed} of them failed${share}; ${r.cloudCalls.total} in all`,
    `  failovers (SIGKILL to the new leader's Lease): ${r.failoverMs.map(secs).join(', ') || 'none'}${r.failoverMs.length ? `; max ${secs(Math.max(...r.failoverMs))}` : ''}`,
    `  converged: ${r.convergeMs === undefined ? 'NO' : `${secs(r.convergeMs)} after the last fault`}`,
    `  checked at the end: ${r.checked.services} Services with a load balancer, ${r.checked.nodes} eligible nodes; with UDP ports ${r.checked.udp}, externalTrafficPolicy Local ${r.checked.etpLocal}${r.provider === 'azure' ? `, internal ${r.checked.azureInternal}` : ''}${r.provider === 'gcp' ? `, mode neg ${r.checked.gcpNeg}` : ''}`,
    `  duplicate creates: ${r.duplicateCreates.length}${r.duplicateCreates.length ? ` (${r.duplicateCreates.join('; ')})` : ''}`,
    `  problems: ${r.problems.length}${r.problems.map((p) => `\n    - ${p}`).join('')}`,
    ...(r.logDir ? [`  logs: ${r.logDir}`] : []),
  ].join('\n');
}
