// Builds the package as shipped (npm run build: dist/ with declarations), for tests of its public entry points.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const PACKAGE_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** tsc -p tsconfig.build.json into dist/: what `exports` in package.json points at. */
export function buildPackage(): void {
  execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.build.json'], { cwd: PACKAGE_ROOT, stdio: 'inherit' });
}
