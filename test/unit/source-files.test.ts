// House rules that a reader relies on: every TypeScript file opens with a one-line purpose comment.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));

function typescriptFiles(dir: string): string[] {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return [];
  }
  return entries.flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return e.name === 'node_modules' ? [] : typescriptFiles(path);
    return e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') ? [path] : [];
  });
}

test('every TypeScript file opens with a one-line purpose comment', () => {
  const files = ['src', 'test', 'bench', 'demo', 'examples'].flatMap((d) => typescriptFiles(join(root, d)));
  assert.ok(files.length > 100, `found only ${files.length} files: is the walk broken?`);
  const missing = files.filter((f) => !/^(#![^\n]*\n)?\/\/ \S/.test(readFileSync(f, 'utf8'))).map((f) => relative(root, f));
  assert.deepEqual(missing, []);
});
