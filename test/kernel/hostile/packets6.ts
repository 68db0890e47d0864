/**
 * Hand-built IPv6 packets for the hostile-input tests (the IPv6 half of ./packets.ts): the fixed
 * header with any version or Payload Length, extension headers of any shape (options, Routing,
 * Fragment), fragments at any offset, ICMPv6, UDP and TCP with their checksums over the IPv6
 * pseudo-header right unless a test says otherwise. Nothing here uses the stack's emitters,
 * only the one checksum helper (src/wire/checksum.ts) and the address parser.
 */
import { internetChecksum, pseudoHeaderSum6 } from '../../../src/wire/checksum.ts';
import { parseIpv6 } from '../../../src/wire/ipv6.ts';
import {
  get16,
  get32,
  icmpBytes,
  put16,
  put32,
  type TcpFields,
  tcpBytes,
  type UdpFields,
  udpBytes,
} from './packets.ts';

export const NH = {
  HopByHop: 0,
  Tcp: 6,
  Udp: 17,
  Routing: 43,
  Fragment: 44,
  Esp: 50,
  Icmpv6: 58,
  NoNext: 59,
  DestOptions: 60,
} as const;

export const addr6 = (a: string | Uint8Array): Uint8Array =>
  typeof a === 'string' ? parseIpv6(a) : a;

/** An extension header: its type (the Next Header value that names it) and its bytes. */
export interface Ext {
  type: number;
  /** The whole header; byte 0 (its Next Header) is filled in by `ipv6`. */
  bytes: Uint8Array;
}

export interface Ipv6Spec {
  src: string | Uint8Array;
  dst: string | Uint8Array;
  /** The upper-layer protocol, after `exts`. */
  next: number;
  payload: Uint8Array;
  exts?: readonly Ext[];
  hopLimit?: number;
  /** Overrides: the field as written, whatever the packet really is. */
  version?: number;
  payloadLength?: number;
}

/** A fixed header, the extension headers chained in order, then the payload. */
export function ipv6(s: Ipv6Spec): Uint8Array {
  const exts = s.exts ?? [];
  const extLen = exts.reduce((n, e) => n + e.bytes.length, 0);
  const p = new Uint8Array(40 + extLen + s.payload.length);
  put32(p, 0, ((s.version ?? 6) << 28) >>> 0);
  put16(p, 4, s.payloadLength ?? p.length - 40);
  p[6] = exts.length > 0 ? exts[0].type : s.next;
  p[7] = s.hopLimit ?? 64;
  p.set(addr6(s.src), 8);
  p.set(addr6(s.dst), 24);
  let at = 40;
  exts.forEach((e, i) => {
    p.set(e.bytes, at);
    p[at] = i + 1 < exts.length ? exts[i + 1].type : s.next;
    at += e.bytes.length;
  });
  p.set(s.payload, at);
  return p;
}

/**
 * Hop-by-Hop (type 0) or Destination Options (60) holding `tlvs`, padded with PadN to a
 * multiple of 8 (Pad1 where one byte is left); `hdrLen` overrides the Hdr Ext Len field.
 */
export function optionsExt(tlvs: readonly number[], type = 60, hdrLen?: number): Ext {
  const len = (2 + tlvs.length + 7) & ~7;
  const b = new Uint8Array(len);
  b.set(tlvs, 2);
  const pad = len - 2 - tlvs.length;
  if (pad === 1) b[len - 1] = 0;
  else if (pad > 1) {
    b[2 + tlvs.length] = 1;
    b[3 + tlvs.length] = pad - 2;
  }
  b[1] = hdrLen ?? len / 8 - 1;
  return { type, bytes: b };
}

/** A Routing header of `routingType` with `segmentsLeft` and `addresses` addresses. */
export function routingExt(routingType: number, segmentsLeft: number, addresses = 1): Ext {
  const b = new Uint8Array(8 + 16 * addresses);
  b[1] = 2 * addresses;
  b[2] = routingType;
  b[3] = segmentsLeft;
  for (let i = 0; i < addresses; i++) b.set(parseIpv6(`fd00::${i + 10}`), 8 + 16 * i);
  return { type: NH.Routing, bytes: b };
}

/** A Fragment header (offset in bytes, a multiple of 8). */
export function fragmentExt(offset: number, more: boolean, id: number): Ext {
  const b = new Uint8Array(8);
  put16(b, 2, (offset & 0xfff8) | (more ? 1 : 0));
  put32(b, 4, id);
  return { type: NH.Fragment, bytes: b };
}

/** Sum an upper-layer message over the IPv6 pseudo-header and write the checksum at `field`. */
function checksum6(
  m: Uint8Array,
  field: number,
  src: string | Uint8Array,
  dst: string | Uint8Array,
  next: number,
  override?: number,
): Uint8Array {
  put16(m, field, 0);
  let c = internetChecksum(
    m,
    0,
    m.length,
    pseudoHeaderSum6(addr6(src), addr6(dst), next, m.length),
  );
  if (next === NH.Udp && c === 0) c = 0xffff;
  put16(m, field, override ?? c);
  return m;
}

