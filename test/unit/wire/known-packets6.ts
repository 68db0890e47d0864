/**
 * Known IPv6 packets, byte for byte as Linux sends them. `tcpdump -vv` reads PING6 as
 *
 *   IP6 (flowlabel 0x82411, hlim 64, next-header ICMPv6 (58) payload length: 24) ::1 > ::1:
 *     [icmp6 sum ok] ICMP6, echo request, id 18025, seq 1
 *
 * (`ping -6 -c 1 -p 0001 -s 16 ::1` on the loopback of a namespace of its own, captured with
 * tcpdump on lo; the Ethernet header of the capture left out.)
 */
import { hex } from './known-packets.ts';

export const LOOPBACK6 = hex('0000 0000 0000 0000 0000 0000 0000 0001');

export const PING6 = hex(`
  6008 2411 0018 3a40
  0000 0000 0000 0000 0000 0000 0000 0001
  0000 0000 0000 0000 0000 0000 0000 0001
  8000 a692 4669 0001 68c3 136b 0000 0000 0880 0e00 0000 0000`);
