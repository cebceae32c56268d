// The service.beta.kubernetes.io/azure-* annotations users already write for cloud-provider-azure. Parsing is
// strict: a malformed value is an error naming the annotation; an azure-* annotation this provider does not
// implement is a Warning naming it, so nobody believes it took effect.

import { quote } from '../../error-message.ts';
import { canonicalIP, cleanCidrs, ipFamily } from '../../net/cidr.ts';
import { invalidService, type ProviderError } from '../provider.ts';

const PREFIX = 'service.beta.kubernetes.io/';

export const Annotations = {
  internal: `${PREFIX}azure-load-balancer-internal`,
  internalSubnet: `${PREFIX}azure-load-balancer-internal-subnet`,
  ipv4: `${PREFIX}azure-load-balancer-ipv4`,
  ipv6: `${PREFIX}azure-load-balancer-ipv6`,
  pipName: `${PREFIX}azure-pip-name`,
  resourceGroup: `${PREFIX}azure-load-balancer-resource-group`,
  dnsLabelName: `${PREFIX}azure-dns-label-name`,
  pipTags: `${PREFIX}azure-pip-tags`,
  probeProtocol: `${PREFIX}azure-load-balancer-health-probe-protocol`,
  probeRequestPath: `${PREFIX}azure-load-balancer-health-probe-request-path`,
  probeInterval: `${PREFIX}azure-load-balancer-health-probe-interval`,
  probeNumOfProbe: `${PREFIX}azure-load-balancer-health-probe-num-of-probe`,
  tcpIdleTimeout: `${PREFIX}azure-load-balancer-tcp-idle-timeout`,
  allowedServiceTags: `${PREFIX}azure-allowed-service-tags`,
  allowedIpRanges: `${PREFIX}azure-allowed-ip-ranges`,
  disableFloatingIp: `${PREFIX}azure-disable-load-balancer-floating-ip`,
} as const;

const KNOWN = new Set<string>(Object.values(Annotations));
/**
 * cloud-provider-azure's per-port keys (port_{port}_health-probe_protocol, _port, _interval, _num-of-probe,
 * _request-path; port_{port}_no_lb_rule, port_{port}_no_probe_rule) do not start with "azure-", so the
 * check above would let them pass silently.
 */
const PER_PORT = /^service\.beta\.kubernetes\.io\/port_\d+_/;

export type ProbeProtocol = 'Tcp' | 'Http' | 'Https';

export interface ProbeOverrides {
  protocol?: ProbeProtocol;
  requestPath?: string;
  intervalInSeconds?: number;
  /** cloud-provider-azure's num-of-probe, which it writes as the probe's probeThreshold. */
  probeThreshold?: number;
}

export interface AzureServiceOptions {
  internal: boolean;
  internalSubnet?: string;
  /** A requested IPv4 address (the annotation wins over spec.loadBalancerIP). */
  ipv4?: string;
  pipName?: string;
  /** Resource group of a user's public IP (azure-pip-name, a requested address). */
  pipResourceGroup?: string;
  dnsLabelName?: string;
  pipTags: Record<string, string>;
  probe: ProbeOverrides;
  idleTimeoutInMinutes?: number;
  allowedServiceTags: string[];
  allowedIpRanges: string[];
}

export interface AnnotationWarning {
  reason: string;
  message: string;
}

export interface ParsedAnnotations {
  options: AzureServiceOptions;
  warnings: AnnotationWarning[];
}

function bad(annotation: string, value: string, expected: string): ProviderError {
  return invalidService(`annotation ${annotation}: ${quote(value)} is not valid, expected ${expected}`);
}

function parseBoolean(annotation: string, value: string): boolean {
  const v = value.trim().toLowerCase();
  if (v === 'true') return true;
  if (v === 'false') return false;
  throw bad(annotation, value, '"true" or "false"');
}

function parseInteger(annotation: string, value: string, min: number, max: number): number {
  const v = value.trim();
  if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max) throw bad(annotation, value, `an integer from ${min} to ${max}`);
  return Number(v);
}

function parseList(annotation: string, value: string): string[] {
  const items = value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (items.length === 0) throw bad(annotation, value, 'a comma-separated list');
  return items;
}

