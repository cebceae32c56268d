// A world-readable copy of a script and everything it imports, for running it as another user.
import {
  accessSync,
  chmodSync,
  constants,
  copyFileSync,
  cpSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface ReadableCopy {
  /** The copied script. */
  script: string;
  /** A Node binary the other user can run. */
  node: string;
  remove(): void;
}

/** Imports that exist at run time (type-only ones are erased), relative or bare. */
function runtimeImports(source: string): string[] {
  const found: string[] = [];
  for (const m of source.matchAll(/^import\s+(?!type\b)[^'"]*?from\s+'([^']+)'|^import\s+'([^']+)'/gm)) found.push((m[1] ?? m[2])!);
  return found;
}

/** Whether a path can be reached and read (and run, with execute) by a user with no special rights. */
function othersCan(path: string, execute: boolean): boolean {
  const mode = statSync(path).mode;
  if (!(mode & (execute ? 0o005 : 0o004))) return false;
  for (let dir = dirname(path); ; dir = dirname(dir)) {
    if (!(statSync(dir).mode & 0o001)) return false;
    if (dirname(dir) === dir) return true;
  }
}

/**
 * The tests run from a checkout that may be private (a clone in root's 0700 home): a script started as
 * "nobody" from there cannot even be read. This copies the script and the project files it imports (the
 * real product code, unchanged) into a fresh directory anyone can read, at the same paths relative to the
 * project root, with the packages they import in its node_modules, so that every import resolves as in
 * the checkout; and the Node binary, when the one running the tests is out of reach too. Packages are
 * copied without their own dependencies (one that has any is an error): enough for the leaf packages the
 * fixtures reach.
 */
export function readableCopy(script: string): ReadableCopy {
  const dir = mkdtempSync(join(tmpdir(), 'slc-readable-'));
  const copied = new Set<string>();
  const copyFile = (file: string) => {
    const target = join(dir, relative(ROOT, file));
    mkdirSync(dirname(target), { recursive: true });
    copyFileSync(file, target);
  };
  const visit = (file: string) => {
    if (copied.has(file)) return;
    copied.add(file);
    copyFile(file);
    for (const spec of runtimeImports(readFileSync(file, 'utf8'))) {
      if (spec.startsWith('node:')) continue;
      if (spec.startsWith('.')) {
        visit(resolve(dirname(file), spec));
        continue;
      }
      // A package: its directory, found from the importing file as Node would, into the copy's node_modules.
      const name = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!;
      const entry = createRequire(file).resolve(name);
      const marker = `${sep}node_modules${sep}${name.split('/').join(sep)}${sep}`;
      const packageDir = entry.slice(0, entry.lastIndexOf(marker) + marker.length - 1);
      if (copied.has(packageDir)) continue;
      copied.add(packageDir);
      cpSync(packageDir, join(dir, 'node_modules', name), { recursive: true, dereference: true });
      const manifest = JSON.parse(readFileSync(join(packageDir, 'package.json'), 'utf8')) as { dependencies?: object };
      if (Object.keys(manifest.dependencies ?? {}).length > 0)
        throw new Error(`readableCopy: ${name} has dependencies, which it does not copy`);
    }
  };
  visit(resolve(script));
  // The project's package.json makes the copied .ts files ES modules, as in the checkout.
  copyFile(join(ROOT, 'package.json'));

  let node = process.execPath;
  if (!othersCan(node, true)) {
    node = join(dir, 'node');
    copyFileSync(process.execPath, node);
  }
  makeReadable(dir);
  accessSync(node, constants.X_OK);
  return { script: join(dir, relative(ROOT, resolve(script))), node, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Directories 0755, files 0644 (0755 if executable): mkdtemp makes 0700, and a private clone may have 0600 files. */
function makeReadable(path: string): void {
  const stat = statSync(path);
  if (stat.isDirectory()) {
    chmodSync(path, 0o755);
    for (const entry of readdirSync(path)) makeReadable(join(path, entry));
  } else {
    chmodSync(path, stat.mode & 0o100 ? 0o755 : 0o644);
  }
}
