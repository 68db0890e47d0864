/**
 * Hand-built IPv4 packets for the hostile-input tests, every field under the caller's control:
 * a wrong version, IHL, total length or header checksum, option bytes of any length, any TCP
 * flag combination, a data offset that lies, fragments at any offset. The fields a test does not
 * name are filled in correctly (checksums included), so that a packet is wrong in exactly the
 * way the test says and no other.
 *
 * These bytes go onto the kernel's side of the TUN device unchanged (./inject.ts); nothing here
 * depends on the stack's own emitters, except the one checksum helper (src/wire/checksum.ts).
 */
import { internetChecksum, pseudoHeaderSum } from '../../../src/wire/checksum.ts';
import { parseIpv4 } from '../../../src/wire/ipv4.ts';

export const PROTO_ICMP = 1;
export const PROTO_TCP = 6;
export const PROTO_UDP = 17;

export const put16 = (b: Uint8Array, at: number, v: number): void => {
  b[at] = (v >>> 8) & 0xff;
  b[at + 1] = v & 0xff;
};
export const put32 = (b: Uint8Array, at: number, v: number): void => {
  put16(b, at, (v >>> 16) & 0xffff);
  put16(b, at + 2, v & 0xffff);
};
export const get16 = (b: Uint8Array, at: number): number => (b[at] << 8) | b[at + 1];
export const get32 = (b: Uint8Array, at: number): number =>
  ((b[at] << 24) | (b[at + 1] << 16) | (b[at + 2] << 8) | b[at + 3]) >>> 0;

const addr = (a: string | number): number => (typeof a === 'number' ? a >>> 0 : parseIpv4(a));

export interface Ipv4Spec {
  src: string | number;
  dst: string | number;
  protocol: number;
  payload: Uint8Array;
  /** Option bytes after the 20-byte header, as given (the caller pads them to a multiple of 4). */
  options?: ArrayLike<number>;
  id?: number;
  df?: boolean;
  mf?: boolean;
  /** Fragment offset in bytes (written as offset / 8). */
  fragOffset?: number;
  ttl?: number;
  /** Overrides: the field as written, whatever the packet really is. */
  version?: number;
  ihl?: number;
  totalLength?: number;
  /** The header checksum as written, instead of the right one. */
  checksum?: number;
}

/** An IPv4 packet; the header checksum is right unless `checksum` says otherwise. */
export function ipv4(s: Ipv4Spec): Uint8Array {
  const opts = s.options ?? [];
  const hlen = 20 + opts.length;
  const pkt = new Uint8Array(hlen + s.payload.length);
  const ihl = s.ihl ?? hlen / 4;
  pkt[0] = ((s.version ?? 4) << 4) | (ihl & 0x0f);
  put16(pkt, 2, s.totalLength ?? pkt.length);
  put16(pkt, 4, s.id ?? 0x4242);
  put16(pkt, 6, (s.df ? 0x4000 : 0) | (s.mf ? 0x2000 : 0) | (((s.fragOffset ?? 0) >>> 3) & 0x1fff));
  pkt[8] = s.ttl ?? 64;
  pkt[9] = s.protocol;
  put32(pkt, 12, addr(s.src));
  put32(pkt, 16, addr(s.dst));
  pkt.set(opts, 20);
  // Over the header the IHL claims (as a receiver checks it), as far as the packet goes.
  const claimed = Math.min(Math.max(ihl * 4, 0), pkt.length);
  if (claimed > hlen) pkt.set(s.payload.subarray(0, claimed - hlen), hlen);
  put16(pkt, 10, s.checksum ?? internetChecksum(pkt, 0, claimed));
  pkt.set(s.payload, hlen);
  return pkt;
}

/** TCP flag bits (RFC 9293 §3.1). */
export const F = { FIN: 1, SYN: 2, RST: 4, PSH: 8, ACK: 16, URG: 32, ECE: 64, CWR: 128 } as const;

/** Flags from letters, as hping3 and tcpdump name them: 'S', 'SA', 'FPU', 'R', '' (NULL). */
export function flags(letters: string): number {
  const map: Record<string, number> = {
    F: F.FIN,
    S: F.SYN,
    R: F.RST,
    P: F.PSH,
    A: F.ACK,
    U: F.URG,
    E: F.ECE,
    C: F.CWR,
  };
  let f = 0;
  for (const c of letters) {
    const bit = map[c];
    if (bit === undefined) throw new RangeError(`unknown TCP flag letter ${c}`);
    f |= bit;
  }
  return f;
}

