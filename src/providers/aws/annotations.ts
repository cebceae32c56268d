// The service.beta.kubernetes.io/aws-load-balancer-* annotations users already write for the official
// provider. Parsing is strict: a value we do not understand is an error that names the annotation (shown
// as a Warning event), never a silent default.

import { quote } from '../../error-message.ts';
import { invalidService, type ProviderError } from '../provider.ts';
import { ipFamily } from '../../net/cidr.ts';
import type { HealthCheckProtocol, Scheme } from './model.ts';

export const ANNOTATION_PREFIX = 'service.beta.kubernetes.io/';

export const Annotations = {
  scheme: `${ANNOTATION_PREFIX}aws-load-balancer-scheme`,
  internal: `${ANNOTATION_PREFIX}aws-load-balancer-internal`,
  subnets: `${ANNOTATION_PREFIX}aws-load-balancer-subnets`,
  eipAllocations: `${ANNOTATION_PREFIX}aws-load-balancer-eip-allocations`,
  crossZone: `${ANNOTATION_PREFIX}aws-load-balancer-cross-zone-load-balancing-enabled`,
  additionalTags: `${ANNOTATION_PREFIX}aws-load-balancer-additional-resource-tags`,
  targetGroupAttributes: `${ANNOTATION_PREFIX}aws-load-balancer-target-group-attributes`,
  proxyProtocol: `${ANNOTATION_PREFIX}aws-load-balancer-proxy-protocol`,
  healthCheckProtocol: `${ANNOTATION_PREFIX}aws-load-balancer-healthcheck-protocol`,
  healthCheckPort: `${ANNOTATION_PREFIX}aws-load-balancer-healthcheck-port`,
  healthCheckPath: `${ANNOTATION_PREFIX}aws-load-balancer-healthcheck-path`,
  healthCheckInterval: `${ANNOTATION_PREFIX}aws-load-balancer-healthcheck-interval`,
  healthCheckTimeout: `${ANNOTATION_PREFIX}aws-load-balancer-healthcheck-timeout`,
  healthCheckHealthyThreshold: `${ANNOTATION_PREFIX}aws-load-balancer-healthcheck-healthy-threshold`,
  healthCheckUnhealthyThreshold: `${ANNOTATION_PREFIX}aws-load-balancer-healthcheck-unhealthy-threshold`,
  healthCheckSuccessCodes: `${ANNOTATION_PREFIX}aws-load-balancer-healthcheck-success-codes`,
  type: `${ANNOTATION_PREFIX}aws-load-balancer-type`,
  name: `${ANNOTATION_PREFIX}aws-load-balancer-name`,
  targetType: `${ANNOTATION_PREFIX}aws-load-balancer-nlb-target-type`,
  targetNodeLabels: `${ANNOTATION_PREFIX}aws-load-balancer-target-node-labels`,
  sslCert: `${ANNOTATION_PREFIX}aws-load-balancer-ssl-cert`,
  sslPorts: `${ANNOTATION_PREFIX}aws-load-balancer-ssl-ports`,
  sslPolicy: `${ANNOTATION_PREFIX}aws-load-balancer-ssl-negotiation-policy`,
  backendProtocol: `${ANNOTATION_PREFIX}aws-load-balancer-backend-protocol`,
  alpnPolicy: `${ANNOTATION_PREFIX}aws-load-balancer-alpn-policy`,
  securityGroups: `${ANNOTATION_PREFIX}aws-load-balancer-security-groups`,
  manageBackendRules: `${ANNOTATION_PREFIX}aws-load-balancer-manage-backend-security-group-rules`,
  privateIpv4Addresses: `${ANNOTATION_PREFIX}aws-load-balancer-private-ipv4-addresses`,
  ipAddressType: `${ANNOTATION_PREFIX}aws-load-balancer-ip-address-type`,
  accessLogEnabled: `${ANNOTATION_PREFIX}aws-load-balancer-access-log-enabled`,
  accessLogEmitInterval: `${ANNOTATION_PREFIX}aws-load-balancer-access-log-emit-interval`,
  accessLogBucket: `${ANNOTATION_PREFIX}aws-load-balancer-access-log-s3-bucket-name`,
  accessLogPrefix: `${ANNOTATION_PREFIX}aws-load-balancer-access-log-s3-bucket-prefix`,
  attributes: `${ANNOTATION_PREFIX}aws-load-balancer-attributes`,
} as const;