// Azure resource names: letters, digits, underscores, periods and hyphens, ending in a letter, digit or underscore.
const RESOURCE_NAME = /^[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,78}[A-Za-z0-9_])?$/;
const RESOURCE_GROUP = /^[-\w.()]{0,89}[-\w()]$/;
// Azure's domain name label: 3-63 lower-case letters, digits and hyphens, starting with a letter.
const DNS_LABEL = /^[a-z][a-z0-9-]{1,61}[a-z0-9]$/;
// Service tags look like "Internet", "AzureCloud", "Storage.WestUS", "AzureFrontDoor.Backend".
const SERVICE_TAG = /^[A-Za-z][A-Za-z0-9]*(\.[A-Za-z0-9]+)*$/;

function parseName(annotation: string, value: string, pattern: RegExp, expected: string): string {
  const v = value.trim();
  if (!pattern.test(v)) throw bad(annotation, value, expected);
  return v;
}

/** cloud-provider-azure owns these tag keys on a public IP; a Service may not set them. */
export const RESERVED_PIP_TAGS = ['k8s-azure-service', 'k8s-azure-cluster-name', 'service', 'kubernetes-cluster-name'];

function parsePipTags(value: string): Record<string, string> {
  const annotation = Annotations.pipTags;
  const tags: Record<string, string> = {};
  for (const item of parseList(annotation, value)) {
    const eq = item.indexOf('=');
    if (eq <= 0) throw bad(annotation, value, 'comma-separated key=value pairs');
    const key = item.slice(0, eq).trim();
    const tagValue = item.slice(eq + 1).trim();
    if (key.length > 512 || tagValue.length > 256 || /[<>%&\\?/]/.test(key)) {
      throw bad(annotation, value, 'tag keys of at most 512 characters without <>%&\\?/ and values of at most 256');
    }
    if (RESERVED_PIP_TAGS.includes(key.toLowerCase()))
      throw invalidService(`annotation ${annotation}: tag key ${quote(key)} is reserved for ownership tags`);
    tags[key] = tagValue;
  }
  return tags;
}

function parseProbe(a: Record<string, string>): ProbeOverrides {
  const probe: ProbeOverrides = {};
  const protocol = a[Annotations.probeProtocol];
  if (protocol !== undefined) {
    const v = protocol.trim().toLowerCase();
    if (v !== 'tcp' && v !== 'http' && v !== 'https') throw bad(Annotations.probeProtocol, protocol, 'Tcp, Http or Https');
    probe.protocol = v === 'tcp' ? 'Tcp' : v === 'http' ? 'Http' : 'Https';
  }
  const path = a[Annotations.probeRequestPath];
  if (path !== undefined) {
    if (!/^\/\S{0,1023}$/.test(path.trim())) throw bad(Annotations.probeRequestPath, path, 'a path starting with "/"');
    probe.requestPath = path.trim();
  }
  const interval = a[Annotations.probeInterval];
  if (interval !== undefined) probe.intervalInSeconds = parseInteger(Annotations.probeInterval, interval, 5, 2147483647);
  const count = a[Annotations.probeNumOfProbe];
  if (count !== undefined) probe.probeThreshold = parseInteger(Annotations.probeNumOfProbe, count, 2, 2147483647);
  // Azure refuses probes whose interval times count reaches two minutes.
  const total = (probe.intervalInSeconds ?? PROBE_DEFAULTS.intervalInSeconds) * (probe.probeThreshold ?? PROBE_DEFAULTS.probeThreshold);
  if (total >= 120) {
    throw invalidService(
      `annotations ${Annotations.probeInterval} × ${Annotations.probeNumOfProbe} must stay below 120 seconds (got ${total})`,
    );
  }
  return probe;
}

/** cloud-provider-azure's defaults: every 5 seconds, out after 2 failures. */
export const PROBE_DEFAULTS = { intervalInSeconds: 5, probeThreshold: 2 };

