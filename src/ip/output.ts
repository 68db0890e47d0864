/**
 * IPv4 output: header, identification, and fragmentation of datagrams larger than the MTU
 * (RFC 791 §3.2, RFC 1122 §3.3.3).
 *
 * Zero copy for the common case: the caller allocates `allocPacket(n)` (20 bytes of room for the
 * header, then n bytes), writes its transport header and data at offset 20, and calls `send`,
 * which writes the IP header in place and hands the buffer to the link. Only a datagram that needs
 * fragmenting is copied, once, into its fragments.
 */
import { IPV4_MAX_DATAGRAM, IPV4_MIN_HEADER_LEN, Ipv4View } from '../wire/ipv4.ts';
import { PacketSlab } from './slab.ts';
import type { IpStats } from './stats.ts';

/** Where output goes: the stack passes its Link (only `send` is used here). */
export interface PacketSink {
  /** `segmentSize`: a TSO super-segment (see `IpOutput.sendSegmented`). */
  send(packet: Uint8Array, segmentSize?: number): void;
}

export interface IpOutputOptions {
  /** Our address: the source of everything we send. */
  address: number;
  /** The link MTU: the largest packet we hand to it. At least 68 (RFC 791 §3.2). */
  mtu: number;
  /** Time to live of what we send (RFC 1700's default, Linux's ip_default_ttl). */
  ttl?: number;
  /** First identification value; the counter runs from there, mod 2^16. */
  initialId?: number;
}

export const DEFAULT_TTL = 64;

/** Header room `allocPacket` leaves before the transport bytes. */
export const IP_HEADER_ROOM = IPV4_MIN_HEADER_LEN;

export class IpOutput {
  readonly address: number;
  readonly mtu: number;
  private readonly ttl: number;
  private nextId: number;
  private readonly slab = new PacketSlab();

  constructor(
    options: IpOutputOptions,
    private readonly sink: PacketSink,
    private readonly stats: IpStats,
  ) {
    if (options.mtu < 68)
      throw new RangeError(`MTU ${options.mtu} is below the IPv4 minimum of 68`);
    this.address = options.address;
    this.mtu = options.mtu;
    this.ttl = options.ttl ?? DEFAULT_TTL;
    this.nextId = (options.initialId ?? 0) & 0xffff;
  }

  /** The largest transport payload that goes out unfragmented. */
  get maxUnfragmented(): number {
    return this.mtu - IPV4_MIN_HEADER_LEN;
  }

  /**
   * A buffer for a datagram carrying `transportLen` bytes, which go at offset IP_HEADER_ROOM:
   * small ones carved from a shared slab (src/ip/slab.ts), a view rather than an ArrayBuffer each.
   */
  allocPacket(transportLen: number): Uint8Array {
    return this.slab.alloc(IP_HEADER_ROOM + transportLen);
  }

  /**
   * Send `packet` (from allocPacket, transport bytes already at offset 20) to `dst`. With
   * `dontFrag` (TCP, RFC 1191 path MTU discovery) a datagram larger than the MTU is dropped and
   * false returned; otherwise it is cut into fragments. The packet is the link's afterwards.
   * `src` is our address unless a relay answers for another (Stack.acceptAnyDestination).
   * `tos`: the TOS byte (a TCP data segment's ECT mark, RFC 3168 §5); every fragment copies it.
   */
  send(
    packet: Uint8Array,
    protocol: number,
    dst: number,
    dontFrag: boolean,
    src: number = this.address,
    tos = 0,
  ): boolean {
    const payloadLength = packet.length - IP_HEADER_ROOM;
    if (packet.length > IPV4_MAX_DATAGRAM || (dontFrag && packet.length > this.mtu)) {
      this.stats.drops['tx-too-big']++;
      return false;
    }
    this.stats.txDatagrams++;
    const id = this.nextId;
    this.nextId = (this.nextId + 1) & 0xffff;
    if (packet.length <= this.mtu) {
      this.#sendWhole(packet, protocol, dst, id, dontFrag, 0, src, tos);
      return true;
    }

    // RFC 791 §3.2 "An Example Fragmentation Procedure": every fragment but the last carries
    // the largest multiple of 8 bytes that fits the MTU.
    this.stats.txFragmented++;
    const chunk = (this.mtu - IPV4_MIN_HEADER_LEN) & ~7;
    const payload = packet.subarray(IP_HEADER_ROOM);
    for (let offset = 0; offset < payloadLength; offset += chunk) {
      const len = Math.min(chunk, payloadLength - offset);
      const frag = new Uint8Array(IPV4_MIN_HEADER_LEN + len);
      frag.set(payload.subarray(offset, offset + len), IPV4_MIN_HEADER_LEN);
      Ipv4View.emit(frag, {
        src,
        dst,
        protocol,
        ttl: this.ttl,
        id,
        dontFrag: false,
        moreFrags: offset + len < payloadLength,
        fragOffset: offset,
        tos,
        payloadLength: len,
      });
      this.stats.txPackets++;
      this.sink.send(frag);
    }
    return true;
  }

  /**
   * Send a TCP super-segment to a link with segmentation offload (TSO): larger than the MTU, DF
   * set, never fragmented; the link cuts its payload into `segmentSize` bytes per segment, each
   * behind a copy of the headers. The identification advances by one per segment it stands
   * for (`segments`), as the kernel's TSO numbers the segments it cuts (id, id + 1, …).
   */
  sendSegmented(
    packet: Uint8Array,
    protocol: number,
    dst: number,
    segmentSize: number,
    segments: number,
    src: number = this.address,
    tos = 0,
  ): boolean {
    if (packet.length > IPV4_MAX_DATAGRAM) {
      this.stats.drops['tx-too-big']++;
      return false;
    }
    this.stats.txDatagrams++;
    const id = this.nextId;
    this.nextId = (this.nextId + segments) & 0xffff;
    this.#sendWhole(packet, protocol, dst, id, true, segmentSize, src, tos);
    return true;
  }

  /** The header of an unfragmented datagram, written in place; then to the sink. */
  #sendWhole(
    packet: Uint8Array,
    protocol: number,
    dst: number,
    id: number,
    dontFrag: boolean,
    segmentSize: number,
    src: number,
    tos: number,
  ): void {
    Ipv4View.emit(packet, {
      src,
      dst,
      protocol,
      ttl: this.ttl,
      id,
      dontFrag,
      moreFrags: false,
      fragOffset: 0,
      tos,
      payloadLength: packet.length - IP_HEADER_ROOM,
    });
    this.stats.txPackets++;
    if (segmentSize > 0) this.sink.send(packet, segmentSize);
    else this.sink.send(packet);
  }
}
