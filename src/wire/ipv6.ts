/**
 * IPv6 (RFC 8200): the fixed header as a view, a plain record and an emitter; addresses as 16-byte
 * Uint8Arrays (views into a packet, or parsed text); the Fragment header; and the walk along the
 * extension-header chain, bounded, with option TLVs checked as §4.2 says.
 *
 *   0                   1                   2                   3
 *   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |Version| Traffic Class |           Flow Label                  |
 *  |         Payload Length        |  Next Header  |   Hop Limit   |
 *  |                  Source Address (128 bits)                    |
 *  |               Destination Address (128 bits)                  |
 */
import { get16, get32, put16, put32 } from './bytes.ts';
import { ParseError } from './parse-error.ts';

export const IPV6_HEADER_LEN = 40;
/** RFC 8200 §5: every link that carries IPv6 has an MTU of at least 1280. */
export const IPV6_MIN_MTU = 1280;
/** The largest Payload Length (no jumbograms, RFC 2675, here). */
export const IPV6_MAX_PAYLOAD = 65_535;
export const IPV6_FRAGMENT_HEADER_LEN = 8;

/** Next Header values we know by name (IANA "Assigned Internet Protocol Numbers"). */
export const Ipv6Next = {
  HopByHop: 0,
  Tcp: 6,
  Udp: 17,
  Routing: 43,
  Fragment: 44,
  Esp: 50,
  Ah: 51,
  Icmpv6: 58,
  NoNext: 59,
  DestOptions: 60,
} as const;

const VTC_FLOW = 0;
const PAYLOAD_LEN = 4;
const NEXT_HEADER = 6;
const HOP_LIMIT = 7;
const SRC = 8;
const DST = 24;

/** Reasons `Ipv6View.check` rejects bytes; each is also an `ip6.drops` stats key. */
export type Ipv6ParseReason = 'truncated' | 'bad-version' | 'bad-length';

/** What an IPv6 fixed header means, for emitting (and for tests). */
export interface Ipv6Repr {
  src: Uint8Array;
  dst: Uint8Array;
  nextHeader: number;
  hopLimit: number;
  /** DSCP and ECN (RFC 2474, RFC 3168), as IPv4's TOS byte; 0 when omitted. */
  trafficClass?: number;
  flowLabel?: number;
  /** Bytes after the fixed header (extension headers included). */
  payloadLength: number;
}

/**
 * A checked IPv6 fixed header. Only `Ipv6View.check` makes one, so every getter reads inside the
 * buffer and within the Payload Length the header claims.
 */
export class Ipv6View {
  private constructor(private readonly buf: Uint8Array) {}

  /**
   * Validate a received IPv6 packet: 40 bytes at least, version 6, and 40 + Payload Length within
   * the buffer (bytes past it, link padding, are cut off). A Payload Length of zero is taken as
   * an empty payload: jumbograms (RFC 2675) are not supported. Never throws.
   */
  static check(buf: Uint8Array): Ipv6View | ParseError<Ipv6ParseReason> {
    if (buf.length < IPV6_HEADER_LEN) return ParseError.of('truncated');
    if (buf[VTC_FLOW] >>> 4 !== 6) return ParseError.of('bad-version');
    const total = IPV6_HEADER_LEN + ((buf[PAYLOAD_LEN] << 8) | buf[PAYLOAD_LEN + 1]);
    if (total > buf.length) return ParseError.of('bad-length');
    return new Ipv6View(total === buf.length ? buf : buf.subarray(0, total));
  }

  /** The checked bytes: header and payload, cut at 40 + Payload Length. */
  get bytes(): Uint8Array {
    return this.buf;
  }
  get version(): number {
    return this.buf[VTC_FLOW] >>> 4;
  }
  get trafficClass(): number {
    return ((this.buf[0] & 0x0f) << 4) | (this.buf[1] >>> 4);
  }
  get flowLabel(): number {
    return ((this.buf[1] & 0x0f) << 16) | get16(this.buf, 2);
  }
  get payloadLength(): number {
    return get16(this.buf, PAYLOAD_LEN);
  }
  get nextHeader(): number {
    return this.buf[NEXT_HEADER];
  }
  get hopLimit(): number {
    return this.buf[HOP_LIMIT];
  }
  /** The source address: a 16-byte view into the packet. */
  get src(): Uint8Array {
    return this.buf.subarray(SRC, SRC + 16);
  }
  get dst(): Uint8Array {
    return this.buf.subarray(DST, DST + 16);
  }
  /** Everything after the fixed header (extension headers included): a view. */
  get payload(): Uint8Array {
    return this.buf.subarray(IPV6_HEADER_LEN);
  }