/** Every annotation of this family starts with this; keys under it that we do not read get a Warning. */
export const AWS_ANNOTATION_PREFIX = `${ANNOTATION_PREFIX}aws-load-balancer-`;

const KNOWN_KEYS: ReadonlySet<string> = new Set(Object.values(Annotations));

/** "nlb" (or none) is ours; "external" and "nlb-ip" belong to the AWS Load Balancer Controller. */
export type LoadBalancerType = 'nlb' | 'external' | 'nlb-ip';
export type TargetType = 'ip' | 'instance';
export type IpAddressType = 'ipv4' | 'dualstack';

export const ALPN_POLICIES = ['HTTP1Only', 'HTTP2Only', 'HTTP2Optional', 'HTTP2Preferred', 'None'] as const;
export type AlpnPolicy = (typeof ALPN_POLICIES)[number];

/** The AWS Load Balancer Controller's default, written explicitly so that a hand edit is seen as drift. */
export const DEFAULT_SSL_POLICY = 'ELBSecurityPolicy-2016-08';

export interface TlsOptions {
  /** ACM (or IAM) certificate ARNs; the first is the listener's default. */
  certificates: string[];
  /** Service port names or numbers; undefined = every port. */
  ports?: string[];
  sslPolicy: string;
  alpnPolicy: AlpnPolicy;
  /** backend-protocol "ssl": the NLB talks TLS to the targets too (TLS target groups). */
  backendTls: boolean;
}

export interface HealthCheckOverrides {
  protocol?: HealthCheckProtocol;
  port?: string;
  path?: string;
  intervalSeconds?: number;
  timeoutSeconds?: number;
  healthyThreshold?: number;
  unhealthyThreshold?: number;
  matcher?: string;
}

export interface AwsServiceOptions {
  scheme?: Scheme;
  /** Subnet IDs or Name tags. */
  subnets?: string[];
  eipAllocations?: string[];
  crossZone?: boolean;
  additionalTags: Record<string, string>;
  targetGroupAttributes: Record<string, string>;
  proxyProtocol: boolean;
  healthCheck: HealthCheckOverrides;
  type: LoadBalancerType;
  /** aws-load-balancer-name: the NLB's name instead of the default a<uid>. */
  name?: string;
  targetType: TargetType;
  /** Only nodes with all these labels are targets; an empty value asks for the key with any value. */
  targetNodeLabels?: Record<string, string>;
  tls?: TlsOptions;
  /** IDs or Name tags of security groups to attach instead of creating one. */
  securityGroups?: string[];
  /** Open the nodes' security groups to the load balancer; undefined = the config's default. */
  manageBackendRules?: boolean;
  privateIpv4Addresses?: string[];
  ipAddressType: IpAddressType;
  /** Load balancer attributes from aws-load-balancer-attributes and the access-log-* annotations. */
  loadBalancerAttributes: Record<string, string>;
  /** Keys under aws-load-balancer-* this provider does not read. */
  unsupported: string[];
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
  const items = value.split(',').map((s) => s.trim());
  if (items.some((s) => s === '')) throw bad(annotation, value, 'a comma-separated list without empty items');
  return items;
}

function parseKeyValues(annotation: string, value: string): Array<[string, string]> {
  return parseList(annotation, value).map((item) => {
    const eq = item.indexOf('=');
    if (eq <= 0) throw bad(annotation, value, 'comma-separated key=value pairs');
    return [item.slice(0, eq).trim(), item.slice(eq + 1).trim()];
  });
}

const RESERVED_TAG_PREFIXES = ['kubernetes.io/cluster/', 'kubernetes.io/service-name', 'kubernetes.io/service-uid', 'aws:'];

function parseTags(value: string): Record<string, string> {
  const annotation = Annotations.additionalTags;
  const tags: Record<string, string> = {};
  for (const [key, tagValue] of parseKeyValues(annotation, value)) {
    if (key.length > 128 || tagValue.length > 256)
      throw bad(annotation, value, 'tag keys of at most 128 and values of at most 256 characters');
    if (RESERVED_TAG_PREFIXES.some((p) => key.startsWith(p))) {
      throw invalidService(`annotation ${annotation}: tag key ${quote(key)} is reserved for ownership tags`);
    }
    tags[key] = tagValue;
  }
  return tags;
}

