/**
 * Raw IPv6 packets for the fuzzer (the IPv6 half of ./packets.ts): the fixed header, extension
 * header chains (Hop-by-Hop and Destination options with any TLVs, Routing of any type, Fragment
 * headers, No Next Header), ICMPv6 messages, fragments of whole datagrams, IPv6-aware mutations
 * and checksum repair over the IPv6 pseudo-header. Built by hand, not with src/wire, so that a
 * codec bug cannot hide itself; all draws come from the run's one seeded Rng.
 */
import { internetChecksum, pseudoHeaderSum6 } from '../../src/wire/checksum.ts';
import {
  disorder,
  type Fragmenting,
  get16,
  icmpBytes,
  mutateBytes,
  put16,
  put32,
  type Rng,
} from './packets.ts';

export const NH_HOP = 0;
export const NH_TCP = 6;
export const NH_UDP = 17;
export const NH_ROUTING = 43;
export const NH_FRAGMENT = 44;
export const NH_ICMPV6 = 58;
export const NH_NONE = 59;
export const NH_DEST = 60;

export interface Ip6Fields {
  src: Uint8Array;
  dst: Uint8Array;
  /** The Next Header field of the fixed header. */
  next: number;
  hopLimit?: number;
  trafficClass?: number;
  flowLabel?: number;
}

/** A fixed IPv6 header in front of `payload` (extension headers included), Payload Length set. */
export function ipv6Packet(f: Ip6Fields, payload: Uint8Array): Uint8Array {
  const p = new Uint8Array(40 + payload.length);
  const tc = f.trafficClass ?? 0;
  const flow = f.flowLabel ?? 0;
  put32(p, 0, ((6 << 28) | (tc << 20) | (flow & 0xfffff)) >>> 0);
  put16(p, 4, payload.length & 0xffff);
  p[6] = f.next;
  p[7] = f.hopLimit ?? 64;
  p.set(f.src, 8);
  p.set(f.dst, 24);
  p.set(payload, 40);
  return p;
}

/**
 * An ICMPv6 message: type, code, the 4 rest-of-header bytes, data; checksum left 0. The bytes
 * are laid out as ICMP's (./packets.ts); only the checksum's repair differs (the pseudo-header).
 */
export const icmp6Bytes = icmpBytes;

/**
 * Options for a Hop-by-Hop or Destination Options header, valid or not: Pad1, PadN, Router
 * Alert, the Tunnel Encapsulation Limit, unknown types with each of the four action bit pairs,
 * lengths that run past the header, and long runs of padding.
 */
export function options6(rng: Rng): number[] {
  const out: number[] = [];
  const n = rng.int(0, 4);
  for (let i = 0; i < n; i++) {
    switch (rng.int(0, 8)) {
      case 0:
        out.push(0); // Pad1
        break;
      case 1: {
        const len = rng.int(0, 5);
        out.push(1, len, ...new Array(len).fill(0)); // PadN
        break;
      }
      case 2:
        out.push(5, 2, 0, rng.pick([0, 1, 2, 0xff])); // Router Alert
        break;
      case 3:
        out.push(4, 1, rng.int(0, 255)); // Tunnel Encapsulation Limit
        break;
      case 4: // unknown, action 00 (skip), 01 (discard), 10 and 11 (discard + Parameter Problem)
      case 5: {
        const len = rng.int(0, 6);
        out.push((rng.int(0, 3) << 6) | rng.int(2, 0x3f), len, ...rng.bytes(len));
        break;
      }
      case 6: // a length that runs past the header
        out.push(rng.int(0, 255), rng.pick([40, 200, 255]));
        break;
      case 7: // many options (the walk's bound on options)
        for (let k = rng.int(5, 20); k > 0; k--) out.push(rng.chance(0.5) ? 0x1e : 0x3e, 0);
        break;
      default:
        out.push(...rng.bytes(rng.int(1, 6)));
    }
  }
  return out;
}

/** A Hop-by-Hop or Destination Options header holding `opts`, padded to 8 bytes with PadN. */
export function optionsHeader(next: number, opts: readonly number[]): Uint8Array {
  let len = (2 + opts.length + 7) & ~7;
  if (len > 2048) len = 2048;
  const h = new Uint8Array(len);
  h[0] = next;
  h[1] = len / 8 - 1;
  h.set(opts.slice(0, len - 2), 2);
  const pad = len - 2 - Math.min(opts.length, len - 2);
  if (pad === 1) h[len - 1] = 0;
  else if (pad > 1) {
    h[len - pad] = 1;
    h[len - pad + 1] = pad - 2;
  }
  return h;
}

