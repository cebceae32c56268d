// What an ARM failure means: worth retrying (throttled, server, network), a lost ETag race, or a request
// ARM refuses; and how it reaches the core as a ProviderError.

import { errorMessage } from '../../error-message.ts';
import { NETWORK_ERROR_CODES } from '../cloud-call.ts';
import { ProviderError } from '../provider.ts';

export type FailureKind = 'throttled' | 'server_error' | 'network_error' | 'precondition_failed' | 'not_found' | 'client_error';

interface RestErrorShape {
  name?: unknown;
  code?: unknown;
  statusCode?: unknown;
  response?: { headers?: { get(name: string): string | undefined } };
}

function shape(err: unknown): RestErrorShape {
  return typeof err === 'object' && err !== null ? (err as RestErrorShape) : {};
}

export function statusOf(err: unknown): number | undefined {
  const s = shape(err).statusCode;
  return typeof s === 'number' ? s : undefined;
}

/** ARM's error code ("ResourceNotFound", "InvalidResourceReference"...), also from a failed long-running operation. */
export function armCode(err: unknown): string | undefined {
  const code = shape(err).code;
  if (typeof code === 'string' && !/^E[A-Z]+$/.test(code)) return code;
  // core-lro reports a failed operation as "The long-running operation has failed. <code>. <message>".
  const m = /long-running operation has failed\. ([A-Za-z]+)\./.exec(errorMessage(err));
  return m?.[1];
}

// core-rest-pipeline's code for a request that failed before any answer came.
const NETWORK_CODES = new Set([...NETWORK_ERROR_CODES, 'REQUEST_SEND_ERROR']);
const SERVER_CODES = new Set([
  'AnotherOperationInProgress',
  'InternalServerError',
  'ServiceUnavailable',
  'GatewayTimeout',
  'RetryableError',
  'Canceled',
  'OperationPreempted',
]);

export function classifyFailure(err: unknown): FailureKind {
  const status = statusOf(err);
  const code = shape(err).code;
  if (status === 429 || armCode(err) === 'TooManyRequests') return 'throttled';
  if (status === 412) return 'precondition_failed';
  if (status === 404) return 'not_found';
  if ((status !== undefined && status >= 500) || SERVER_CODES.has(armCode(err) ?? '')) return 'server_error';
  if (typeof code === 'string' && NETWORK_CODES.has(code)) return 'network_error';
  if (status === undefined && shape(err).name === 'AbortError') return 'network_error';
  return 'client_error';
}

export function isRetryableFailure(kind: FailureKind): boolean {
  return kind === 'throttled' || kind === 'server_error' || kind === 'network_error';
}

/** Retry-After in ms (seconds or an HTTP date), when ARM sent one. */
export function retryAfterMs(err: unknown, now = Date.now()): number | undefined {
  const value = shape(err).response?.headers?.get('retry-after');
  if (value === undefined || value === '') return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

export function isNotFound(err: unknown): boolean {
  return classifyFailure(err) === 'not_found';
}

/**
 * Turns whatever an ARM call threw into the contract's error: ARM's own code and message (shown to the user
 * in a Warning event), retryable when the cloud is the problem, with ARM's Retry-After when it sent one.
 */
export function toProviderError(err: unknown, context: string): ProviderError {
  if (err instanceof ProviderError) return err;
  const kind = classifyFailure(err);
  const code = armCode(err);
  const retryAfter = retryAfterMs(err);
  return new ProviderError(`${context}: ${code ? `${code}: ` : ''}${errorMessage(err)}`, {
    retryable: isRetryableFailure(kind) || kind === 'precondition_failed',
    ...(retryAfter !== undefined ? { retryAfterMs: retryAfter } : {}),
    cause: err,
  });
}
