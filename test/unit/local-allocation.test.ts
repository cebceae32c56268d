// VIP allocation from pools: auto-assign, requests, sharing, stability.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { allocate, AllocationTable, type AllocationRequest } from '../../src/providers/local/allocation.ts';
import { parsePools } from '../../src/providers/local/pools.ts';

const pools = parsePools([
  { name: 'default', addresses: ['10.0.0.0/29'], autoAssign: true },
  { name: 'v6', addresses: ['fd00::10-fd00::11'], autoAssign: true },
  { name: 'reserved', addresses: ['192.0.2.10-192.0.2.11'], autoAssign: false },
]);

function req(owner: string, extra: Partial<AllocationRequest> = {}): AllocationRequest {
  return {
    owner,
    service: `ns/${owner}`,
    families: ['IPv4'],
    requested: [],
    pool: undefined,
    sharingKey: undefined,
    ports: ['TCP/80'],
    current: [],
    ...extra,
  };
}

/** Allocates and commits, as the provider does. */
function take(table: AllocationTable, r: AllocationRequest): string[] {
  const result = allocate(table, pools, r);
  assert.ok(result.ok, result.ok ? '' : result.message);
  table.assign({ owner: r.owner, service: r.service, sharingKey: r.sharingKey, ports: r.ports, restored: false }, result.ips);
  return result.ips;
}

function refusal(table: AllocationTable, r: AllocationRequest): string {
  const result = allocate(table, pools, r);
  assert.equal(result.ok, false, `expected a refusal, got ${JSON.stringify(result)}`);
  return result.ok ? '' : result.message;
}

test('auto-assign hands out the first free address of auto-assign pools, per family', () => {
  const table = new AllocationTable();
  assert.deepEqual(take(table, req('a')), ['10.0.0.1']);
  assert.deepEqual(take(table, req('b')), ['10.0.0.2']);
  assert.deepEqual(take(table, req('c', { families: ['IPv4', 'IPv6'] })), ['10.0.0.3', 'fd00::10']);
  assert.deepEqual(take(table, req('d', { families: ['IPv6'] })), ['fd00::11']);
  assert.match(refusal(table, req('e', { families: ['IPv6'] })), /no free IPv6 address left in "default", "v6"/);
});

test('a pool that is exhausted says so and changes nothing', () => {
  const table = new AllocationTable();
  for (let i = 0; i < 6; i++) take(table, req(`s${i}`));
  const before = table.addresses().length;
  assert.match(refusal(table, req('late')), /no free IPv4 address/);
  assert.equal(table.addresses().length, before);
});

test('an allocation is stable: the same owner keeps its address, and status is honoured', () => {
  const table = new AllocationTable();
  take(table, req('a'));
  assert.deepEqual(take(table, req('a')), ['10.0.0.1']);
  assert.deepEqual(take(table, req('b', { current: ['10.0.0.5'] })), ['10.0.0.5']);
});

test('a requested address is honoured when free and inside a pool, even one without auto-assign', () => {
  const table = new AllocationTable();
  assert.deepEqual(take(table, req('a', { requested: [{ family: 'IPv4', ip: '10.0.0.4' }] })), ['10.0.0.4']);
  assert.deepEqual(take(table, req('b', { requested: [{ family: 'IPv4', ip: '192.0.2.11' }] })), ['192.0.2.11']);
  assert.deepEqual(take(table, req('c')), ['10.0.0.1'], 'auto-assign skips no address but the taken ones');
});

test('a taken or outside address is refused with the reason, and nothing else moves', () => {
  const table = new AllocationTable();
  take(table, req('a', { requested: [{ family: 'IPv4', ip: '10.0.0.4' }] }));
  assert.equal(
    refusal(table, req('b', { requested: [{ family: 'IPv4', ip: '10.0.0.4' }] })),
    'address 10.0.0.4 is already used by Service ns/a',
  );
  assert.equal(
    refusal(table, req('b', { requested: [{ family: 'IPv4', ip: '172.16.0.1' }] })),
    'requested address 172.16.0.1 is not in any address pool',
  );
  assert.match(
    refusal(table, req('b', { pool: 'reserved', requested: [{ family: 'IPv4', ip: '10.0.0.2' }] })),
    /not in address pool "reserved" \(it is in "default"\)/,
  );
  assert.match(
    refusal(table, req('b', { requested: [{ family: 'IPv6', ip: 'fd00::10' }] })),
    /is IPv6, but the Service's ipFamilies are IPv4/,
  );
  assert.deepEqual(table.ipsOf('a'), ['10.0.0.4']);
  assert.deepEqual(table.ipsOf('b'), []);
});

