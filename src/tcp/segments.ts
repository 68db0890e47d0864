/**
 * The segments a connection builds, from its parts: every segment but a bare RST carries the
 * receiver's ACK, window and TS.Recent beside the sender's sequence number and TSval. Module
 * functions, not an object per connection; each takes the parts it reads.
 */
import type { SackBlock, TcpControl, TcpOptions, TcpRepr } from '../wire/tcp-repr.ts';
import { NO_OPTIONS } from '../wire/tcp-repr.ts';
import type { ConnContext } from './context.ts';
import { markSyn } from './ecn.ts';
import { MAX_WINDOW_FIELD, synAckOptions, synOptions } from './handshake.ts';
import type { Receiver } from './receiver.ts';
import type { DataPlan, Sender } from './sender.ts';
import { seqAdd, seqLt } from './seq.ts';

/** The ports a segment goes from and to. */
export interface Ports {
  readonly localPort: number;
  readonly remotePort: number;
}

const EMPTY = new Uint8Array(0);
const NO_SACK: readonly SackBlock[] = Object.freeze([]);

/** A segment with every field given. */
export function tcpRepr(
  ports: Ports,
  control: TcpControl,
  seq: number,
  payload: Uint8Array,
  ack: number | null,
  window: number,
  options: TcpOptions,
): TcpRepr {
  return {
    srcPort: ports.localPort,
    dstPort: ports.remotePort,
    control,
    psh: false,
    urg: false,
    ece: false,
    cwr: false,
    seq,
    ack,
    window,
    urgentPointer: 0,
    options,
    payload,
  };
}

/**
 * A non-SYN segment carrying ACK, our window and our options. The receiver advertises the window
 * (moving its edge) and counts the ACK as sent.
 */
export function ackSegment(
  ports: Ports,
  ctx: ConnContext,
  rcv: Receiver,
  snd: Sender,
  now: number,
  control: TcpControl,
  seq: number,
  payload: Uint8Array,
  sack: readonly SackBlock[],
): TcpRepr {
  const options: TcpOptions = {
    mss: null,
    windowScale: null,
    sackPermitted: false,
    sackBlocks: sack,
    timestamp: ctx.negotiated.timestamps
      ? { tsVal: snd.tsNow(now), tsEcr: rcv.tsRecent ?? 0 }
      : null,
  };
  const window = rcv.advertise();
  rcv.ackSent();
  const seg = tcpRepr(ports, control, seq, payload, rcv.rcvNxt, window, options);
  ctx.ecn?.markAck(seg); // ECE while we echo a CE mark (RFC 3168 §6.1.3)
  return seg;
}

/**
 * The planned data (or FIN) segment, after the sender's bookkeeping of what went out and the
 * receiver's note that new data went (its ACK rides on it).
 */
export function dataSegment(
  ports: Ports,
  ctx: ConnContext,
  rcv: Receiver,
  snd: Sender,
  now: number,
  plan: DataPlan,
): TcpRepr {
  const { seq, len, fin } = plan;
  const newData = len > 0 && !seqLt(seq, snd.sndMax);
  // Before dataSent, which ends a forced send that Linux's PSH marking looks at.
  const psh = snd.psh(now, seq, len);
  const payload = snd.dataSent(now, seq, len, fin);
  if (newData) rcv.dataSent(now);
  const seg = ackSegment(ports, ctx, rcv, snd, now, fin ? 'fin' : 'none', seq, payload, plan.sack);
  ctx.ecn?.markData(ctx, seg, newData); // ECT(0) on new data, CWR after a reduction (RFC 3168)
  // PSH on the segment that empties the send buffer (RFC 9293 §3.9.1: we push every send), or
  // where Linux puts it (TcpConnectionOptions.psh).
  seg.psh = psh;
  return seg;
}

/**
 * A zero-window or keep-alive probe: SEG.SEQ = SND.UNA − 1, no data (RFC 1122 §4.2.3.6), which
 * the peer must answer with an ACK carrying its current window.
 */
export function probeSegment(
  ports: Ports,
  ctx: ConnContext,
  rcv: Receiver,
  snd: Sender,
  now: number,
): TcpRepr {
  return ackSegment(ports, ctx, rcv, snd, now, 'none', seqAdd(snd.sndUna, -1), EMPTY, NO_SACK);
}

/**
 * An ACK without data at SND.MAX, not SND.NXT: during go-back-N SND.NXT is rolled back below
 * what the peer has received, and a pure ACK with an old sequence number is unacceptable to it
 * (§3.10.7.4), so its ACK field would never be read (BSD tcp_output does the same).
 */
export function pureAck(
  ports: Ports,
  ctx: ConnContext,
  rcv: Receiver,
  snd: Sender,
  now: number,
  sack: readonly SackBlock[],
): TcpRepr {
  rcv.pureAckSent();
  return ackSegment(ports, ctx, rcv, snd, now, 'none', snd.sndMax, EMPTY, sack);
}

/** Our SYN (`active`) or SYN-ACK, first sent or again. */
export function synSegment(
  ports: Ports,
  ctx: ConnContext,
  rcv: Receiver,
  snd: Sender,
  now: number,
  active: boolean,
): TcpRepr {
  const ts = { tsVal: snd.tsNow(now), tsEcr: rcv.tsRecent ?? 0 };
  const options = active ? synOptions(ctx.opts, ts) : synAckOptions(ctx.opts, ctx.negotiated, ts);
  // The window in a SYN or SYN-ACK is never scaled (RFC 7323 §2.2).
  const window = Math.min(ctx.opts.rcvBuf, MAX_WINDOW_FIELD);
  const first = snd.retries === 0;
  snd.synSent(now);
  rcv.ackSent();
  const seg = tcpRepr(ports, 'syn', snd.iss, EMPTY, active ? null : rcv.rcvNxt, window, options);
  markSyn(seg, ctx.opts.ecn ?? 2, active, first, ctx.negotiated.ecn); // RFC 3168 §6.1.1
  return seg;
}

/**
 * The RST of ABORT: RFC 9293 §3.10.5 <SEQ=SND.NXT><CTL=RST>, with SND.NXT as the peer knows it
 * (SND.MAX). RFC 7323 §3.2: timestamps SHOULD be sent in a RST too, once negotiated (Linux does).
 */
export function abortRst(
  ports: Ports,
  ctx: ConnContext,
  rcv: Receiver,
  snd: Sender,
  now: number,
): TcpRepr {
  const options = ctx.negotiated.timestamps
    ? { ...NO_OPTIONS, timestamp: { tsVal: snd.tsNow(now), tsEcr: rcv.tsRecent ?? 0 } }
    : NO_OPTIONS;
  return tcpRepr(ports, 'rst', snd.sndMax, EMPTY, rcv.rcvNxt, 0, options);
}

/** <SEQ=SEG.ACK><CTL=RST> for an unacceptable ACK (§3.10.7.3, §3.10.7.4). */
export function bareRst(ports: Ports, seq: number): TcpRepr {
  return tcpRepr(ports, 'rst', seq, EMPTY, null, 0, NO_OPTIONS);
}
