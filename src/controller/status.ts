// Pure status handling: what to write into status.loadBalancer.ingress, and whether it changed.
import type { V1LoadBalancerIngress } from '@kubernetes/client-node';
import { isDeepStrictEqual } from 'node:util';
import type { IngressStatus, Protocol } from '../providers/provider.ts';
import { compareStrings } from '../compare.ts';

/** status.loadBalancer.ingress in the contract's terms. */
export function ingressFromStatus(entries: readonly V1LoadBalancerIngress[] | undefined): IngressStatus[] {
  return (entries ?? []).map((e) => ({
    ...(e.ip ? { ip: e.ip } : {}),
    ...(e.hostname ? { hostname: e.hostname } : {}),
    ...(e.ipMode ? { ipMode: e.ipMode as 'VIP' | 'Proxy' } : {}),
    ...(e.ports?.length
      ? { ports: e.ports.map((p) => ({ port: p.port, protocol: p.protocol as Protocol, ...(p.error ? { error: p.error } : {}) })) }
      : {}),
  }));
}

/** Only the fields that are set, as the API server stores them (empty lists and unset fields dropped). */
function normalize(entries: readonly IngressStatus[]): IngressStatus[] {
  return entries
    .map((e) => ({
      ...(e.ip ? { ip: e.ip } : {}),
      ...(e.hostname ? { hostname: e.hostname } : {}),
      ...(e.ipMode ? { ipMode: e.ipMode } : {}),
      ...(e.ports?.length
        ? {
            ports: e.ports
              .map((p) => ({ port: p.port, protocol: p.protocol, ...(p.error ? { error: p.error } : {}) }))
              .sort((a, b) => a.port - b.port || compareStrings(a.protocol, b.protocol)),
          }
        : {}),
    }))
    .sort((a, b) => compareStrings(`${a.ip ?? ''}|${a.hostname ?? ''}`, `${b.ip ?? ''}|${b.hostname ?? ''}`));
}

/**
 * The API server stores an ip entry without ipMode as ipMode VIP (and one that predates the field drops it),
 * so both mean VIP here: otherwise a provider that leaves ipMode out would have its status patched again on
 * every sync.
 */
function withDefaultIpMode(entries: readonly IngressStatus[]): IngressStatus[] {
  return entries.map((e) => (e.ip && !e.ipMode ? { ...e, ipMode: 'VIP' } : e));
}

/** True when the published ingress already says what the provider returned (ip, hostname, ipMode, ports). */
export function ingressEqual(current: readonly V1LoadBalancerIngress[] | undefined, wanted: readonly IngressStatus[]): boolean {
  return isDeepStrictEqual(normalize(withDefaultIpMode(ingressFromStatus(current))), normalize(withDefaultIpMode(wanted)));
}

/** A merge patch for the status subresource; null clears the list. */
export function statusPatch(ingress: readonly IngressStatus[]): { status: { loadBalancer: { ingress: IngressStatus[] | null } } } {
  return { status: { loadBalancer: { ingress: ingress.length ? normalize(ingress) : null } } };
}