const bool = (v: string): boolean => v === 'true' || v === 'false';
const intIn =
  (min: number, max: number) =>
  (v: string): boolean =>
    /^\d+$/.test(v) && Number(v) >= min && Number(v) <= max;
const offOr =
  (check: (v: string) => boolean) =>
  (v: string): boolean =>
    v === 'off' || check(v);

/** Load balancer attributes a Network Load Balancer accepts, with what each value may be. */
const LOAD_BALANCER_ATTRIBUTES: Record<string, (value: string) => boolean> = {
  'deletion_protection.enabled': bool,
  'load_balancing.cross_zone.enabled': bool,
  'access_logs.s3.enabled': bool,
  'access_logs.s3.bucket': (v) => /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(v),
  'access_logs.s3.prefix': (v) => v.length <= 1024,
  'dns_record.client_routing_policy': (v) =>
    ['availability_zone_affinity', 'partial_availability_zone_affinity', 'any_availability_zone'].includes(v),
  'ipv6.deny_all_igw_traffic': bool,
  'zonal_shift.config.enabled': bool,
};

function parseLoadBalancerAttributes(annotations: Record<string, string>): Record<string, string> {
  const attributes: Record<string, string> = {};
  const value = annotations[Annotations.attributes];
  if (value !== undefined) {
    for (const [key, attrValue] of parseKeyValues(Annotations.attributes, value)) {
      const valid = LOAD_BALANCER_ATTRIBUTES[key];
      if (!valid) {
        throw invalidService(
          `annotation ${Annotations.attributes}: unknown load balancer attribute ${quote(key)} (known: ${Object.keys(LOAD_BALANCER_ATTRIBUTES).join(', ')})`,
        );
      }
      if (!valid(attrValue))
        throw invalidService(`annotation ${Annotations.attributes}: ${quote(attrValue)} is not a valid value for "${key}"`);
      attributes[key] = attrValue;
    }
  }
  // The older one-attribute annotations win a tie, as in the AWS Load Balancer Controller.
  const enabled = annotations[Annotations.accessLogEnabled];
  if (enabled !== undefined) attributes['access_logs.s3.enabled'] = String(parseBoolean(Annotations.accessLogEnabled, enabled));
  const bucket = annotations[Annotations.accessLogBucket];
  if (bucket !== undefined) {
    if (!LOAD_BALANCER_ATTRIBUTES['access_logs.s3.bucket']!(bucket.trim()))
      throw bad(Annotations.accessLogBucket, bucket, 'an S3 bucket name');
    attributes['access_logs.s3.bucket'] = bucket.trim();
  }
  const prefix = annotations[Annotations.accessLogPrefix];
  if (prefix !== undefined) {
    if (!LOAD_BALANCER_ATTRIBUTES['access_logs.s3.prefix']!(prefix.trim()))
      throw bad(Annotations.accessLogPrefix, prefix, 'an S3 key prefix of at most 1024 characters');
    attributes['access_logs.s3.prefix'] = prefix.trim();
  }
  // NLBs publish their logs every 5 minutes whatever is asked; the value is still checked, as upstream's.
  const interval = annotations[Annotations.accessLogEmitInterval];
  if (interval !== undefined && !['5', '60'].includes(interval.trim())) throw bad(Annotations.accessLogEmitInterval, interval, '5 or 60');
  if (attributes['access_logs.s3.enabled'] === 'true' && !attributes['access_logs.s3.bucket']) {
    throw invalidService(`annotation ${Annotations.accessLogEnabled}: access logs need a bucket (${Annotations.accessLogBucket})`);
  }
  return attributes;
}

