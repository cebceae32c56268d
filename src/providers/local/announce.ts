// Announces a VIP just added to an interface (native/announce.c): gratuitous ARP or an unsolicited
// neighbour advertisement, so that a VIP moved from another host is reached here at once.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { ProviderError } from '../provider.ts';

const run = promisify(execFile);
const ANNOUNCE_PATH = fileURLToPath(new URL('../../../build/announce', import.meta.url));

export async function announce(iface: string, ip: string): Promise<void> {
  try {
    await run(ANNOUNCE_PATH, [iface, ip]);
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    const why = e.code === 'ENOENT' ? `${ANNOUNCE_PATH} is missing (npm run build:native)` : (e.stderr ?? '').trim() || e.message;
    throw new ProviderError(`cannot announce ${ip} on interface ${iface}: ${why}`, { retryable: true, cause: err });
  }
}
