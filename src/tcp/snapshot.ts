/**
 * What a connection is, as plain records: its 4-tuple, and the RFC-named snapshot of its state
 * that tests, the drill reports and `tunstack ss` read (TcpConnection.snapshot()).
 */
import type { TcpCounterName, TcpDropReason } from './context.ts';
import type { TcpState } from './state.ts';
import type { TcpTimer } from './timers.ts';

/** The connection's addresses: IPv4 addresses as unsigned 32-bit numbers. */
export interface FourTuple {
  localAddr: number;
  localPort: number;
  remoteAddr: number;
  remotePort: number;
}

/** RFC-named state for tests and `tunstack ss`. */
export interface TcpSnapshot {
  state: TcpState;
  iss: number;
  irs: number;
  sndUna: number;
  sndNxt: number;
  sndMax: number;
  sndWnd: number;
  rcvNxt: number;
  rcvWnd: number;
  smss: number;
  sndShift: number;
  rcvShift: number;
  timestamps: boolean;
  sack: boolean;
  srtt: number | null;
  rttvar: number;
  rto: number;
  cwnd: number;
  ssthresh: number;
  inRecovery: boolean;
  retransmits: number;
  timeouts: number;
  fastRetransmits: number;
  lostRetransmissions: number;
  tailLossProbes: number;
  bytesIn: number;
  bytesOut: number;
  segsIn: number;
  segsOut: number;
  sendQueue: number;
  recvQueue: number;
  oooBytes: number;
  timer: TcpTimer;
  delayedAckAt: number | null;
  drops: Readonly<Partial<Record<TcpDropReason, number>>>;
  /** Events that are not drops (a trimmed segment, a rate-limited ACK …), by name. */
  counters: Readonly<Partial<Record<TcpCounterName, number>>>;
}
