/**
 * The one small interface every link shares (STYLE.md: links wrap links).
 *
 * A link moves whole IPv4 packets. TunLink, SimLink, FaultLink(inner) and PcapLink(inner) all
 * implement it, so that the stack neither knows nor cares what carries its packets.
 */
/** Bits of the `flags` a link may pass with a received packet (0 or absent: none). */
export const RxFlag = {
  /**
   * The TCP/UDP checksum must not be verified: the packet was made on the host behind the link
   * and left its checksum partial (checksum offload: virtio NEEDS_CSUM, the field holds only the
   * pseudo-header sum), or the device verified it already (DATA_VALID).
   */
  CsumTrusted: 1,
} as const;

/**
 * What a link can do for the stack beyond moving MTU-sized packets. Absent: nothing.
 *
 * `tso`: send() takes TCP super-segments of up to `maxSegment` bytes (IP header included) with a
 * `segmentSize`, and whoever is behind the link cuts them into segments of `segmentSize` payload
 * bytes, finishing each TCP checksum (TCP segmentation offload). The stack then writes only the
 * pseudo-header sum into such a segment's checksum field (the partial checksum convention).
 */
export interface LinkOffload {
  /** TCP super-segments over IPv4 (TSO4). */
  readonly tso: boolean;
  /** TCP super-segments over IPv6 too (TSO6); absent: IPv4 only. */
  readonly tso6?: boolean;
  readonly maxSegment: number;
}

export interface LinkReceiver {
  /**
   * One received IPv4 packet. The bytes are valid only until this call returns. `flags`: RxFlag
   * bits. With offloads the packet may be larger than the MTU (a TCP segment of up to 64 KiB).
   */
  packet(packet: Uint8Array, flags?: number): void;
  /** The end of a batch of received packets: a good moment to flush coalesced output. */
  batchEnd?(): void;
}

export interface Link {
  /** The largest IPv4 packet the link carries (a TSO super-segment aside: see `offload`). */
  readonly mtu: number;
  /** Offloads the link offers; absent on links that offer none. */
  readonly offload?: LinkOffload;
  /** Start delivering received packets to rx. Called once. */
  attach(rx: LinkReceiver): void;
  /**
   * Queue one IPv4 packet for sending. The link takes ownership of the bytes: the caller must not
   * write to them again. A link may send at once or hold packets until flush().
   * `segmentSize` (only when `offload.tso`): the packet is a TCP super-segment with a partial
   * checksum, to be cut into segments of that many payload bytes.
   */
  send(packet: Uint8Array, segmentSize?: number): void;
  /** Send whatever send() has queued. */
  flush(): void;
  /** Stop receiving and release the device. */
  close(): Promise<void>;
}
