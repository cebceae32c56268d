// How AWS failures are classified (retry or not) and turned into the contract's ProviderError.

import { ProviderError } from '../provider.ts';
import { errorMessage } from '../../error-message.ts';
import { NETWORK_ERROR_CODES } from '../cloud-call.ts';

/** Error names AWS uses for "slow down" (the SDK's own throttling list, plus EC2's). */
const THROTTLING_NAMES = new Set([
  'Throttling',
  'ThrottlingException',
  'ThrottledException',
  'RequestLimitExceeded',
  'RequestThrottled',
  'RequestThrottledException',
  'TooManyRequestsException',
  'EC2ThrottledException',
  'SlowDown',
  'BandwidthLimitExceeded',
]);

const SERVER_NAMES = new Set([
  'InternalFailure',
  'InternalError',
  'ServiceUnavailable',
  'Unavailable',
  'RequestTimeout',
  'RequestTimeoutException',
]);

/** How a failed call should be treated: the first three are worth retrying. */
export type FailureKind = 'throttled' | 'server_error' | 'network_error' | 'client_error';

interface SdkErrorShape {
  name?: unknown;
  code?: unknown;
  $fault?: unknown;
  $metadata?: { httpStatusCode?: unknown };
}

function shape(err: unknown): SdkErrorShape {
  return typeof err === 'object' && err !== null ? (err as SdkErrorShape) : {};
}

export function errorName(err: unknown): string {
  const { name } = shape(err);
  return typeof name === 'string' ? name : 'Error';
}

export function classifyFailure(err: unknown): FailureKind {
  const e = shape(err);
  const name = errorName(err);
  const status = typeof e.$metadata?.httpStatusCode === 'number' ? e.$metadata.httpStatusCode : undefined;
  if (THROTTLING_NAMES.has(name) || status === 429) return 'throttled';
  if (SERVER_NAMES.has(name) || (status !== undefined && status >= 500) || e.$fault === 'server') return 'server_error';
  if (name === 'TimeoutError' || (typeof e.code === 'string' && NETWORK_ERROR_CODES.has(e.code))) return 'network_error';
  return 'client_error';
}

/**
 * "Not found" answers that are part of normal work (the first look-up of a load balancer that does not exist
 * yet; a delete of something already gone): counted apart from client errors, so that a client_error rate
 * means real mistakes (bad requests, missing IAM permissions).
 */
export function isNotFound(err: unknown): boolean {
  return /NotFound(Exception)?$/.test(errorName(err));
}

export function isRetryableFailure(kind: FailureKind): boolean {
  return kind !== 'client_error';
}

/** True when the SDK error has one of these names (AWS error codes, e.g. LoadBalancerNotFound). */
export function isAwsError(err: unknown, ...names: string[]): boolean {
  const name = errorName(err);
  return names.some((n) => name === n || name === `${n}Exception`);
}

/**
 * Turns anything an AWS call threw into the contract's error. Throttling, 5xx and network failures that
 * outlived the retries are retryable; other AWS errors are mistakes in the request (or in IAM), shown to
 * the user as AWS worded them.
 */
export function toProviderError(err: unknown, context: string): ProviderError {
  if (err instanceof ProviderError) return err;
  const kind = classifyFailure(err);
  const name = errorName(err);
  return new ProviderError(`${context}: ${name}: ${errorMessage(err)}`, { retryable: isRetryableFailure(kind), cause: err });
}

/** AWS is still settling (a group in use right after its load balancer went away): try the sync again soon. */
export function settling(message: string, retryAfterMs: number, cause: unknown): ProviderError {
  return new ProviderError(message, { retryable: true, retryAfterMs, cause });
}
