// `service-lb-controller proxy` in interface mode, in network namespaces: two proxy hosts and a peer on one
// link. A VIP moved from host A to host B is announced by B (gratuitous ARP, unsolicited neighbour
// advertisement): the peer's neighbour table points at B's MAC address with no traffic sent after the move.
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import { createLogger } from '../../src/logger.ts';
import { ExternalProxy } from '../../src/providers/local/external-proxy.ts';
import { until } from './helpers.ts';
import { frontendGroup } from '../fakes/frontend-group.ts';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../../', import.meta.url));
const ip = async (...args: string[]): Promise<string> => (await run('ip', args)).stdout;

const VIP4 = '192.168.77.100';
const VIP6 = 'fd00:77::100';
const tag = `slbp${process.pid}`;
const peer = `${tag}-peer`;
const hosts = { a: `${tag}-a`, b: `${tag}-b` };

const spec = frontendGroup(
  'default/moving/uid',
  'default/moving',
  [VIP4, VIP6].map((vip) => ({ protocol: 'TCP' as const, ip: vip, port: 80, nodePort: 30080, backends: [] })),
);

/** The MAC address the peer's neighbour table holds for address, if any. */
async function peerEntry(address: string): Promise<string | undefined> {
  const entries = JSON.parse(await ip('-j', '-n', peer, 'neigh', 'show', address, 'dev', 'br0')) as { lladdr?: string }[];
  return entries[0]?.lladdr;
}

describe('a VIP moved between proxy hosts is announced', () => {
  const dir = mkdtempSync(join(tmpdir(), 'slb-announce-'));
  const proxies: ChildProcess[] = [];
  const controllers: ExternalProxy[] = [];
  const macs: Record<string, string> = {};
  const logger = createLogger('silent');

  before(async () => {
    await ip('netns', 'add', peer);
    await ip('-n', peer, 'link', 'add', 'br0', 'type', 'bridge');
    await ip('-n', peer, 'link', 'set', 'br0', 'up');
    await ip('-n', peer, 'addr', 'add', '192.168.77.1/24', 'dev', 'br0');
    await ip('-n', peer, '-6', 'addr', 'add', 'fd00:77::1/64', 'dev', 'br0', 'nodad');
    for (const [i, [name, ns]] of Object.entries(hosts).entries()) {
      await ip('netns', 'add', ns);
      await ip('-n', peer, 'link', 'add', `p${name}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns);
      await ip('-n', peer, 'link', 'set', `p${name}`, 'master', 'br0', 'up');
      await ip('-n', ns, 'addr', 'add', `192.168.77.${2 + i}/24`, 'dev', 'eth0');
      await ip('-n', ns, '-6', 'addr', 'add', `fd00:77::${2 + i}/64`, 'dev', 'eth0', 'nodad');
      await ip('-n', ns, 'link', 'set', 'eth0', 'up');
      await ip('-n', ns, 'link', 'set', 'lo', 'up');
      macs[name] = (JSON.parse(await ip('-j', '-n', ns, 'link', 'show', 'eth0')) as { address: string }[])[0]!.address;
      const config = join(dir, `${name}.yaml`);
      writeFileSync(config, stringify({ provider: { name: 'local', local: { interface: 'eth0', dataPath: 'external' } } }));
      const socket = join(dir, `${name}.sock`);
      const child = spawn('ip', ['netns', 'exec', ns, process.execPath, 'src/cli.ts', 'proxy', '--config', config, '--socket', socket], {
        cwd: root,
        stdio: 'ignore',
      });
      proxies.push(child);
      process.once('exit', () => child.kill('SIGKILL'));
      controllers.push(new ExternalProxy(socket, logger, () => []));
    }
  });

  after(async () => {
    for (const c of controllers) await c.shutdown(0);
    for (const child of proxies) child.kill('SIGKILL');
    for (const ns of [peer, ...Object.values(hosts)]) await ip('netns', 'del', ns).catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  });

  test('the peer learns host B as the VIP owner without sending it anything', async () => {
    const [a, b] = controllers as [ExternalProxy, ExternalProxy];
    // A proxy starting on a loaded machine may take longer than an apply waits for it.
    for (const c of controllers) await until('both proxies to take a controller', async () => (c.connected() ? true : undefined), 120_000);
    assert.deepEqual(await a.apply(spec), []);
    // The peer resolves each VIP to host A the usual way, by connecting to it.
    for (const vip of [VIP4, VIP6]) {
      await run('ip', [
        'netns',
        'exec',
        peer,
        process.execPath,
        '-e',
        `require('net').connect(80, ${JSON.stringify(vip)}).on('error', () => {}).on('connect', function () { this.destroy(); })`,
      ]);
      assert.equal(await until(`the peer to resolve ${vip}`, () => peerEntry(vip)), macs.a);
    }

    await a.remove(spec.key);
    assert.deepEqual(await b.apply(spec), []);
    for (const vip of [VIP4, VIP6]) {
      await until(`the peer's entry for ${vip} to move to host B (${macs.b})`, async () =>
        (await peerEntry(vip)) === macs.b ? true : undefined,
      );
    }
  });
});
