// How Compute failures are classified (retry or not, "already there", "in use") and turned into the contract's
// ProviderError. google-gax's REST transport keeps the HTTP status and the raw JSON body, and the googleapis
// client (legacy HTTP health checks) throws a GaxiosError with `status` and the parsed body in
// `response.data`; either body's error.errors[].reason says what happened (notFound, alreadyExists,
// resourceInUseByAnotherResource...).

import { errorMessage } from '../../error-message.ts';
import { NETWORK_ERROR_CODES } from '../cloud-call.ts';
import { ProviderError } from '../provider.ts';

export type FailureKind = 'throttled' | 'server_error' | 'network_error' | 'client_error';

const RAW_PAYLOAD = Symbol.for('google-gax.rawHttpResponsePayload');

const NETWORK_CODES = new Set([
  ...NETWORK_ERROR_CODES,
  // gaxios names a request that hit its timeout after the DOMException.
  'TimeoutError',
]);

interface ErrorShape {
  httpStatusCode?: unknown;
  status?: unknown;
  response?: { data?: unknown };
  code?: unknown;
  reason?: unknown;
  cause?: unknown;
  [RAW_PAYLOAD]?: unknown;
}

function shape(err: unknown): ErrorShape {
  return typeof err === 'object' && err !== null ? (err as ErrorShape) : {};
}

/** A failed operation (an Operation whose error is set) carries the same facts as a failed call. */
export class OperationError extends Error {
  readonly httpStatusCode: number | undefined;
  readonly reasons: string[];

  constructor(message: string, httpStatusCode: number | undefined, reasons: string[]) {
    super(message);
    this.name = 'OperationError';
    this.httpStatusCode = httpStatusCode;
    this.reasons = reasons;
  }
}

export function httpStatus(err: unknown): number | undefined {
  const { httpStatusCode, status } = shape(err);
  if (typeof httpStatusCode === 'number') return httpStatusCode;
  return typeof status === 'number' ? status : undefined;
}

/** Compute's JSON error body: gax keeps it raw, gaxios parsed. */
function errorBody(err: unknown): { error?: { errors?: Array<{ reason?: unknown }>; status?: unknown } } | undefined {
  const raw = shape(err)[RAW_PAYLOAD] ?? shape(err).response?.data;
  if (typeof raw === 'object' && raw !== null) return raw;
  if (typeof raw !== 'string') return undefined;
  try {
    return JSON.parse(raw) as ReturnType<typeof errorBody>;
  } catch {
    // Not JSON (a proxy's error page): the status code alone decides.
    return undefined;
  }
}

/** The reasons Compute gave (error.errors[].reason, or an operation's error codes), lower-cased. */
export function reasons(err: unknown): string[] {
  if (err instanceof OperationError) return err.reasons.map((r) => r.toLowerCase());
  const body = errorBody(err);
  const found: string[] = [];
  for (const e of body?.error?.errors ?? []) if (typeof e.reason === 'string') found.push(e.reason.toLowerCase());
  if (typeof body?.error?.status === 'string') found.push(body.error.status.toLowerCase());
  const reason = shape(err).reason;
  if (typeof reason === 'string') found.push(reason.toLowerCase());
  return found;
}

function hasReason(err: unknown, ...wanted: string[]): boolean {
  const rs = reasons(err);
  return wanted.some((w) => rs.includes(w.toLowerCase()));
}

export function isNotFound(err: unknown): boolean {
  return httpStatus(err) === 404 || hasReason(err, 'notFound');
}

export function isAlreadyExists(err: unknown): boolean {
  return httpStatus(err) === 409 || hasReason(err, 'alreadyExists');
}

/** 412: the fingerprint we sent is stale. */
export function isFingerprintMismatch(err: unknown): boolean {
  return httpStatus(err) === 412 || hasReason(err, 'conditionNotMet');
}

/** Another resource still refers to this one (a target pool still used by a forwarding rule...). */
export function isInUse(err: unknown): boolean {
  return hasReason(err, 'resourceInUseByAnotherResource', 'RESOURCE_IN_USE_BY_ANOTHER_RESOURCE', 'resourceInUse');
}

export function isQuotaExceeded(err: unknown): boolean {
  return hasReason(err, 'quotaExceeded', 'QUOTA_EXCEEDED');
}

/** The quota's name as Compute words it ("Quota 'FORWARDING_RULES' exceeded..."), or the message. */
export function quotaName(err: unknown): string {
  const match = /Quota '([A-Z0-9_]+)'/.exec(errorMessage(err));
  return match?.[1] ?? errorMessage(err);
}

export function classifyFailure(err: unknown): FailureKind {
  const status = httpStatus(err);
  if (status === 429 || hasReason(err, 'rateLimitExceeded', 'userRateLimitExceeded', 'RESOURCE_EXHAUSTED')) return 'throttled';
  // resourceNotReady: an earlier operation on the resource (perhaps of a crashed process) is still running.
  if ((status !== undefined && status >= 500) || hasReason(err, 'backendError', 'internalError', 'resourceNotReady')) return 'server_error';
  const code = shape(err).code;
  const cause = shape(shape(err).cause).code;
  if (
    (typeof code === 'string' && NETWORK_CODES.has(code)) ||
    (typeof cause === 'string' && NETWORK_CODES.has(cause)) ||
    (status === undefined && shape(err).code === 4)
  ) {
    return 'network_error';
  }
  return 'client_error';
}

export function isRetryableFailure(kind: FailureKind): boolean {
  return kind !== 'client_error';
}

/** Turns anything a Compute call threw into the contract's error, worded for the Service's Warning event. */
export function toProviderError(err: unknown, context: string): ProviderError {
  if (err instanceof ProviderError) return err;
  const kind = classifyFailure(err);
  const status = httpStatus(err);
  const why = reasons(err)[0];
  const label = [status, why].filter((x) => x !== undefined).join(' ');
  return new ProviderError(`${context}: ${label ? `${label}: ` : ''}${errorMessage(err)}`, {
    retryable: isRetryableFailure(kind) || isQuotaExceeded(err) || isInUse(err),
    cause: err,
  });
}

/** Compute is still letting go of a dependent resource: try the sync again soon, after exactly this delay. */
export function settling(message: string, retryAfterMs: number, cause: unknown): ProviderError {
  return new ProviderError(message, { retryable: true, retryAfterMs, cause });
}
