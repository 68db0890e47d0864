/**
 * Loss recovery on the send side: duplicate-ACK counting and fast retransmit (RFC 5681 §3.2),
 * NewReno partial ACKs and window inflation (RFC 6582), and SACK-based recovery (RFC 6675) over
 * the scoreboard, with Proportional Rate Reduction (RFC 6937) as an option for how much it sends,
 * in recovery and, as Linux, in the CWR state that an ECN echo begins (ecnEcho). It owns the
 * congestion controller, which only moves cwnd and ssthresh; the rules about *when* a loss is
 * declared and *what* to retransmit live here.
 *
 * The connection tells it what happened (ACKs, duplicates, timeouts, segments sent) and asks it
 * what to retransmit; it never touches the send buffer or builds segments.
 */
import type { SackBlock } from '../wire/tcp-repr.ts';
import type { CongestionControl } from './congestion/index.ts';
import { RackLog } from './rack.ts';
import { SackScoreboard } from './scoreboard.ts';
import { seqDiff, seqGeq, seqGt, seqLeq, seqLt, seqMax } from './seq.ts';

/**
 * The scoreboard of a connection with nothing SACKed: read, never written (LossRecovery makes its
 * own before the first update), so one serves every connection.
 */
const NOTHING_SACKED = new SackScoreboard();
/** Every empty retransmission list, until the first push replaces it. */
const NONE: never[] = Object.freeze([]) as unknown as never[];

/** RFC 5681 §3.2 / RFC 6675 §2: DupThresh. */
export const DUP_THRESH = 3;

/** Retransmissions remembered for lost-retransmission detection. */
const MAX_TRACKED_RETRANSMISSIONS = 256;

/** A retransmission [start, end) sent when SND.MAX was `mark`. */
interface Retransmission {
  start: number;
  end: number;
  mark: number;
}

/** What NextSeg() chose during SACK recovery. */
export type SackChoice =
  /** Send this range now. */
  | { kind: 'send'; seq: number; len: number }
  /** The pipe is full (cwnd − pipe < 1 SMSS): wait for ACKs. */
  | { kind: 'blocked' }
  /** Nothing to retransmit and no new data allowed. */
  | { kind: 'none' };

export class LossRecovery {
  readonly cc: CongestionControl;
  readonly #sack: boolean;
  readonly #smss: number;
  /**
   * The SACK scoreboard while something is SACKed, else null: made by the first SACK block kept,
   * dropped when cumulative ACKs empty it (a connection that sees no loss never has one).
   */
  #sb: SackScoreboard | null = null;
  /** Duplicate ACKs in a row (RFC 5681 §2). */
  dupAcks = 0;
  inRecovery = false;
  /** RFC 6582 "recover" / RFC 6675 RecoveryPoint: SND.MAX when recovery (or a timeout) began. */
  recover: number;
  /** Retransmit the segment at SND.UNA once (fast retransmit; NewReno partial ACK). */
  rexmitPending = false;
  /** RFC 6675 HighRxt: one past the highest byte retransmitted in this recovery. */
  highRxt = 0;
  fastRetransmits = 0;
  /** Retransmissions found lost again (lost retransmission detection). */
  lostRetransmissions = 0;
  /** Retransmissions made in this recovery, oldest first, bounded (the shared NONE when none). */
  #rexmits: Retransmission[] = NONE;
  /** Retransmissions found lost, to go again (the shared NONE when none). */
  #resend: { start: number; end: number }[] = NONE;

  // Proportional Rate Reduction (RFC 6937 §3), during SACK recovery when #prr is on.
  readonly #prr: boolean;
  /**
   * Linux's CWR state, with PRR on: SND.MAX when an ECN echo began a window reduction that PRR
   * spreads over the ACKs that follow, until SND.UNA passes it (then cwnd = ssthresh); null
   * outside one. Recovery or a timeout take it over.
   */
  #cwrHigh: number | null = null;
  /** Window reductions begun (recoveries and ECN echoes): a probe's episode ends with one. */
  reductions = 0;
  /** prr_delivered: bytes delivered to the receiver (ACKed or SACKed) since recovery began. */
  prrDelivered = 0;
  /** prr_out: bytes sent (new data and retransmissions) since recovery began. */
  prrOut = 0;
  /** RecoverFS: FlightSize (SND.MAX − SND.UNA) when recovery began. */
  recoverFs = 0;
  /** SND.UNA, SACKed bytes and lost retransmissions when the ACK being processed arrived. */
  #ackUna = 0;
  #ackSacked = 0;
  #ackLost = 0;

