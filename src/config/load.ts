// Reads a YAML config file into a typed Config; errors name every bad field.
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { parse } from 'yaml';
import { configSchema, type Config } from './schema.ts';

/** A config that cannot be used; the message names every bad field. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

function fieldPath(path: readonly PropertyKey[]): string {
  return path.reduce<string>((acc, key) => (typeof key === 'number' ? `${acc}[${key}]` : acc ? `${acc}.${String(key)}` : String(key)), '');
}

/** A relative module path ("./x", "../x"), as Node tells it from a package name; absolute paths stay as written. */
function isRelativePath(specifier: string): boolean {
  return /^\.\.?(\/|$)/.test(specifier);
}

/**
 * `baseDir` is where a relative provider.module is resolved from: the config file's directory, so a
 * config and the module next to it move together; the working directory for a config without a file.
 */
export function parseConfig(raw: unknown, source = 'config', baseDir = process.cwd()): Config {
  const result = configSchema.safeParse(raw ?? {});
  if (result.success) {
    const { module } = result.data.provider;
    if (module !== undefined && isRelativePath(module)) result.data.provider.module = resolve(baseDir, module);
    return result.data;
  }
  const lines = result.error.issues.map((issue) => {
    const base = fieldPath(issue.path);
    const keys = issue.code === 'unrecognized_keys' ? issue.keys.map((k) => (base ? `${base}.${k}` : k)) : [base || '(root)'];
    const message = issue.code === 'unrecognized_keys' ? 'unknown field' : issue.message;
    return keys.map((k) => `  ${k}: ${message}`).join('\n');
  });
  throw new ConfigError(`invalid ${source}:\n${lines.join('\n')}`);
}

export async function loadConfig(file: string): Promise<Config> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read config file ${file}: ${(err as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = parse(text);
  } catch (err) {
    throw new ConfigError(`config file ${file} is not valid YAML: ${(err as Error).message}`);
  }
  return parseConfig(raw, `config file ${file}`, dirname(resolve(file)));
}