  /** The plain record of this header (addresses are views into the packet). */
  toRepr(): Ipv6Repr {
    return {
      src: this.src,
      dst: this.dst,
      nextHeader: this.nextHeader,
      hopLimit: this.hopLimit,
      trafficClass: this.trafficClass,
      flowLabel: this.flowLabel,
      payloadLength: this.payloadLength,
    };
  }

  /**
   * Write the 40-byte fixed header for `repr` at `buf[0 …]`; the payload is the caller's, at
   * `buf[40 …]`. Returns 40.
   */
  static emit(buf: Uint8Array, repr: Ipv6Repr): number {
    const tc = (repr.trafficClass ?? 0) & 0xff;
    const flow = (repr.flowLabel ?? 0) & 0xfffff;
    put32(buf, VTC_FLOW, ((0x60 | (tc >>> 4)) << 24) | ((tc & 0x0f) << 20) | flow);
    put16(buf, PAYLOAD_LEN, repr.payloadLength);
    buf[NEXT_HEADER] = repr.nextHeader;
    buf[HOP_LIMIT] = repr.hopLimit;
    copyAddress(buf, SRC, repr.src);
    copyAddress(buf, DST, repr.dst);
    return IPV6_HEADER_LEN;
  }
}

/** Copy a 16-byte address to `buf[at …]`, unless it already sits there. */
function copyAddress(buf: Uint8Array, at: number, addr: Uint8Array): void {
  if (addr.buffer === buf.buffer && addr.byteOffset === buf.byteOffset + at) return;
  for (let i = 0; i < 16; i++) buf[at + i] = addr[i];
}

// ---------------------------------------------------------------------------------------------
// Addresses (RFC 4291)
// ---------------------------------------------------------------------------------------------

/** The same 16 bytes: `a[aAt …]` and `b[bAt …]`. */
export function ipv6Equal(a: Uint8Array, b: Uint8Array, aAt = 0, bAt = 0): boolean {
  for (let i = 0; i < 16; i++) if (a[aAt + i] !== b[bAt + i]) return false;
  return true;
}

/** ff00::/8 (RFC 4291 §2.7). */
export function isIpv6Multicast(a: Uint8Array, at = 0): boolean {
  return a[at] === 0xff;
}

/** `::`, the unspecified address (RFC 4291 §2.5.2). */
export function isIpv6Unspecified(a: Uint8Array, at = 0): boolean {
  for (let i = 0; i < 16; i++) if (a[at + i] !== 0) return false;
  return true;
}

/** `::1` (RFC 4291 §2.5.3). */
export function isIpv6Loopback(a: Uint8Array, at = 0): boolean {
  for (let i = 0; i < 15; i++) if (a[at + i] !== 0) return false;
  return a[at + 15] === 1;
}

/** `::ffff:0:0/96`, an IPv4-mapped address (RFC 4291 §2.5.5.2): never on the wire. */
export function isIpv4Mapped(a: Uint8Array, at = 0): boolean {
  for (let i = 0; i < 10; i++) if (a[at + i] !== 0) return false;
  return a[at + 10] === 0xff && a[at + 11] === 0xff;
}

/** The IPv4 address in the low 32 bits of an IPv4-mapped address, as a number. */
export function get32Mapped(a: Uint8Array, at = 0): number {
  return get32(a, at + 12);
}

const HEX_GROUP = /^[0-9a-fA-F]{1,4}$/;

/** Parse the groups of one side of '::' into `out`, or return false. */
function parseGroups(text: string, out: number[], allowV4Tail: boolean): boolean {
  if (text === '') return true;
  const parts = text.split(':');
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i];
    if (allowV4Tail && i === parts.length - 1 && p.includes('.')) {
      const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(p);
      if (m === null) return false;
      const b = m.slice(1).map((x) => (x.length > 1 && x[0] === '0' ? 256 : Number(x)));
      if (b.some((x) => x > 255)) return false;
      out.push((b[0] << 8) | b[1], (b[2] << 8) | b[3]);
      continue;
    }
    if (!HEX_GROUP.test(p)) return false;
    out.push(Number.parseInt(p, 16));
  }
  return true;
}