/** Reads and validates the Azure annotations of a Service; throws invalidService naming the annotation. */
export function parseAzureAnnotations(a: Record<string, string>): ParsedAnnotations {
  const warnings: AnnotationWarning[] = [];
  const internal = a[Annotations.internal];
  const pipTags = a[Annotations.pipTags];
  const options: AzureServiceOptions = {
    internal: internal !== undefined ? parseBoolean(Annotations.internal, internal) : false,
    pipTags: pipTags !== undefined ? parsePipTags(pipTags) : {},
    probe: parseProbe(a),
    allowedServiceTags: [],
    allowedIpRanges: [],
  };
  const subnet = a[Annotations.internalSubnet];
  if (subnet !== undefined) {
    options.internalSubnet = parseName(Annotations.internalSubnet, subnet, RESOURCE_NAME, 'a subnet name');
    if (!options.internal) throw invalidService(`annotation ${Annotations.internalSubnet} needs ${Annotations.internal}: "true"`);
  }
  const ipv4 = a[Annotations.ipv4];
  if (ipv4 !== undefined) {
    const ip = canonicalIP(ipv4.trim());
    if (!ip || ipFamily(ip) !== 'IPv4') throw bad(Annotations.ipv4, ipv4, 'an IPv4 address');
    options.ipv4 = ip;
  }
  if (a[Annotations.ipv6] !== undefined) {
    throw invalidService(
      `annotation ${Annotations.ipv6}: IPv6 frontends are not supported by this provider (IPv4 only); remove the annotation`,
    );
  }
  const pipName = a[Annotations.pipName];
  if (pipName !== undefined) {
    if (options.internal) throw invalidService(`annotation ${Annotations.pipName} is for public Services; this one is internal`);
    options.pipName = parseName(Annotations.pipName, pipName, RESOURCE_NAME, 'a public IP name');
  }
  const rg = a[Annotations.resourceGroup];
  if (rg !== undefined) options.pipResourceGroup = parseName(Annotations.resourceGroup, rg, RESOURCE_GROUP, 'a resource group name');
  const dns = a[Annotations.dnsLabelName];
  if (dns !== undefined && dns.trim() !== '') {
    if (options.internal) throw invalidService(`annotation ${Annotations.dnsLabelName} is for public Services; this one is internal`);
    options.dnsLabelName = parseName(
      Annotations.dnsLabelName,
      dns,
      DNS_LABEL,
      'a DNS label (3-63 lower-case letters, digits, hyphens; a letter first)',
    );
  }
  const idle = a[Annotations.tcpIdleTimeout];
  if (idle !== undefined) options.idleTimeoutInMinutes = parseInteger(Annotations.tcpIdleTimeout, idle, 4, 100);
  const tags = a[Annotations.allowedServiceTags];
  if (tags !== undefined) {
    options.allowedServiceTags = parseList(Annotations.allowedServiceTags, tags);
    if (options.allowedServiceTags.some((t) => !SERVICE_TAG.test(t)))
      throw bad(Annotations.allowedServiceTags, tags, 'comma-separated Azure service tags (e.g. "AzureFrontDoor.Backend")');
  }
  const ranges = a[Annotations.allowedIpRanges];
  if (ranges !== undefined) {
    const clean = cleanCidrs(ranges.split(','));
    if (clean.invalid.length > 0 || clean.ranges.length === 0) throw bad(Annotations.allowedIpRanges, ranges, 'comma-separated CIDRs');
    if (clean.ranges.some((r) => r.includes(':')))
      throw invalidService(`annotation ${Annotations.allowedIpRanges}: IPv6 ranges are not supported (IPv4 only)`);
    options.allowedIpRanges = clean.ranges;
  }
  const floating = a[Annotations.disableFloatingIp];
  if (floating !== undefined && !parseBoolean(Annotations.disableFloatingIp, floating)) {
    warnings.push({
      reason: 'FloatingIPUnsupported',
      message: `annotation ${Annotations.disableFloatingIp}: "false" is ignored: rules target NodePorts on the nodes, which floating IP (delivery to the frontend address) cannot reach`,
    });
  }
  for (const key of Object.keys(a).sort()) {
    if (key.startsWith(`${PREFIX}azure-`) && !KNOWN.has(key)) {
      warnings.push({
        reason: 'UnsupportedAnnotation',
        message: `annotation ${key} is not supported by this controller and has no effect`,
      });
    } else if (PER_PORT.test(key)) {
      warnings.push({
        reason: 'UnsupportedAnnotation',
        message: `annotation ${key} is not supported by this controller and has no effect: per-port probe and rule settings are not implemented; the ${Annotations.probeProtocol.slice(PREFIX.length)}, -request-path, -interval and -num-of-probe annotations apply to every port`,
      });
    }
  }
  return { options, warnings };
}
