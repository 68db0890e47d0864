/**
 * The one small interface every link shares (STYLE.md: links wrap links).
 *
 * A link moves whole IPv4 packets. TunLink, SimLink, FaultLink(inner) and PcapLink(inner) all
 * implement it, so that the stack neither knows nor cares what carries its packets.
 */
export interface LinkReceiver {
  /** One received IPv4 packet. The bytes are valid only until this call returns. */
  packet(packet: Uint8Array): void;
  /** The end of a batch of received packets: a good moment to flush coalesced output. */
  batchEnd?(): void;
}

export interface Link {
  /** The largest IPv4 packet the link carries. */
  readonly mtu: number;
  /** Start delivering received packets to rx. Called once. */
  attach(rx: LinkReceiver): void;
  /**
   * Queue one IPv4 packet for sending. The link takes ownership of the bytes: the caller must not
   * write to them again. A link may send at once or hold packets until flush().
   */
  send(packet: Uint8Array): void;
  /** Send whatever send() has queued. */
  flush(): void;
  /** Stop receiving and release the device. */
  close(): Promise<void>;
}
