// The service.beta.kubernetes.io/aws-load-balancer-* annotations users already write for the official
// provider. Parsing is strict: a value we do not understand is an error that names the annotation (shown
// as a Warning event), never a silent default.

import { invalidService, type ProviderError } from '../provider.ts';
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
} as const;

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
}

function bad(annotation: string, value: string, expected: string): ProviderError {
  return invalidService(`annotation ${annotation}: ${JSON.stringify(value)} is not valid, expected ${expected}`);
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
      throw invalidService(`annotation ${annotation}: tag key "${key}" is reserved for ownership tags`);
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
        `annotation ${annotation}: unknown target group attribute "${key}" (known: ${Object.keys(TARGET_GROUP_ATTRIBUTES).join(', ')})`,
      );
    }
    if (!valid(attrValue)) throw invalidService(`annotation ${annotation}: ${JSON.stringify(attrValue)} is not a valid value for "${key}"`);
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
        `annotations ${Annotations.scheme} and ${Annotations.internal} disagree (${scheme} vs internal=${internalValue})`,
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
    hc.port = port.trim() === 'traffic-port' ? 'traffic-port' : String(parseInteger(Annotations.healthCheckPort, port, 1, 65535));
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
  };
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
