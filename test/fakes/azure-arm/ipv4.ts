// IPv4 arithmetic for the Azure fake's subnet and public address pools (IPv4 only, as the fake models).

export interface Cidr {
  readonly base: number;
  readonly bits: number;
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
  return { base: address - (address % size), bits, text };
}

export function cidrSize(cidr: Cidr): number {
  return 2 ** (32 - cidr.bits);
}

export function cidrContains(cidr: Cidr, ip: number): boolean {
  return ip >= cidr.base && ip < cidr.base + cidrSize(cidr);
}

/** Azure keeps the network address, the next three (gateway, DNS) and the broadcast address of every subnet. */
export function azureReserved(cidr: Cidr, ip: number): boolean {
  const offset = ip - cidr.base;
  return offset < 4 || offset === cidrSize(cidr) - 1;
}
