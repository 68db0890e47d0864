/**
 * What a local address given to `listen` (src/api/net.ts) or `bind` (src/api/dgram.ts) means on
 * this stack, as Linux reads it for a socket of either family (checked against Node 20 on Linux,
 * docs/ipv6.md "The API per family"):
 *
 *  - an IPv4 socket: '0.0.0.0' (every address) or the stack's own address; 127.0.0.0/8 and
 *    'localhost' are the stack itself (it has no loopback interface);
 *  - an IPv6 socket: '::' takes both families (IPv4 peers seen as '::ffff:a.b.c.d') unless
 *    `ipv6Only`; the stack's IPv6 address or '::1' takes IPv6 only; an IPv4-mapped address
 *    ('::ffff:0.0.0.0', '::ffff:10.0.0.2') takes IPv4 only, its peers seen mapped, and is EINVAL
 *    with `ipv6Only` (an IPV6_V6ONLY socket cannot bind one);
 *  - any other address: EADDRNOTAVAIL; a literal of the other family on a dgram socket: EINVAL;
 *    a name that is not a literal: ENOTFOUND (no DNS); an IPv6 socket on a stack without IPv6:
 *    EAFNOSUPPORT, as on a host without IPv6.
 */
import type { Stack } from '../stack/stack.ts';
import type { ListenFamily } from '../stack/tcp.ts';
import { formatIpv4, tryParseIpv4 } from '../wire/ipv4.ts';
import {
  formatIpv6,
  get32Mapped,
  ipv6Equal,
  isIpv4Mapped,
  isIpv6Loopback,
  isIpv6Unspecified,
  tryParseIpv6,
} from '../wire/ipv6.ts';

export interface LocalBinding {
  /** The families of the peers it takes. */
  family: ListenFamily;
  /** What address() says. */
  address: string;
  /** An IPv6 socket: IPv4 peers and our own IPv4 address read '::ffff:a.b.c.d'. */
  mapped: boolean;
}

export type LocalError = 'EADDRNOTAVAIL' | 'EAFNOSUPPORT' | 'EINVAL' | 'ENOTFOUND';

/** True for an IPv6 literal (Node's isIPv6): the socket it makes is an IPv6 one. */
export function isIpv6Literal(text: string): boolean {
  return text.includes(':') && tryParseIpv6(text) !== null;
}

/** The stack itself: 127.0.0.0/8 (its own address loops back inside it). */
function isLoopback4(addr: number): boolean {
  return addr >>> 24 === 127;
}

/**
 * `text` as a local address for a socket of family `v6` (true: IPv6). `text` is a literal or
 * 'localhost' (the stack itself, in the socket's family).
 */
export function localBinding(
  stack: Stack,
  text: string,
  v6: boolean,
  ipv6Only: boolean,
): LocalBinding | LocalError {
  const name = text === 'localhost' ? (v6 ? '::1' : '127.0.0.1') : text;
  const a4 = tryParseIpv4(name);
  const a6 = a4 === null ? tryParseIpv6(name) : null;
  if (a4 === null && a6 === null) return 'ENOTFOUND';
  if (a4 !== null) {
    if (v6) return 'EINVAL';
    return local4(stack, a4, false) ?? 'EADDRNOTAVAIL';
  }
  if (!v6) return 'EINVAL';
  const own6 = stack.addr6;
  if (own6 === null) return 'EAFNOSUPPORT';
  const addr = a6 as Uint8Array;
  if (isIpv6Unspecified(addr))
    return { family: ipv6Only ? 6 : 'both', address: '::', mapped: true };
  if (isIpv4Mapped(addr)) {
    if (ipv6Only) return 'EINVAL';
    return local4(stack, get32Mapped(addr), true) ?? 'EADDRNOTAVAIL';
  }
  if (ipv6Equal(addr, own6) || isIpv6Loopback(addr))
    return { family: 6, address: formatIpv6(own6), mapped: false };
  return 'EADDRNOTAVAIL';
}

/** An IPv4 address, seen by an IPv4 socket or (`mapped`) an IPv6 one; null when not ours. */
function local4(stack: Stack, addr: number, mapped: boolean): LocalBinding | null {
  const prefix = mapped ? '::ffff:' : '';
  if (addr === 0) return { family: 4, address: `${prefix}0.0.0.0`, mapped };
  if (addr === stack.addr || isLoopback4(addr))
    return { family: 4, address: `${prefix}${formatIpv4(stack.addr)}`, mapped };
  return null;
}
