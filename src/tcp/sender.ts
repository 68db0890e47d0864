/**
 * The sending half of a connection, after gVisor's snd.go: it answers "why did we send?".
 *
 * It owns the send sequence space (SND.UNA, SND.NXT, SND.MAX, SND.WND and its WL1/WL2), the send
 * buffer and our queued FIN, RTT measurement (Karn, RFC 6298; timestamps, RFC 7323 §4), loss
 * recovery and congestion control (made on first use), the tail loss probe (RFC 8985 §7), and what
 * a fired timer owes the next send (a tail loss probe, a forced send, a window or keep-alive probe). The connection gives it each acceptable ACK
 * (processAck), asks it what to send next (planData), and tells it what went out (dataSent,
 * synSent). Timers and state changes stay with the connection; the methods that would change
 * them return what happened instead.
 */

import { sackOptionLen } from '../wire/tcp.ts';
import type { SackBlock, TcpRepr } from '../wire/tcp-repr.ts';
import { createCongestionControl } from './congestion/index.ts';
import type { ConnContext } from './context.ts';
import { TIMESTAMP_OPTION_LEN } from './handshake.ts';
import { type Corking, LinuxPsh } from './push.ts';
import type { RackLog } from './rack.ts';
import { LossRecovery } from './recovery.ts';
import { RttEstimator } from './rtt.ts';
import { carriesDsack } from './scoreboard.ts';
import { bytesToSend } from './send.ts';
import { SendBuffer } from './sendbuf.ts';
import { seqAdd, seqDiff, seqGeq, seqGt, seqLeq, seqLt, seqMax, seqMin } from './seq.ts';
import { canSend, type TcpState } from './state.ts';

/** RFC 8985 §7.2 WCDelAckT: a receiver may delay the ACK of a lone segment this long. */
const WORST_CASE_DELAYED_ACK_MS = 200;

/** A data (or FIN) segment to send: `len` bytes from `seq`, the FIN after them if `fin`. */
/**
 * What the last timer that fired owes the next send. At most one at a time: each is set by a
 * firing in dispatch, and the next send turn of that same dispatch call consumes it (the probe
 * plan or a data plan always follows: a TLP fires only with data in flight and planData answers
 * it first; the persist and keep-alive timers fire only with nothing in flight, hence outside any
 * loss recovery, and then a forced send always fits the open window, and a zero window or an
 * empty queue leaves planData nothing but the probe). Was three booleans: #tlpPending,
 * #forceSend, probePending.
 */
type Owed =
  | 'none'
  /** A tail loss probe (RFC 8985 §7.3). */
  | 'tlp'
  /** The persist timer found a window too small for SWS avoidance: send what fits. */
  | 'forcedSend'
  /** A zero-window or keep-alive probe (RFC 9293 §3.8.6.1, RFC 1122 §4.2.3.6). */
  | 'probe';

export interface DataPlan {
  kind: 'data';
  seq: number;
  len: number;
  fin: boolean;
  sack: readonly SackBlock[];
}

const EMPTY = new Uint8Array(0);

export class Sender {
  readonly #ctx: ConnContext;
  readonly iss: number;

  // Send sequence space (RFC 9293 §3.3.1).
  sndUna: number;
  sndNxt: number;
  /** Highest sequence number sent plus one: SND.NXT before a go-back-N retransmission. */
  sndMax: number;
  /** Peer's window in bytes (scaled). */
  sndWnd = 0;
  #sndWl1 = 0;
  #sndWl2 = 0;
  /** Max(SND.WND) (RFC 9293 §3.8.6.2.1). */
  #maxSndWnd = 0;

  /** Bytes written and not yet acknowledged; null until the first send (idle: never). */
  #sendBuf: SendBuffer | null = null;
  /** Sequence number of the first byte in #sendBuf. */
  #sendBufSeq: number;
  /** The user has shut down sending: FIN follows the queued data. */
  finQueued = false;
  /** `send` accepted less than it was given: a 'drain' event is owed once there is room. */
  #drainOwed = false;
  /** TCP_CORK and MSG_MORE (src/tcp/push.ts); null until the user first asks for either. */
  corking: Corking | null = null;
  /** Linux's PSH flags on new data (option psh 'linux'), made with the first such segment. */
  #linuxPsh: LinuxPsh | null = null;

  // Retransmission (RFC 6298) and congestion control.
  readonly rtt: RttEstimator;
  /** Karn's algorithm: the segment being timed ends at #rttSeq, sent at #rttTime. */
  #rttSeq: number | null = null;
  #rttTime = 0;
  /**
   * When the current flight began (the first byte sent while nothing was outstanding): every
   * segment an ACK can acknowledge was sent since, so no true RTT sample is longer than this.
   */
  #flightStart = 0;
  /** Consecutive retransmission timeouts (or SYN retransmissions) of the same data. */
  retries = 0;
  /**
   * ESTABLISHED was reached (whatever the state is now): congestion control applies from here on
   * (it needs the SMSS).
   */
  #wasEstablished = false;
  /**
   * Congestion control and loss recovery (~500 B of heap with the scoreboard): made with the
   * first data or FIN sent after ESTABLISHED (#recovery); a connection that never sends, as
   * most idle ones, never has one. Until then nothing is in flight, so none of it could act.
   */
  #loss: LossRecovery | null = null;
  /** When data was last sent, for the restart window after idle (RFC 5681 §4.1). */
  #lastDataSentAt: number | null = null;

