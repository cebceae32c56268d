// Downloads a Go toolchain module zip (golang.org/toolchain) from a module proxy, checks its h1 hash, and unpacks it.
//
// Usage: node hack/go-toolchain.ts <zip URL> <expected h1:...> <destination directory>
// The h1 hash is the one the Go checksum database records for the module zip (dirhash.Hash1 of
// golang.org/x/mod/sumdb/dirhash): a file that does not match is refused and nothing is left behind.
// Written for the project's own Node (node_modules/.bin/node) because a fresh machine has no Go, and
// no unzip either; Node has fetch, zlib and sha256.
import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { crc32, inflateRawSync } from 'node:zlib';

export interface ZipEntry {
  name: string;
  /** Inflates the entry on each call, so a large archive is never held unpacked in memory. */
  read(): Buffer;
  /** Unix permission bits when the zip was written on Unix, else undefined. */
  mode: number | undefined;
}

const EOCD = 0x06054b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;

/** The entries of a zip held in memory, through its central directory; read() checks size and CRC. */
export function readZip(zip: Buffer): ZipEntry[] {
  // The end-of-central-directory record sits in the last 22 bytes plus a comment of up to 64 KiB.
  let eocd = -1;
  for (let i = zip.length - 22; i >= Math.max(0, zip.length - 22 - 0xffff); i--) {
    if (zip.readUInt32LE(i) === EOCD) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw new Error('not a zip file (no end of central directory)');
  const count = zip.readUInt16LE(eocd + 10);
  let at = zip.readUInt32LE(eocd + 16);
  if (count === 0xffff || at === 0xffffffff) throw new Error('zip64 archives are not supported');
  const entries: ZipEntry[] = [];
  for (let n = 0; n < count; n++) {
    if (zip.readUInt32LE(at) !== CENTRAL) throw new Error(`corrupt central directory at entry ${n}`);
    const versionMadeBy = zip.readUInt16LE(at + 4);
    const method = zip.readUInt16LE(at + 10);
    const crc = zip.readUInt32LE(at + 16);
    const compressedSize = zip.readUInt32LE(at + 20);
    const size = zip.readUInt32LE(at + 24);
    const nameLength = zip.readUInt16LE(at + 28);
    const extraLength = zip.readUInt16LE(at + 30);
    const commentLength = zip.readUInt16LE(at + 32);
    const externalAttributes = zip.readUInt32LE(at + 38);
    const localOffset = zip.readUInt32LE(at + 42);
    const name = zip.toString('utf8', at + 46, at + 46 + nameLength);
    at += 46 + nameLength + extraLength + commentLength;

    if (zip.readUInt32LE(localOffset) !== LOCAL) throw new Error(`${name}: corrupt local header`);
    const start = localOffset + 30 + zip.readUInt16LE(localOffset + 26) + zip.readUInt16LE(localOffset + 28);
    const raw = zip.subarray(start, start + compressedSize);
    if (method !== 0 && method !== 8) throw new Error(`${name}: unsupported compression method ${method}`);
    const read = (): Buffer => {
      const data = method === 0 ? Buffer.from(raw) : inflateRawSync(raw);
      if (data.length !== size || crc32(data) !== crc) throw new Error(`${name}: size or CRC mismatch`);
      return data;
    };
    // Upper 16 bits of the external attributes are the Unix mode when "made by" is Unix (3).
    const mode = versionMadeBy >> 8 === 3 ? (externalAttributes >>> 16) & 0o777 : undefined;
    entries.push({ name, read, mode: mode || undefined });
  }
  return entries;
}

/**
 * dirhash.Hash1 over a zip's entries, as `go` computes a module zip's go.sum line: sha256 of the lines
 * "<sha256 hex of the file>  <name>\n" for every entry, names sorted bytewise, base64, prefixed "h1:".
 */
export function hash1(entries: ZipEntry[]): string {
  const summary = createHash('sha256');
  const sorted = [...entries].sort((a, b) => Buffer.compare(Buffer.from(a.name), Buffer.from(b.name)));
  for (const { name, read } of sorted) {
    if (name.includes('\n')) throw new Error(`file name with a newline: ${JSON.stringify(name)}`);
    summary.update(`${createHash('sha256').update(read()).digest('hex')}  ${name}\n`);
  }
  return `h1:${summary.digest('base64')}`;
}

/**
 * Writes a toolchain module's files under dest without the "golang.org/toolchain@<version>/" prefix.
 * Go's own toolchain download makes bin/ and pkg/tool/ executable whatever the zip says; so do we.
 */
export function unpackToolchain(entries: ZipEntry[], dest: string): void {
  for (const { name, read, mode } of entries) {
    const prefix = 'golang.org/toolchain@';
    const slash = name.indexOf('/', prefix.length);
    if (!name.startsWith(prefix) || slash < 0) throw new Error(`unexpected path in a toolchain zip: ${name}`);
    const relative = normalize(name.slice(slash + 1));
    if (relative.startsWith('..') || relative.startsWith('/')) throw new Error(`path escapes the destination: ${name}`);
    if (name.endsWith('/')) continue;
    const path = join(dest, relative);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, read());
    const executable = relative.startsWith('bin/') || relative.startsWith('pkg/tool/');
    chmodSync(path, executable ? 0o755 : (mode ?? 0o644) | 0o644);
  }
}

async function main(url: string, expected: string, dest: string): Promise<void> {
  // fetch reports "fetch failed" and keeps the reason (DNS, TLS, refused) in `cause`.
  const response = await fetch(url).catch((err: Error) => {
    throw new Error(`GET ${url}: ${err.message}${err.cause instanceof Error ? ` (${err.cause.message})` : ''}`);
  });
  if (!response.ok) throw new Error(`GET ${url}: HTTP ${response.status}`);
  const entries = readZip(Buffer.from(await response.arrayBuffer()));
  const actual = hash1(entries);
  if (actual !== expected) throw new Error(`checksum mismatch for ${url}: got ${actual}, pinned ${expected}`);
  rmSync(dest, { recursive: true, force: true });
  try {
    unpackToolchain(entries, dest);
  } catch (err) {
    rmSync(dest, { recursive: true, force: true });
    throw err;
  }
  process.stderr.write(`[go-toolchain] ${url}: ${entries.length} files, ${actual} verified\n`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [url, expected, dest] = process.argv.slice(2);
  if (!url || !expected?.startsWith('h1:') || !dest) {
    process.stderr.write('usage: node hack/go-toolchain.ts <zip URL> <h1:hash> <destination directory>\n');
    process.exit(2);
  }
  main(url, expected, dest).catch((err: unknown) => {
    process.stderr.write(`[go-toolchain] ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
