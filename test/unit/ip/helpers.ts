import { type Ipv4Repr, Ipv4View } from '../../../src/wire/ipv4.ts';

export const PEER = 0x0a000001; // 10.0.0.1
export const US = 0x0a000002; // 10.0.0.2

/** An IPv4 packet from PEER to US carrying `payload`, with header fields overridable. */
export function packet(payload: Uint8Array, repr: Partial<Ipv4Repr> = {}): Uint8Array {
  const out = new Uint8Array(20 + payload.length);
  out.set(payload, 20);
  Ipv4View.emit(out, {
    src: PEER,
    dst: US,
    protocol: 17,
    ttl: 64,
    id: 1,
    dontFrag: false,
    moreFrags: false,
    fragOffset: 0,
    payloadLength: payload.length,
    ...repr,
  });
  return out;
}

/** Bytes 0, 1, 2, … (mod 251, so that a misplaced fragment shows). */
export function pattern(n: number, seed = 0): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i + seed) % 251;
  return b;
}

/** The fragment of `whole` covering payload bytes [offset, offset + len). */
export function fragment(
  whole: Uint8Array,
  offset: number,
  len: number,
  more: boolean,
  id = 7,
): Uint8Array {
  return packet(whole.subarray(offset, offset + len), { id, fragOffset: offset, moreFrags: more });
}