test('a Service that asks for another address moves, and frees the old one', () => {
  const table = new AllocationTable();
  take(table, req('a'));
  const result = allocate(table, pools, req('a', { requested: [{ family: 'IPv4', ip: '10.0.0.6' }] }));
  assert.ok(result.ok);
  const freed = table.assign({ owner: 'a', service: 'ns/a', sharingKey: undefined, ports: ['TCP/80'], restored: false }, result.ips);
  assert.deepEqual(freed, ['10.0.0.1']);
});

test('pool selection: the annotation picks the pool, auto-assign or not; unknown pools are refused', () => {
  const table = new AllocationTable();
  assert.deepEqual(take(table, req('a', { pool: 'reserved' })), ['192.0.2.10']);
  assert.match(refusal(table, req('b', { pool: 'nope' })), /address pool "nope" does not exist \(known: default, v6, reserved\)/);
  assert.match(refusal(table, req('b', { pool: 'v6' })), /no address pool "v6" has IPv4 addresses/);
});

test('sharing: same key and disjoint ports share one address (DNS over TCP and UDP)', () => {
  const table = new AllocationTable();
  const tcp = take(table, req('dns-tcp', { sharingKey: 'dns', ports: ['TCP/53'] }));
  const udp = take(table, req('dns-udp', { sharingKey: 'dns', ports: ['UDP/53'] }));
  assert.deepEqual(udp, tcp);
  assert.equal(table.holders(tcp[0]!).length, 2);
  // Releasing one keeps the address for the other.
  assert.deepEqual(table.release('dns-tcp'), []);
  assert.deepEqual(table.release('dns-udp'), tcp);
});

test('sharing: overlapping ports, other keys, and no key are refused with a reason', () => {
  const table = new AllocationTable();
  const [ip] = take(table, req('a', { sharingKey: 'k', ports: ['TCP/80', 'TCP/443'] }));
  assert.equal(
    refusal(table, req('b', { sharingKey: 'k', ports: ['TCP/443'] })),
    `address ${ip} is shared with Service ns/a, and ports TCP/443 overlap`,
  );
  assert.equal(
    refusal(table, req('b', { sharingKey: 'other', ports: ['TCP/8080'], requested: [{ family: 'IPv4', ip: ip! }] })),
    `address ${ip} is already used by Service ns/a (sharing key "k")`,
  );
  assert.match(
    refusal(table, req('b', { ports: ['TCP/8080'], requested: [{ family: 'IPv4', ip: ip! }] })),
    /already used by Service ns\/a/,
  );
  // Without a request and without a key, a Service simply gets its own address.
  assert.notDeepEqual(take(table, req('c', { ports: ['TCP/8080'] })), [ip]);
});

test('sharing: a requested shared address with the same key is accepted', () => {
  const table = new AllocationTable();
  take(table, req('a', { sharingKey: 'k', ports: ['TCP/53'], requested: [{ family: 'IPv4', ip: '10.0.0.3' }] }));
  assert.deepEqual(take(table, req('b', { sharingKey: 'k', ports: ['UDP/53'], requested: [{ family: 'IPv4', ip: '10.0.0.3' }] })), [
    '10.0.0.3',
  ]);
});

test('restored holders keep sharing after a restart until their Service is ensured again', () => {
  const table = new AllocationTable();
  // As start() rebuilds it from status: no sharing keys known.
  table.assign({ owner: 'a', service: 'ns/a', sharingKey: undefined, ports: ['TCP/53'], restored: true }, ['10.0.0.3']);
  table.assign({ owner: 'b', service: 'ns/b', sharingKey: undefined, ports: ['UDP/53'], restored: true }, ['10.0.0.3']);
  assert.deepEqual(take(table, req('a', { sharingKey: 'dns', ports: ['TCP/53'] })), ['10.0.0.3']);
  assert.deepEqual(take(table, req('b', { sharingKey: 'dns', ports: ['UDP/53'] })), ['10.0.0.3']);
  // A newcomer cannot join a restored holder whose key is unknown.
  const fresh = new AllocationTable();
  fresh.assign({ owner: 'a', service: 'ns/a', sharingKey: undefined, ports: ['TCP/53'], restored: true }, ['10.0.0.3']);
  assert.match(
    refusal(fresh, req('n', { sharingKey: 'dns', ports: ['UDP/53'], requested: [{ family: 'IPv4', ip: '10.0.0.3' }] })),
    /already used/,
  );
});

test('restart: an auto-assigned Service keeps its address from status, not the first free one', () => {
  const table = new AllocationTable();
  table.assign({ owner: 'a', service: 'ns/a', sharingKey: undefined, ports: ['TCP/80'], restored: true }, ['10.0.0.5']);
  assert.deepEqual(take(table, req('a', { current: ['10.0.0.5'] })), ['10.0.0.5']);
  assert.deepEqual(take(table, req('b')), ['10.0.0.1']);
});
