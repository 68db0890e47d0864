/**
 * IPv6 output (RFC 8200): the fixed header written in place, and fragmentation of our own packets
 * larger than the link MTU at the source (§4.5; routers never fragment IPv6).
 *
 * As IPv4 output: the caller allocates `allocPacket(n)` (40 bytes of room, then n bytes), writes
 * its upper-layer header and data at offset 40, and calls `send`. Only a packet that needs
 * fragmenting is copied, once, into its fragments. We send no extension headers of our own, so
 * the unfragmentable part is the fixed header alone.
 */
import {
  emitFragmentHeader,
  IPV6_FRAGMENT_HEADER_LEN,
  IPV6_HEADER_LEN,
  IPV6_MAX_PAYLOAD,
  IPV6_MIN_MTU,
  Ipv6Next,
  Ipv6View,
} from '../wire/ipv6.ts';
import type { PacketSink } from './output.ts';
import { PacketSlab } from './slab.ts';
import type { Ip6Stats } from './stats6.ts';

/** Header room `allocPacket` leaves before the upper-layer bytes. */
export const IP6_HEADER_ROOM = IPV6_HEADER_LEN;

/** Hop limit of what we send (Linux's net.ipv6.conf.*.hop_limit). */
export const DEFAULT_HOP_LIMIT = 64;

export interface Ip6OutputOptions {
  /** Our address, 16 bytes: the source of everything we send. */
  address: Uint8Array;
  /** The link MTU, at least 1280 (RFC 8200 §5). */
  mtu: number;
  hopLimit?: number;
  /**
   * First Fragment Identification; the counter runs from there, mod 2^32. Default: random, so that
   * the values are not guessable from outside (RFC 7739 §5 asks for unpredictable ones).
   */
  initialId?: number;
}

export class Ip6Output {
  readonly address: Uint8Array;
  readonly mtu: number;
  private readonly hopLimit: number;
  private nextId: number;
  private readonly slab = new PacketSlab();
  /**
   * The path MTU to a destination (the stack's path-MTU table, RFC 8201), or null: the link's.
   * Packets we may fragment are cut to it; TCP's (`dontFrag`) follow their own MSS.
   */
  pathMtu: ((dst: Uint8Array) => number) | null = null;

  constructor(
    options: Ip6OutputOptions,
    private readonly sink: PacketSink,
    private readonly stats: Ip6Stats,
  ) {
    if (options.mtu < IPV6_MIN_MTU) {
      throw Object.assign(
        new RangeError(`MTU ${options.mtu} is below the IPv6 minimum of ${IPV6_MIN_MTU}`),
        { code: 'ERR_OUT_OF_RANGE' },
      );
    }
    this.address = options.address;
    this.mtu = options.mtu;
    this.hopLimit = options.hopLimit ?? DEFAULT_HOP_LIMIT;
    this.nextId =
      (options.initialId ?? globalThis.crypto.getRandomValues(new Uint32Array(1))[0]) >>> 0;
  }

  /** The largest upper-layer packet that goes out unfragmented. */
  get maxUnfragmented(): number {
    return this.mtu - IPV6_HEADER_LEN;
  }

  /**
   * A buffer for a packet carrying `upperLen` bytes, which go at offset IP6_HEADER_ROOM: small
   * ones carved from a shared slab (src/ip/slab.ts), as IPv4's.
   */
  allocPacket(upperLen: number): Uint8Array {
    return this.slab.alloc(IP6_HEADER_ROOM + upperLen);
  }

  /**
   * Send `packet` (from allocPacket, upper-layer bytes at offset 40) to `dst` (16 bytes). A packet
   * larger than the MTU is cut into fragments (§4.5) unless `dontFrag`; one whose payload would
   * exceed 65 535 bytes is dropped. False when dropped (counted). The packet is the link's
   * afterwards. `tos`: the Traffic Class byte; every fragment copies it.
   */
  send(
    packet: Uint8Array,
    nextHeader: number,
    dst: Uint8Array,
    dontFrag = false,
    src: Uint8Array = this.address,
    tos = 0,
  ): boolean {
    const payloadLength = packet.length - IP6_HEADER_ROOM;
    if (payloadLength > IPV6_MAX_PAYLOAD || (dontFrag && packet.length > this.mtu)) {
      this.stats.drops['tx-too-big']++;
      return false;
    }
    this.stats.txDatagrams++;
    const mtu =
      dontFrag || this.pathMtu === null || packet.length <= IPV6_MIN_MTU
        ? this.mtu
        : Math.min(this.mtu, this.pathMtu(dst));
    if (packet.length <= mtu) {
      this.#sendWhole(packet, nextHeader, dst, 0, src, tos);
      return true;
    }

    // §4.5: every fragment but the last carries the largest multiple of 8 bytes that fits.
    this.stats.txFragmented++;
    const id = this.nextId;
    this.nextId = (this.nextId + 1) >>> 0;
    const chunk = (mtu - IPV6_HEADER_LEN - IPV6_FRAGMENT_HEADER_LEN) & ~7;
    const payload = packet.subarray(IP6_HEADER_ROOM);
    for (let offset = 0; offset < payloadLength; offset += chunk) {
      const len = Math.min(chunk, payloadLength - offset);
      const frag = new Uint8Array(IPV6_HEADER_LEN + IPV6_FRAGMENT_HEADER_LEN + len);
      Ipv6View.emit(frag, {
        src,
        dst,
        nextHeader: Ipv6Next.Fragment,
        hopLimit: this.hopLimit,
        trafficClass: tos,
        payloadLength: IPV6_FRAGMENT_HEADER_LEN + len,
      });
      emitFragmentHeader(frag, IPV6_HEADER_LEN, {
        nextHeader,
        offset,
        more: offset + len < payloadLength,
        id,
      });
      frag.set(payload.subarray(offset, offset + len), IPV6_HEADER_LEN + IPV6_FRAGMENT_HEADER_LEN);
      this.stats.txPackets++;
      this.sink.send(frag);
    }
    return true;
  }

  /**
   * Send a TCP super-segment (segmentation offload, src/stack/gso.ts): `packet` is larger than
   * the MTU and goes to the link whole, with `segmentSize` for the link to cut it by; never
   * fragmented, as every segment cut from it fits the MTU (unlike IPv4's, no Identification to
   * advance per segment: an unfragmented IPv6 packet has none). False when the payload would
   * exceed 65 535 bytes (`tx-too-big`).
   */
  sendSegmented(
    packet: Uint8Array,
    nextHeader: number,
    dst: Uint8Array,
    segmentSize: number,
    src: Uint8Array = this.address,
    tos = 0,
  ): boolean {
    const payloadLength = packet.length - IP6_HEADER_ROOM;
    if (payloadLength > IPV6_MAX_PAYLOAD) {
      this.stats.drops['tx-too-big']++;
      return false;
    }
    this.stats.txDatagrams++;
    this.#sendWhole(packet, nextHeader, dst, segmentSize, src, tos);
    return true;
  }

  /** The fixed header of an unfragmented packet, written in place; then to the sink (as IPv4's). */
  #sendWhole(
    packet: Uint8Array,
    nextHeader: number,
    dst: Uint8Array,
    segmentSize: number,
    src: Uint8Array,
    tos: number,
  ): void {
    Ipv6View.emit(packet, {
      src,
      dst,
      nextHeader,
      hopLimit: this.hopLimit,
      trafficClass: tos,
      payloadLength: packet.length - IP6_HEADER_ROOM,
    });
    this.stats.txPackets++;
    if (segmentSize > 0) this.sink.send(packet, segmentSize);
    else this.sink.send(packet);
  }
}
