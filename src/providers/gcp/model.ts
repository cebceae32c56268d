// The GCE-side shapes planning works on: resources we want, what exists, and the ordered changes between
// them. Plain data (Compute's JSON field names), no SDK calls, so planning stays pure.

/** Every Compute resource kind this provider manages; each maps to one SDK client in resources.ts. */
export type Kind =
  | 'address'
  | 'firewall'
  | 'httpHealthCheck'
  | 'healthCheck'
  | 'regionHealthCheck'
  | 'targetPool'
  | 'instanceGroup'
  | 'networkEndpointGroup'
  | 'regionBackendService'
  | 'regionTargetTcpProxy'
  | 'forwardingRule';

export interface ResourceRef {
  kind: Kind;
  name: string;
  /** Zonal kinds only (instance groups, NEGs). */
  zone?: string;
}

/** A member kept by add/remove calls: a target pool or instance group instance, or a NEG endpoint. */
export interface Member {
  /** Identity for diffing: the instance path, or instance|ip|port for an endpoint. */
  key: string;
  /** What the API takes: {instance} or {instance, ipAddress, port}. */
  value: Record<string, unknown>;
}

export interface DesiredResource extends ResourceRef {
  /**
   * The fields we manage, as Compute names them: written on create, compared on every full sync. References
   * to other resources are paths from "projects/..." (the API answers full URLs; compare.ts cuts them).
   */
  spec: Record<string, unknown>;
  description: string;
  /** Used by several Services of the cluster: deleted only when nothing uses it any more. */
  shared: boolean;
  /** Kept by add/remove calls rather than by the spec; undefined when the kind has none. */
  members?: Member[];
  /** Resources this one refers to (their refKey): replacing one of them replaces this one too. */
  dependsOn: string[];
}

export interface ObservedResource {
  ref: ResourceRef;
  /** The resource as Compute returned it. */
  raw: Record<string, unknown>;
  /** undefined for kinds without members. */
  members?: Member[];
}

export type Action =
  | { type: 'create'; resource: DesiredResource }
  | { type: 'update'; resource: DesiredResource; reason: string }
  | { type: 'delete'; ref: ResourceRef; shared: boolean; reason: string }
  | { type: 'addMembers'; ref: ResourceRef; members: Member[] }
  | { type: 'removeMembers'; ref: ResourceRef; members: Member[] };

export function refKey(ref: ResourceRef): string {
  return ref.zone ? `${ref.kind}/${ref.zone}/${ref.name}` : `${ref.kind}/${ref.name}`;
}

/** Kinds whose settings can change in place; the others are deleted and created again. */
export const MUTABLE_KINDS: ReadonlySet<Kind> = new Set([
  'firewall',
  'httpHealthCheck',
  'healthCheck',
  'regionHealthCheck',
  'regionBackendService',
]);

/** Members per add/remove call (target pools and instance groups take 1000, NEG attach/detach 500). */
export const MEMBERS_PER_CALL: Readonly<Partial<Record<Kind, number>>> = {
  targetPool: 1000,
  instanceGroup: 1000,
  networkEndpointGroup: 500,
};