/** A Routing header: `type` (0 deprecated by RFC 5095, 2, 4 SRH, any), Segments Left, n addresses. */
export function routingHeader(
  next: number,
  type: number,
  segmentsLeft: number,
  addrs: number,
): Uint8Array {
  const h = new Uint8Array(8 + 16 * addrs);
  h[0] = next;
  h[1] = 2 * addrs;
  h[2] = type;
  h[3] = segmentsLeft;
  for (let i = 0; i < addrs; i++) h[8 + 16 * i] = 0xfd;
  return h;
}

/** A Fragment header: offset in bytes (a multiple of 8), More Fragments, Identification. */
export function fragmentHeader(
  next: number,
  offset: number,
  more: boolean,
  id: number,
): Uint8Array {
  const h = new Uint8Array(8);
  h[0] = next;
  put16(h, 2, (offset & 0xfff8) | (more ? 1 : 0));
  put32(h, 4, id >>> 0);
  return h;
}

/**
 * A random extension-header chain ending in `upper` (its Next Header field names `upper`), as
 * one byte array, and the Next Header value that names the chain's first header. Mostly a
 * plausible chain, sometimes one that breaks a rule: Hop-by-Hop not first, more headers than
 * the walk's bound, Routing with Segments Left, an atomic fragment, No Next Header.
 */
export function extensionChain(rng: Rng, upper: number): { first: number; bytes: Uint8Array } {
  const kinds: number[] = [];
  const n = rng.pick([0, 1, 1, 2, 2, 3, rng.int(4, 12), rng.int(9, 14)]);
  // A long chain of empty Destination Options headers now and then: the walk's bound on length.
  const plain = n > 8 && rng.chance(0.6);
  for (let i = 0; i < n; i++) {
    kinds.push(
      plain
        ? NH_DEST
        : rng.pick([NH_HOP, NH_HOP, NH_DEST, NH_DEST, NH_DEST, NH_ROUTING, NH_FRAGMENT, NH_NONE]),
    );
  }
  // Hop-by-Hop is first more often than not (a later one is a Parameter Problem).
  if (kinds.length > 1 && rng.chance(0.7)) {
    for (let i = 1; i < kinds.length; i++) if (kinds[i] === NH_HOP) kinds[i] = NH_DEST;
  }
  const parts: Uint8Array[] = [];
  for (let i = kinds.length - 1; i >= 0; i--) {
    const next = i === kinds.length - 1 ? upper : kinds[i + 1];
    const k = kinds[i];
    if (k === NH_HOP || k === NH_DEST) {
      parts.unshift(optionsHeader(next, plain || rng.chance(0.6) ? [] : options6(rng)));
    } else if (k === NH_ROUTING) {
      parts.unshift(
        routingHeader(
          next,
          rng.pick([0, 0, 2, 3, 4, rng.int(0, 255)]),
          rng.chance(0.5) ? 0 : rng.int(1, 4),
          rng.int(0, 3),
        ),
      );
    } else if (k === NH_FRAGMENT) {
      // Mostly atomic (offset 0, M clear: RFC 6946); sometimes a real fragment in mid-chain.
      const atomic = rng.chance(0.8);
      parts.unshift(
        fragmentHeader(
          next,
          atomic ? 0 : 8 * rng.int(0, 20),
          !atomic && rng.chance(0.5),
          rng.u32(),
        ),
      );
    } else {
      // No Next Header: what follows is ignored, whatever it is.
      parts.unshift(optionsHeader(NH_NONE, []));
      kinds[i] = NH_DEST;
    }
  }
  const total = parts.reduce((a, p) => a + p.length, 0);
  const bytes = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    bytes.set(p, at);
    at += p.length;
  }
  return { first: kinds.length > 0 ? kinds[0] : upper, bytes };
}

/**
 * Where the upper-layer header starts in an IPv6 packet and which protocol it is, following
 * Hop-by-Hop, Destination, Routing and atomic Fragment headers as far as the bytes allow;
 * null for a real fragment, a chain that runs off the end, or one longer than 16 headers.
 */
export function upperLayer(p: Uint8Array): { at: number; proto: number } | null {
  if (p.length < 40) return null;
  let next = p[6];
  let at = 40;
  for (let i = 0; i < 16; i++) {
    if (next === NH_HOP || next === NH_DEST || next === NH_ROUTING) {
      if (at + 2 > p.length) return null;
      const len = (p[at + 1] + 1) * 8;
      next = p[at];
      at += len;
    } else if (next === NH_FRAGMENT) {
      if (at + 8 > p.length || (get16(p, at + 2) & 0xfff9) !== 0) return null;
      next = p[at];
      at += 8;
    } else {
      return at <= p.length ? { at, proto: next } : null;
    }
  }
  return null;
}