  /**
   * RACK (RFC 8985), when the options ask for it and SACK was negotiated: loss is then detected
   * by time (rack.ts) instead of by RFC 6675's IsLost and duplicate-ACK counting, and the
   * sender retransmits what it marks lost.
   */
  readonly rack: RackLog | null;
  /**
   * cwnd grows by what each ACK delivered, as Linux (RACK's mode, SACK or not): without SACK,
   * each duplicate ACK stands for one segment delivered (Linux's tcp_add_reno_sack).
   */
  readonly #countDelivered: boolean;

  /** `sndMax` is where sending stands now: no fast retransmit for data sent before. */
  constructor(
    cc: CongestionControl,
    o: { sack: boolean; smss: number; prr?: boolean; rack?: boolean },
    sndMax: number,
  ) {
    this.cc = cc;
    this.#sack = o.sack;
    this.#smss = o.smss;
    this.#prr = o.prr ?? false;
    this.rack = o.rack === true && o.sack ? new RackLog(o.smss) : null;
    this.#countDelivered = o.rack === true;
    this.recover = sndMax;
  }

  /** The scoreboard, for reading: an empty one, shared, while nothing is SACKed. */
  get scoreboard(): SackScoreboard {
    return this.#sb ?? NOTHING_SACKED;
  }

  /** Forget every SACKed range (the connection closed, or the receiver may have reneged). */
  clearScoreboard(): void {
    this.#sb = null;
  }

  /** In Linux's CWR state: PRR brings cwnd down to ssthresh after an ECN echo (ecnEcho). */
  get inCwr(): boolean {
    return this.#cwrHigh !== null;
  }

  /** In SACK recovery, NextSeg() decides what goes out. */
  get sackRecovery(): boolean {
    return this.inRecovery && this.#sack;
  }

