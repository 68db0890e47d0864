/**
 * What a TCP segment means, apart from its bytes (STYLE.md: views and meanings).
 *
 * The TCP core takes and returns these plain records; src/wire/tcp.ts parses them from bytes and
 * emits them into bytes. Addresses are IPv4 addresses as unsigned 32-bit numbers.
 */

/** The one control of a segment that changes connection state; PSH is carried beside it. */
export type TcpControl = 'none' | 'syn' | 'fin' | 'rst';

export interface SackBlock {
  /** First sequence number of the block. */
  left: number;
  /** Sequence number just past the block. */
  right: number;
}

export interface TcpTimestamp {
  tsVal: number;
  tsEcr: number;
}

export interface TcpOptions {
  /** Maximum segment size (SYN only), or null when absent. */
  mss: number | null;
  /** Window scale shift count (SYN only, RFC 7323 §2), or null when absent. */
  windowScale: number | null;
  /** SACK-permitted (SYN only, RFC 2018). */
  sackPermitted: boolean;
  /** SACK blocks (RFC 2018 §3), empty when absent. */
  sackBlocks: readonly SackBlock[];
  /** Timestamps (RFC 7323 §3), or null when absent. */
  timestamp: TcpTimestamp | null;
}

export interface TcpRepr {
  srcPort: number;
  dstPort: number;
  /** SYN, FIN or RST; a segment with both SYN and ACK has control 'syn' and ack set. */
  control: TcpControl;
  /** PSH flag. */
  psh: boolean;
  /** URG is parsed but never acted on (RFC 9293 §3.10.7 keeps it; we count and ignore it). */
  urg: boolean;
  /** ECE and CWR (RFC 3168 §6.1; src/tcp/ecn.ts). */
  ece: boolean;
  cwr: boolean;
  seq: number;
  /** The acknowledgment number when the ACK flag is set, else null. */
  ack: number | null;
  /** The window field as it appears on the wire (not scaled). */
  window: number;
  urgentPointer: number;
  options: TcpOptions;
  /** The payload: a view into the received packet, or the bytes to send. */
  payload: Uint8Array;
  /**
   * The ECN field (RFC 3168 §5, IpEcn in wire/ipv4.ts) of the IPv4 header that carried this
   * segment, or is to carry it; absent means Not-ECT. Not a TCP header field: the stack copies
   * it from and to the IP header, and the TCP codec neither reads nor writes it.
   */
  ipEcn?: number;
}

export const NO_OPTIONS: Readonly<TcpOptions> = Object.freeze({
  mss: null,
  windowScale: null,
  sackPermitted: false,
  sackBlocks: [],
  timestamp: null,
});

/** Sequence space a segment occupies: payload plus one for SYN and one for FIN. */
export function segmentLength(seg: Pick<TcpRepr, 'control' | 'payload'>): number {
  return seg.payload.length + (seg.control === 'syn' || seg.control === 'fin' ? 1 : 0);
}