/**
 * Set the TCP, UDP or ICMPv6 checksum of an unfragmented IPv6 packet over the IPv6 pseudo-header
 * (RFC 8200 §8.1), as far as the packet's own lengths allow; anything else is left as it is.
 */
export function repairChecksums6(p: Uint8Array): void {
  const u = upperLayer(p);
  if (u === null) return;
  const end = Math.min(p.length, 40 + get16(p, 4));
  const len = end - u.at;
  const field =
    u.proto === NH_TCP && len >= 20
      ? 16
      : u.proto === NH_UDP && len >= 8
        ? 6
        : u.proto === NH_ICMPV6 && len >= 4
          ? 2
          : -1;
  if (field < 0) return;
  put16(p, u.at + field, 0);
  const sum = pseudoHeaderSum6(p.subarray(8, 24), p.subarray(24, 40), u.proto, len);
  const c = internetChecksum(p, u.at, end, sum);
  put16(p, u.at + field, u.proto === NH_UDP && c === 0 ? 0xffff : c);
}

/** IPv4's choices (`size`: the data per fragment; `oversize`: the last piece past 65 535), and: */
export interface Fragmenting6 extends Fragmenting {
  /** The first piece cut so short that it does not hold the upper-layer header (RFC 7112). */
  tinyFirst: boolean;
}

/**
 * Cut a whole IPv6 packet (checksums final, no extension headers but an optional Hop-by-Hop
 * first) into fragments: the unfragmentable part, a Fragment header, the data.
 */
export function fragment6(
  rng: Rng,
  whole: Uint8Array,
  id: number,
  how: Fragmenting6,
): Uint8Array[] {
  let unfrag = 40;
  let next = whole[6];
  if (next === NH_HOP && whole.length >= 42) {
    unfrag += (whole[41] + 1) * 8;
    next = whole[40];
  }
  const head = whole.subarray(0, Math.min(unfrag, whole.length));
  const data = whole.subarray(head.length);
  const size = Math.max(8, how.size & ~7);
  const pieces: Uint8Array[] = [];
  for (let off = 0; off < data.length; ) {
    let at = off;
    if (how.overlap && off > 0 && rng.chance(0.3)) at = Math.max(0, off - 8 * rng.int(1, 4));
    const step = off === 0 && how.tinyFirst ? 8 : size;
    const end = Math.min(data.length, off + step);
    const last = end >= data.length;
    const fragOffset = how.oversize && last ? 65_528 : at;
    const fh = fragmentHeader(next, fragOffset, !last, id);
    const p = new Uint8Array(head.length + 8 + (end - at));
    p.set(head);
    // The header that named the upper layer now names the Fragment header.
    if (head.length > 40) p[40] = NH_FRAGMENT;
    else p[6] = NH_FRAGMENT;
    p.set(fh, head.length);
    p.set(data.subarray(at, end), head.length + 8);
    put16(p, 4, p.length - 40);
    pieces.push(p);
    off = end;
  }
  return disorder(rng, pieces, how);
}

/**
 * IPv6 header fields changed (version, traffic class, Payload Length, Next Header, hop limit,
 * addresses), then perhaps byte-level mutations (./packets.ts mutateBytes).
 */
export function mutate6(rng: Rng, p: Uint8Array, addrs: readonly Uint8Array[]): Uint8Array {
  let b: Uint8Array = Uint8Array.from(p);
  const ops = rng.int(1, 3);
  for (let i = 0; i < ops && b.length >= 40; i++) {
    switch (rng.int(0, 7)) {
      case 0:
        b[0] = (rng.pick([0, 4, 5, 7, 15, rng.int(0, 15)]) << 4) | (b[0] & 0x0f);
        break;
      case 1: // Payload Length: 0 (a jumbogram's), short, long, exact
        put16(b, 4, rng.pick([0, 1, 7, b.length - 41, b.length - 39, 65_535, rng.int(0, 65_535)]));
        break;
      case 2:
        b[6] = rng.pick([0, 6, 17, 43, 44, 50, 51, 58, 59, 60, 135, 253, 255, rng.int(0, 255)]);
        break;
      case 3:
        b[7] = rng.pick([0, 1, 255]);
        break;
      case 4:
        b.set(rng.pick(addrs), 8);
        break;
      case 5:
        b.set(rng.pick(addrs), 24);
        break;
      case 6: // cut inside the fixed header or the chain
        b = b.slice(0, rng.int(0, Math.min(b.length, 80)));
        break;
      default:
        b = mutateBytes(rng, b, 3);
    }
  }
  return b;
}
