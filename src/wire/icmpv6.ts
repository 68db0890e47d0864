/**
 * ICMPv6 (RFC 4443): echo request/reply, the four error messages, and every other type carried
 * opaquely (Neighbor Discovery, RFC 4861, and MLD, RFC 2710/3810, are recognised by type only).
 * The checksum covers the IPv6 pseudo-header (next header 58) and the whole message (§2.3).
 *
 *  |     Type      |     Code      |          Checksum             |
 *  |  Identifier / unused / MTU / Pointer (32 bits, by type)       |
 *  |     Data (echo payload, or as much of the invoking packet as fits)
 */
import { copyInto, get16, put16, put32 } from './bytes.ts';
import { onesSum, pseudoHeaderSum6 } from './checksum.ts';
import { IcmpHeaderView } from './icmp.ts';
import { Ipv6Next } from './ipv6.ts';
import { ParseError } from './parse-error.ts';

export const Icmpv6Type = {
  DestUnreachable: 1,
  PacketTooBig: 2,
  TimeExceeded: 3,
  ParameterProblem: 4,
  EchoRequest: 128,
  EchoReply: 129,
  MldQuery: 130,
  MldReport: 131,
  MldDone: 132,
  RouterSolicitation: 133,
  RouterAdvertisement: 134,
  NeighborSolicitation: 135,
  NeighborAdvertisement: 136,
  Redirect: 137,
  Mldv2Report: 143,
} as const;

/** Destination Unreachable codes (RFC 4443 §3.1). */
export const Unreach6Code = {
  NoRoute: 0,
  AdminProhibited: 1,
  BeyondScope: 2,
  Address: 3,
  Port: 4,
} as const;

export const ICMPV6_HEADER_LEN = 8;

const TYPE = 0;
const CODE = 1;
const CHECKSUM = 2;
const REST = 4;

/** Types 0-127 are errors, 128-255 informational (RFC 4443 §2.1). */
export function isIcmpv6Error(type: number): boolean {
  return type < 128;
}

/**
 * Whether IPv6 packet `pkt` (its bytes as received, or a prefix of them) carries an ICMPv6 error
 * message, found as Linux's icmpv6_send finds it before answering (is_ineligible, over
 * ipv6_skip_exthdr): past Hop-by-Hop, Routing and Destination Options headers in any order and
 * number, and the Fragment header of a first fragment. An ICMPv6 header cut off counts as an
 * error unless in a fragment with M set. RFC 4443 §2.4 (e.1): no error may answer one. Every step
 * moves on at least 8 bytes, so the packet's length bounds the walk.
 */
export function carriesIcmpv6Error(pkt: Uint8Array): boolean {
  if (pkt.length < 40) return false;
  const end = Math.min(pkt.length, 40 + ((pkt[4] << 8) | pkt[5]));
  let next = pkt[6];
  let at = 40;
  let fragment = false;
  for (;;) {
    if (next === Ipv6Next.HopByHop || next === Ipv6Next.Routing || next === Ipv6Next.DestOptions) {
      if (at + 2 > end) return false;
      next = pkt[at];
      at += (pkt[at + 1] + 1) * 8;
    } else if (next === Ipv6Next.Fragment) {
      if (at + 8 > end || (get16(pkt, at + 2) & 0xfff8) !== 0) return false;
      fragment = get16(pkt, at + 2) !== 0; // M set: a first fragment, not an atomic one
      next = pkt[at];
      at += 8;
    } else {
      if (next !== Ipv6Next.Icmpv6) return false;
      return at < end ? isIcmpv6Error(pkt[at]) : !fragment;
    }
  }
}

/** Neighbor Discovery (RFC 4861 §4): router/neighbour solicitation and advertisement, redirect. */
export function isNdType(type: number): boolean {
  return type >= Icmpv6Type.RouterSolicitation && type <= Icmpv6Type.Redirect;
}

/** Multicast Listener Discovery: MLDv1 query, report, done (RFC 2710), MLDv2 report (RFC 3810). */
export function isMldType(type: number): boolean {
  return (type >= Icmpv6Type.MldQuery && type <= Icmpv6Type.MldDone) || type === 143;
}

export type Icmpv6Repr =
  | { kind: 'echo-request' | 'echo-reply'; ident: number; seqNo: number; data: Uint8Array }
  /** `data`: as much of the invoking packet as fits in the minimum MTU (RFC 4443 §2.4 (c)). */
  | { kind: 'dest-unreachable'; code: number; data: Uint8Array }
  | { kind: 'packet-too-big'; mtu: number; data: Uint8Array }
  | { kind: 'time-exceeded'; code: number; data: Uint8Array }
  /** `pointer`: the offset in the invoking packet of the field at fault. */
  | { kind: 'parameter-problem'; code: number; pointer: number; data: Uint8Array }
  | { kind: 'other'; type: number; code: number; rest: number; data: Uint8Array };

