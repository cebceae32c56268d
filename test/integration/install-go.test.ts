// hack/install-go.sh and hack/go-toolchain.ts: the h1 hash agrees with Go's own, and a toolchain is fetched, verified and cached only when no recent Go is on PATH.
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { crc32 } from 'node:zlib';
import { hash1, readZip } from '../../hack/go-toolchain.ts';

const script = fileURLToPath(new URL('../../hack/install-go.sh', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'slb-install-go-'));
after(() => rmSync(work, { recursive: true, force: true }));

/** A zip with stored (uncompressed) entries, written by Unix (so the modes are kept). */
function storedZip(files: Array<{ name: string; data: string; mode: number }>): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const { name, data, mode } of files) {
    const nameBytes = Buffer.from(name);
    const body = Buffer.from(data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt32LE(crc32(body), 14);
    local.writeUInt32LE(body.length, 18);
    local.writeUInt32LE(body.length, 22);
    local.writeUInt16LE(nameBytes.length, 26);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE((3 << 8) | 20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt32LE(crc32(body), 16);
    central.writeUInt32LE(body.length, 20);
    central.writeUInt32LE(body.length, 24);
    central.writeUInt16LE(nameBytes.length, 28);
    central.writeUInt32LE(((0o100000 | mode) << 16) >>> 0, 38);
    central.writeUInt32LE(offset, 42);
    locals.push(local, nameBytes, body);
    centrals.push(central, nameBytes);
    offset += local.length + nameBytes.length + body.length;
  }
  const directory = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(files.length, 8);
  end.writeUInt16LE(files.length, 10);
  end.writeUInt32LE(directory.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, directory, end]);
}

/** A stand-in `go` answering the two questions the script asks, as the given version. */
const fakeGo = (version: string, goroot = '/nonexistent') =>
  `#!/bin/sh\ncase "$*" in\n  "env GOVERSION") echo ${version} ;;\n  "env GOROOT") echo ${goroot} ;;\n  *) echo "go version ${version} fake" ;;\nesac\n`;

const platform = process.arch === 'arm64' ? 'linux-arm64' : 'linux-amd64';
const moduleVersion = `v0.0.1-go1.99.0.${platform}`;
const prefix = `golang.org/toolchain@${moduleVersion}/`;
const toolchain = storedZip([
  { name: `${prefix}bin/go`, data: fakeGo('go1.99.0'), mode: 0o644 },
  { name: `${prefix}VERSION`, data: 'go1.99.0\n', mode: 0o644 },
]);
const pinned = hash1(readZip(toolchain));

describe('hash1 (dirhash.Hash1 of a module zip)', () => {
  test('agrees with the go.sum hash Go itself records for a module it downloaded', () => {
    const goBin = spawnSync('bash', [script], { encoding: 'utf8' });
    assert.equal(goBin.status, 0, goBin.stderr);
    const download = spawnSync(join(goBin.stdout.trim(), 'go'), ['mod', 'download', '-json', 'golang.org/x/sync@v0.10.0'], {
      encoding: 'utf8',
      cwd: work,
      env: { ...process.env, GOTOOLCHAIN: 'local', GOFLAGS: '-mod=mod' },
    });
    assert.equal(download.status, 0, download.stderr + download.stdout);
    const { Zip, Sum } = JSON.parse(download.stdout) as { Zip: string; Sum: string };
    assert.match(Sum, /^h1:/);
    // Go checked Sum against the checksum database; the module zip is deflated, as proxies serve them.
    assert.equal(hash1(readZip(readFileSync(Zip))), Sum);
  });

  test('changes with any file content', () => {
    const tampered = storedZip([
      { name: `${prefix}bin/go`, data: fakeGo('go1.99.0').replace('fake', 'evil'), mode: 0o644 },
      { name: `${prefix}VERSION`, data: 'go1.99.0\n', mode: 0o644 },
    ]);
    assert.notEqual(hash1(readZip(tampered)), pinned);
  });
});