/** 'fd00::2' → its 16 bytes, or null when `s` is not an IPv6 address (no zone, no prefix). */
export function tryParseIpv6(s: string): Uint8Array | null {
  if (s.length > 45 || s.length < 2) return null;
  const halves = s.split('::');
  if (halves.length > 2) return null;
  const head: number[] = [];
  const tail: number[] = [];
  if (halves.length === 1) {
    if (!parseGroups(halves[0], head, true) || head.length !== 8) return null;
  } else {
    if (!parseGroups(halves[0], head, false) || !parseGroups(halves[1], tail, true)) return null;
    if (head.length + tail.length > 7) return null;
  }
  const out = new Uint8Array(16);
  for (let i = 0; i < head.length; i++) put16(out, 2 * i, head[i]);
  for (let i = 0; i < tail.length; i++) put16(out, 16 - 2 * (tail.length - i), tail[i]);
  return out;
}

/** 'fd00::2' → 16 bytes. Throws a TypeError (code ERR_INVALID_IP_ADDRESS) on anything else. */
export function parseIpv6(s: string): Uint8Array {
  const a = tryParseIpv6(s);
  if (a === null) {
    throw Object.assign(new TypeError(`Invalid IPv6 address: ${JSON.stringify(s)}`), {
      code: 'ERR_INVALID_IP_ADDRESS',
    });
  }
  return a;
}

/**
 * 16 bytes → text in RFC 5952's canonical form: lower case, no leading zeros, the longest run of
 * two or more zero groups (the first of equal runs) as '::'.
 */
export function formatIpv6(a: Uint8Array, at = 0): string {
  const g: number[] = [];
  for (let i = 0; i < 8; i++) g.push(get16(a, at + 2 * i));
  let bestAt = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      bestAt = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (xs: number[]) => xs.map((x) => x.toString(16)).join(':');
  if (bestAt < 0) return hex(g);
  return `${hex(g.slice(0, bestAt))}::${hex(g.slice(bestAt + bestLen))}`;
}

// ---------------------------------------------------------------------------------------------
// The Fragment header (RFC 8200 §4.5)
// ---------------------------------------------------------------------------------------------

/**
 *  |  Next Header  |   Reserved    |      Fragment Offset    |Res|M|
 *  |                         Identification                        |
 */
export interface Ipv6FragmentRepr {
  nextHeader: number;
  /** In bytes (a multiple of 8). */
  offset: number;
  more: boolean;
  id: number;
}

/** Read the Fragment header at `buf[at …]` (the caller has checked 8 bytes are there). */
export function readFragmentHeader(buf: Uint8Array, at: number): Ipv6FragmentRepr {
  const w = get16(buf, at + 2);
  return { nextHeader: buf[at], offset: w & 0xfff8, more: (w & 1) !== 0, id: get32(buf, at + 4) };
}

/** Write a Fragment header at `buf[at …]`; returns 8. */
export function emitFragmentHeader(buf: Uint8Array, at: number, f: Ipv6FragmentRepr): number {
  buf[at] = f.nextHeader;
  buf[at + 1] = 0;
  put16(buf, at + 2, (f.offset & 0xfff8) | (f.more ? 1 : 0));
  put32(buf, at + 4, f.id);
  return IPV6_FRAGMENT_HEADER_LEN;
}

// ---------------------------------------------------------------------------------------------
// The extension-header chain (RFC 8200 §4)
// ---------------------------------------------------------------------------------------------

/** Option types of Hop-by-Hop and Destination Options headers (IANA "Destination Options and
 * Hop-by-Hop Options"). Pad1 and PadN are the only ones a host must know. */
export const Ipv6Option = {
  Pad1: 0,
  PadN: 1,
  /** Tunnel Encapsulation Limit (RFC 2473), destination options. */
  TunnelLimit: 4,
  /** Router Alert (RFC 2711): MLD messages carry it in a Hop-by-Hop header. */
  RouterAlert: 5,
} as const;

/** Options a host recognises and skips: everything else is acted on by its action bits. */
function knownOption(type: number): boolean {
  return type === Ipv6Option.TunnelLimit || type === Ipv6Option.RouterAlert;
}

