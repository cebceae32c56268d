// Adds and removes VIPs on a network interface with iproute2, for a host at the edge of a network.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { ProviderError } from '../provider.ts';
import { parseIP } from './ip.ts';

const run = promisify(execFile);

function explain(what: string, iface: string, err: unknown): ProviderError {
  const e = err as NodeJS.ErrnoException & { stderr?: string };
  const stderr = (e.stderr ?? '').trim();
  let why = stderr || e.message;
  if (e.code === 'ENOENT') why = 'the "ip" command (iproute2) is not installed';
  else if (/Operation not permitted/i.test(stderr)) {
    why =
      'operation not permitted: the controller needs CAP_NET_ADMIN, or leave provider.local.interface unset and manage the address yourself';
  } else if (/Cannot find device|does not exist/i.test(stderr)) why = `no interface named "${iface}"`;
  return new ProviderError(`cannot ${what}: ${why}`, { retryable: true, cause: err });
}

export class InterfaceAddresses {
  readonly iface: string;
  /** Operations on one address run in order, so that a quick remove-then-add never ends removed. */
  private readonly queues = new Map<string, Promise<void>>();

  constructor(iface: string) {
    this.iface = iface;
  }

  private serial(ip: string, op: () => Promise<void>): Promise<void> {
    const previous = this.queues.get(ip) ?? Promise.resolve();
    const next = previous.catch(() => {}).then(op);
    this.queues.set(ip, next);
    void next
      .finally(() => {
        if (this.queues.get(ip) === next) this.queues.delete(ip);
      })
      .catch(() => {});
    return next;
  }

  add(ip: string): Promise<void> {
    return this.serial(ip, async () => {
      const family = parseIP(ip)!.family;
      // nodad: an IPv6 address is usable at once instead of after duplicate address detection.
      const args =
        family === 'IPv4' ? ['addr', 'add', `${ip}/32`, 'dev', this.iface] : ['-6', 'addr', 'add', `${ip}/128`, 'dev', this.iface, 'nodad'];
      try {
        await run('ip', args);
      } catch (err) {
        if (/File exists|already assigned/i.test((err as { stderr?: string }).stderr ?? '')) return;
        throw explain(`add ${ip} to interface ${this.iface}`, this.iface, err);
      }
    });
  }

  remove(ip: string): Promise<void> {
    return this.serial(ip, async () => {
      const prefix = parseIP(ip)!.family === 'IPv4' ? 32 : 128;
      try {
        await run('ip', ['addr', 'del', `${ip}/${prefix}`, 'dev', this.iface]);
      } catch (err) {
        if (/Cannot assign requested address|not found/i.test((err as { stderr?: string }).stderr ?? '')) return;
        throw explain(`remove ${ip} from interface ${this.iface}`, this.iface, err);
      }
    });
  }

  /** The addresses on the interface now. */
  async list(): Promise<string[]> {
    try {
      const { stdout } = await run('ip', ['-j', 'addr', 'show', 'dev', this.iface]);
      const links = JSON.parse(stdout) as { addr_info?: { local?: string }[] }[];
      return links.flatMap((link) => (link.addr_info ?? []).flatMap((a) => (a.local ? [a.local] : [])));
    } catch (err) {
      throw explain(`list the addresses of interface ${this.iface}`, this.iface, err);
    }
  }
}
