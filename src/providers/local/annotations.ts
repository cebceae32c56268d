// The Service annotations the local provider understands, validated into plain values.
import { quote } from '../../error-message.ts';
import type { IPFamily } from '../provider.ts';
import { formatIP, parseIP } from './ip.ts';

export const ADDRESS_POOL_ANNOTATION = 'service-lb-controller.io/address-pool';
export const SHARED_IP_ANNOTATION = 'service-lb-controller.io/allow-shared-ip';
export const LOAD_BALANCER_IPS_ANNOTATION = 'service-lb-controller.io/load-balancer-ips';

export interface AddressOptions {
  pool: string | undefined;
  sharingKey: string | undefined;
  /** Canonical addresses, at most one per family. */
  requestedIPs: { family: IPFamily; ip: string }[];
}

export type Parsed<T> = { ok: true; value: T } | { ok: false; message: string };

function parseRequested(texts: string[], source: string): Parsed<{ family: IPFamily; ip: string }[]> {
  const out: { family: IPFamily; ip: string }[] = [];
  for (const text of texts) {
    const ip = parseIP(text);
    if (!ip) return { ok: false, message: `${source}: ${quote(text)} is not an IP address` };
    if (out.some((r) => r.family === ip.family)) return { ok: false, message: `${source}: more than one ${ip.family} address` };
    out.push({ family: ip.family, ip: formatIP(ip) });
  }
  return { ok: true, value: out };
}

/**
 * Reads the address annotations and spec.loadBalancerIP (handed over as `specIPs`). The annotation can
 * name one address per family; when both are set they must agree.
 */
export function parseAddressOptions(annotations: Record<string, string>, specIPs: string[]): Parsed<AddressOptions> {
  const poolText = annotations[ADDRESS_POOL_ANNOTATION];
  if (poolText !== undefined && poolText.trim() === '') return { ok: false, message: `annotation ${ADDRESS_POOL_ANNOTATION} is empty` };
  const keyText = annotations[SHARED_IP_ANNOTATION];
  if (keyText !== undefined && keyText.trim() === '') return { ok: false, message: `annotation ${SHARED_IP_ANNOTATION} is empty` };

  const spec = parseRequested(
    specIPs.filter((ip) => ip !== ''),
    'spec.loadBalancerIP',
  );
  if (!spec.ok) return spec;
  const annotationText = annotations[LOAD_BALANCER_IPS_ANNOTATION];
  let requested = spec.value;
  if (annotationText !== undefined) {
    const parts = annotationText.split(',').map((part) => part.trim());
    if (parts.some((part) => part === '') || parts.length > 2) {
      return {
        ok: false,
        message: `annotation ${LOAD_BALANCER_IPS_ANNOTATION}: expected one address, or two of different families, separated by a comma`,
      };
    }
    const fromAnnotation = parseRequested(parts, `annotation ${LOAD_BALANCER_IPS_ANNOTATION}`);
    if (!fromAnnotation.ok) return fromAnnotation;
    for (const s of spec.value) {
      const same = fromAnnotation.value.find((a) => a.family === s.family);
      if (!same || same.ip !== s.ip) {
        return { ok: false, message: `spec.loadBalancerIP ${s.ip} disagrees with annotation ${LOAD_BALANCER_IPS_ANNOTATION}` };
      }
    }
    requested = fromAnnotation.value;
  }
  return { ok: true, value: { pool: poolText?.trim(), sharingKey: keyText?.trim(), requestedIPs: requested } };
}
