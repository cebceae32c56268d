// IPv4 arithmetic for the cloud fakes' subnet and public address pools (the fakes model IPv4 only).

export interface Cidr {
  readonly base: number;
  readonly size: number;
  readonly text: string;
}

export function ipToInt(ip: string): number | undefined {
  const parts = ip.split('.');
  if (parts.length !== 4) return undefined;
  let value = 0;
  for (const part of parts) {
    if (!/^\d{1,3}$/.test(part) || Number(part) > 255) return undefined;
    value = value * 256 + Number(part);
  }
  return value;
}

export function intToIp(value: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(value / 2 ** shift) % 256).join('.');
}

export function parseCidr(text: string): Cidr {
  const [ip, bitsText] = text.split('/');
  const address = ipToInt(ip ?? '');
  const bits = Number(bitsText);
  if (address === undefined || !Number.isInteger(bits) || bits < 0 || bits > 32) throw new Error(`bad CIDR ${text}`);
  const size = 2 ** (32 - bits);
  return { base: address - (address % size), size, text };
}

export function cidrContains(cidr: Cidr, ip: number): boolean {
  return ip >= cidr.base && ip < cidr.base + cidr.size;
}
