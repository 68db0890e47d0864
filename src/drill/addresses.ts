/**
 * The addresses a script runs between, for each of packetdrill's --ip_version values, and the
 * MTU that keeps the scripts' MSS the same in every family.
 *
 * IPv4 keeps tunstack's convention (the stack 10.0.0.2, the script's remote end 10.0.0.1).
 * IPv6 takes the pair packetdrill's run_all.py gives Linux's own scripts (gtests/net/packetdrill:
 * --local_ip=fd3d:0a0b:17d6::1 --remote_ip=fd3d:fa7b:d17d::1, both in RFC 4193 unique local
 * space; packetdrill alone would pick a random local address in fd3d:fa7b:d17d::/48 and
 * 2001:db8::1, RFC 3849's documentation prefix, for the remote). run_all.py also runs IPv6 with
 * --mtu=1520, so that the MSS a stack announces, MTU − 60 over IPv6, is the 1460 that the
 * scripts write for MTU 1500 − 40 over IPv4; the drill runner does the same by default.
 */
import { IPV6_ID_BASE } from '../tcp/address.ts';
import { parseIpv6 } from '../wire/ipv6.ts';
import type { DrillAddresses, IpVersion } from './target.ts';

export const DRILL_LOCAL4 = 0x0a000002; // 10.0.0.2
export const DRILL_REMOTE4 = 0x0a000001; // 10.0.0.1
export const DRILL_LOCAL6 = 'fd3d:a0b:17d6::1';
export const DRILL_REMOTE6 = 'fd3d:fa7b:d17d::1';

/** The addresses of a run over `ipVersion`; over IPv6 the core's numbers are ids (2^32, 2^32+1). */
export function drillAddresses(ipVersion: IpVersion = 'ipv4'): DrillAddresses {
  if (ipVersion !== 'ipv6') return { local: DRILL_LOCAL4, remote: DRILL_REMOTE4, ipVersion };
  return {
    local: IPV6_ID_BASE,
    remote: IPV6_ID_BASE + 1,
    ipVersion,
    local6: parseIpv6(DRILL_LOCAL6),
    remote6: parseIpv6(DRILL_REMOTE6),
  };
}

/** IP header bytes in front of each segment: what the MSS leaves out of the MTU. */
export function ipHeaderLen(ipVersion: IpVersion = 'ipv4'): number {
  return ipVersion === 'ipv6' ? 40 : 20;
}

/** The link MTU a run uses unless told: 1500, and 1520 over IPv6 (MSS 1460 in both). */
export function defaultMtu(ipVersion: IpVersion = 'ipv4'): number {
  return ipVersion === 'ipv6' ? 1520 : 1500;
}

/** The largest MSS a run announces: the MTU less the IP and TCP headers. */
export function mssCap(ipVersion: IpVersion = 'ipv4', mtu = defaultMtu(ipVersion)): number {
  return mtu - ipHeaderLen(ipVersion) - 20;
}
