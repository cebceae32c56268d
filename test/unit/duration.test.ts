// Duration parsing.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseDuration } from '../../src/config/duration.ts';

test('parseDuration reads Go-style unit strings into milliseconds', () => {
  const cases: Array<[string, number]> = [
    ['250ms', 250],
    ['45s', 45_000],
    ['5m', 300_000],
    ['1h', 3_600_000],
    ['1h30m', 5_400_000],
    ['1m30s', 90_000],
    ['2h45m30s500ms', 9_930_500],
    ['1.5s', 1_500],
    ['0s', 0],
    ['90m', 5_400_000],
  ];
  for (const [text, ms] of cases) assert.equal(parseDuration(text), ms, text);
});

test('parseDuration reads a bare number as seconds', () => {
  assert.equal(parseDuration(30), 30_000);
  assert.equal(parseDuration(0.25), 250);
  assert.equal(parseDuration(0), 0);
});

test('parseDuration rejects malformed input', () => {
  for (const text of [
    '5x',
    '',
    '5',
    's',
    'ms',
    '1h 30m',
    ' 5s',
    '5s ',
    '-5s',
    '5S',
    '1d',
    '5sec',
    '1h30',
    'h1',
    '1.s',
    '.5s',
    'NaN',
    '5s5',
  ]) {
    assert.equal(parseDuration(text), undefined, JSON.stringify(text));
  }
  for (const value of [-1, Number.NaN, Number.POSITIVE_INFINITY]) assert.equal(parseDuration(value), undefined, String(value));
});