function parseTls(annotations: Record<string, string>): TlsOptions | undefined {
  const certs = annotations[Annotations.sslCert];
  const ports = annotations[Annotations.sslPorts];
  const policy = annotations[Annotations.sslPolicy];
  const alpn = annotations[Annotations.alpnPolicy];
  const backend = annotations[Annotations.backendProtocol];
  let backendTls = false;
  if (backend !== undefined) {
    const v = backend.trim().toLowerCase();
    if (v !== 'ssl' && v !== 'tcp') throw bad(Annotations.backendProtocol, backend, '"ssl" or "tcp" (an NLB has no HTTP listeners)');
    backendTls = v === 'ssl';
  }
  if (certs === undefined) {
    for (const key of [Annotations.sslPorts, Annotations.sslPolicy, Annotations.alpnPolicy]) {
      if (annotations[key] !== undefined)
        throw invalidService(`annotation ${key} needs TLS listeners, so a certificate in ${Annotations.sslCert}`);
    }
    if (backendTls)
      throw invalidService(
        `annotation ${Annotations.backendProtocol}: "ssl" needs TLS listeners, so a certificate in ${Annotations.sslCert}`,
      );
    return undefined;
  }
  const certificates = parseList(Annotations.sslCert, certs);
  if (certificates.some((c) => !/^arn:aws[a-z-]*:(acm|iam):/.test(c)))
    throw bad(Annotations.sslCert, certs, 'comma-separated ACM or IAM certificate ARNs');
  let alpnPolicy: AlpnPolicy = 'None';
  if (alpn !== undefined) {
    const found = ALPN_POLICIES.find((p) => p.toLowerCase() === alpn.trim().toLowerCase());
    if (!found) throw bad(Annotations.alpnPolicy, alpn, ALPN_POLICIES.join(', '));
    alpnPolicy = found;
  }
  let sslPolicy = DEFAULT_SSL_POLICY;
  if (policy !== undefined) {
    if (!/^[A-Za-z0-9-]{1,128}$/.test(policy.trim()))
      throw bad(Annotations.sslPolicy, policy, 'a security policy name like ELBSecurityPolicy-TLS13-1-2-2021-06');
    sslPolicy = policy.trim();
  }
  const tls: TlsOptions = { certificates, sslPolicy, alpnPolicy, backendTls };
  if (ports !== undefined) tls.ports = parseList(Annotations.sslPorts, ports);
  return tls;
}

const LABEL_NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const LABEL_PREFIX = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

function isLabelKey(key: string): boolean {
  const slash = key.indexOf('/');
  if (slash < 0) return LABEL_NAME.test(key);
  const prefix = key.slice(0, slash);
  return prefix.length <= 253 && LABEL_PREFIX.test(prefix) && LABEL_NAME.test(key.slice(slash + 1));
}

/**
 * "k=v,k2=v2" as cloud-provider-aws reads it: "k" and "k=" ask for the key with any value. Keys and values
 * must be valid label keys and values, since any other would silently match no node.
 */
function parseNodeLabels(value: string): Record<string, string> {
  const annotation = Annotations.targetNodeLabels;
  const labels: Record<string, string> = {};
  for (const item of parseList(annotation, value)) {
    const eq = item.indexOf('=');
    const key = (eq < 0 ? item : item.slice(0, eq)).trim();
    const labelValue = eq < 0 ? '' : item.slice(eq + 1).trim();
    const expected = 'expected comma-separated node labels (key=value, or key for any value)';
    if (!isLabelKey(key)) throw invalidService(`annotation ${annotation}: ${quote(key)} is not a label key; ${expected}`);
    if (labelValue !== '' && !LABEL_NAME.test(labelValue))
      throw invalidService(`annotation ${annotation}: ${quote(labelValue)} is not a label value; ${expected}`);
    labels[key] = labelValue;
  }
  return labels;
}

/** Target group attributes a Network Load Balancer accepts, with what each value may be. */
const TARGET_GROUP_ATTRIBUTES: Record<string, (value: string) => boolean> = {
  'deregistration_delay.timeout_seconds': intIn(0, 3600),
  'deregistration_delay.connection_termination.enabled': bool,
  'preserve_client_ip.enabled': bool,
  'proxy_protocol_v2.enabled': bool,
  'stickiness.enabled': bool,
  'stickiness.type': (v) => v === 'source_ip',
  'load_balancing.cross_zone.enabled': (v) => bool(v) || v === 'use_load_balancer_configuration',
  'target_health_state.unhealthy.connection_termination.enabled': bool,
  'target_health_state.unhealthy.draining_interval_seconds': intIn(0, 360000),
  'target_group_health.dns_failover.minimum_healthy_targets.count': offOr(intIn(1, 1_000_000)),
  'target_group_health.dns_failover.minimum_healthy_targets.percentage': offOr(intIn(1, 100)),
  'target_group_health.unhealthy_state_routing.minimum_healthy_targets.count': intIn(1, 1_000_000),
  'target_group_health.unhealthy_state_routing.minimum_healthy_targets.percentage': offOr(intIn(1, 100)),
};