/** A TCP segment's fields but its addresses: what both families' builders take. */
export interface TcpFields {
  sport: number;
  dport: number;
  /** Letters (see `flags`) or the flag byte. */
  flags: string | number;
  seq?: number;
  ack?: number;
  window?: number;
  /** Option bytes as given (the caller pads them to a multiple of 4). */
  options?: ArrayLike<number>;
  payload?: Uint8Array;
  /** The data offset field as written (words), instead of the real header length. */
  dataOffset?: number;
  /** The checksum as written, instead of the right one. */
  checksum?: number;
}

export interface TcpSpec extends TcpFields {
  src: string | number;
  dst: string | number;
}

/**
 * A TCP segment's bytes with the checksum field 0, for the caller to sum over its family's
 * pseudo-header (./packets6.ts uses it too).
 */
export function tcpBytes(s: TcpFields): Uint8Array {
  const opts = s.options ?? [];
  const payload = s.payload ?? new Uint8Array(0);
  const hlen = 20 + opts.length;
  const seg = new Uint8Array(hlen + payload.length);
  put16(seg, 0, s.sport);
  put16(seg, 2, s.dport);
  put32(seg, 4, s.seq ?? 0x1000_0000);
  put32(seg, 8, s.ack ?? 0);
  seg[12] = ((s.dataOffset ?? hlen / 4) & 0x0f) << 4;
  seg[13] = typeof s.flags === 'number' ? s.flags : flags(s.flags);
  put16(seg, 14, s.window ?? 65_535);
  seg.set(opts, 20);
  seg.set(payload, hlen);
  return seg;
}

/** A TCP segment (the IP payload), its checksum over the pseudo-header right unless overridden. */
export function tcpSegment(s: TcpSpec): Uint8Array {
  const seg = tcpBytes(s);
  const sum = internetChecksum(
    seg,
    0,
    seg.length,
    pseudoHeaderSum(addr(s.src), addr(s.dst), PROTO_TCP, seg.length),
  );
  put16(seg, 16, s.checksum ?? sum);
  return seg;
}

/** A whole IPv4/TCP packet; `ip` overrides header fields (see Ipv4Spec). */
export function tcp(s: TcpSpec, ip: Partial<Ipv4Spec> = {}): Uint8Array {
  return ipv4({ src: s.src, dst: s.dst, protocol: PROTO_TCP, payload: tcpSegment(s), ...ip });
}

/** A UDP datagram's fields but its addresses: what both families' builders take. */
export interface UdpFields {
  sport: number;
  dport: number;
  payload?: Uint8Array;
  /** The UDP length field as written. */
  length?: number;
  checksum?: number;
}

export interface UdpSpec extends UdpFields {
  src: string | number;
  dst: string | number;
}

/** A UDP datagram's bytes with the checksum field 0 (./packets6.ts uses it too). */
export function udpBytes(s: UdpFields): Uint8Array {
  const payload = s.payload ?? new Uint8Array(0);
  const d = new Uint8Array(8 + payload.length);
  put16(d, 0, s.sport);
  put16(d, 2, s.dport);
  put16(d, 4, s.length ?? d.length);
  d.set(payload, 8);
  return d;
}

export function udpDatagram(s: UdpSpec): Uint8Array {
  const d = udpBytes(s);
  let sum = internetChecksum(
    d,
    0,
    d.length,
    pseudoHeaderSum(addr(s.src), addr(s.dst), PROTO_UDP, d.length),
  );
  if (sum === 0) sum = 0xffff;
  put16(d, 6, s.checksum ?? sum);
  return d;
}

export function udp(s: UdpSpec, ip: Partial<Ipv4Spec> = {}): Uint8Array {
  return ipv4({ src: s.src, dst: s.dst, protocol: PROTO_UDP, payload: udpDatagram(s), ...ip });
}

/**
 * An ICMP or ICMPv6 message's bytes (type, code, the 4 "rest of header" bytes as a number, then
 * `body`) with the checksum field 0.
 */
export function icmpBytes(type: number, code: number, rest: number, body: Uint8Array): Uint8Array {
  const m = new Uint8Array(8 + body.length);
  m[0] = type;
  m[1] = code;
  put32(m, 4, rest);
  m.set(body, 8);
  return m;
}

/** An ICMP message: type, code, the 4 "rest of header" bytes as a number, then `body`. */
export function icmpMessage(
  type: number,
  code: number,
  rest: number,
  body: Uint8Array,
  checksum?: number,
): Uint8Array {
  const m = icmpBytes(type, code, rest, body);
  put16(m, 2, checksum ?? internetChecksum(m));
  return m;
}