describe('hack/install-go.sh against a module proxy of our own', () => {
  let server: Server;
  let proxy: string;
  let body = toolchain;
  const requests: string[] = [];
  // Earlier on PATH than anything of the system's: a Go too old to build the pinned tools.
  const oldGoDir = join(work, 'old-go');

  before(async () => {
    mkdirSync(oldGoDir);
    writeFileSync(join(oldGoDir, 'go'), fakeGo('go1.20.14'));
    chmodSync(join(oldGoDir, 'go'), 0o755);
    server = createServer((req, res) => {
      requests.push(req.url!);
      if (req.url === `/golang.org/toolchain/@v/${moduleVersion}.zip`) res.end(body);
      else res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    proxy = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => server.close());

  /** Runs the script without blocking this process, which serves the proxy. */
  function install(cache: string, pathDir = oldGoDir): Promise<{ status: number | null; stdout: string; stderr: string }> {
    const env = {
      HOME: work,
      PATH: `${pathDir}:/usr/bin:/bin`,
      SLC_CACHE_DIR: cache,
      GOPROXY: `${proxy},direct`,
      GO_TOOLCHAIN_VERSION: 'go1.99.0',
      GO_TOOLCHAIN_H1: pinned,
    };
    return new Promise((resolve) =>
      execFile('bash', [script], { encoding: 'utf8', env }, (err, stdout, stderr) =>
        resolve({ status: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr }),
      ),
    );
  }

  test('no recent Go on PATH: fetches the toolchain, verifies it, caches it, and its go runs', async () => {
    const cache = join(work, 'cache-ok');
    const first = await install(cache);
    assert.equal(first.status, 0, first.stderr);
    const bin = first.stdout.trim();
    assert.equal(bin, join(cache, 'go', `go1.99.0.${platform}`, 'bin'));
    assert.match(first.stderr, /ignoring go on PATH: 'go1\.20\.14'/);
    assert.match(first.stderr, / verified\n/);
    const version = spawnSync(join(bin, 'go'), ['version'], { encoding: 'utf8' });
    assert.equal(version.stdout.trim(), 'go version go1.99.0 fake', 'bin/ is made executable whatever the zip says');
    assert.equal(readFileSync(join(bin, '..', 'VERSION'), 'utf8'), 'go1.99.0\n');

    const downloads = requests.length;
    const second = await install(cache);
    assert.equal(second.status, 0, second.stderr);
    assert.equal(second.stdout.trim(), bin);
    assert.equal(requests.length, downloads, 'a cache hit downloads nothing');
  });

  test('a zip that does not match the pinned h1 is refused and nothing is cached', async () => {
    const cache = join(work, 'cache-tampered');
    body = storedZip([
      { name: `${prefix}bin/go`, data: fakeGo('go1.99.0').replace('fake', 'evil'), mode: 0o755 },
      { name: `${prefix}VERSION`, data: 'go1.99.0\n', mode: 0o644 },
    ]);
    try {
      const run = await install(cache);
      assert.notEqual(run.status, 0);
      assert.match(run.stderr, /checksum mismatch .* got h1:.*, pinned h1:/);
      assert.equal(run.stdout, '');
      assert.deepEqual(readdirSync(join(cache, 'go')), [`go1.99.0.${platform}.lock`]);
    } finally {
      body = toolchain;
    }
  });

  test('a recent enough Go on PATH is used as it is, and nothing is fetched', async () => {
    const dir = join(work, 'new-go');
    mkdirSync(dir);
    writeFileSync(join(dir, 'go'), fakeGo('go1.26.0', '/opt/go'));
    chmodSync(join(dir, 'go'), 0o755);
    const downloads = requests.length;
    const run = await install(join(work, 'cache-unused'), dir);
    assert.equal(run.status, 0, run.stderr);
    assert.equal(run.stdout.trim(), '/opt/go/bin');
    assert.equal(requests.length, downloads);
    assert.equal(existsSync(join(work, 'cache-unused')), false);
  });
});
