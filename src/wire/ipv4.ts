/**
 * IPv4 header (RFC 791 §3.1): a view over received bytes, a plain record for what it means, and
 * an emitter. Addresses are unsigned 32-bit numbers throughout (10.0.0.2 is 0x0a000002).
 *
 *   0                   1                   2                   3
 *   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |Version|  IHL  |Type of Service|          Total Length         |
 *  |         Identification        |Flags|      Fragment Offset    |
 *  |  Time to Live |    Protocol   |         Header Checksum       |
 *  |                       Source Address                          |
 *  |                    Destination Address                        |
 *  |                    Options                    |    Padding    |
 */
import { get16, get32, put16, put32 } from './bytes.ts';
import { internetChecksum, onesSum } from './checksum.ts';
import { ParseError } from './parse-error.ts';

/** IP protocol numbers we know by name (IANA "Assigned Internet Protocol Numbers"). */
export const IpProtocol = {
  Icmp: 1,
  Tcp: 6,
  Udp: 17,
} as const;

/**
 * The ECN field, the low two bits of the TOS byte (RFC 3168 §5): Not-ECT, ECT(1), ECT(0), and CE,
 * the mark a congested router sets on an ECT packet instead of dropping it.
 */
export const IpEcn = {
  NotEct: 0,
  Ect1: 1,
  Ect0: 2,
  Ce: 3,
} as const;
export type IpEcnValue = (typeof IpEcn)[keyof typeof IpEcn];

export const IPV4_MIN_HEADER_LEN = 20;
/** The largest IPv4 datagram: the Total Length field is 16 bits. */
export const IPV4_MAX_DATAGRAM = 65_535;

const VER_IHL = 0;
const TOS = 1;
const TOTAL_LEN = 2;
const IDENT = 4;
const FLAGS_FRAG = 6;
const TTL = 8;
const PROTOCOL = 9;
const CHECKSUM = 10;
const SRC = 12;
const DST = 16;

const FLAG_DF = 0x4000;
const FLAG_MF = 0x2000;
const FRAG_MASK = 0x1fff;

/** Reasons `Ipv4View.check` rejects bytes; each is also an `ip.drops` stats key. */
export type Ipv4ParseReason =
  | 'truncated'
  | 'bad-version'
  | 'bad-ihl'
  | 'bad-length'
  | 'bad-checksum'
  | 'bad-options';

/** What an IPv4 header means, for emitting (and for tests). */
export interface Ipv4Repr {
  src: number;
  dst: number;
  protocol: number;
  ttl: number;
  /** Identification (RFC 6864: only meaningful for fragments). */
  id: number;
  dontFrag: boolean;
  moreFrags: boolean;
  /** Fragment offset in bytes (a multiple of 8). */
  fragOffset: number;
  /** Type of service / DSCP+ECN byte; 0 when omitted. */
  tos?: number;
  /** Bytes after the header. */
  payloadLength: number;
}

/** The option list in bytes [20, hlen) is well formed: EOL ends it, NOP is one byte, every
 * other option has a length byte ≥ 2 that keeps it inside the header. */
function optionsWellFormed(buf: Uint8Array, hlen: number): boolean {
  let i = IPV4_MIN_HEADER_LEN;
  while (i < hlen) {
    const kind = buf[i];
    if (kind === 0) return true; // EOL: the rest is padding
    if (kind === 1) {
      i++;
      continue;
    }
    if (i + 1 >= hlen) return false;
    const len = buf[i + 1];
    if (len < 2 || i + len > hlen) return false;
    i += len;
  }
  return true;
}

/**
 * A checked IPv4 header. Only `Ipv4View.check` makes one, so every getter reads inside the buffer
 * and within the header length / total length the header claims.
 */
export class Ipv4View {
  private constructor(private readonly buf: Uint8Array) {}

  /**
   * Validate a received IPv4 packet (RFC 1122 §3.2.1.1-2): version 4, IHL ≥ 5, IHL×4 ≤ total length
   * ≤ buffer length, a correct header checksum, and options that are well formed (each option
   * but EOL and NOP has a length of at least 2 that ends inside the header; RFC 791 §3.1): their
   * meaning is ignored (RFC 1122 §3.2.1.8), but a malformed list is dropped as Linux's
   * ip_options_compile drops it. Bytes past Total Length (link padding) are ignored. Returns a
   * view or a ParseError; never throws.
   */
  static check(buf: Uint8Array): Ipv4View | ParseError<Ipv4ParseReason> {
    if (buf.length < IPV4_MIN_HEADER_LEN) return ParseError.of('truncated');
    const vihl = buf[VER_IHL];
    if (vihl >>> 4 !== 4) return ParseError.of('bad-version');
    const hlen = (vihl & 0x0f) * 4;
    if (hlen < IPV4_MIN_HEADER_LEN) return ParseError.of('bad-ihl');
    if (hlen > buf.length) return ParseError.of('truncated');
    const total = (buf[TOTAL_LEN] << 8) | buf[TOTAL_LEN + 1];
    if (total < hlen || total > buf.length) return ParseError.of('bad-length');
    if (onesSum(buf, 0, hlen) !== 0xffff) return ParseError.of('bad-checksum');
    if (hlen > IPV4_MIN_HEADER_LEN && !optionsWellFormed(buf, hlen)) {
      return ParseError.of('bad-options');
    }
    return new Ipv4View(total === buf.length ? buf : buf.subarray(0, total));
  }