export interface Ipv6WalkLimits {
  /** Extension headers walked before the chain is refused (a chain of tiny headers). */
  maxExtensionHeaders: number;
  /** Options (padding not counted) in one Hop-by-Hop or Destination Options header (Linux's
   * max_hbh_opts_number / max_dst_opts_number). */
  maxOptions: number;
}

export const IPV6_WALK_DEFAULTS: Ipv6WalkLimits = { maxExtensionHeaders: 8, maxOptions: 8 };

/**
 * How a walk ended. 'ok': `protocol` is the upper-layer protocol, or Fragment (44) when the walk
 * stopped at the Fragment header of a real fragment (the rest is reassembled first). Otherwise
 * the packet is dropped under this reason, and for some an ICMPv6 Parameter Problem is due
 * (see `Ipv6Chain.problem`).
 */
export type Ipv6WalkResult =
  | 'ok'
  | 'ext-truncated'
  | 'ext-too-many'
  | 'hbh-not-first'
  | 'bad-options'
  | 'too-many-options'
  | 'option-discard'
  | 'option-unrecognised'
  | 'routing-type0'
  | 'routing-unsupported';

/**
 * Where the walk got to, filled in by `walkIpv6Chain` (one object reused per packet: the receive
 * path allocates nothing).
 */
export interface Ipv6Chain {
  /** The upper-layer protocol (or 44 / 59, see Ipv6WalkResult). */
  protocol: number;
  /** Offset of the Next Header field that named `protocol`: a Parameter Problem points here. */
  protocolFieldAt: number;
  /** Offset of the header `protocol` names (the upper-layer header, or the Fragment header). */
  payloadAt: number;
  /** Extension headers walked. */
  headers: number;
  /** An atomic fragment (offset 0, M clear: RFC 6946) was walked past as if absent. */
  atomicFragment: boolean;
  /**
   * For a refused packet: the ICMPv6 Parameter Problem it earns (RFC 8200 §4), or code -1 for
   * none. `multicastToo`: sent even when the packet was to a multicast address (§4.2, action 10).
   */
  problem: { code: number; pointer: number; multicastToo: boolean };
}

export function newIpv6Chain(): Ipv6Chain {
  return {
    protocol: 0,
    protocolFieldAt: 0,
    payloadAt: 0,
    headers: 0,
    atomicFragment: false,
    problem: { code: -1, pointer: 0, multicastToo: false },
  };
}

/** ICMPv6 Parameter Problem codes (RFC 4443 §3.4, RFC 7112). */
export const ParamProblemCode = {
  /** Erroneous header field encountered. */
  Header: 0,
  /** Unrecognized Next Header type encountered. */
  NextHeader: 1,
  /** Unrecognized IPv6 option encountered. */
  Option: 2,
  /** IPv6 first fragment has incomplete IPv6 header chain (RFC 7112 §5). */
  IncompleteChain: 3,
} as const;

/**
 * RFC 7112: does a first fragment lack part of the header chain? From `at` (where the header
 * `next` begins, after the Fragment header) the extension headers are followed to the upper-layer
 * header, which must be there too: 20 bytes of TCP, 8 of UDP or ICMPv6, 1 of anything else (the
 * sizes Linux's ipv6frag_thdr_truncated asks for). At most `maxHeaders` headers are followed.
 */
export function headerChainIncomplete(
  pkt: Uint8Array,
  at: number,
  next: number,
  maxHeaders: number,
): boolean {
  for (let n = 0; n < maxHeaders; n++) {
    if (
      next !== Ipv6Next.HopByHop &&
      next !== Ipv6Next.DestOptions &&
      next !== Ipv6Next.Routing &&
      next !== Ipv6Next.Fragment
    ) {
      const need = next === Ipv6Next.Tcp ? 20 : next === Ipv6Next.Udp || next === 58 ? 8 : 1;
      return at + need > pkt.length;
    }
    if (at + 2 > pkt.length) return true;
    const len = next === Ipv6Next.Fragment ? IPV6_FRAGMENT_HEADER_LEN : (pkt[at + 1] + 1) * 8;
    next = pkt[at];
    at += len;
  }
  return false; // the walk after reassembly bounds the rest
}