  /** What the last timer that fired owes the next send (see Owed). */
  #owed: Owed = 'none';
  /** TLP.end_seq: SND.MAX when the probe went; no other probe until it is acknowledged. */
  #tlpEnd: number | null = null;
  /** TLP.is_retrans (RFC 8985 §7.4): the probe resent data rather than sending new data. */
  #tlpRetrans = false;
  /** LossRecovery.reductions when the probe went: a window reduction since ends its episode. */
  #tlpReductions = 0;
  /** SND.UNA when the last recovery probe went (recoveryProbe): one per SND.UNA. */
  #recoveryProbeUna: number | null = null;
  /** Persist timer backoff exponent, and zero-window probes that got no answer at all. */
  persistBackoff = 0;
  #unansweredProbes = 0;

  /**
   * Path MTU discovery (pathMss): the largest SMSS the path carries (its MTU less the IP and
   * TCP headers), Infinity until an ICMP message said less; after a drop, the lowest sequence
   * number resent for it, and SND.MAX at the time (data below was sent at the old size); and
   * whether that resend, outside congestion control, is still going on.
   */
  #pathMss = Number.POSITIVE_INFINITY;
  #mtuFrom = 0;
  #mtuOldEnd: number | null = null;
  #mtuResending = false;

  constructor(ctx: ConnContext, iss: number) {
    this.#ctx = ctx;
    this.iss = iss;
    this.sndUna = iss;
    this.sndNxt = iss;
    this.sndMax = iss;
    this.#sendBufSeq = seqAdd(iss, 1);
    this.rtt = new RttEstimator(ctx.opts); // frozen (sharedOptions): the estimator keeps it
  }

  // ---------------------------------------------------------------------------------------------
  // The user's data