function parseTargetGroupAttributes(value: string): Record<string, string> {
  const annotation = Annotations.targetGroupAttributes;
  const attributes: Record<string, string> = {};
  for (const [key, attrValue] of parseKeyValues(annotation, value)) {
    const valid = TARGET_GROUP_ATTRIBUTES[key];
    if (!valid) {
      throw invalidService(
        `annotation ${annotation}: unknown target group attribute ${quote(key)} (known: ${Object.keys(TARGET_GROUP_ATTRIBUTES).join(', ')})`,
      );
    }
    if (!valid(attrValue)) throw invalidService(`annotation ${annotation}: ${quote(attrValue)} is not a valid value for "${key}"`);
    attributes[key] = attrValue;
  }
  return attributes;
}

function parseScheme(annotations: Record<string, string>): Scheme | undefined {
  const schemeValue = annotations[Annotations.scheme];
  const internalValue = annotations[Annotations.internal];
  let scheme: Scheme | undefined;
  if (schemeValue !== undefined) {
    const v = schemeValue.trim().toLowerCase();
    if (v !== 'internet-facing' && v !== 'internal') throw bad(Annotations.scheme, schemeValue, '"internet-facing" or "internal"');
    scheme = v;
  }
  if (internalValue !== undefined) {
    // "0.0.0.0/0" is the value the official provider's early docs used for "true".
    const internal = internalValue.trim() === '0.0.0.0/0' ? true : parseBoolean(Annotations.internal, internalValue);
    const fromInternal: Scheme = internal ? 'internal' : 'internet-facing';
    if (scheme !== undefined && scheme !== fromInternal) {
      throw invalidService(
        `annotations ${Annotations.scheme} and ${Annotations.internal} disagree (${scheme} vs internal=${quote(internalValue)})`,
      );
    }
    scheme = fromInternal;
  }
  return scheme;
}

function parseHealthCheck(annotations: Record<string, string>): HealthCheckOverrides {
  const hc: HealthCheckOverrides = {};
  const protocol = annotations[Annotations.healthCheckProtocol];
  if (protocol !== undefined) {
    const v = protocol.trim().toUpperCase();
    if (v !== 'TCP' && v !== 'HTTP' && v !== 'HTTPS') throw bad(Annotations.healthCheckProtocol, protocol, 'TCP, HTTP or HTTPS');
    hc.protocol = v;
  }
  const port = annotations[Annotations.healthCheckPort];
  if (port !== undefined) {
    const v = port.trim();
    // A name is a Service port's, resolved to its nodePort once the ports are known (desired.ts).
    if (v === 'traffic-port' || /^(?=.*[a-z])[a-z0-9]([-a-z0-9]{0,13}[a-z0-9])?$/.test(v)) hc.port = v;
    else hc.port = String(parseInteger(Annotations.healthCheckPort, port, 1, 65535));
  }
  const path = annotations[Annotations.healthCheckPath];
  if (path !== undefined) {
    if (!/^\/\S{0,1023}$/.test(path.trim())) throw bad(Annotations.healthCheckPath, path, 'a path starting with "/"');
    hc.path = path.trim();
  }
  const interval = annotations[Annotations.healthCheckInterval];
  if (interval !== undefined) hc.intervalSeconds = parseInteger(Annotations.healthCheckInterval, interval, 5, 300);
  const timeout = annotations[Annotations.healthCheckTimeout];
  if (timeout !== undefined) hc.timeoutSeconds = parseInteger(Annotations.healthCheckTimeout, timeout, 2, 120);
  const healthy = annotations[Annotations.healthCheckHealthyThreshold];
  if (healthy !== undefined) hc.healthyThreshold = parseInteger(Annotations.healthCheckHealthyThreshold, healthy, 2, 10);
  const unhealthy = annotations[Annotations.healthCheckUnhealthyThreshold];
  if (unhealthy !== undefined) hc.unhealthyThreshold = parseInteger(Annotations.healthCheckUnhealthyThreshold, unhealthy, 2, 10);
  const codes = annotations[Annotations.healthCheckSuccessCodes];
  if (codes !== undefined) {
    if (!/^[1-5]\d\d(-[1-5]\d\d)?(,[1-5]\d\d(-[1-5]\d\d)?)*$/.test(codes.trim())) {
      throw bad(Annotations.healthCheckSuccessCodes, codes, 'HTTP codes like "200" or "200-399" or "200,202"');
    }
    hc.matcher = codes.trim();
  }
  return hc;
}