/** An ICMPv6 message (type, code, the 4 rest-of-header bytes, body), checksum right unless given. */
export function icmp6Message(
  src: string | Uint8Array,
  dst: string | Uint8Array,
  type: number,
  code: number,
  rest: number,
  body: Uint8Array,
  checksum?: number,
): Uint8Array {
  return checksum6(icmpBytes(type, code, rest, body), 2, src, dst, NH.Icmpv6, checksum);
}

/** An ICMPv6 echo request with `id`, `seq` and `data`, as a whole packet (`ip` overrides). */
export function echo6(
  src: string | Uint8Array,
  dst: string | Uint8Array,
  id: number,
  seq: number,
  data: Uint8Array = new Uint8Array(32).fill(0x61),
  ip: Partial<Ipv6Spec> = {},
): Uint8Array {
  const payload = icmp6Message(src, dst, 128, 0, ((id & 0xffff) << 16) | (seq & 0xffff), data);
  return ipv6({ src, dst, next: NH.Icmpv6, payload, ...ip });
}

export interface Udp6Spec extends UdpFields {
  src: string | Uint8Array;
  dst: string | Uint8Array;
}

export function udp6Datagram(s: Udp6Spec): Uint8Array {
  return checksum6(udpBytes(s), 6, s.src, s.dst, NH.Udp, s.checksum);
}

export function udp6(s: Udp6Spec, ip: Partial<Ipv6Spec> = {}): Uint8Array {
  return ipv6({ src: s.src, dst: s.dst, next: NH.Udp, payload: udp6Datagram(s), ...ip });
}

export interface Tcp6Spec extends TcpFields {
  src: string | Uint8Array;
  dst: string | Uint8Array;
}

export function tcp6Segment(s: Tcp6Spec): Uint8Array {
  return checksum6(tcpBytes(s), 16, s.src, s.dst, NH.Tcp, s.checksum);
}

export function tcp6(s: Tcp6Spec, ip: Partial<Ipv6Spec> = {}): Uint8Array {
  return ipv6({ src: s.src, dst: s.dst, next: NH.Tcp, payload: tcp6Segment(s), ...ip });
}

/**
 * Fragments of a whole packet built by `ipv6` (no extension headers): each piece is the fixed
 * header, a Fragment header, and `upper[offset, offset + length)`; M set on all but the last
 * unless a piece says otherwise.
 */
export function fragments6(
  base: Omit<Ipv6Spec, 'payload' | 'exts'>,
  upper: Uint8Array,
  pieces: readonly { offset: number; length: number; mf?: boolean }[],
  id: number,
): Uint8Array[] {
  return pieces.map((p, i) =>
    ipv6({
      ...base,
      payload: upper.subarray(p.offset, p.offset + p.length),
      exts: [fragmentExt(p.offset, p.mf ?? i < pieces.length - 1, id)],
    }),
  );
}

// ---------------------------------------------------------------------------------------------
// Reading the stack's IPv6 replies

export interface ParsedReply6 {
  /** Addresses as 32 hex digits. */
  src: string;
  dst: string;
  /** The Next Header after the fixed header (44 for a fragment). */
  next: number;
  sport?: number;
  dport?: number;
  seq?: number;
  ack?: number;
  flags?: number;
  icmpType?: number;
  icmpCode?: number;
  /** The 4 rest-of-header bytes (a Parameter Problem's pointer, an echo's id and sequence). */
  icmpRest?: number;
  /** The ICMPv6 message after its 8-byte header (the invoking packet for errors). */
  icmpBody?: Uint8Array;
  payloadLength?: number;
}

export const hex6 = (a: string | Uint8Array): string => Buffer.from(addr6(a)).toString('hex');

/** Just enough parsing of what the stack sent (it sends no extension header but Fragment). */
export function parseReply6(p: Uint8Array): ParsedReply6 {
  const r: ParsedReply6 = {
    src: Buffer.from(p.subarray(8, 24)).toString('hex'),
    dst: Buffer.from(p.subarray(24, 40)).toString('hex'),
    next: p[6],
  };
  const body = p.subarray(40, 40 + get16(p, 4));
  if (r.next === NH.Tcp && body.length >= 20) {
    r.sport = get16(body, 0);
    r.dport = get16(body, 2);
    r.seq = get32(body, 4);
    r.ack = get32(body, 8);
    r.flags = body[13];
    r.payloadLength = body.length - (body[12] >>> 4) * 4;
  } else if (r.next === NH.Icmpv6 && body.length >= 8) {
    r.icmpType = body[0];
    r.icmpCode = body[1];
    r.icmpRest = get32(body, 4);
    r.icmpBody = body.subarray(8);
  } else if (r.next === NH.Udp && body.length >= 8) {
    r.sport = get16(body, 0);
    r.dport = get16(body, 2);
    r.payloadLength = body.length - 8;
  }
  return r;
}

export function describeReply6(r: ParsedReply6): string {
  if (r.next === NH.Tcp)
    return `TCP ${r.sport}>${r.dport} flags=${r.flags} seq=${r.seq} ack=${r.ack}`;
  if (r.next === NH.Icmpv6)
    return `ICMPv6 ${r.icmpType}/${r.icmpCode} rest=${r.icmpRest} len=${r.icmpBody?.length}`;
  if (r.next === NH.Udp) return `UDP ${r.sport}>${r.dport} len=${r.payloadLength}`;
  return `next header ${r.next}`;
}