  /**
   * Queue bytes; returns how many fit (see TcpConnection.send). `more`: MSG_MORE, more is coming
   * (no PSH mark, and the partial segment waits: src/tcp/push.ts).
   */
  push(data: Uint8Array, more = false): number {
    this.#sendBuf ??= new SendBuffer(this.#ctx.opts.sndBuf);
    this.#sendBuf.limit = this.#ctx.opts.sndBuf; // SO_SNDBUF may have changed it since
    const start = this.#sendBuf.length;
    const n = this.#sendBuf.push(data);
    if (n < data.length) this.#drainOwed = true;
    if (n > 0) {
      this.corking?.write(more);
      this.#linuxPsh?.newBurst();
      // Linux's PSH mark; a write the full buffer cut short is pushed (tcp_push before waiting).
      if (this.#ctx.opts.psh === 'linux') {
        const unsent = Math.min(start, Math.max(0, seqDiff(this.sndMax, this.#sendBufSeq)));
        this.#sendBuf.markWrite(start, n, more && n === data.length, unsent);
      }
    }
    return n;
  }

  /**
   * Whether the data segment [seq, seq + len) going out at `now` carries PSH (option psh): it
   * empties the send buffer, or where Linux flags it (src/tcp/push.ts). Asked once per segment,
   * before dataSent.
   */
  psh(now: number, seq: number, len: number): boolean {
    if (len === 0) return false;
    const end = seqAdd(seq, len);
    const buf = this.#sendBuf;
    if (this.#ctx.opts.psh !== 'linux' || buf === null) return end === this.dataEnd();
    if (this.#owed === 'forcedSend') return true;
    const from = seqDiff(seq, this.#sendBufSeq);
    const to = seqDiff(end, this.#sendBufSeq);
    this.#linuxPsh ??= new LinuxPsh();
    const p = this.#linuxPsh;
    const marks = [buf.markedAt(from), buf.markedAt(to)] as const;
    if (seqLt(seq, this.sndMax))
      return p.retransmission(now, seq, end, ...marks, buf.pairAt(from), buf.pairAt(to));
    const psh = p.newData(now, seq, end, ...marks);
    if (p.closedPair) buf.markPair(to);
    return psh;
  }

  /** Room in the send buffer (all of sndBuf before the first send made one). */
  get free(): number {
    return Math.max(0, this.#ctx.opts.sndBuf - (this.#sendBuf?.length ?? 0));
  }

  /** Bytes queued and not yet acknowledged. */
  get queued(): number {
    return this.#sendBuf?.length ?? 0;
  }

  /** Sequence number just past the last queued byte (where our FIN goes). */
  dataEnd(): number {
    return seqAdd(this.#sendBufSeq, this.#sendBuf?.length ?? 0);
  }

  finSent(): boolean {
    return this.finQueued && seqGt(this.sndMax, this.dataEnd());
  }

  finAcked(): boolean {
    return this.finQueued && seqGt(this.sndUna, this.dataEnd());
  }

  /** Data or a FIN is queued and not yet sent (the persist timer's condition). */
  unsent(): boolean {
    return seqDiff(this.dataEnd(), this.sndNxt) > 0 || (this.finQueued && !this.finSent());
  }

  // ---------------------------------------------------------------------------------------------
  // ACKs (RFC 9293 §3.10.7.4 fifth step)

  /** RFC 5961 §5.2: SND.UNA − MAX.SND.WND ≤ SEG.ACK ≤ SND.NXT (here SND.MAX, the highest sent). */
  ackInRange(ack: number): boolean {
    return seqLeq(ack, this.sndMax) && seqGeq(ack, seqAdd(this.sndUna, -this.#maxSndWnd));
  }

  /**
   * RFC 5681 §2 "duplicate acknowledgment", then SND.UNA advance, window, RTT and recovery.
   * Returns true when SND.UNA advanced (the connection restarts its retransmission timer).
   */
  processAck(now: number, seg: TcpRepr, ack: number, state: TcpState): boolean {
    const wnd = seg.window * 2 ** this.#ctx.negotiated.sndShift;
    this.corking?.ackArrived();
    this.#linuxPsh?.newBurst();
    this.#loss?.beginAck(now, this.sndUna, ack, seg.options.sackBlocks, this.sndMax);
    this.#loss?.onSackBlocks(seg.options.sackBlocks, this.sndUna, this.sndMax);
    const isDup =
      ack === this.sndUna &&
      this.sndMax !== this.sndUna &&
      seg.payload.length === 0 &&
      seg.control === 'none' &&
      wnd === this.sndWnd;

    const advanced = seqGt(ack, this.sndUna);
    const flightBefore = seqDiff(this.sndMax, this.sndUna);
    if (advanced) {
      this.ackAdvanced(now, seg, ack, state);
    } else if (isDup) {
      // Karn: a fast retransmission ends RTT timing of what it overlaps.
      const canSendNew =
        seqGt(this.dataEnd(), this.sndMax) && this.sndWnd > seqDiff(this.sndMax, this.sndUna);
      if (this.#loss?.onDupAck(now, this.sndUna, this.sndMax, canSendNew)) this.#rttSeq = null;
    } else if (this.#loss?.onOtherAck(now, this.sndUna, this.sndMax)) {
      this.#rttSeq = null;
    }
    // RACK (RFC 8985): what this ACK's deliveries show lost.
    if (this.#loss?.rackDetect(now, this.sndUna, this.sndMax, this.rtt.srtt)) this.#rttSeq = null;
    if (this.#tlpEnd !== null) this.#tlpAck(now, seg, ack, advanced, flightBefore);

    this.#loss?.detectLostRetransmissions(this.sndUna);
    // PRR (RFC 6937): the send quantity for this ACK, once everything it says is applied.
    this.#loss?.endAck(this.sndUna, this.sndMax);

    // §3.10.7.4 fifth step: update the send window from the newest segment.
    if (seqLt(this.#sndWl1, seg.seq) || (this.#sndWl1 === seg.seq && seqLeq(this.#sndWl2, ack))) {
      this.updateWindow(wnd, seg.seq, ack);
    }
    return advanced;
  }

  /**
   * RFC 8985 §7.4, as Linux's tcp_process_tlp_ack: what the ACKs after a tail loss probe say
   * about it. A probe of new data, a D-SACK for a resent probe (the original arrived too), or a
   * bare duplicate at TLP.end_seq: no loss. An ACK beyond TLP.end_seq after a resent probe with
   * neither: the probe repaired a loss, so cwnd is reduced as for one (ssthresh, cwnd = ssthresh)
   * without a recovery episode. Recovery, an ECN reduction (Linux's tcp_init_cwnd_reduction
   * clears tlp_high_seq) or a timeout supersede the probe.
   */
  #tlpAck(now: number, seg: TcpRepr, ack: number, advanced: boolean, flight: number): void {
    const end = this.#tlpEnd as number;
    const loss = this.#loss;
    if (loss === null || loss.inRecovery || loss.reductions !== this.#tlpReductions) {
      this.#tlpEnd = null;
      return;
    }
    if (seqLt(ack, end)) return;
    const blocks = seg.options.sackBlocks;
    if (!this.#tlpRetrans || carriesDsack(blocks, ack)) {
      this.#tlpEnd = null;
    } else if (seqGt(ack, end)) {
      this.#tlpEnd = null;
      loss.lossProbeCut(flight, now); // at once, as Linux: not PRR's CWR
      this.#ctx.stats.lossProbeRecoveries++;
    } else if (!advanced && seg.payload.length === 0 && blocks.length === 0) {
      this.#tlpEnd = null;
    }
  }

  /**
   * SND.UNA < SEG.ACK ≤ SND.MAX: new data (or our SYN, or our FIN) acknowledged. The connection
   * stops its retransmission, persist or probe timer (RFC 6298 §5.2–5.3).
   */
  ackAdvanced(now: number, seg: TcpRepr, ack: number, state: TcpState): void {
    const acked = seqDiff(ack, this.sndUna);
    const flight = seqDiff(this.sndMax, this.sndUna);
    this.#sampleRtt(now, seg, ack);

    // Drop acknowledged bytes from the send buffer (the SYN and FIN take no buffer space).
    const ackedData = seqDiff(seqMin(ack, this.dataEnd()), this.#sendBufSeq);
    if (ackedData > 0 && this.#sendBuf !== null) {
      this.#sendBuf.consume(ackedData);
      this.#sendBufSeq = seqAdd(this.#sendBufSeq, ackedData);
    }
    this.sndUna = ack;
    if (seqLt(this.sndNxt, ack)) this.sndNxt = ack;
    this.retries = 0;
    this.#unansweredProbes = 0;
    this.#loss?.onAckAdvanced(now, ack, acked, ackedData, flight, this.rtt.srtt);

    if (this.#drainOwed && this.free >= this.#ctx.opts.sndBuf / 2 && canSend(state)) {
      this.#drainOwed = false;
      this.#ctx.emit({ type: 'drain' });
    }
  }

  /** RFC 6298 (Karn's algorithm) or RFC 7323 §4 (RTTM from the echoed timestamp). */
  #sampleRtt(now: number, seg: TcpRepr, ack: number): void {
    const ts = seg.options.timestamp;
    if (this.#ctx.negotiated.timestamps && ts !== null && ts.tsEcr !== 0) {
      const rtt = seqDiff(this.tsNow(now), ts.tsEcr);
      // A TSecr older than the flight it acknowledges echoes nothing we sent in it (forged, or a
      // broken peer): no sample, or one segment could set SRTT to days. RFC 7323 §4.3 trusts the
      // echo; Linux uses it only when it has no send time of its own (tcp_ack_update_rtt).
      if (rtt >= 0 && rtt <= Math.floor(now) - Math.floor(this.#flightStart)) this.rtt.sample(rtt);
      this.#rttSeq = null;
      return;
    }
    if (this.#rttSeq !== null && seqGeq(ack, this.#rttSeq)) {
      this.rtt.sample(now - this.#rttTime);
      this.#rttSeq = null;
    }
  }

  /** SND.WND, SND.WL1, SND.WL2 from a segment (the caller checked it is the newest). */
  updateWindow(wnd: number, seq: number, ack: number): void {
    if (this.sndWnd === 0 && wnd > 0) this.persistBackoff = 0;
    this.sndWnd = wnd;
    this.#sndWl1 = seq;
    this.#sndWl2 = ack;
    if (wnd > this.#maxSndWnd) this.#maxSndWnd = wnd;
  }

  /** ESTABLISHED: congestion control applies from now on. */
  established(): void {
    this.retries = 0;
    this.#wasEstablished = true;
  }

  // ---------------------------------------------------------------------------------------------
  // What to send

  /** The next data (or FIN) segment, if one may go now. */
  planData(sack: readonly SackBlock[]): DataPlan | null {
    const fin = this.finQueued;
    const dataEnd = this.dataEnd();
    const maxSeg = this.effMss(sack.length);

    const loss = this.#loss;

    if (this.#owed === 'tlp') return this.#planProbe(fin, dataEnd, maxSeg, sack);

    // After a path MTU drop (pathMss): resend from the quoted segment (or SND.UNA) at the new
    // size, counting in flight what went before it and what went out since (the older, larger
    // segments were dropped for their size).
    if (this.#mtuResending) {
      const end = this.#mtuOldEnd as number;
      if (seqLt(this.sndNxt, end) && seqLt(this.sndUna, end)) {
        // In flight: what went before the dropped segment, and what was resent since.
        const flight = seqDiff(this.sndNxt, this.sndUna);
        return this.#planNewData(fin, dataEnd, maxSeg, sack, flight);
      }
      this.#mtuResending = false;
    }

    if (loss?.rack) return this.#planRack(loss, loss.rack, fin, dataEnd, maxSeg, sack);

    // A retransmission of the segment at SND.UNA (fast retransmit, NewReno partial ACK).
    if (loss?.rexmitPending) {
      const len = Math.max(0, Math.min(maxSeg, seqDiff(dataEnd, this.sndUna)));
      const withFin = fin && seqAdd(this.sndUna, len) === dataEnd;
      if (len > 0 || withFin) return { kind: 'data', seq: this.sndUna, len, fin: withFin, sack };
    }

    // RFC 6675 §5 step (C): during SACK recovery, NextSeg() chooses.
    if (loss?.sackRecovery) {
      const inFlight = seqDiff(this.sndNxt, this.sndUna);
      const newData = Math.max(0, Math.min(seqDiff(dataEnd, this.sndNxt), this.sndWnd - inFlight));
      const next = loss.nextSack(this.sndUna, this.sndNxt, this.sndMax, maxSeg, newData);
      if (next.kind === 'blocked') return null;
      if (next.kind === 'send') {
        const withFin = fin && seqAdd(next.seq, next.len) === dataEnd;
        return { kind: 'data', seq: next.seq, len: next.len, fin: withFin, sack };
      }
      // Nothing for NextSeg: only a FIN may still be due.
      if (fin && this.sndNxt === dataEnd) {
        return { kind: 'data', seq: this.sndNxt, len: 0, fin: true, sack };
      }
      return null;
    }
    return this.#planNewData(fin, dataEnd, maxSeg, sack);
  }

  /**
   * With RACK (RFC 8985): what it marked lost goes first, lowest sequence number first, while
   * cwnd − pipe allows (during recovery PRR sets cwnd so that this lets out its sndcnt); then new
   * data. Nothing else is ever sent again: no go-back-N after a timeout (RACK marks what the
   * timeout lost), no RFC 6675 rule 3 or rescue retransmission (the tail loss probe's job).
   */
  #planRack(
    loss: LossRecovery,
    rack: RackLog,
    fin: boolean,
    dataEnd: number,
    maxSeg: number,
    sack: readonly SackBlock[],
  ): DataPlan | null {
    const lost = rack.firstLost(maxSeg);
    if (lost === null) return this.#planNewData(fin, dataEnd, maxSeg, sack, rack.pipe);
    const len = Math.max(0, seqDiff(seqMin(lost.end, dataEnd), lost.seq));
    const withFin = fin && seqGt(lost.end, dataEnd) && seqAdd(lost.seq, len) === dataEnd;
    const room = loss.cc.cwnd - rack.pipe;
    // A lost segment goes when cwnd has room for it; the first of a flight always may (after a
    // timeout cwnd is one segment and nothing is in flight).
    if (rack.pipe > 0 && room < Math.max(1, Math.min(len, this.#ctx.negotiated.smss))) return null;
    return { kind: 'data', seq: lost.seq, len, fin: withFin, sack };
  }

  /**
   * New data (or the FIN) at SND.NXT, within the windows, Nagle and sender SWS permitting.
   * `inFlight`: the bytes in the network when the caller knows better (RACK's pipe).
   */
  #planNewData(
    fin: boolean,
    dataEnd: number,
    maxSeg: number,
    sack: readonly SackBlock[],
    inFlight?: number,
  ): DataPlan | null {
    const loss = this.#loss;
    const sacked = loss !== null && loss.scoreboard.highestSacked !== null;
    // Go-back-N after a timeout skips what the receiver has SACKed (RFC 6675 §5.1: keep using
    // the scoreboard after an RTO), so it resends holes only.
    let nxt = this.sndNxt;
    let resendEnd = seqMin(this.sndMax, dataEnd);
    if (sacked && seqLt(nxt, resendEnd)) {
      const hole = loss.scoreboard.nextUnsackedHole(nxt, resendEnd);
      nxt = hole === null ? this.sndMax : hole.start;
      if (hole !== null) resendEnd = hole.end;
    }
    const finPending = fin && seqLeq(nxt, dataEnd);
    const queued = Math.max(0, seqDiff(dataEnd, nxt));
    if (queued === 0 && !finPending) return null;
    // Bytes in the network: sent, not acknowledged, not SACKed.
    const outstanding = seqDiff(this.sndNxt, this.sndUna);
    const flight =
      inFlight ?? (sacked ? this.#unsackedBetween(this.sndUna, this.sndNxt) : outstanding);
    const rec = this.#recovery();
    const cwnd = rec.cc.cwnd + rec.limitedTransmit;
    const windowRoom = this.sndWnd - seqDiff(nxt, this.sndUna);
    const force = this.#owed === 'forcedSend';
    let usable = Math.min(windowRoom, cwnd - flight);
    if (force) usable = Math.max(usable, Math.min(windowRoom, maxSeg));

    // Go-back-N after a timeout: data below SND.MAX was sent once within an offered window, so
    // Nagle and SWS avoidance do not apply, and the first segment goes even into a window that
    // has since closed (RFC 9293 §3.8.6.1: keep retransmitting into a zero window).
    const resend = Math.max(0, seqDiff(resendEnd, nxt));
    if (resend > 0) {
      const cap = flight === 0 ? maxSeg : Math.max(0, usable);
      const n = Math.min(resend, maxSeg, cap);
      if (n === 0) return null;
      const end = seqAdd(nxt, n);
      return { kind: 'data', seq: nxt, len: n, fin: fin && end === dataEnd, sack };
    }

    let len = 0;
    if (queued > 0) {
      len = bytesToSend({
        queued,
        usable,
        mss: maxSeg,
        maxSndWnd: this.#maxSndWnd,
        idle: outstanding === 0,
        noDelay: this.#ctx.opts.noDelay || this.corking?.pushes === true,
        closing: fin && queued <= maxSeg,
        force,
        cork: this.corking?.holds === true,
      });
      if (len === 0) return null;
    }
    const withFin = finPending && seqAdd(nxt, len) === dataEnd;
    if (len === 0 && !withFin) return null;
    return { kind: 'data', seq: nxt, len, fin: withFin, sack };
  }

  /**
   * RFC 8985 §7.3: the tail loss probe is one segment of new data if the peer's window allows,
   * else the last segment sent again, so that the receiver's answer (SACK) reveals a tail loss.
   * With `tlpResend`, and always for a recovery probe, the last segment goes again even when new
   * data could: a receiver acknowledges a duplicate at once (with a D-SACK, RFC 2883), where the
   * ACK of one new segment may wait for its delayed-ACK timer (40 ms on Linux).
   */
  #planProbe(fin: boolean, dataEnd: number, maxSeg: number, sack: readonly SackBlock[]): DataPlan {
    const newData = Math.min(
      seqDiff(dataEnd, this.sndMax),
      this.sndWnd - seqDiff(this.sndMax, this.sndUna),
      maxSeg,
    );
    // A recovery probe: what RACK marked lost and PRR has not let go yet comes first.
    const lost = this.inRecovery ? this.#loss?.rack?.firstLost(maxSeg) : null;
    if (lost)
      return { kind: 'data', seq: lost.seq, len: seqDiff(lost.end, lost.seq), fin: false, sack };
    const resend = this.#ctx.opts.tlpResend || this.inRecovery;
    if (newData > 0 && seqGeq(this.sndNxt, this.sndMax) && !resend) {
      const end = seqAdd(this.sndMax, newData);
      return { kind: 'data', seq: this.sndMax, len: newData, fin: fin && end === dataEnd, sack };
    }
    const dataTop = seqMin(this.sndMax, dataEnd);
    // The last transmission again, at most one segment of it (Linux: the tail of the last skb).
    // RACK knows where it began: a FIN that went out on its own goes again on its own.
    const lastSent = this.#loss?.rack?.lastStart() ?? this.sndUna;
    const seq = seqMax(seqMax(this.sndUna, lastSent), seqAdd(dataTop, -maxSeg));
    const len = Math.max(0, seqDiff(dataTop, seq));
    return { kind: 'data', seq, len, fin: this.finSent(), sack };
  }

  /** Un-SACKed bytes in [from, to). */
  #unsackedBetween(from: number, to: number): number {
    const board = this.#loss?.scoreboard;
    if (board === undefined || board.highestSacked === null) return Math.max(0, seqDiff(to, from));
    let n = 0;
    let cursor = from;
    for (let i = 0; i < 1024 && seqLt(cursor, to); i++) {
      const hole = board.nextUnsackedHole(cursor, to);
      if (hole === null) break;
      n += seqDiff(hole.end, hole.start);
      cursor = hole.end;
    }
    return n;
  }

  // ---------------------------------------------------------------------------------------------
  // What went out

  /** Our SYN (or SYN-ACK) goes out: time its first transmission (Karn: never a retransmission). */
  synSent(now: number): void {
    if (this.sndMax === this.iss) {
      this.#rttSeq = seqAdd(this.iss, 1);
      this.#rttTime = now;
      this.#flightStart = now;
    } else {
      this.#ctx.stats.retransmits++;
    }
    this.sndNxt = seqAdd(this.iss, 1);
    this.sndMax = this.sndNxt;
  }

  /** The SYN (or SYN-ACK) is to be sent again, untimed: SND.NXT back to ISS. */
  rewindSyn(): void {
    this.sndNxt = this.iss;
    this.#rttSeq = null;
  }

  /**
   * The planned data segment goes out: returns its payload (a view into the send buffer) after
   * the bookkeeping: the restart window, Karn, loss recovery, the probe, SND.MAX and SND.NXT.
   * `newData` is true when it carries bytes never sent before.
   */
  dataSent(now: number, seq: number, len: number, fin: boolean): Uint8Array {
    const payload =
      len > 0 && this.#sendBuf !== null
        ? this.#sendBuf.view(seqDiff(seq, this.#sendBufSeq), len)
        : EMPTY;
    const stats = this.#ctx.stats;
    const end = seqAdd(seq, len + (fin ? 1 : 0));
    const retransmission = seqLt(seq, this.sndMax);
    if (len > 0 && !retransmission) this.#restartAfterIdle(now);
    if (retransmission) {
      // Karn's algorithm stops timing any segment a retransmission overlaps.
      stats.retransmits++;
      if (this.#rttSeq !== null && seqGt(this.#rttSeq, seq)) this.#rttSeq = null;
    }
    this.#recovery().onSent(now, seq, end, retransmission, this.sndUna, this.sndMax);
    if (this.#owed === 'tlp') {
      this.#owed = 'none';
      this.#tlpEnd = seqMax(end, this.sndMax); // in recovery, the next ACK clears it (#tlpAck)
      this.#tlpRetrans = retransmission;
      this.#tlpReductions = this.#recovery().reductions;
      if (this.inRecovery) {
        this.#recoveryProbeUna = this.sndUna;
        stats.recoveryProbes++;
      } else {
        stats.tailLossProbes++;
      }
    }
    if (seqGt(end, this.sndMax)) {
      if (this.sndMax === this.sndUna) this.#flightStart = now;
      stats.bytesOut += Math.max(0, seqDiff(seqMin(end, this.dataEnd()), seqMax(seq, this.sndMax)));
      if (this.#rttSeq === null && !this.#ctx.negotiated.timestamps) {
        this.#rttSeq = end;
        this.#rttTime = now;
      }
      this.sndMax = end;
    }
    this.sndNxt = seqMax(this.sndNxt, end);
    if (this.#owed === 'forcedSend') this.#owed = 'none';
    return payload;
  }

  /**
   * RFC 5681 §4.1: after no data was sent for longer than the RTO, cwnd restarts from no more
   * than RW = min(IW, cwnd) for new data sent with nothing in flight.
   */
  #restartAfterIdle(now: number): void {
    const last = this.#lastDataSentAt;
    this.#lastDataSentAt = now;
    const cc = this.#loss?.cc;
    if (cc === undefined || last === null || this.sndMax !== this.sndUna) return;
    if (now - last > this.rtt.rto) {
      cc.cwnd = Math.min(cc.cwnd, this.#ctx.opts.initialWindow * this.effMss(0));
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Timeouts and probes

  /**
   * RFC 6298 §5.4–5.7 and RFC 5681 §3.1: retransmit from SND.UNA with a backed-off RTO. Returns
   * false when the retries are used up (the connection fails with ETIMEDOUT).
   */
  retransmitTimeout(now: number): boolean {
    if (++this.retries > this.#ctx.opts.maxRetries) return false;
    this.#ctx.stats.timeouts++;
    this.rtt.backoff();
    this.#loss?.onTimeout(now, this.sndUna, this.sndMax, this.retries, this.rtt.srtt);
    this.#tlpEnd = null;
    this.#mtuResending = false;
    if (this.#owed === 'tlp') this.#owed = 'none';
    // Go back N: resend everything from SND.UNA (with RACK: what the timeout marked lost).
    if (!this.#loss?.rack) this.sndNxt = this.sndUna;
    this.#rttSeq = null;
    return true;
  }

  /**
   * Path MTU discovery (RFC 1191 §6.3, RFC 8201 §5): segments may carry at most `mss` bytes of
   * TCP payload and options (the path MTU less the IP and TCP headers; the options are taken off
   * as for every segment, effMss). `from`: the sequence number the ICMP message quoted (the
   * caller checked it lies in [SND.UNA, SND.MAX)), or null.
   *
   * When that lowers the segment size with data in flight, the flight is sent again at once, cut
   * to the new size, from the quoted segment (what went before it got through: the messages
   * come in the order the router dropped the segments) or SND.UNA, as Linux's
   * tcp_simple_retransmit: no congestion response (cwnd, ssthresh and the RTO stay as they are),
   * since those segments were lost to their size, not to congestion. A later message quoting an
   * old-size segment below where that resend began moves it back there. A larger `mss` (the
   * path MTU expired) lifts the cap again, never above what the SYNs agreed. Returns true when
   * a resend is due.
   */
  pathMss(mss: number, from: number | null = null): boolean {
    const before = this.effMss(0);
    this.#pathMss = mss;
    const lowered = this.effMss(0) < before;
    if (this.sndMax === this.sndUna) return false;
    // Only what was sent after the SYN is resent this way (a SYN's loss is the SYN timer's).
    if (seqLeq(this.sndMax, this.#sendBufSeq) && !this.finSent()) return false;
    const inFlight = from !== null && seqGeq(from, this.sndUna) && seqLt(from, this.sndMax);
    const start = inFlight ? (from as number) : this.sndUna;
    if (!lowered) {
      // The same path MTU again: only an old-size segment below the resend's start is news.
      const oldEnd = this.#mtuOldEnd;
      if (oldEnd === null || !seqLt(start, this.#mtuFrom) || !seqLt(start, oldEnd)) return false;
    } else {
      this.#mtuOldEnd = this.sndMax;
    }
    this.#mtuFrom = start;
    if (seqLt(start, this.sndNxt)) this.sndNxt = start;
    this.#mtuResending = true;
    this.#rttSeq = null; // Karn: what goes again is not timed
    return true;
  }

  /** The SYN retransmission timer fired. Returns false when the SYN retries are used up. */
  synTimeout(): boolean {
    if (++this.retries > this.#ctx.opts.synRetries) return false;
    this.#ctx.stats.timeouts++;
    this.rtt.backoff();
    this.rewindSyn();
    return true;
  }

  /**
   * The persist timer fired: probe a zero window, or send what fits into one too small for SWS
   * avoidance. Returns false when maxRetries probes got no answer at all (ETIMEDOUT).
   */
  persistTimeout(): boolean {
    const inFlight = seqDiff(this.sndNxt, this.sndUna);
    if (this.sndWnd - inFlight > 0) {
      this.#owed = 'forcedSend';
      return true;
    }
    if (++this.#unansweredProbes > this.#ctx.opts.maxRetries) return false;
    this.#owed = 'probe';
    this.persistBackoff++;
    return true;
  }

  /** RACK's reordering timer fired (RFC 8985 §6.2 step 6): detect losses again. */
  reorderTimeout(now: number): void {
    if (this.#loss?.rackDetect(now, this.sndUna, this.sndMax, this.rtt.srtt)) this.#rttSeq = null;
  }

  /** When RACK's reordering timer should fire, or null. */
  get reorderAt(): number | null {
    return this.#loss?.rack?.reorderAt ?? null;
  }

  /** The probe timer fired: one tail loss probe is due (RFC 8985 §7.3). */
  tlpTimeout(): void {
    this.#owed = 'tlp';
  }

  /** The keep-alive timer fired: a probe is due (RFC 1122 §4.2.3.6). */
  keepAliveTimeout(): void {
    this.#owed = 'probe';
  }

  /** A zero-window or keep-alive probe is due (the coordinator sends it when no data may go). */
  get probeDue(): boolean {
    return this.#owed === 'probe';
  }

  /** The probe went. */
  probeSent(): void {
    this.#owed = 'none';
  }

  /** A loss recovery episode is in progress (fast recovery, RFC 6675 / RFC 8985). */
  get inRecovery(): boolean {
    return this.#loss?.inRecovery ?? false;
  }

  /**
   * The probe timeout when a tail loss probe may be armed (RFC 8985 §7.2): SACK in use, an RTT
   * measured, no recovery and no probe already out. PTO = 2*SRTT, plus a worst-case delayed ACK
   * when only one segment is in flight.
   *
   * With `recoveryProbe`, also in recovery, once per SND.UNA: when the last segment sent in
   * recovery (often the retransmission itself, when PRR allows nothing new) or its ACK is lost,
   * nothing later can reveal it, and only the RTO would end the episode. The probe resends the
   * last segment (#planProbe), which the receiver answers at once: its cumulative ACK and SACK
   * blocks then show what the retransmission did (with a D-SACK if the probe was a duplicate).
   * When RACK has marked a segment lost that PRR has not let go (its quota spent on new data
   * before the loss was known, and no ACK since), the probe is that segment.
   */
  probeTimeout(state: TcpState): number | null {
    const srtt = this.rtt.srtt;
    const loss = this.#loss;
    const opts = this.#ctx.opts;
    if (!opts.tailLossProbe || !this.#ctx.negotiated.sack) return null;
    if (srtt === null || loss === null) return null;
    if (loss.inRecovery && !(opts.recoveryProbe && this.#recoveryProbeUna !== this.sndUna)) {
      return null;
    }
    // RACK has marked data lost (after a timeout, say): that goes before any probe. In recovery
    // the probe sends it, when PRR has held it back and no ACK has come to release it.
    if (!loss.inRecovery && loss.rack !== null && loss.rack.lostBytes > 0) return null;
    if (this.#tlpEnd !== null || this.retries > 0) return null;
    const s = state;
    if (s !== 'ESTABLISHED' && s !== 'CLOSE_WAIT' && s !== 'FIN_WAIT_1' && s !== 'LAST_ACK') {
      return null;
    }
    const oneSegment = seqDiff(this.sndMax, this.sndUna) <= this.effMss(0);
    return Math.max(2 * srtt, 1) + (oneSegment ? WORST_CASE_DELAYED_ACK_MS : 0);
  }

  /** CLOSED: nothing is owed (nothing is planned in CLOSED), and nothing is SACKed any more. */
  close(): void {
    this.#owed = 'none';
    this.#loss?.clearScoreboard();
    this.#loss?.rack?.clear();
  }

  // ---------------------------------------------------------------------------------------------
  // Helpers

  /** The loss recovery in force, or the one a fresh controller would start from (for snapshot). */
  lossForSnapshot(): LossRecovery | null {
    return this.#loss ?? (this.#wasEstablished ? this.#newLossRecovery() : null);
  }

  /** The connection's loss recovery, made on first use (only after ESTABLISHED). */
  #recovery(): LossRecovery {
    this.#loss ??= this.#newLossRecovery();
    return this.#loss;
  }

  /**
   * Congestion control and loss recovery as they start. Nothing has been sent since the SYN when
   * #recovery makes it, so SND.MAX is still what it was at ESTABLISHED (no fast retransmit for
   * anything before it).
   */
  #newLossRecovery(): LossRecovery {
    const cc = createCongestionControl(this.#ctx.opts.congestion, {
      // SMSS is the largest payload we really send: MSS less the timestamp option (RFC 6691),
      // else a one-segment cwnd (after an RTO) is filled by a full segment and a 12-byte runt.
      mss: this.effMss(0),
      initialWindow: this.#ctx.opts.initialWindow,
      slowStartLimit: this.#ctx.opts.slowStartLimit,
    });
    const sack = this.#ctx.negotiated.sack;
    const { prr, rack } = this.#ctx.opts;
    return new LossRecovery(cc, { sack, smss: this.effMss(0), prr, rack }, this.sndMax);
  }

  /** Eff.snd.MSS (RFC 9293 §3.7.1): SMSS less the options this segment carries. */
  effMss(sackBlocks: number): number {
    const neg = this.#ctx.negotiated;
    const opt = (neg.timestamps ? TIMESTAMP_OPTION_LEN : 0) + sackOptionLen(sackBlocks);
    return Math.max(1, Math.min(neg.smss, this.#pathMss) - opt);
  }

  /** Our TSval at `now`. */
  tsNow(now: number): number {
    return tsClock(now, this.iss);
  }
}

/**
 * A connection's TSval at `now`: now + ISS (ms clock; RFC 7323 §5.4 allows any monotonic clock,
 * and an offset that differs per connection hides the host's uptime). Also used for the SYN-ACK
 * a listener sends with a cookie (src/tcp/listener.ts), which the connection made later follows.
 */
export function tsClock(now: number, iss: number): number {
  return (Math.floor(now) + iss) >>> 0;
}
