/**
 * Raw IPv4 packets for the fuzzer: built by hand (not with src/wire, so a codec bug cannot hide
 * itself), mutated, fragmented, and with their checksums repaired or not.
 *
 * Everything draws from one seeded Rng, so a run is a pure function of its seed.
 */
import { mulberry32 } from '../../src/stack/rng.ts';
import { internetChecksum, pseudoHeaderSum } from '../../src/wire/checksum.ts';

/** The fuzzer's draws, all from the one seeded PRNG (mulberry32, src/stack/rng.ts). */
export class Rng {
  /** [0, 1). */
  readonly next: () => number;
  constructor(seed: number) {
    this.next = mulberry32(seed);
  }
  /** An integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  u32(): number {
    return Math.floor(this.next() * 4294967296) >>> 0;
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.next() * xs.length)];
  }
  bytes(n: number): Uint8Array {
    const b = new Uint8Array(n);
    for (let i = 0; i < n; i++) b[i] = (this.next() * 256) | 0;
    return b;
  }
}

export const PROTO_ICMP = 1;
export const PROTO_TCP = 6;
export const PROTO_UDP = 17;

export const F_FIN = 0x01;
export const F_SYN = 0x02;
export const F_RST = 0x04;
export const F_PSH = 0x08;
export const F_ACK = 0x10;
export const F_URG = 0x20;
export const F_ECE = 0x40;
export const F_CWR = 0x80;

export function put16(b: Uint8Array, at: number, v: number): void {
  b[at] = (v >>> 8) & 0xff;
  b[at + 1] = v & 0xff;
}
export function put32(b: Uint8Array, at: number, v: number): void {
  b[at] = (v >>> 24) & 0xff;
  b[at + 1] = (v >>> 16) & 0xff;
  b[at + 2] = (v >>> 8) & 0xff;
  b[at + 3] = v & 0xff;
}
export function get16(b: Uint8Array, at: number): number {
  return (b[at] << 8) | b[at + 1];
}
export function get32(b: Uint8Array, at: number): number {
  return ((b[at] << 24) | (b[at + 1] << 16) | (b[at + 2] << 8) | b[at + 3]) >>> 0;
}

export interface IpFields {
  src: number;
  dst: number;
  protocol: number;
  id?: number;
  ttl?: number;
  /** Don't fragment. */
  df?: boolean;
  /** More fragments. */
  mf?: boolean;
  /** Fragment offset in bytes (a multiple of 8). */
  fragOffset?: number;
}

/** An IPv4 packet around `payload`, header checksum set. */
export function ipPacket(f: IpFields, payload: Uint8Array): Uint8Array {
  const p = new Uint8Array(20 + payload.length);
  p[0] = 0x45;
  put16(p, 2, p.length);
  put16(p, 4, f.id ?? 0);
  put16(p, 6, (f.df ? 0x4000 : 0) | (f.mf ? 0x2000 : 0) | (((f.fragOffset ?? 0) >>> 3) & 0x1fff));
  p[8] = f.ttl ?? 64;
  p[9] = f.protocol;
  put32(p, 12, f.src);
  put32(p, 16, f.dst);
  put16(p, 10, internetChecksum(p, 0, 20));
  p.set(payload, 20);
  return p;
}

export interface TcpFields {
  srcPort: number;
  dstPort: number;
  seq: number;
  ack: number;
  flags: number;
  window: number;
  urgent?: number;
  /** Raw option bytes (padded here to a multiple of 4, at most 40). */
  options?: Uint8Array;
  payload?: Uint8Array;
}

/** TCP header + payload; the checksum is left 0 (repairChecksums fills it). */
export function tcpBytes(f: TcpFields): Uint8Array {
  const opts = f.options ?? new Uint8Array(0);
  const optLen = Math.min(40, (opts.length + 3) & ~3);
  const payload = f.payload ?? new Uint8Array(0);
  const hl = 20 + optLen;
  const b = new Uint8Array(hl + payload.length);
  put16(b, 0, f.srcPort);
  put16(b, 2, f.dstPort);
  put32(b, 4, f.seq >>> 0);
  put32(b, 8, f.ack >>> 0);
  b[12] = (hl / 4) << 4;
  b[13] = f.flags & 0xff;
  put16(b, 14, f.window & 0xffff);
  put16(b, 18, (f.urgent ?? 0) & 0xffff);
  b.set(opts.subarray(0, optLen), 20);
  // Padding beyond the given options stays 0 (EOL).
  b.set(payload, hl);
  return b;
}

/** UDP header + payload; checksum left 0 (repairChecksums fills it). */
export function udpBytes(srcPort: number, dstPort: number, payload: Uint8Array): Uint8Array {
  const b = new Uint8Array(8 + payload.length);
  put16(b, 0, srcPort);
  put16(b, 2, dstPort);
  put16(b, 4, b.length);
  b.set(payload, 8);
  return b;
}

/** ICMP message: type, code, 4 bytes of rest-of-header, data; checksum left 0. */
export function icmpBytes(type: number, code: number, rest: number, data: Uint8Array): Uint8Array {
  const b = new Uint8Array(8 + data.length);
  b[0] = type;
  b[1] = code;
  put32(b, 4, rest);
  b.set(data, 8);
  return b;
}

