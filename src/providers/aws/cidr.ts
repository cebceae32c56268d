// IPv4 CIDR arithmetic, enough to tell whether a node IP lies inside the VPC.

function ipv4ToNumber(ip: string): number | undefined {
  const parts = ip.split('.');
  if (parts.length !== 4) return undefined;
  let value = 0;
  for (const part of parts) {
    if (!/^\d{1,3}$/.test(part)) return undefined;
    const octet = Number(part);
    if (octet > 255) return undefined;
    value = value * 256 + octet;
  }
  return value;
}

export function isIPv4(ip: string): boolean {
  return ipv4ToNumber(ip) !== undefined;
}

export function isIPv4Cidr(cidr: string): boolean {
  const [ip, bits, ...rest] = cidr.split('/');
  return rest.length === 0 && ip !== undefined && isIPv4(ip) && bits !== undefined && /^\d{1,2}$/.test(bits) && Number(bits) <= 32;
}

export function isIPv6Cidr(cidr: string): boolean {
  const [ip, bits, ...rest] = cidr.split('/');
  return (
    rest.length === 0 &&
    ip !== undefined &&
    ip.includes(':') &&
    /^[0-9a-fA-F:.]+$/.test(ip) &&
    bits !== undefined &&
    /^\d{1,3}$/.test(bits) &&
    Number(bits) <= 128
  );
}

export function ipv4InCidr(ip: string, cidr: string): boolean {
  const [base, bitsText] = cidr.split('/');
  const address = ipv4ToNumber(ip);
  const network = base === undefined ? undefined : ipv4ToNumber(base);
  if (address === undefined || network === undefined || bitsText === undefined) return false;
  const bits = Number(bitsText);
  const size = 2 ** (32 - bits);
  return Math.floor(address / size) === Math.floor(network / size);
}