/** An ICMP echo request (type 8) with identifier `id` and sequence `seq`. */
export function echoRequest(
  src: string | number,
  dst: string | number,
  id: number,
  seq: number,
  data: Uint8Array = new Uint8Array(32).fill(0x61),
  ip: Partial<Ipv4Spec> = {},
): Uint8Array {
  const payload = icmpMessage(8, 0, ((id & 0xffff) << 16) | (seq & 0xffff), data);
  return ipv4({ src, dst, protocol: PROTO_ICMP, payload, ...ip });
}

/**
 * Cut the IP payload `payload` into fragments at the given byte offsets (each a multiple of 8,
 * the first 0); every fragment but the last has MF set. For overlapping layouts pass `pieces`.
 */
export function fragments(
  base: Omit<Ipv4Spec, 'payload' | 'mf' | 'fragOffset'>,
  payload: Uint8Array,
  pieces: readonly { offset: number; length: number; mf?: boolean }[],
): Uint8Array[] {
  return pieces.map((p, i) =>
    ipv4({
      ...base,
      payload: payload.subarray(p.offset, p.offset + p.length),
      fragOffset: p.offset,
      mf: p.mf ?? i < pieces.length - 1,
    }),
  );
}

/** Cut `payload` into fragments of `size` bytes (a multiple of 8), in order. */
export function fragmentEvenly(
  base: Omit<Ipv4Spec, 'payload' | 'mf' | 'fragOffset'>,
  payload: Uint8Array,
  size: number,
): Uint8Array[] {
  const pieces: { offset: number; length: number }[] = [];
  for (let off = 0; off < payload.length; off += size) {
    pieces.push({ offset: off, length: Math.min(size, payload.length - off) });
  }
  return fragments(base, payload, pieces);
}

// ---------------------------------------------------------------------------------------------
// Reading the stack's replies

export interface ParsedReply {
  src: number;
  dst: number;
  protocol: number;
  /** TCP */
  sport?: number;
  dport?: number;
  seq?: number;
  ack?: number;
  flags?: number;
  window?: number;
  /** TCP option bytes. */
  tcpOptions?: Uint8Array;
  payloadLength?: number;
  /** ICMP */
  icmpType?: number;
  icmpCode?: number;
  /** The ICMP message after its 8-byte header (the quoted datagram for errors). */
  icmpBody?: Uint8Array;
}

/** Just enough parsing of what the stack sent (it is well-formed: the stack made it). */
export function parseReply(p: Uint8Array): ParsedReply {
  const hlen = (p[0] & 0x0f) * 4;
  const total = get16(p, 2);
  const r: ParsedReply = { src: get32(p, 12), dst: get32(p, 16), protocol: p[9] };
  const body = p.subarray(hlen, total);
  if (r.protocol === PROTO_TCP && body.length >= 20) {
    const doff = (body[12] >>> 4) * 4;
    r.sport = get16(body, 0);
    r.dport = get16(body, 2);
    r.seq = get32(body, 4);
    r.ack = get32(body, 8);
    r.flags = body[13];
    r.window = get16(body, 14);
    r.tcpOptions = body.subarray(20, doff);
    r.payloadLength = body.length - doff;
  } else if (r.protocol === PROTO_ICMP && body.length >= 8) {
    r.icmpType = body[0];
    r.icmpCode = body[1];
    r.icmpBody = body.subarray(8);
  } else if (r.protocol === PROTO_UDP && body.length >= 8) {
    r.sport = get16(body, 0);
    r.dport = get16(body, 2);
    r.payloadLength = body.length - 8;
  }
  return r;
}

/** 'SA', 'RA', 'A'… for a flag byte (for messages). */
export function flagLetters(f: number): string {
  let s = '';
  for (const [l, bit] of [
    ['S', F.SYN],
    ['F', F.FIN],
    ['R', F.RST],
    ['P', F.PSH],
    ['A', F.ACK],
    ['U', F.URG],
  ] as const) {
    if (f & bit) s += l;
  }
  return s === '' ? '.' : s;
}

/** A one-line description of a reply, for failure messages. */
export function describeReply(r: ParsedReply): string {
  if (r.protocol === PROTO_TCP) {
    return `TCP ${r.sport}>${r.dport} [${flagLetters(r.flags ?? 0)}] seq=${r.seq} ack=${r.ack} len=${r.payloadLength}`;
  }
  if (r.protocol === PROTO_ICMP) return `ICMP type=${r.icmpType} code=${r.icmpCode}`;
  return `proto ${r.protocol} ${r.sport}>${r.dport}`;
}
