/**
 * What a connection is, as plain records: its 4-tuple, and the RFC-named snapshot of its state
 * that tests, the drill reports and `tunstack ss` read (TcpConnection.snapshot()).
 */
import type { ConnContext, TcpCounterName, TcpDropReason } from './context.ts';
import type { Receiver } from './receiver.ts';
import type { Sender } from './sender.ts';
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
  /** TS.Recent (RFC 7323 §4.3), or null before any timestamp was taken. */
  tsRecent: number | null;
  sack: boolean;
  /** ECN agreed on the SYNs (RFC 3168; counters ecn-* under `counters`). */
  ecn: boolean;
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
  /** Probes sent in recovery (recoveryProbe). */
  recoveryProbes: number;
  /** Losses a resent tail loss probe repaired (RFC 8985 §7.4). */
  lossProbeRecoveries: number;
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

/** The snapshot of a connection, from its state, its timer and its parts. */
export function takeSnapshot(
  state: TcpState,
  iss: number,
  timer: TcpTimer,
  ctx: ConnContext,
  rcv: Receiver,
  snd: Sender,
): TcpSnapshot {
  // Before the first send, the state a fresh controller would start from (not kept).
  const loss = snd.lossForSnapshot();
  return {
    state,
    iss,
    irs: rcv.irs,
    sndUna: snd.sndUna,
    sndNxt: snd.sndNxt,
    sndMax: snd.sndMax,
    sndWnd: snd.sndWnd,
    rcvNxt: rcv.rcvNxt,
    rcvWnd: rcv.rcvWnd,
    smss: snd.effMss(0),
    sndShift: ctx.negotiated.sndShift,
    rcvShift: ctx.negotiated.rcvShift,
    timestamps: ctx.negotiated.timestamps,
    tsRecent: rcv.tsRecent,
    sack: ctx.negotiated.sack,
    ecn: ctx.negotiated.ecn,
    srtt: snd.rtt.srtt,
    rttvar: snd.rtt.rttvar,
    rto: snd.rtt.rto,
    cwnd: loss?.cc.cwnd ?? 0,
    ssthresh: loss?.cc.ssthresh ?? 0,
    inRecovery: loss?.inRecovery ?? false,
    retransmits: ctx.stats.retransmits,
    timeouts: ctx.stats.timeouts,
    fastRetransmits: loss?.fastRetransmits ?? 0,
    lostRetransmissions: loss?.lostRetransmissions ?? 0,
    tailLossProbes: ctx.stats.tailLossProbes,
    recoveryProbes: ctx.stats.recoveryProbes,
    lossProbeRecoveries: ctx.stats.lossProbeRecoveries,
    bytesIn: ctx.stats.bytesIn,
    bytesOut: ctx.stats.bytesOut,
    segsIn: ctx.stats.segsIn,
    segsOut: ctx.stats.segsOut,
    sendQueue: snd.queued,
    recvQueue: rcv.heldBytes,
    oooBytes: rcv.outOfOrderBytes,
    timer,
    delayedAckAt: rcv.delayedAckAt,
    drops: { ...ctx.stats.drops },
    counters: { ...ctx.stats.counters },
  };
}