  /** The checked bytes: header and payload, cut at Total Length. */
  get bytes(): Uint8Array {
    return this.buf;
  }
  get version(): number {
    return this.buf[VER_IHL] >>> 4;
  }
  /** Header length in bytes (IHL × 4), options included. */
  get headerLen(): number {
    return (this.buf[VER_IHL] & 0x0f) * 4;
  }
  get tos(): number {
    return this.buf[TOS];
  }
  get totalLength(): number {
    return this.u16(TOTAL_LEN);
  }
  get id(): number {
    return this.u16(IDENT);
  }
  get dontFrag(): boolean {
    return (this.u16(FLAGS_FRAG) & FLAG_DF) !== 0;
  }
  get moreFrags(): boolean {
    return (this.u16(FLAGS_FRAG) & FLAG_MF) !== 0;
  }
  /** Fragment offset in bytes (the field counts 8-byte units). */
  get fragOffset(): number {
    return (this.u16(FLAGS_FRAG) & FRAG_MASK) * 8;
  }
  /** True for any fragment: MF set or a non-zero offset. */
  get isFragment(): boolean {
    return (this.u16(FLAGS_FRAG) & (FLAG_MF | FRAG_MASK)) !== 0;
  }
  get ttl(): number {
    return this.buf[TTL];
  }
  get protocol(): number {
    return this.buf[PROTOCOL];
  }
  get checksum(): number {
    return this.u16(CHECKSUM);
  }
  get src(): number {
    return this.u32(SRC);
  }
  get dst(): number {
    return this.u32(DST);
  }
  /** The header's option bytes (empty when IHL is 5). */
  get options(): Uint8Array {
    return this.buf.subarray(IPV4_MIN_HEADER_LEN, this.headerLen);
  }
  /** The bytes after the header up to Total Length: a view, not a copy. */
  get payload(): Uint8Array {
    return this.buf.subarray(this.headerLen);
  }

  /** The plain record of this header. */
  toRepr(): Ipv4Repr {
    return {
      src: this.src,
      dst: this.dst,
      protocol: this.protocol,
      ttl: this.ttl,
      id: this.id,
      dontFrag: this.dontFrag,
      moreFrags: this.moreFrags,
      fragOffset: this.fragOffset,
      tos: this.tos,
      payloadLength: this.totalLength - this.headerLen,
    };
  }

  /**
   * Write a 20-byte header (no options) for `repr` at the start of `buf`, checksum included.
   * The payload is the caller's: it goes at `buf[20 …]`. Returns the header length (20).
   */
  static emit(buf: Uint8Array, repr: Ipv4Repr): number {
    const total = IPV4_MIN_HEADER_LEN + repr.payloadLength;
    buf[VER_IHL] = 0x45;
    buf[TOS] = repr.tos ?? 0;
    put16(buf, TOTAL_LEN, total);
    put16(buf, IDENT, repr.id);
    put16(
      buf,
      FLAGS_FRAG,
      (repr.dontFrag ? FLAG_DF : 0) |
        (repr.moreFrags ? FLAG_MF : 0) |
        ((repr.fragOffset >>> 3) & FRAG_MASK),
    );
    buf[TTL] = repr.ttl;
    buf[PROTOCOL] = repr.protocol;
    put16(buf, CHECKSUM, 0);
    put32(buf, SRC, repr.src);
    put32(buf, DST, repr.dst);
    put16(buf, CHECKSUM, internetChecksum(buf, 0, IPV4_MIN_HEADER_LEN));
    return IPV4_MIN_HEADER_LEN;
  }

  /** Header length `emit` writes for `repr`: always 20, we send no options. */
  static headerLen(_repr?: Ipv4Repr): number {
    return IPV4_MIN_HEADER_LEN;
  }

  private u16(at: number): number {
    return get16(this.buf, at);
  }
  private u32(at: number): number {
    return get32(this.buf, at);
  }
}

const DOTTED_QUAD = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

/** '10.0.0.2' → 0x0a000002, or null when `s` is not a dotted quad of four bytes. */
export function tryParseIpv4(s: string): number | null {
  const m = DOTTED_QUAD.exec(s);
  if (m === null) return null;
  let n = 0;
  for (let i = 1; i <= 4; i++) {
    const part = m[i];
    // No leading zeros: '010' is octal to some parsers and decimal to others (RFC 6943 §3.1.1).
    if (part.length > 1 && part[0] === '0') return null;
    const b = Number(part);
    if (b > 255) return null;
    n = n * 256 + b;
  }
  return n;
}

/** '10.0.0.2' → 0x0a000002. Throws a TypeError (code ERR_INVALID_IP_ADDRESS) on anything else. */
export function parseIpv4(s: string): number {
  const n = tryParseIpv4(s);
  if (n === null) {
    throw Object.assign(new TypeError(`Invalid IPv4 address: ${JSON.stringify(s)}`), {
      code: 'ERR_INVALID_IP_ADDRESS',
    });
  }
  return n;
}

/** 0x0a000002 → '10.0.0.2'. */
export function formatIpv4(n: number): string {
  return `${n >>> 24}.${(n >>> 16) & 0xff}.${(n >>> 8) & 0xff}.${n & 0xff}`;
}
