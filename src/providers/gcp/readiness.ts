// The GCP provider's readiness: the credentials work, and the configured region, network, subnetwork and proxy-only subnetwork exist.
import type { protos } from '@google-cloud/compute';
import type { GcpApi } from './api.ts';
import type { GcpProviderConfig } from './config.ts';
import { isNotFound, toProviderError } from './errors.ts';

type Subnetwork = protos.google.cloud.compute.v1.ISubnetwork;
type Where = Pick<GcpProviderConfig, 'project' | 'region' | 'network' | 'subnetwork' | 'mode' | 'proxySubnet'>;

/** Whether a subnetwork's `network` link (a full or partial URL) names the configured network. */
function inNetwork(subnet: Subnetwork, config: Pick<Where, 'project' | 'network'>): boolean {
  return (subnet.network ?? '').endsWith(`projects/${config.project}/global/networks/${config.network}`);
}

/**
 * Why a subnetwork cannot be mode neg's proxy-only subnetwork, or undefined when it can: the regional
 * external proxy load balancer's Envoys take their addresses from the region's ACTIVE REGIONAL_MANAGED_PROXY
 * subnetwork of the network, so the NodePort firewall must open to exactly that range.
 */
export function proxySubnetProblem(subnet: Subnetwork, config: Pick<Where, 'project' | 'network'>): string | undefined {
  const name = `provider.gcp.proxySubnet "${subnet.name ?? ''}"`;
  if (subnet.purpose !== 'REGIONAL_MANAGED_PROXY')
    return `${name} is not a proxy-only subnetwork (purpose is ${subnet.purpose ?? 'unset'}, need REGIONAL_MANAGED_PROXY)`;
  if (subnet.role !== 'ACTIVE')
    return `${name} is not the region's active proxy-only subnetwork (role is ${subnet.role ?? 'unset'}, need ACTIVE)`;
  if (!inNetwork(subnet, config)) return `${name} is in network ${subnet.network}, not provider.gcp.network "${config.network}"`;
  return undefined;
}

/** The subnetwork, or undefined when Compute says it does not exist. */
async function readSubnetwork(api: GcpApi, region: string, name: string): Promise<Subnetwork | undefined> {
  try {
    const [subnet] = await api.call('subnetworks.get', (o) =>
      api.clients.subnetworks.get({ project: api.project, region, subnetwork: name }, o),
    );
    return subnet;
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

/** One check's problems; a failed read is a problem naming what was read and the config field behind it. */
async function problemsOf(reading: string, check: () => Promise<string[]>): Promise<string[]> {
  try {
    return await check();
  } catch (err) {
    return [toProviderError(err, `reading ${reading}`).message];
  }
}

/**
 * Empty when the provider can work; else each problem, naming the config field to fix. The region is read
 * first: refused credentials, a wrong project or endpoint, or an unknown region would fail every other read
 * the same way. Then the network, the subnetwork (when set) and the proxy-only subnetwork (when mode neg is
 * the default, or proxySubnet is set so Services may ask for it) in parallel.
 */
export async function readinessProblems(api: GcpApi, config: Where): Promise<string[]> {
  const { project, region, network } = config;
  try {
    await api.call('regions.get', (o) => api.clients.regions.get({ project, region }, o));
  } catch (err) {
    const where = `region ${region} (provider.gcp.region) of project ${project} (provider.gcp.project)`;
    if (isNotFound(err)) return [toProviderError(err, `${where} not found`).message];
    return [
      toProviderError(err, `reading ${where}; check the credentials (Application Default Credentials) and provider.gcp.apiEndpoint`)
        .message,
    ];
  }
  const checks: Array<Promise<string[]>> = [
    problemsOf(`network "${network}" (provider.gcp.network)`, async () => {
      try {
        await api.call('networks.get', (o) => api.clients.networks.get({ project, network }, o));
        return [];
      } catch (err) {
        if (isNotFound(err)) return [`network "${network}" (provider.gcp.network) not found in project ${project}`];
        throw err;
      }
    }),
  ];
  const subnetwork = config.subnetwork;
  if (subnetwork) {
    checks.push(
      problemsOf(`subnetwork "${subnetwork}" (provider.gcp.subnetwork)`, async () => {
        const subnet = await readSubnetwork(api, region, subnetwork);
        if (!subnet) return [`subnetwork "${subnetwork}" (provider.gcp.subnetwork) not found in region ${region}`];
        if (!inNetwork(subnet, config))
          return [
            `subnetwork "${subnetwork}" (provider.gcp.subnetwork) is in network ${subnet.network}, not provider.gcp.network "${network}"`,
          ];
        return [];
      }),
    );
  }
  const proxySubnet = config.proxySubnet;
  if (proxySubnet) {
    checks.push(
      problemsOf(`proxy-only subnetwork "${proxySubnet}" (provider.gcp.proxySubnet)`, async () => {
        const subnet = await readSubnetwork(api, region, proxySubnet);
        if (!subnet)
          return [
            `proxy-only subnetwork "${proxySubnet}" (provider.gcp.proxySubnet) not found in region ${region}; mode neg needs one (purpose REGIONAL_MANAGED_PROXY, role ACTIVE)`,
          ];
        const problem = proxySubnetProblem(subnet, config);
        return problem ? [problem] : [];
      }),
    );
  } else if (config.mode === 'neg') {
    checks.push(
      Promise.resolve([
        `provider.gcp.mode is neg but provider.gcp.proxySubnet is not set: name the region's proxy-only subnetwork (purpose REGIONAL_MANAGED_PROXY, role ACTIVE)`,
      ]),
    );
  }
  return (await Promise.all(checks)).flat();
}