/** Reasons `Icmpv6View.check` rejects bytes; each is also an `icmp6.drops` stats key. */
export type Icmpv6ParseReason = 'truncated' | 'bad-checksum';

/** A checked ICMPv6 message: at least 8 bytes (4 for some types, see check) with a good checksum. */
export class Icmpv6View extends IcmpHeaderView {
  private constructor(buf: Uint8Array) {
    super(buf);
  }

  /**
   * Validate an ICMPv6 message (the upper-layer bytes of a packet from `src` to `dst`, 16-byte
   * views). Every message type we read has the 32-bit word after the checksum, so 8 bytes are the
   * minimum. `verifyChecksum` false: the link vouched for the bytes. Never throws.
   */
  static check(
    buf: Uint8Array,
    src: Uint8Array,
    dst: Uint8Array,
    verifyChecksum = true,
  ): Icmpv6View | ParseError<Icmpv6ParseReason> {
    if (buf.length < ICMPV6_HEADER_LEN) return ParseError.of('truncated');
    if (
      verifyChecksum &&
      onesSum(buf, 0, buf.length, pseudoHeaderSum6(src, dst, Ipv6Next.Icmpv6, buf.length)) !==
        0xffff
    ) {
      return ParseError.of('bad-checksum');
    }
    return new Icmpv6View(buf);
  }

  toRepr(): Icmpv6Repr {
    const type = this.type;
    const code = this.code;
    const data = this.data;
    switch (type) {
      case Icmpv6Type.EchoRequest:
      case Icmpv6Type.EchoReply:
        return {
          kind: type === Icmpv6Type.EchoRequest ? 'echo-request' : 'echo-reply',
          ident: this.ident,
          seqNo: this.seqNo,
          data,
        };
      case Icmpv6Type.DestUnreachable:
        return { kind: 'dest-unreachable', code, data };
      case Icmpv6Type.PacketTooBig:
        return { kind: 'packet-too-big', mtu: this.rest, data };
      case Icmpv6Type.TimeExceeded:
        return { kind: 'time-exceeded', code, data };
      case Icmpv6Type.ParameterProblem:
        return { kind: 'parameter-problem', code, pointer: this.rest, data };
      default:
        return { kind: 'other', type, code, rest: this.rest, data };
    }
  }
}

/** Bytes `emitIcmpv6` writes for `repr`. */
export function icmpv6Len(repr: Icmpv6Repr): number {
  return ICMPV6_HEADER_LEN + repr.data.length;
}

/**
 * Write `repr` at the start of `buf` (header, data unless already in place at `buf[8 …]`, and the
 * checksum over the pseudo-header for `src` → `dst`). Returns the length written.
 */
export function emitIcmpv6(
  buf: Uint8Array,
  repr: Icmpv6Repr,
  src: Uint8Array,
  dst: Uint8Array,
): number {
  let type: number;
  let code = 0;
  let rest = 0;
  switch (repr.kind) {
    case 'echo-request':
    case 'echo-reply':
      type = repr.kind === 'echo-request' ? Icmpv6Type.EchoRequest : Icmpv6Type.EchoReply;
      rest = ((repr.ident & 0xffff) << 16) | (repr.seqNo & 0xffff);
      break;
    case 'dest-unreachable':
      type = Icmpv6Type.DestUnreachable;
      code = repr.code;
      break;
    case 'packet-too-big':
      type = Icmpv6Type.PacketTooBig;
      rest = repr.mtu;
      break;
    case 'time-exceeded':
      type = Icmpv6Type.TimeExceeded;
      code = repr.code;
      break;
    case 'parameter-problem':
      type = Icmpv6Type.ParameterProblem;
      code = repr.code;
      rest = repr.pointer;
      break;
    case 'other':
      type = repr.type;
      code = repr.code;
      rest = repr.rest;
      break;
  }
  const len = ICMPV6_HEADER_LEN + repr.data.length;
  buf[TYPE] = type;
  buf[CODE] = code;
  put16(buf, CHECKSUM, 0);
  put32(buf, REST, rest >>> 0);
  copyInto(buf, ICMPV6_HEADER_LEN, repr.data);
  const sum = onesSum(buf, 0, len, pseudoHeaderSum6(src, dst, Ipv6Next.Icmpv6, len));
  put16(buf, CHECKSUM, ~sum & 0xffff);
  return len;
}