/**
 * Walk the extension headers of the checked packet `pkt` (an Ipv6View's bytes) from the fixed
 * header on, into `out`. Hop-by-Hop is accepted only first (§4.1); options are checked as TLVs
 * that end inside their header, and an unrecognised one is handled by its two high bits (§4.2:
 * skip, discard, discard and answer, discard and answer unless to multicast — `dstMulticast`
 * says which); a Routing header with Segments Left 0 is skipped, any other is refused (a host
 * routes nothing; type 0 as RFC 5095 says); an atomic fragment is walked past (RFC 6946); a real
 * fragment stops the walk. ESP, AH and anything unknown end the chain as the upper layer.
 */
export function walkIpv6Chain(
  pkt: Uint8Array,
  dstMulticast: boolean,
  limits: Ipv6WalkLimits,
  out: Ipv6Chain,
): Ipv6WalkResult {
  let next = pkt[NEXT_HEADER];
  let fieldAt = NEXT_HEADER;
  let at = IPV6_HEADER_LEN;
  out.headers = 0;
  out.atomicFragment = false;
  out.problem.code = -1;
  out.problem.multicastToo = false;
  for (;;) {
    out.protocol = next;
    out.protocolFieldAt = fieldAt;
    out.payloadAt = at;
    if (
      next !== Ipv6Next.HopByHop &&
      next !== Ipv6Next.DestOptions &&
      next !== Ipv6Next.Routing &&
      next !== Ipv6Next.Fragment
    ) {
      return 'ok';
    }
    if (next === Ipv6Next.HopByHop && fieldAt !== NEXT_HEADER) {
      return problem(out, 'hbh-not-first', ParamProblemCode.NextHeader, fieldAt);
    }
    if (out.headers >= limits.maxExtensionHeaders) return 'ext-too-many';
    out.headers++;
    if (at + 8 > pkt.length) return 'ext-truncated';
    let len: number;
    if (next === Ipv6Next.Fragment) {
      len = IPV6_FRAGMENT_HEADER_LEN;
      const w = get16(pkt, at + 2);
      if ((w & 0xfff9) !== 0) return 'ok'; // a real fragment: reassembly first
      out.atomicFragment = true;
    } else {
      len = (pkt[at + 1] + 1) * 8;
      if (at + len > pkt.length) return 'ext-truncated';
      if (next === Ipv6Next.Routing) {
        // §4.4: Segments Left 0: ignore the header. Otherwise a host can route nowhere: the
        // type is not one we process, Parameter Problem code 0 at the Routing Type field.
        if (pkt[at + 3] !== 0) {
          const why = pkt[at + 2] === 0 ? 'routing-type0' : 'routing-unsupported';
          return problem(out, why, ParamProblemCode.Header, at + 2);
        }
      } else {
        const r = walkOptions(pkt, at + 2, at + len, dstMulticast, limits.maxOptions, out);
        if (r !== 'ok') return r;
      }
    }
    next = pkt[at];
    fieldAt = at;
    at += len;
  }
}

function problem(
  out: Ipv6Chain,
  why: Ipv6WalkResult,
  code: number,
  pointer: number,
  multicastToo = false,
): Ipv6WalkResult {
  out.problem.code = code;
  out.problem.pointer = pointer;
  out.problem.multicastToo = multicastToo;
  return why;
}

/** The option TLVs in `pkt[at, end)` (RFC 8200 §4.2). */
function walkOptions(
  pkt: Uint8Array,
  at: number,
  end: number,
  dstMulticast: boolean,
  maxOptions: number,
  out: Ipv6Chain,
): Ipv6WalkResult {
  let options = 0;
  while (at < end) {
    const type = pkt[at];
    if (type === Ipv6Option.Pad1) {
      at++;
      continue;
    }
    if (at + 2 > end) return 'bad-options';
    const optEnd = at + 2 + pkt[at + 1];
    if (optEnd > end) return 'bad-options';
    if (type !== Ipv6Option.PadN) {
      if (++options > maxOptions) return 'too-many-options';
      if (!knownOption(type)) {
        switch (type >>> 6) {
          case 0: // skip over this option
            break;
          case 1:
            return 'option-discard';
          case 2:
            return problem(out, 'option-unrecognised', ParamProblemCode.Option, at, true);
          default:
            if (dstMulticast) return 'option-discard';
            return problem(out, 'option-unrecognised', ParamProblemCode.Option, at);
        }
      }
    }
    at = optEnd;
  }
  return 'ok';
}