/** Reads and validates the AWS annotations of a Service; throws invalidService naming the annotation. */
export function parseAwsAnnotations(annotations: Record<string, string>): AwsServiceOptions {
  const options: AwsServiceOptions = {
    additionalTags: {},
    targetGroupAttributes: {},
    proxyProtocol: false,
    healthCheck: parseHealthCheck(annotations),
    type: 'nlb',
    targetType: 'ip',
    ipAddressType: 'ipv4',
    loadBalancerAttributes: parseLoadBalancerAttributes(annotations),
    unsupported: Object.keys(annotations)
      .filter((k) => k.startsWith(AWS_ANNOTATION_PREFIX) && !KNOWN_KEYS.has(k))
      .sort(),
  };
  const type = annotations[Annotations.type];
  if (type !== undefined) {
    const v = type.trim().toLowerCase();
    if (v !== 'nlb' && v !== 'external' && v !== 'nlb-ip') throw bad(Annotations.type, type, '"nlb", "external" or "nlb-ip"');
    options.type = v;
  }
  const name = annotations[Annotations.name];
  if (name !== undefined) {
    const v = name.trim();
    if (!/^[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,30}[a-zA-Z0-9])?$/.test(v) || v.startsWith('internal-')) {
      throw bad(Annotations.name, name, '1-32 letters, digits or hyphens, not starting or ending with a hyphen nor with "internal-"');
    }
    options.name = v;
  }
  const targetType = annotations[Annotations.targetType];
  if (targetType !== undefined) {
    const v = targetType.trim().toLowerCase();
    if (v !== 'ip' && v !== 'instance') throw bad(Annotations.targetType, targetType, '"ip" or "instance"');
    options.targetType = v;
  }
  const labels = annotations[Annotations.targetNodeLabels];
  if (labels !== undefined) options.targetNodeLabels = parseNodeLabels(labels);
  const tls = parseTls(annotations);
  if (tls) options.tls = tls;
  const sgs = annotations[Annotations.securityGroups];
  if (sgs !== undefined) options.securityGroups = parseList(Annotations.securityGroups, sgs);
  const manage = annotations[Annotations.manageBackendRules];
  if (manage !== undefined) options.manageBackendRules = parseBoolean(Annotations.manageBackendRules, manage);
  const ipType = annotations[Annotations.ipAddressType];
  if (ipType !== undefined) {
    const v = ipType.trim().toLowerCase();
    if (v !== 'ipv4' && v !== 'dualstack') throw bad(Annotations.ipAddressType, ipType, '"ipv4" or "dualstack"');
    options.ipAddressType = v;
  }
  const privateIps = annotations[Annotations.privateIpv4Addresses];
  if (privateIps !== undefined) {
    const list = parseList(Annotations.privateIpv4Addresses, privateIps);
    if (list.some((ip) => ipFamily(ip) !== 'IPv4'))
      throw bad(Annotations.privateIpv4Addresses, privateIps, 'comma-separated IPv4 addresses');
    options.privateIpv4Addresses = list;
  }
  const scheme = parseScheme(annotations);
  if (scheme !== undefined) options.scheme = scheme;

  const subnets = annotations[Annotations.subnets];
  if (subnets !== undefined) options.subnets = parseList(Annotations.subnets, subnets);

  const eips = annotations[Annotations.eipAllocations];
  if (eips !== undefined) {
    const list = parseList(Annotations.eipAllocations, eips);
    const wrong = list.find((id) => !/^eipalloc-[0-9a-f]+$/.test(id));
    if (wrong !== undefined) throw bad(Annotations.eipAllocations, eips, 'comma-separated EIP allocation IDs (eipalloc-...)');
    options.eipAllocations = list;
  }

  const crossZone = annotations[Annotations.crossZone];
  if (crossZone !== undefined) options.crossZone = parseBoolean(Annotations.crossZone, crossZone);

  const tags = annotations[Annotations.additionalTags];
  if (tags !== undefined) options.additionalTags = parseTags(tags);

  const attributes = annotations[Annotations.targetGroupAttributes];
  if (attributes !== undefined) options.targetGroupAttributes = parseTargetGroupAttributes(attributes);

  const proxy = annotations[Annotations.proxyProtocol];
  if (proxy !== undefined) {
    if (proxy.trim() !== '*') throw bad(Annotations.proxyProtocol, proxy, '"*" (every port)');
    options.proxyProtocol = true;
  }
  return options;
}
