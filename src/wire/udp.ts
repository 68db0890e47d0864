/**
 * UDP header (RFC 768).
 *
 *  |          Source Port          |       Destination Port        |
 *  |            Length             |           Checksum            |
 *
 * The checksum covers a pseudo-header (source, destination, protocol 17, UDP length), the header
 * and the data. A transmitted checksum of zero means "none computed" (RFC 768); a computed zero is
 * sent as 0xffff (RFC 768, RFC 1122 §4.1.3.4).
 */
import { copyInto, get16, put16 } from './bytes.ts';
import { onesSum, pseudoHeaderSum, pseudoHeaderSum6 } from './checksum.ts';
import { IpProtocol } from './ipv4.ts';
import { ParseError } from './parse-error.ts';

export const UDP_HEADER_LEN = 8;

/** Reasons `UdpView.check` rejects bytes; each is also a `udp.drops` stats key. */
export type UdpParseReason = 'truncated' | 'bad-length' | 'bad-checksum';

const SRC_PORT = 0;
const DST_PORT = 2;
const LENGTH = 4;
const CHECKSUM = 6;

export interface UdpRepr {
  srcPort: number;
  dstPort: number;
  /** The data: a view into the received packet, or the bytes to send. */
  payload: Uint8Array;
}

/** The datagram as its Length field says, if that fits the buffer (either family). */
function datagram(buf: Uint8Array): Uint8Array | ParseError<UdpParseReason> {
  if (buf.length < UDP_HEADER_LEN) return ParseError.of('truncated');
  const len = get16(buf, LENGTH);
  if (len < UDP_HEADER_LEN || len > buf.length) return ParseError.of('bad-length');
  return buf.subarray(0, len);
}

/** A checked UDP datagram: length field within the buffer, checksum correct or absent. */
export class UdpView {
  private constructor(private readonly buf: Uint8Array) {}

  /**
   * Validate a UDP datagram (the whole IP payload) sent from `src` to `dst`. Bytes beyond the UDP
   * Length field are ignored. Reasons: 'truncated', 'bad-length', 'bad-checksum'. Never throws.
   */
  static check(
    buf: Uint8Array,
    src: number,
    dst: number,
    verifyChecksum = true,
  ): UdpView | ParseError<UdpParseReason> {
    const view = datagram(buf);
    if (view instanceof ParseError) return view;
    // verifyChecksum false: the link vouched for the bytes (checksum offload, a partial sum).
    // A zero checksum is "none" over IPv4 (RFC 768).
    if (verifyChecksum && get16(view, CHECKSUM) !== 0) {
      const len = view.length;
      const sum = onesSum(view, 0, len, pseudoHeaderSum(src, dst, IpProtocol.Udp, len));
      if (sum !== 0xffff) return ParseError.of('bad-checksum');
    }
    return new UdpView(view);
  }

  /**
   * The same over IPv6, from `src` to `dst` (16-byte views): the checksum covers the IPv6
   * pseudo-header, and a zero checksum is not "none" but a bad one (RFC 8200 §8.1: IPv6 receivers
   * discard UDP packets with a zero checksum).
   */
  static check6(
    buf: Uint8Array,
    src: Uint8Array,
    dst: Uint8Array,
    verifyChecksum = true,
  ): UdpView | ParseError<UdpParseReason> {
    const view = datagram(buf);
    if (view instanceof ParseError) return view;
    if (verifyChecksum) {
      if (get16(view, CHECKSUM) === 0) return ParseError.of('bad-checksum');
      const len = view.length;
      const sum = onesSum(view, 0, len, pseudoHeaderSum6(src, dst, IpProtocol.Udp, len));
      if (sum !== 0xffff) return ParseError.of('bad-checksum');
    }
    return new UdpView(view);
  }

  get bytes(): Uint8Array {
    return this.buf;
  }
  get srcPort(): number {
    return get16(this.buf, SRC_PORT);
  }
  get dstPort(): number {
    return get16(this.buf, DST_PORT);
  }
  get length(): number {
    return get16(this.buf, LENGTH);
  }
  /** 0 when the sender computed none. */
  get checksum(): number {
    return get16(this.buf, CHECKSUM);
  }
  get payload(): Uint8Array {
    return this.buf.subarray(UDP_HEADER_LEN);
  }

  toRepr(): UdpRepr {
    return { srcPort: this.srcPort, dstPort: this.dstPort, payload: this.payload };
  }
}

/** Bytes `emitUdp` writes for `repr`: header plus payload. */
export function udpLen(repr: UdpRepr): number {
  return UDP_HEADER_LEN + repr.payload.length;
}

/**
 * Write `repr` at the start of `buf` (header, payload unless already in place, checksum over the
 * pseudo-header for `src` → `dst`). Returns the length written.
 */
export function emitUdp(buf: Uint8Array, repr: UdpRepr, src: number, dst: number): number {
  const len = UDP_HEADER_LEN + repr.payload.length;
  return emitWith(buf, repr, pseudoHeaderSum(src, dst, IpProtocol.Udp, len));
}

/** `emitUdp` over IPv6: the checksum covers the IPv6 pseudo-header of `src` → `dst` (16 bytes). */
export function emitUdp6(buf: Uint8Array, repr: UdpRepr, src: Uint8Array, dst: Uint8Array): number {
  const len = UDP_HEADER_LEN + repr.payload.length;
  return emitWith(buf, repr, pseudoHeaderSum6(src, dst, IpProtocol.Udp, len));
}

/** Both families' emit, given the pseudo-header's sum. A zero checksum goes as 0xffff. */
function emitWith(buf: Uint8Array, repr: UdpRepr, pseudo: number): number {
  const len = UDP_HEADER_LEN + repr.payload.length;
  put16(buf, SRC_PORT, repr.srcPort);
  put16(buf, DST_PORT, repr.dstPort);
  put16(buf, LENGTH, len);
  put16(buf, CHECKSUM, 0);
  copyInto(buf, UDP_HEADER_LEN, repr.payload);
  const sum = ~onesSum(buf, 0, len, pseudo) & 0xffff;
  put16(buf, CHECKSUM, sum === 0 ? 0xffff : sum);
  return len;
}
