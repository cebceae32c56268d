// Which AWS failures are retried, and how any of them becomes a ProviderError.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ProviderError } from '../../src/providers/provider.ts';
import { classifyFailure, isAwsError, toProviderError } from '../../src/providers/aws/errors.ts';

function sdkError(name: string, status: number, fault: 'client' | 'server' = status >= 500 ? 'server' : 'client'): Error {
  return Object.assign(new Error(`${name} happened`), { name, $fault: fault, $metadata: { httpStatusCode: status } });
}

describe('aws error classification', () => {
  test('throttling names and 429 are "throttled", whatever the status', () => {
    for (const name of ['Throttling', 'ThrottlingException', 'RequestLimitExceeded', 'TooManyRequestsException']) {
      assert.equal(classifyFailure(sdkError(name, 400)), 'throttled', name);
    }
    assert.equal(classifyFailure(sdkError('RequestLimitExceeded', 503)), 'throttled');
    assert.equal(classifyFailure(sdkError('Whatever', 429)), 'throttled');
  });

  test('5xx and server faults are "server_error"; sockets and timeouts "network_error"', () => {
    assert.equal(classifyFailure(sdkError('InternalFailure', 500)), 'server_error');
    assert.equal(classifyFailure(sdkError('ServiceUnavailable', 503)), 'server_error');
    assert.equal(classifyFailure(Object.assign(new Error('reset'), { code: 'ECONNRESET' })), 'network_error');
    assert.equal(classifyFailure(Object.assign(new Error('slow'), { name: 'TimeoutError' })), 'network_error');
  });

  test('request mistakes are "client_error", including our own bugs', () => {
    assert.equal(classifyFailure(sdkError('ValidationError', 400)), 'client_error');
    assert.equal(classifyFailure(sdkError('LoadBalancerNotFoundException', 400)), 'client_error');
    assert.equal(classifyFailure(new TypeError('x is undefined')), 'client_error');
  });

  test('isAwsError accepts the name with or without the Exception suffix', () => {
    assert.ok(isAwsError(sdkError('LoadBalancerNotFoundException', 400), 'LoadBalancerNotFound'));
    assert.ok(isAwsError(sdkError('InvalidGroup.NotFound', 400), 'InvalidGroup.NotFound'));
    assert.ok(!isAwsError(sdkError('ListenerNotFoundException', 400), 'LoadBalancerNotFound'));
  });

  test('toProviderError: retryable follows the class, ProviderErrors pass through', () => {
    const throttled = toProviderError(sdkError('Throttling', 400), 'AWS: syncing');
    assert.equal(throttled.retryable, true);
    assert.match(throttled.message, /^AWS: syncing: Throttling: /);
    assert.equal(toProviderError(sdkError('AccessDenied', 403), 'x').retryable, false);
    const own = new ProviderError('mine', { retryable: true, retryAfterMs: 5 });
    assert.equal(toProviderError(own, 'x'), own);
  });
});