/**
 * Set the IP header checksum and, for an unfragmented datagram (or whole datagram before
 * fragmenting), the TCP/UDP/ICMP checksum, as far as the header's own lengths allow. Bytes that
 * make no sense (IHL < 5, lengths past the end) are left as they are.
 */
export function repairChecksums(p: Uint8Array, l4 = true): void {
  if (p.length < 20) return;
  const ihl = (p[0] & 0x0f) * 4;
  if (ihl < 20 || ihl > p.length) return;
  const total = Math.min(get16(p, 2), p.length);
  const frag = get16(p, 6);
  if (l4 && (frag & 0x3fff) === 0 && total > ihl) {
    const proto = p[9];
    const len = total - ihl;
    if (proto === PROTO_TCP && len >= 20) {
      put16(p, ihl + 16, 0);
      const sum = pseudoHeaderSum(get32(p, 12), get32(p, 16), PROTO_TCP, len);
      put16(p, ihl + 16, internetChecksum(p, ihl, total, sum));
    } else if (proto === PROTO_UDP && len >= 8) {
      put16(p, ihl + 6, 0);
      const sum = pseudoHeaderSum(get32(p, 12), get32(p, 16), PROTO_UDP, len);
      const c = internetChecksum(p, ihl, total, sum);
      put16(p, ihl + 6, c === 0 ? 0xffff : c);
    } else if (proto === PROTO_ICMP && len >= 4) {
      put16(p, ihl + 2, 0);
      put16(p, ihl + 2, internetChecksum(p, ihl, total));
    }
  }
  put16(p, 10, 0);
  put16(p, 10, internetChecksum(p, 0, ihl));
}

/**
 * TCP options, valid or not: MSS (0, tiny, huge), window scale (up to 20), SACK-permitted, SACK
 * blocks near `seqHint`, timestamps, NOP/EOL, unknown kinds, and lengths of 0, 1 and past the end.
 */
export function tcpOptions(rng: Rng, seqHint: number): Uint8Array {
  const out: number[] = [];
  const n = rng.int(1, 5);
  for (let i = 0; i < n && out.length < 40; i++) {
    switch (rng.int(0, 10)) {
      case 0: {
        const mss = rng.pick([0, 1, 64, 88, 536, 1220, 1460, 1500, 9000, 65535, rng.int(0, 65535)]);
        out.push(2, 4, mss >>> 8, mss & 0xff);
        break;
      }
      case 1:
        out.push(3, 3, rng.pick([0, 1, 7, 14, 15, 20, 255]));
        break;
      case 2:
        out.push(4, 2);
        break;
      case 3: {
        const k = rng.int(1, 4);
        out.push(5, 2 + 8 * k);
        for (let j = 0; j < k; j++) {
          const l = (seqHint + rng.int(-70_000, 70_000)) >>> 0;
          const r = rng.chance(0.8) ? (l + rng.int(0, 20_000)) >>> 0 : rng.u32();
          out.push(l >>> 24, (l >>> 16) & 255, (l >>> 8) & 255, l & 255);
          out.push(r >>> 24, (r >>> 16) & 255, (r >>> 8) & 255, r & 255);
        }
        break;
      }
      case 4: {
        const v = rng.u32();
        const e = rng.chance(0.5) ? 0 : rng.u32();
        out.push(8, 10, v >>> 24, (v >>> 16) & 255, (v >>> 8) & 255, v & 255);
        out.push(e >>> 24, (e >>> 16) & 255, (e >>> 8) & 255, e & 255);
        break;
      }
      case 5:
        out.push(1);
        break;
      case 6:
        out.push(0);
        break;
      case 7: // a length that lies: 0, 1, or past the end
        out.push(rng.int(2, 40), rng.pick([0, 1, 41, 255]));
        break;
      case 8: {
        const len = rng.int(2, 12);
        out.push(rng.int(9, 254), len, ...rng.bytes(len - 2));
        break;
      }
      default:
        out.push(...rng.bytes(rng.int(1, 6)));
    }
  }
  return Uint8Array.from(out.slice(0, 40));
}

/** Well-formed TCP options only (values may still be odd: MSS 0, SACK blocks anywhere). */
export function tcpValidOptions(rng: Rng, seqHint: number): Uint8Array {
  const out: number[] = [];
  if (rng.chance(0.2)) {
    const mss = rng.pick([0, 536, 1460, 65535]);
    out.push(2, 4, mss >>> 8, mss & 0xff);
  }
  if (rng.chance(0.2)) out.push(1, 3, 3, rng.int(0, 14));
  if (rng.chance(0.2)) out.push(1, 1, 4, 2);
  if (rng.chance(0.6)) {
    const k = rng.int(1, 3);
    out.push(1, 1, 5, 2 + 8 * k);
    for (let j = 0; j < k; j++) {
      const l = (seqHint + rng.int(-20_000, 70_000)) >>> 0;
      const r = (l + rng.int(1, 20_000)) >>> 0;
      out.push(l >>> 24, (l >>> 16) & 255, (l >>> 8) & 255, l & 255);
      out.push(r >>> 24, (r >>> 16) & 255, (r >>> 8) & 255, r & 255);
    }
  }
  return Uint8Array.from(out.slice(0, 40));
}