  /**
   * RFC 3042 Limited Transmit: on each of the first two duplicate ACKs one new segment may go
   * beyond cwnd (FlightSize ≤ cwnd + 2*SMSS), cwnd itself unchanged. Bytes of extra allowance.
   */
  get limitedTransmit(): number {
    // With RACK, pipe leaves SACKed bytes out, which lets new data go as SACKs arrive; in CWR,
    // PRR alone says what goes.
    if (this.inRecovery || this.rack !== null || this.#cwrHigh !== null) return 0;
    return Math.min(this.dupAcks, DUP_THRESH - 1) * this.#smss;
  }

  /** RFC 6675 §5 Update(): the SACK blocks of an ACK, kept only within (SND.UNA, SND.MAX]. */
  onSackBlocks(blocks: readonly SackBlock[], sndUna: number, sndMax: number): void {
    if (!this.#sack || blocks.length === 0) return;
    this.#sb ??= new SackScoreboard();
    this.#sb.update(blocks, sndUna, sndMax);
    if (this.#sb.ranges === 0) this.#sb = null;
  }

  /**
   * SND.UNA advanced to `ack`: `ackedData` bytes of data (not counting SYN or FIN) are newly
   * acknowledged, out of `acked` sequence numbers; `flight` was SND.MAX − SND.UNA before.
   */
  onAckAdvanced(
    now: number,
    ack: number,
    acked: number,
    ackedData: number,
    flight: number,
    srtt: number | null,
  ): void {
    if (this.#sb !== null) {
      this.#sb.ackedUpTo(ack);
      if (this.#sb.ranges === 0) this.#sb = null;
    }
    const cc = this.cc;
    if (this.#cwrHigh !== null && seqGt(ack, this.#cwrHigh)) {
      // Linux's tcp_end_cwnd_reduction: the CWR state lasts until SND.UNA is above its mark (so
      // that our CWR has reached the receiver), then cwnd = ssthresh; this ACK may grow it.
      this.#cwrHigh = null;
      cc.onRecoveryExit(now);
    }
    if (!this.inRecovery) {
      // With RACK, as Linux, cwnd grows by what this ACK delivered: data SACKed before (or, without
      // SACK, announced by duplicate ACKs) was counted then, and does not count twice now.
      let grow = ackedData;
      if (this.rack !== null) grow = Math.min(ackedData, this.rack.delivered);
      else if (this.#countDelivered && this.dupAcks > 0) {
        grow = Math.max(ackedData - this.dupAcks * this.#smss, Math.min(ackedData, this.#smss));
      }
      this.dupAcks = 0;
      if (ackedData > 0 && grow > 0) cc.onAck(grow, now, flight, srtt ?? undefined);
      return;
    }
    if (seqGeq(ack, this.recover)) {
      // RFC 6582 §3.2 step 3 / RFC 6675 §5: the full acknowledgment ends recovery.
      this.inRecovery = false;
      this.dupAcks = 0;
      this.rexmitPending = false;
      this.#rexmits = NONE;
      this.#resend = NONE;
      this.rack?.recoveryEnded();
      cc.onRecoveryExit(now);
    } else if (!this.#sack) {
      // RFC 6582 §3.2 step 3, partial ACK: retransmit the next unacknowledged segment, deflate
      // cwnd by the amount acknowledged and add back one SMSS if at least that much was.
      this.rexmitPending = true;
      const smss = this.#smss;
      cc.cwnd = Math.max(cc.cwnd - acked, smss) + (acked >= smss ? smss : 0);
    }
  }

  /**
   * A duplicate ACK (RFC 5681 §2). Returns true when it starts fast retransmit, so the caller can
   * stop RTT timing (Karn) and count it. `canSendNew`: unsent data and room in the peer's window,
   * so that more duplicates may still come (else Early Retransmit lowers the threshold).
   */
  onDupAck(now: number, sndUna: number, sndMax: number, canSendNew: boolean): boolean {
    this.dupAcks++;
    if (this.rack !== null) return false; // RACK decides (rackDetect)
    if (this.inRecovery) {
      // RFC 5681 §3.2 step 4: inflate by one SMSS per duplicate (not with SACK: RFC 6675 §5).
      if (!this.#sack) this.cc.cwnd += this.#smss;
      return false;
    }
    const threshold = canSendNew
      ? DUP_THRESH
      : earlyRetransmitThreshold(sndUna, sndMax, this.#smss);
    if (this.dupAcks >= threshold || this.#sackLoss(sndUna, sndMax)) {
      return this.#enter(now, sndUna, sndMax);
    }
    return false;
  }

  /** Any other ACK that did not advance SND.UNA: with SACK, IsLost(SND.UNA) alone starts recovery. */
  onOtherAck(now: number, sndUna: number, sndMax: number): boolean {
    if (this.rack !== null || this.inRecovery || !this.#sackLoss(sndUna, sndMax)) return false;
    return this.#enter(now, sndUna, sndMax);
  }

  /**
   * The retransmission timer expired for the `consecutive`-th time in a row: the loss window (RFC
   * 5681 §3.1), recovery abandoned, and no fast retransmit until everything sent so far is
   * acknowledged (RFC 6582 §3.2 step 1, RFC 6675 §5.1). The scoreboard is kept after the first
   * timeout so go-back-N resends only holes (RFC 6675 §5.1); after a second one in a row it is
   * cleared, in case the receiver reneged (RFC 2018 §8).
   */
  onTimeout(
    now: number,
    sndUna: number,
    sndMax: number,
    consecutive: number,
    srtt: number | null = null,
  ): void {
    this.cc.onTimeout(seqDiff(sndMax, sndUna), now);
    this.#cwrHigh = null;
    if (this.rack !== null && this.inRecovery) this.rack.recoveryEnded();
    this.rack?.onTimeout(now, srtt, consecutive);
    this.inRecovery = false;
    this.rexmitPending = false;
    this.dupAcks = 0;
    this.recover = sndMax;
    this.#rexmits = NONE;
    this.#resend = NONE;
    if (consecutive > 1) this.#sb = null;
  }

  /**
   * A segment [seq, end) went out at `now`; `retransmission` when it was below SND.MAX (which
   * `sndMax` still is: the caller moves it after).
   */
  onSent(
    now: number,
    seq: number,
    end: number,
    retransmission: boolean,
    sndUna: number,
    sndMax: number,
  ): void {
    this.rack?.sent(seq, end, now, sndMax);
    if (this.rexmitPending && seq === sndUna) this.rexmitPending = false;
    // RFC 6937 §3: prr_out += (data sent), retransmissions and new data alike (and in CWR).
    if (this.inRecovery || this.#cwrHigh !== null) this.prrOut += seqDiff(end, seq);
    if (!retransmission || !this.sackRecovery) return;
    // RFC 6675 §5 (C.2): HighRxt follows retransmissions made during recovery.
    if (seqGt(end, this.highRxt)) this.highRxt = end;
    if (this.#resend.length > 0) {
      const left = this.#resend.filter((r) => !(seqLeq(seq, r.start) && seqLt(r.start, end)));
      this.#resend = left.length > 0 ? left : NONE;
    }
    if (seqGt(end, seq)) {
      if (this.#rexmits === NONE) this.#rexmits = [];
      this.#rexmits.push({ start: seq, end, mark: sndMax });
      if (this.#rexmits.length > MAX_TRACKED_RETRANSMISSIONS) this.#rexmits.shift();
    }
  }

  /**
   * Lost retransmission detection (RFC 6675 never marks a retransmission lost; Linux's
   * tcp_mark_lost_retrans and RFC 8985 RACK do): a retransmission still neither ACKed nor SACKed
   * while DupThresh segments' worth of data sent after it has been SACKed is lost, and is queued
   * to go again. Call after the ACK's SACK blocks are recorded.
   */
  detectLostRetransmissions(sndUna: number): void {
    if (this.rack !== null || !this.sackRecovery || this.#rexmits.length === 0) return;
    const sb = this.scoreboard;
    const kept: Retransmission[] = [];
    for (const r of this.#rexmits) {
      if (seqLeq(r.end, sndUna) || sb.isSacked(r.start)) continue; // delivered
      if (this.#sackedAbove(r.mark) >= DUP_THRESH * this.#smss) {
        if (this.#resend === NONE) this.#resend = [];
        this.#resend.push({ start: seqMax(r.start, sndUna), end: r.end });
        this.lostRetransmissions++;
      } else {
        kept.push(r);
      }
    }
    this.#rexmits = kept.length > 0 ? kept : NONE;
  }

  /**
   * RFC 6675 §5 step (C): while cwnd − pipe ≥ 1 SMSS, NextSeg(). `newData` is how many never-sent
   * bytes the send buffer and the peer's window allow (rule 2).
   */
  nextSack(
    sndUna: number,
    sndNxt: number,
    sndMax: number,
    maxSeg: number,
    newData: number,
  ): SackChoice {
    const sb = this.scoreboard;
    const pipe = sb.pipe(sndUna, sndMax, this.highRxt, this.#smss);
    if (this.cc.cwnd - pipe < this.#smss) return { kind: 'blocked' };
    // A retransmission found lost goes before anything else.
    for (const r of this.#resend) {
      const hole = sb.nextUnsackedHole(seqMax(r.start, sndUna), r.end);
      if (hole !== null)
        return {
          kind: 'send',
          seq: hole.start,
          len: Math.min(maxSeg, seqDiff(hole.end, hole.start)),
        };
    }
    const next = sb.nextSeg(sndUna, sndNxt, this.highRxt, maxSeg, newData);
    return next === null ? { kind: 'none' } : { kind: 'send', seq: next.seq, len: next.len };
  }

  /**
   * RACK's loss detection (RFC 8985 §6.2 steps 4–6), after an ACK (beginAck gave RACK what it
   * delivered and SND.UNA has moved) or when its reordering timer fires: mark lost what went out
   * long enough before the most recently sent delivered segment, and start fast recovery (cwnd
   * reduction, PRR) on the first loss found outside recovery, unless data sent before the last
   * recovery or timeout is still unacknowledged (RFC 6582's "recover": one reduction per window).
   * Returns true when recovery began.
   */
  rackDetect(now: number, sndUna: number, sndMax: number, srtt: number | null): boolean {
    const rack = this.rack;
    if (rack === null) return false;
    const lostRexmits = rack.stats.lostRetransmissions;
    const marked = rack.detectLoss(now, srtt, this.inRecovery);
    this.lostRetransmissions += rack.stats.lostRetransmissions - lostRexmits;
    if (marked === 0 || this.inRecovery) return false;
    return this.#enter(now, sndUna, sndMax);
  }

  /**
   * An ACK arrives: remember what DeliveredData will be measured from (see endAck), and let
   * RACK record what it delivered (before SND.UNA moves, so that growth can use it).
   */
  beginAck(
    now: number,
    sndUna: number,
    ack: number,
    blocks: readonly SackBlock[],
    sndMax: number,
  ): void {
    this.rack?.onAck(now, ack, blocks, sndMax);
    this.#ackUna = sndUna;
    this.#ackSacked = this.#sb?.sackedBytes ?? 0;
    this.#ackLost = this.lostRetransmissions;
  }

  /**
   * The ACK begun with beginAck has been applied (SND.UNA, SACK blocks, recovery entry or exit,
   * lost retransmissions). With PRR on and SACK recovery in force, sets cwnd = pipe + sndcnt
   * (RFC 6937 §3), so that RFC 6675's "cwnd − pipe ≥ 1 SMSS" lets out exactly sndcnt:
   * - pipe > ssthresh, the proportional part: sndcnt = ⌈prr_delivered × ssthresh / RecoverFS⌉
   *   − prr_out, so that the reduction is spread over the ACKs of one round trip;
   * - pipe ≤ ssthresh, the slow-start reduction bound (PRR-SSRB) as Linux's tcp_cwnd_reduction
   *   has it: sndcnt = min(ssthresh − pipe, max(prr_delivered − prr_out, DeliveredData) + (1 SMSS
   *   if SND.UNA advanced and no retransmission was newly found lost)), so pipe climbs back to
   *   ssthresh no faster than slow start;
   * - and as Linux, the fast retransmit itself always goes (sndcnt ≥ 1 SMSS while prr_out is 0).
   * An ACK that delivers nothing leaves cwnd alone (DeliveredData = 0: RFC 6937 sends nothing).
   * DeliveredData is the change in SND.UNA plus the change in SACKed bytes (RFC 6937 §3).
   * The same in Linux's CWR state (ecnEcho), SACK or not, with pipe as the sender counts it
   * outside recovery (sent, not acknowledged, not SACKed).
   */
  endAck(sndUna: number, sndMax: number): void {
    if (!this.#prr) return;
    if (this.sackRecovery) {
      const smss = this.#smss;
      this.#prrStep(
        sndUna,
        this.rack?.pipe ?? this.scoreboard.pipe(sndUna, sndMax, this.highRxt, smss),
      );
    } else if (this.#cwrHigh !== null) {
      this.#prrStep(sndUna, this.#cwrPipe(sndUna, sndMax));
    }
  }

  /**
   * RFC 3168 §6.1.2: an ACK with ECE, outside recovery, at most once per window (EcnState says
   * when; `sndUna`, `sndMax` are after the ACK was applied). Without PRR, cwnd falls to the new
   * ssthresh at once (RFC 3168's rule). With PRR, as Linux (tcp_enter_cwr →
   * tcp_init_cwnd_reduction, then tcp_cwnd_reduction on every ACK): the CWR state, in which PRR
   * lowers cwnd toward ssthresh over about a round trip instead of a pause, from this ACK on
   * (RecoverFS: the flight now, from which ssthresh is taken too); it ends when SND.UNA passes
   * SND.MAX of now (onAckAdvanced), or turns into recovery on a loss (#enter).
   */
  ecnEcho(now: number, sndUna: number, sndMax: number): void {
    const flight = seqDiff(sndMax, sndUna);
    this.reductions++;
    if (!this.#prr) {
      this.cc.onEcnEcho(flight, now);
      return;
    }
    this.cc.onCwr(flight, now);
    this.#cwrHigh = sndMax;
    this.prrDelivered = 0;
    this.prrOut = 0;
    this.recoverFs = Math.max(1, flight);
    this.#prrStep(sndUna, this.#cwrPipe(sndUna, sndMax));
  }

  /**
   * A tail loss probe repaired a loss (RFC 8985 §7.4): ssthresh as for a loss and cwnd = ssthresh
   * at once, without recovery. Linux's tcp_process_tlp_ack does the same (tcp_init_cwnd_reduction,
   * CWR, and tcp_end_cwnd_reduction on the same ACK: no PRR), and leaves a CWR state in progress.
   */
  lossProbeCut(flight: number, now: number): void {
    this.reductions++;
    this.cc.onEcnEcho(flight, now);
    if (this.#cwrHigh === null) return;
    this.#cwrHigh = null;
    this.cc.onRecoveryExit(now); // cwnd = the new ssthresh
  }

  /** Bytes in the network outside SACK recovery: sent, not acknowledged, not SACKed. */
  #cwrPipe(sndUna: number, sndMax: number): number {
    return this.rack?.pipe ?? Math.max(0, seqDiff(sndMax, sndUna) - this.scoreboard.sackedBytes);
  }

  /** RFC 6937 §3 for the ACK begun with beginAck, given pipe after it: cwnd = pipe + sndcnt. */
  #prrStep(sndUna: number, pipe: number): void {
    const delivered = seqDiff(sndUna, this.#ackUna) + this.scoreboard.sackedBytes - this.#ackSacked;
    if (delivered <= 0) return;
    this.prrDelivered += delivered;
    const smss = this.#smss;
    const cc = this.cc;
    const ssthresh = cc.ssthresh;
    let sndcnt: number;
    if (pipe > ssthresh) {
      const share = (this.prrDelivered * ssthresh) / this.recoverFs;
      // Linux counts in whole segments (tcp_cwnd_reduction): its ceiling lets a segment out as
      // soon as any part of one is due, where RFC 6937's byte count would wait for a whole one.
      const due = this.#countDelivered ? Math.ceil(share / smss) * smss : Math.ceil(share);
      sndcnt = due - this.prrOut;
    } else {
      const grow = sndUna !== this.#ackUna && this.lostRetransmissions === this.#ackLost;
      // (With RACK, lost retransmissions are counted by rackDetect before endAck.)
      const limit = Math.max(this.prrDelivered - this.prrOut, delivered) + (grow ? smss : 0);
      sndcnt = Math.min(ssthresh - pipe, limit);
    }
    if (this.prrOut === 0) sndcnt = Math.max(sndcnt, smss);
    cc.cwnd = pipe + Math.max(sndcnt, 0);
  }

  /** Bytes SACKed at or above `mark`. */
  #sackedAbove(mark: number): number {
    const sb = this.scoreboard;
    const high = sb.highestSacked;
    if (high === null || !seqGt(high, mark)) return 0;
    let unsacked = 0;
    let cursor = mark;
    for (let i = 0; i < 1024 && seqLt(cursor, high); i++) {
      const hole = sb.nextUnsackedHole(cursor, high);
      if (hole === null) break;
      unsacked += seqDiff(hole.end, hole.start);
      cursor = hole.end;
    }
    return seqDiff(high, mark) - unsacked;
  }

  /** RFC 6675 §5: IsLost(SND.UNA): DupThresh segments' worth SACKed above the first one. */
  #sackLoss(sndUna: number, sndMax: number): boolean {
    const sb = this.scoreboard;
    return (
      this.#sack && sndMax !== sndUna && sb.highestSacked !== null && sb.isLost(sndUna, this.#smss)
    );
  }

  /** Fast retransmit: the start of loss recovery, NewReno (RFC 6582) or SACK (RFC 6675). */
  #enter(now: number, sndUna: number, sndMax: number): boolean {
    // RFC 6582 §3.2 step 2: no new recovery until everything sent before the last one is ACKed.
    if (seqLt(sndUna, this.recover)) return false;
    const cc = this.cc;
    this.inRecovery = true;
    this.recover = sndMax;
    this.highRxt = sndUna;
    if (this.#cwrHigh !== null) {
      // A loss in Linux's CWR state turns it into recovery (tcp_enter_recovery: no second
      // tcp_init_cwnd_reduction): ssthresh and PRR's counts go on from the ECN echo's reduction.
      this.#cwrHigh = null;
    } else {
      this.reductions++;
      // RFC 6937 §3, on entering recovery.
      this.prrDelivered = 0;
      this.prrOut = 0;
      this.recoverFs = Math.max(1, seqDiff(sndMax, sndUna));
      cc.onFastRetransmit(seqDiff(sndMax, sndUna), now);
    }
    // RFC 5681 §3.2 step 3 (NewReno): cwnd = ssthresh + 3*SMSS. RFC 6675 §5 step 4.2: no inflation.
    if (!this.#sack) cc.cwnd = cc.ssthresh + DUP_THRESH * this.#smss;
    // With RACK the records it marked lost go first (Sender.#planRack), not SND.UNA's segment.
    this.rexmitPending = this.rack === null;
    this.fastRetransmits++;
    return true;
  }
}

/**
 * RFC 5827 §3.1 Early Retransmit: with fewer than four segments outstanding and nothing new to
 * send, three duplicate ACKs can never come; the threshold becomes oldSegs − 1 (at least 1).
 */
export function earlyRetransmitThreshold(sndUna: number, sndMax: number, smss: number): number {
  const oldSegs = Math.ceil(seqDiff(sndMax, sndUna) / smss);
  return oldSegs < 4 ? Math.max(1, oldSegs - 1) : DUP_THRESH;
}