export interface Fragmenting {
  /** Fragment payload size (rounded down to 8; at least 8). */
  size: number;
  /** Shift some offsets back so pieces overlap. */
  overlap: boolean;
  /** Send one piece twice. */
  duplicate: boolean;
  /** Leave one piece out (the datagram then waits for its timeout). */
  dropOne: boolean;
  /** Shuffle the order. */
  shuffle: boolean;
  /** Make the last piece reach past 65 535 bytes (ping of death). */
  oversize: boolean;
}

/** Cut a whole datagram (checksums already final) into fragments. */
export function fragment(rng: Rng, whole: Uint8Array, how: Fragmenting): Uint8Array[] {
  const ihl = (whole[0] & 0x0f) * 4;
  const payload = whole.subarray(ihl);
  const size = Math.max(8, how.size & ~7);
  const src = get32(whole, 12);
  const dst = get32(whole, 16);
  const id = get16(whole, 4);
  const protocol = whole[9];
  const pieces: Uint8Array[] = [];
  for (let off = 0; off < payload.length; off += size) {
    let at = off;
    if (how.overlap && off > 0 && rng.chance(0.3)) at = Math.max(0, off - 8 * rng.int(1, 4));
    const end = Math.min(payload.length, off + size);
    const last = end >= payload.length;
    let fragOffset = at;
    if (how.oversize && last) fragOffset = 65_528; // with more than 7 bytes: past 65 535
    pieces.push(
      ipPacket(
        { src, dst, protocol, id, mf: !last, fragOffset, ttl: 64 },
        payload.subarray(at, end),
      ),
    );
  }
  return disorder(rng, pieces, how);
}

/**
 * What either family's fragmenter does to its pieces once cut: one sent twice, one left out,
 * the order shuffled, as `how` asks (in place; returns `pieces`).
 */
export function disorder(
  rng: Rng,
  pieces: Uint8Array[],
  how: Pick<Fragmenting, 'duplicate' | 'dropOne' | 'shuffle'>,
): Uint8Array[] {
  if (how.duplicate && pieces.length > 0) pieces.push(pieces[rng.int(0, pieces.length - 1)]);
  if (how.dropOne && pieces.length > 1) pieces.splice(rng.int(0, pieces.length - 1), 1);
  if (how.shuffle) {
    for (let i = pieces.length - 1; i > 0; i--) {
      const j = rng.int(0, i);
      [pieces[i], pieces[j]] = [pieces[j], pieces[i]];
    }
  }
  return pieces;
}

/** Flip bits, overwrite bytes, cut or extend: 1 to `maxOps` byte-level changes. */
export function mutateBytes(rng: Rng, p: Uint8Array, maxOps = 6): Uint8Array {
  let b = Uint8Array.from(p);
  const ops = rng.int(1, maxOps);
  for (let i = 0; i < ops; i++) {
    if (b.length === 0) break;
    switch (rng.int(0, 8)) {
      case 0:
      case 1:
        b[rng.int(0, b.length - 1)] ^= 1 << rng.int(0, 7);
        break;
      case 2:
        b[rng.int(0, b.length - 1)] = rng.int(0, 255);
        break;
      case 3: // an IP header byte (version/IHL, lengths, flags, offset, TTL, protocol)
        b[rng.pick([0, 0, 1, 2, 3, 6, 6, 7, 8, 9])] = rng.pick([
          0,
          1,
          0x40,
          0x45,
          0x4f,
          0xff,
          5,
          6,
          17,
          rng.int(0, 255),
        ]);
        break;
      case 4:
        b = b.slice(0, rng.int(0, b.length));
        break;
      case 5: {
        const more = rng.bytes(rng.int(1, 64));
        const c = new Uint8Array(Math.min(1500, b.length + more.length));
        c.set(b.subarray(0, c.length));
        c.set(more.subarray(0, c.length - b.length), b.length);
        b = c;
        break;
      }
      case 6: // a 16-bit field to an edge value
        if (b.length >= 2) {
          const at = rng.int(0, b.length - 2);
          put16(b, at, rng.pick([0, 1, 0x7fff, 0x8000, 0xffff]));
        }
        break;
      case 7: // a 32-bit field near an edge (sequence numbers)
        if (b.length >= 4) {
          const at = rng.int(0, b.length - 4);
          put32(
            b,
            at,
            (get32(b, at) + rng.pick([1, -1, 0x7fffffff, 0x80000000, 65535, -65535])) >>> 0,
          );
        }
        break;
      default: // total length to something else
        if (b.length >= 4) put16(b, 2, rng.pick([0, 19, 20, b.length - 1, b.length + 1, 65535]));
    }
  }
  return b;
}

export function hex(p: Uint8Array): string {
  return Buffer.from(p.buffer, p.byteOffset, p.byteLength).toString('hex');
}
