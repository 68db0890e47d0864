/**
 * One TCP connection as a deterministic state machine (RFC 9293), after smoltcp's TcpSocket:
 *
 *   conn.process(now, seg)   a segment arrived for this 4-tuple
 *   conn.dispatch(now)       the next segment to send, or null (call until null)
 *   conn.pollAt()            when to call dispatch again (null: only on input or a user call)
 *   conn.takeEvents()        what happened, as values, after the call returned
 *
 * No clock, no timers, no I/O, no logging: `now` (ms) comes in, segments and events go out.
 * `dispatch` and `pollAt` are both derived from one `nextAction(now)`, so what pollAt promises is
 * exactly what dispatch does. Timers are absolute deadlines (src/tcp/timers.ts) fired by dispatch.
 *
 * This file is the coordinator: the state, the user calls, the processing order of RFC 9293
 * §3.10.7 (`process`, step by step) and what to send next. Its parts: the receiver (receiver.ts:
 * acceptability, text, FIN, why we ACK), the sender (sender.ts: ACK processing, loss recovery,
 * why we send), the timer half (conn-timers.ts), segment building (segments.ts) and what they
 * share (context.ts). Rules with no state are apart: option negotiation in handshake.ts, the
 * receive window in recv.ts, Nagle and sender SWS in send.ts.
 */
import type { SackBlock, TcpRepr } from '../wire/tcp-repr.ts';
import { segmentLength } from '../wire/tcp-repr.ts';
import { addrNum } from './address.ts';
import type { CongestionName } from './congestion/index.ts';
import { ConnTimers, type Firing } from './conn-timers.ts';
import { ConnContext, type TcpConnStats } from './context.ts';
import { EcnState, ecnAgreed } from './ecn.ts';
import type { IcmpErrorCode, TcpErrorCode, TcpEvent } from './events.ts';
import { negotiate } from './handshake.ts';
import {
  appendChange,
  type PackedHistory,
  stampPending,
  type TcpStateChange,
  unpackHistory,
} from './history.ts';
import { sharedOptions, type TcpConnectionOptions } from './options.ts';
import { Corking } from './push.ts';
import { Receiver, type TextOutcome } from './receiver.ts';
import type { LossRecovery } from './recovery.ts';
import { resetFor } from './reply.ts';
import { abortRst, bareRst, dataSegment, probeSegment, pureAck, synSegment } from './segments.ts';
import { type DataPlan, Sender } from './sender.ts';
import { seqAdd, seqGt, seqLeq } from './seq.ts';
import { canReceive, canSend, isSynchronized, type TcpState } from './state.ts';

export type { FourTuple, TcpSnapshot } from './snapshot.ts';

import { type FourTuple, type TcpSnapshot, takeSnapshot } from './snapshot.ts';

/** RFC 8985 §7.2 WCDelAckT: a receiver may delay the ACK of a lone segment this long. */
const _WORST_CASE_DELAYED_ACK_MS = 200;
/** The most replies (RSTs for bad ACKs) held for dispatch; more are dropped and counted. */
const MAX_REPLIES = 4;
/** Bound on `dispatch`'s fire-then-send loop: each turn changes a timer or the state. */
const MAX_DISPATCH_TURNS = 64;

/** What the connection would do at `now` (the one source of both dispatch and pollAt). */
type Action =
  | { kind: 'fire'; timer: Firing }
  | { kind: 'send'; plan: Plan }
  | { kind: 'wait'; at: number | null };

/** A segment to build. */
type Plan =
  | { kind: 'reply' }
  | { kind: 'rst' }
  | { kind: 'syn' }
  | DataPlan
  | { kind: 'probe' }
  | { kind: 'ack'; sack: readonly SackBlock[] };

export class TcpConnection implements FourTuple {
  readonly localAddr: number;
  readonly localPort: number;
  readonly remoteAddr: number;
  readonly remotePort: number;
  /**
   * The options in force. Often one frozen object shared by every connection made from the same
   * partial options (sharedOptions: ~240 B of heap per connection saved); the first write
   * (setNoDelay, setKeepAlive, or anyone through `options`) gives this connection its own copy.
   */
  #ownOpts = false;
  /** Options, negotiation, events and counters: what the parts of this connection share. */
  readonly #ctx: ConnContext;
  /** The receiving half: why we ACK (src/tcp/receiver.ts). */
  readonly #rcv: Receiver;
  /** The sending half: why we send (src/tcp/sender.ts). */
  readonly #snd: Sender;

  /** The timer half: which timer runs, what fires and what a firing does (conn-timers.ts). */
  readonly #timers: ConnTimers;

  #state: TcpState = 'CLOSED';
  /** Created by a listener from a SYN (RFC 9293: "passive OPEN"). */
  readonly #passive: boolean;

  /** ISS: our initial sequence number (RFC 9293 §3.4). */
  readonly iss: number;

  /** The user called close(): no more reading either (RFC 1122 §4.2.2.13, FIN_WAIT_2 timeout). */
  #userClosed = false;
  #rstPending = false;
  /** A soft ICMP error (icmpError): what a timeout reports instead of ETIMEDOUT. */
  #softError: TcpErrorCode | null = null;
  /** Replies (RSTs) waiting for dispatch, or null when none (the usual case). */
  #replies: TcpRepr[] | null = null;
  /** The last time (ms) process, dispatch or a constructor saw. */
  #now: number;
  /** When the connection was created (ms): state history times count from here. */
  readonly #openedAt: number;
  /** State changes since creation, packed (src/tcp/history.ts): null, one number, or an array. */
  #history: PackedHistory = null;

  /** The connection's counters (segments, bytes, retransmissions, drops by reason, other events). */
  get stats(): TcpConnStats {
    return this.#ctx.stats;
  }

  private constructor(
    tuple: FourTuple,
    iss: number,
    now: number,
    options: Partial<TcpConnectionOptions>,
    passive: boolean,
  ) {
    this.localAddr = addrNum(tuple.localAddr);
    this.localPort = tuple.localPort;
    this.remoteAddr = addrNum(tuple.remoteAddr);
    this.remotePort = tuple.remotePort;
    this.iss = iss >>> 0;
    this.#ctx = new ConnContext(sharedOptions(options));
    this.#rcv = new Receiver(this.#ctx);
    this.#snd = new Sender(this.#ctx, this.iss);
    this.#timers = new ConnTimers(now);
    this.#passive = passive;
    this.#now = now;
    this.#openedAt = now;
  }

  /** Active open (RFC 9293 §3.10.1): the first dispatch sends the SYN. */
  static connect(
    tuple: FourTuple,
    iss: number,
    now: number,
    options: Partial<TcpConnectionOptions> = {},
  ): TcpConnection {
    const c = new TcpConnection(tuple, iss, now, options, false);
    c.#state = 'SYN_SENT';
    return c;
  }

  /**
   * Passive open: the connection a listener makes from a SYN (RFC 9293 §3.10.7.2, LISTEN, "third,
   * check for a SYN"). Starts in SYN_RECEIVED; the first dispatch sends the SYN-ACK.
   */
  static accept(
    tuple: FourTuple,
    iss: number,
    now: number,
    syn: TcpRepr,
    options: Partial<TcpConnectionOptions> = {},
  ): TcpConnection {
    const c = new TcpConnection(tuple, iss, now, options, true);
    c.#state = 'SYN_RECEIVED';
    c.stats.segsIn++; // the SYN this connection was made from
    c.#takePeerSyn(syn);
    // The window in a SYN is never scaled (RFC 7323 §2.2).
    c.#snd.updateWindow(syn.window, syn.seq, c.iss);
    c.#updateTimer(now);
    return c;
  }

  /**
   * Passive open from a SYN cookie (src/tcp/syncookie.ts): the listener answered `syn` (rebuilt
   * from the cookie) with a SYN-ACK of ISS `iss` and kept nothing, and the ACK that completes the
   * handshake has come. The connection starts in SYN_RECEIVED with that SYN-ACK already sent and
   * untimed; the caller then processes the ACK on it like any segment, which makes it ESTABLISHED.
   */
  static fromCookie(
    tuple: FourTuple,
    iss: number,
    now: number,
    syn: TcpRepr,
    options: Partial<TcpConnectionOptions> = {},
  ): TcpConnection {
    const c = TcpConnection.accept(tuple, iss, now, syn, options);
    c.#snd.sndNxt = seqAdd(c.iss, 1);
    c.#snd.sndMax = c.#snd.sndNxt;
    c.stats.segsOut++; // the SYN-ACK the listener sent
    c.#updateTimer(now);
    return c;
  }

  // ---------------------------------------------------------------------------------------------
  // Demux and introspection

  get state(): TcpState {
    return this.#state;
  }

  /** This connection's options, writable: the first access gives it its own copy. */
  get options(): TcpConnectionOptions {
    if (!this.#ownOpts) {
      this.#ctx.opts = { ...this.#ctx.opts };
      this.#ownOpts = true;
    }
    return this.#ctx.opts;
  }

  /** The congestion controller's name (without copying the options). */
  get congestion(): CongestionName {
    return this.#ctx.opts.congestion;
  }

  /** SND.UNA: oldest unacknowledged sequence number. */
  get sndUna(): number {
    return this.#snd.sndUna;
  }

  /** SND.NXT: next sequence number to send (rolled back to SND.UNA by a retransmission timeout). */
  get sndNxt(): number {
    return this.#snd.sndNxt;
  }

  /** SND.MAX: one past the highest sequence number ever sent. */
  get sndMax(): number {
    return this.#snd.sndMax;
  }

  /** SND.WND: the peer's window in bytes, scaled. */
  get sndWnd(): number {
    return this.#snd.sndWnd;
  }

  /** IRS: the peer's initial sequence number (0 until its SYN arrives). */
  get irs(): number {
    return this.#rcv.irs;
  }

  /** RCV.NXT: next sequence number expected from the peer. */
  get rcvNxt(): number {
    return this.#rcv.rcvNxt;
  }

  /** CLOSED: the stack may forget this connection. */
  get finished(): boolean {
    return this.#state === 'CLOSED';
  }

  /** The segment (from `src` to `dst`) belongs to this connection: the 4-tuple matches. */
  accepts(src: number, dst: number, seg: Pick<TcpRepr, 'srcPort' | 'dstPort'>): boolean {
    return (
      addrNum(src) === this.remoteAddr &&
      addrNum(dst) === this.localAddr &&
      seg.srcPort === this.remotePort &&
      seg.dstPort === this.localPort
    );
  }

  /**
   * The state changes with their times in ms since the connection was created, oldest first,
   * starting with the state it was created in at 0 (at most MAX_HISTORY entries). A change made
   * by a user call shows the time of the next dispatch (until then, the latest time seen).
   */
  stateHistory(): TcpStateChange[] {
    const initial = this.#passive ? 'SYN_RECEIVED' : 'SYN_SENT';
    return unpackHistory(initial, this.#history, this.#now - this.#openedAt);
  }

  /** Drain the events produced since the last call. */
  takeEvents(): readonly TcpEvent[] {
    return this.#ctx.takeEvents();
  }

  snapshot(): TcpSnapshot {
    return takeSnapshot(this.#state, this.iss, this.#timers.timer, this.#ctx, this.#rcv, this.#snd);
  }

  // ---------------------------------------------------------------------------------------------
  // User calls (RFC 9293 §3.10: SEND, RECEIVE, CLOSE, ABORT)

  /**
   * Queue bytes to send. Returns how many were accepted (the send buffer is bounded); when fewer
   * than `data.length`, a `drain` event follows once there is room. Hand over the whole chunk:
   * only a short count promises 'drain' (a caller that trims to `sendRoom` gets none). After shutdown or on a closed
   * connection nothing is accepted and an EPIPE error event is queued.
   */
  send(data: Uint8Array, more = false): number {
    if (!canSend(this.#state) || this.#snd.finQueued) {
      this.#ctx.emit({ type: 'error', code: 'EPIPE' });
      return 0;
    }
    // MSG_MORE: more is coming, so the partial segment waits (src/tcp/push.ts).
    if (more) this.#snd.corking ??= new Corking();
    const n = this.#snd.push(data, more);
    // A send that queued nothing (the buffer is full) changes nothing: no timer to choose again.
    // (Marking it would make pollAt say "now" after every retried blocked write, for ever.)
    if (n > 0) this.#timers.rechoose();
    return n;
  }

  /** Bytes that `send` would accept now. */
  get sendRoom(): number {
    return canSend(this.#state) && !this.#snd.finQueued ? this.#snd.free : 0;
  }

  /**
   * Flowing (the default): in-order data is handed over at once as `data` events and the window
   * stays open. Paused: data is held (up to rcvBuf, which closes the window) until `recv`.
   */
  setFlowing(flowing: boolean): void {
    this.#rcv.setFlowing(flowing);
  }

  /** Take up to `max` held bytes (paused mode), or null when none are held. */
  recv(max = Number.POSITIVE_INFINITY): Uint8Array | null {
    return this.#rcv.recv(max);
  }

  /** Bytes held for `recv` (paused mode). */
  get heldBytes(): number {
    return this.#rcv.heldBytes;
  }

  setNoDelay(noDelay: boolean): void {
    this.options.noDelay = noDelay; // the getter copies shared options first
    const corking = this.#snd.corking;
    if (corking !== null) {
      corking.setNoDelay(noDelay); // a held partial segment goes (Linux's TCP_NAGLE_PUSH)
      this.#timers.rechoose();
    }
  }

  /**
   * TCP_CORK: hold partial segments back until uncorked (src/tcp/push.ts); a persist timer
   * sends them after an RTO when nothing else is in flight.
   */
  setCork(on: boolean): void {
    this.#snd.corking ??= new Corking();
    this.#snd.corking.setCork(on, this.options.noDelay);
    this.#timers.rechoose();
  }

  setKeepAlive(enable: boolean, idleMs?: number): void {
    this.options.keepAlive = enable;
    if (idleMs !== undefined && idleMs > 0) this.options.keepAliveIdleMs = idleMs;
    this.#timers.keepAliveChanged();
  }

  /**
   * An ICMP destination unreachable about this connection (the stack checked it first, RFC 5927
   * §4.1), as Linux's tcp_v4_err: a `hard` one (port unreachable, say) ends an open in SYN_SENT
   * with `code`; anything else is a soft error (RFC 1122 §4.2.3.9): the connection keeps
   * trying, and should it time out, it fails with `code` instead of ETIMEDOUT (sk_err_soft).
   */
  icmpError(code: IcmpErrorCode, hard: boolean, now: number): void {
    this.#now = now;
    if (this.#state === 'CLOSED' || this.#state === 'TIME_WAIT') return;
    if (hard && this.#state === 'SYN_SENT') {
      this.#fail(code);
      this.#updateTimer(now);
      return;
    }
    this.#softError = code;
  }

  /**
   * Path MTU discovery (RFC 1191, RFC 8201): the path to the peer carries segments of at most
   * `mss` bytes of TCP payload and options (its MTU less the IP and TCP headers), as an ICMP
   * "fragmentation needed" or Packet Too Big said about our segment at `seq` (the stack checked
   * it against this connection first, RFC 5927 §4.1; null: no segment in particular). The send
   * MSS drops to it and what is in flight from there goes again at once at the new size, without
   * a congestion response (Sender.pathMss); dispatch sends it. A larger `mss` (the learned path
   * MTU expired) lifts the cap, up to what the SYNs agreed. The MSS we announce is unchanged (as
   * Linux's).
   */
  pathMtu(mss: number, now: number, seq: number | null = null): void {
    this.#now = now;
    if (this.#state === 'CLOSED' || this.#state === 'TIME_WAIT') return;
    if (this.#snd.pathMss(mss, seq)) this.#timers.rechoose();
  }

  /** Half-close: send a FIN after the queued data; keep receiving (RFC 9293 §3.10.4 CLOSE). */
  shutdown(): void {
    switch (this.#state) {
      case 'SYN_SENT':
      case 'SYN_RECEIVED':
        // Queued until ESTABLISHED, then FIN_WAIT_1.
        this.#snd.finQueued = true;
        break;
      case 'ESTABLISHED':
        this.#snd.finQueued = true;
        this.#enter('FIN_WAIT_1', false);
        break;
      case 'CLOSE_WAIT':
        this.#snd.finQueued = true;
        this.#enter('LAST_ACK', false);
        break;
      default:
        // Already closing, or closed: nothing to do ("error: connection closing").
        break;
    }
    this.#timers.rechoose();
  }

  /**
   * Full close: shutdown, and stop receiving. Unread data, or data arriving later, resets the
   * connection (RFC 1122 §4.2.2.13). In SYN_SENT the connection simply goes away (§3.10.4).
   */
  close(): void {
    if (this.#state === 'SYN_SENT') {
      this.#enterClosed(null, false);
      return;
    }
    this.#userClosed = true;
    if (this.#rcv.heldBytes > 0 && isSynchronized(this.#state)) {
      this.abort();
      return;
    }
    this.shutdown();
    this.#timers.rechoose();
  }

  /** ABORT (RFC 9293 §3.10.5): send RST in the synchronized states and SYN_RECEIVED, then CLOSED. */
  abort(): void {
    const s = this.#state;
    if (s === 'CLOSED') return;
    const sendRst =
      s === 'SYN_RECEIVED' ||
      s === 'ESTABLISHED' ||
      s === 'FIN_WAIT_1' ||
      s === 'FIN_WAIT_2' ||
      s === 'CLOSE_WAIT';
    this.#enterClosed(null, false);
    this.#rstPending = sendRst;
  }

  // ---------------------------------------------------------------------------------------------
  // Input: RFC 9293 §3.10.7

  /** A segment for this 4-tuple arrived at `now`. Bad segments are dropped and counted. */
  process(now: number, seg: TcpRepr): void {
    this.#now = now;
    if (this.#history !== null) this.#history = stampPending(this.#history, now - this.#openedAt);
    this.stats.segsIn++;
    switch (this.#state) {
      case 'CLOSED': {
        // §3.10.7.1: a segment for a closed connection gets a RST (never answer a RST).
        const rst = resetFor(seg);
        if (rst !== null) this.#reply(rst);
        this.#ctx.drop('closed');
        return;
      }
      case 'SYN_SENT':
        this.#processSynSent(now, seg);
        break;
      default:
        this.#processSynchronized(now, seg);
        break;
    }
    this.#updateTimer(now);
  }

  /** §3.10.7.3: SYN-SENT. */
  #processSynSent(now: number, seg: TcpRepr): void {
    // First, check the ACK bit.
    let ackOk = false;
    if (seg.ack !== null) {
      if (seqLeq(seg.ack, this.iss) || seqGt(seg.ack, this.#snd.sndMax)) {
        if (seg.control !== 'rst') this.#reply(bareRst(this, seg.ack));
        this.#ctx.drop('bad-ack');
        return;
      }
      ackOk = true;
    }
    // Second, check the RST bit: acceptable only if it acknowledges our SYN (RFC 5961 §3.2).
    if (seg.control === 'rst') {
      if (ackOk) this.#fail('ECONNREFUSED');
      else this.#ctx.drop('rst-no-ack');
      return;
    }
    // Fourth, check the SYN bit.
    if (seg.control !== 'syn') {
      this.#ctx.drop('no-syn');
      return;
    }
    this.#takePeerSyn(seg);
    this.#timers.heardFrom(now); // (no keep-alive probe can have gone before ESTABLISHED)
    this.#snd.updateWindow(seg.window, seg.seq, seg.ack ?? this.iss);
    if (ackOk && seg.ack !== null) {
      this.#snd.ackAdvanced(now, seg, seg.ack, this.#state);
      this.#timers.stopSendTimer();
      this.#enterEstablished();
      this.#rcv.ackNow = true;
      // Data on a SYN-ACK is processed as text (§3.10.7.3: "continue processing at the sixth step").
      if (seg.payload.length > 0) this.#rcv.acceptText(now, seqAdd(seg.seq, 1), seg.payload);
    } else {
      // Simultaneous open (§3.10.7.3, Figure 8): answer with SYN-ACK from SYN_RECEIVED. Data on
      // the SYN is not kept; the peer retransmits it.
      this.#enter('SYN_RECEIVED');
      this.#snd.rewindSyn();
      this.#timers.stop();
    }
  }

  /**
   * §3.10.7.4: SYN-RECEIVED and every synchronized state, in the RFC's numbered steps. The special
   * cases that come first (a scan without ACK, a repeated SYN in SYN-RECEIVED, the peer's FIN
   * again in TIME-WAIT, the timestamp checks in the receiver) are named functions that say
   * whether they took the segment.
   */
  #processSynchronized(now: number, seg: TcpRepr): void {
    if (this.#isScanWithoutAck(seg)) return;
    if (this.#isRepeatedSyn(seg)) return;
    if (this.#isFinAgainInTimeWait(now, seg)) return;
    if (this.#rcv.failsTimestampChecks(now, seg)) return;

    // First, check the sequence number.
    if (!this.#rcv.checkSequence(now, seg)) return;
    this.#timers.heardFrom(now);
    this.#rcv.updateTsRecent(seg, seg.ack === null || this.#snd.ackInRange(seg.ack));
    // RFC 3168 §6.1.3: CWR ends our ECE echo; a CE mark on data starts it, ACKed at once.
    if (this.#ctx.ecn?.onSegment(this.#ctx, seg)) this.#rcv.ackNow = true;

    // Second, check the RST bit (the third, security, does not apply).
    if (seg.control === 'rst') {
      this.#checkRst(now, seg);
      return;
    }

    // Fourth, check the SYN bit.
    if (seg.control === 'syn') {
      this.#checkSyn(now);
      return;
    }

    // Fifth, check the ACK field.
    if (!this.#checkAck(now, seg)) return;

    // Sixth, the URG bit: ignored (RFC 9293 §3.9 keeps urgent data only for old applications).
    if (seg.urg) this.#ctx.count('urg-ignored');

    // Seventh, process the segment text.
    const text = this.#processText(now, seg);
    if (text === null) return;

    // Eighth, check the FIN bit.
    if (seg.control === 'fin' && text !== 'partial') {
      const bare = seg.payload.length === 0;
      if (this.#rcv.acceptFin(now, seqAdd(seg.seq, seg.payload.length), bare)) {
        this.#peerFinTaken(now);
      }
    }
  }

  /**
   * Neither SYN, RST nor ACK (a scanner's NULL, FIN or Xmas probe): the fifth step would drop it,
   * and an ACK owed by the first would only tell a blind sender our RCV.NXT. Dropped at once, as
   * Linux's tcp_rcv_state_process does.
   */
  #isScanWithoutAck(seg: TcpRepr): boolean {
    if (seg.ack !== null || seg.control === 'syn' || seg.control === 'rst') return false;
    this.#ctx.drop('no-ack');
    return true;
  }

  /**
   * SYN-RECEIVED: the peer retransmitted its SYN because our SYN-ACK was lost: send the SYN-ACK
   * again (what Linux and BSD do; the RFC's acceptability test would only send an ACK).
   */
  #isRepeatedSyn(seg: TcpRepr): boolean {
    if (this.#state !== 'SYN_RECEIVED' || seg.control !== 'syn') return false;
    if (seg.ack !== null || seg.seq !== this.#rcv.irs) return false;
    this.#snd.rewindSyn();
    return true;
  }

  /**
   * The only thing that can arrive in TIME_WAIT is a retransmission of the remote FIN:
   * acknowledge it and restart the 2 MSL timeout (§3.10.7.4, eighth step).
   */
  #isFinAgainInTimeWait(now: number, seg: TcpRepr): boolean {
    if (this.#state !== 'TIME_WAIT' || seg.control !== 'fin') return false;
    if (seqAdd(seg.seq, segmentLength(seg)) !== this.#rcv.rcvNxt) return false;
    this.#rcv.ackNow = true;
    this.#timers.startTimeWait(now, this.#ctx.opts.timeWaitMs);
    return true;
  }

  /** Second step: RFC 5961 §3.2, reset only on an exact match, else a challenge ACK. */
  #checkRst(now: number, seg: TcpRepr): void {
    if (seg.seq !== this.#rcv.rcvNxt) {
      this.#rcv.challengeAck(now);
      this.#ctx.drop('rst-challenge');
      return;
    }
    this.#onReset();
  }

  /** Fourth step: RFC 5961 §4, a SYN in a synchronized state gets a challenge ACK. */
  #checkSyn(now: number): void {
    if (this.#state === 'SYN_RECEIVED' && this.#passive) {
      // §3.10.7.4: a passive open returns to LISTEN: this connection goes away quietly.
      this.#enterClosed(null);
      return;
    }
    this.#rcv.challengeAck(now);
    this.#ctx.drop('syn-challenge');
  }

  /**
   * Fifth step: the ACK completes the handshake in SYN-RECEIVED, is checked against what we sent
   * (RFC 5961 §5.2), goes to the sender, and moves the closing states whose FIN it acknowledges.
   * Returns false when processing ends here.
   */
  #checkAck(now: number, seg: TcpRepr): boolean {
    if (seg.ack === null) {
      this.#ctx.drop('no-ack');
      return false;
    }
    const ack = seg.ack;
    const snd = this.#snd;
    if (this.#state === 'SYN_RECEIVED') {
      if (!(seqGt(ack, snd.sndUna) && seqLeq(ack, snd.sndMax))) {
        this.#reply(bareRst(this, ack));
        this.#ctx.drop('bad-ack');
        return false;
      }
      this.#enterEstablished();
      snd.updateWindow(seg.window * 2 ** this.#ctx.negotiated.sndShift, seg.seq, ack);
    }
    // RFC 5961 §5.2: acceptable iff SND.UNA − MAX.SND.WND ≤ SEG.ACK ≤ SND.NXT; else ACK and drop.
    if (!snd.ackInRange(ack)) {
      // Linux answers only an ACK too old; one for data not yet sent goes unanswered (tcp_ack).
      if (this.#ctx.opts.unsentAckReply || !seqGt(ack, snd.sndMax)) this.#rcv.challengeAck(now);
      this.#ctx.drop('ack-out-of-range');
      return false;
    }
    const ecn = seg.ece ? this.#ctx.ecn : null;
    // ECN: the controller an ECE speaks to, and its window before the ACK (RFC 3168 §6.1.2).
    const loss = ecn !== null ? this.#ecnControl() : null;
    const cwndBefore = loss?.cc.cwnd ?? 0;
    if (snd.processAck(now, seg, ack, this.#state)) {
      this.#timers.stopSendTimer();
      this.#softError = null; // the path works again (Linux's tcp_ack clears sk_err_soft)
    }
    ecn?.onEce(this.#ctx, loss, snd.sndUna, snd.sndMax, cwndBefore, now);

    const finAcked = snd.finAcked();
    switch (this.#state) {
      case 'FIN_WAIT_1':
        if (finAcked) this.#enter('FIN_WAIT_2');
        return true;
      case 'CLOSING':
        if (finAcked) this.#enterTimeWait(now);
        return false;
      case 'LAST_ACK':
        if (finAcked) this.#enterClosed(null);
        return false;
      default:
        return this.#state !== 'CLOSED';
    }
  }

  /**
   * An ACK with ECE is about to be applied (RFC 3168 §6.1.2): the loss recovery and controller it
   * speaks to, or null. The controller exists once anything past our SYN was sent (data or FIN);
   * before that nothing of ours can have been marked. With nothing in flight (a window update,
   * say) the ECE tells of no data of ours: counted, not acted on (Linux's tcp_ack skips
   * congestion control then).
   */
  #ecnControl(): LossRecovery | null {
    const snd = this.#snd;
    if (snd.sndMax === snd.sndUna || snd.sndMax === seqAdd(this.iss, 1)) return null;
    return snd.lossForSnapshot();
  }

  /** Seventh step: the text, or null when processing ends here (data after close resets). */
  #processText(now: number, seg: TcpRepr): TextOutcome | null {
    if (seg.payload.length === 0) return 'complete';
    if (!canReceive(this.#state)) {
      this.#ctx.drop('text-after-fin');
      return 'complete';
    }
    if (this.#userClosed) {
      // RFC 1122 §4.2.2.13: data after CLOSE is lost to the user: tell the peer with a RST.
      this.#ctx.drop('data-after-close');
      this.abort();
      return null;
    }
    const text = this.#rcv.acceptText(now, seg.seq, seg.payload);
    if (text === 'fin') this.#peerFinTaken(now);
    return text;
  }

  /** §3.10.7.4 eighth step: the peer's FIN was taken (the receiver moved RCV.NXT past it). */
  #peerFinTaken(now: number): void {
    switch (this.#state) {
      case 'SYN_RECEIVED':
      case 'ESTABLISHED':
        this.#enter('CLOSE_WAIT');
        break;
      case 'FIN_WAIT_1':
        // Linux tcp_fin: after our own FIN the peer's is ACKed at once, whatever the delayed-ACK
        // mode (options.quickAck makes the receiver wait only in ESTABLISHED).
        this.#rcv.ackNow = true;
        if (this.#snd.finAcked()) this.#enterTimeWait(now);
        else this.#enter('CLOSING');
        break;
      case 'FIN_WAIT_2':
        this.#rcv.ackNow = true;
        this.#enterTimeWait(now);
        break;
      default:
        break;
    }
  }

  /** §3.10.7.4 second step: an acceptable RST, by state. */
  #onReset(): void {
    switch (this.#state) {
      case 'SYN_RECEIVED':
        // A passive open returns to LISTEN (the listener forgets us); an active one is refused.
        if (this.#passive) this.#enterClosed(null);
        else this.#fail('ECONNREFUSED');
        break;
      case 'ESTABLISHED':
      case 'FIN_WAIT_1':
      case 'FIN_WAIT_2':
      case 'CLOSE_WAIT':
        this.#fail('ECONNRESET');
        break;
      default:
        // CLOSING, LAST_ACK, TIME_WAIT: just close.
        this.#enterClosed(null);
        break;
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Output: nextAction is the single source of truth for dispatch and pollAt.

  /**
   * The next segment to send at `now` (firing any due timers first), or null. Its payload may be
   * a view into the send buffer: emit (copy) it before the next call into this connection.
   */
  dispatch(now: number): TcpRepr | null {
    this.#now = Math.max(this.#now, now);
    if (this.#history !== null) {
      this.#history = stampPending(this.#history, this.#now - this.#openedAt);
    }
    for (let turn = 0; turn < MAX_DISPATCH_TURNS; turn++) {
      const a = this.#nextAction(now);
      if (a.kind === 'wait') return null;
      if (a.kind === 'fire') {
        this.#fire(now, a.timer);
        continue;
      }
      const seg = this.#build(now, a.plan);
      this.stats.segsOut++;
      this.#updateTimer(now);
      return seg;
    }
    this.#ctx.count('dispatch-turns-exhausted'); // a bug if ever seen: each turn should settle a timer
    return null;
  }

  /**
   * When dispatch next has something to do: a time ≤ the current time if it has something now,
   * a future deadline, or null when only input or a user call can wake the connection.
   */
  pollAt(): number | null {
    const a = this.#nextAction(Number.NEGATIVE_INFINITY);
    if (a.kind === 'wait') return a.at;
    return this.#now;
  }

  #nextAction(now: number): Action {
    if (this.#replies !== null) return { kind: 'send', plan: { kind: 'reply' } };
    if (this.#rstPending) return { kind: 'send', plan: { kind: 'rst' } };
    const state = this.#state;
    if (state === 'CLOSED') return { kind: 'wait', at: null };
    const firing = this.#timers.due(now, this.#rcv.delayedAckAt);
    if (firing !== null) return { kind: 'fire', timer: firing };

    if (state === 'SYN_SENT' || state === 'SYN_RECEIVED') {
      if (this.#snd.sndNxt === this.iss) return { kind: 'send', plan: { kind: 'syn' } };
    } else if (state !== 'TIME_WAIT') {
      const data = this.#snd.planData(this.#rcv.sackBlocks());
      if (data !== null) return { kind: 'send', plan: data };
      if (this.#snd.probeDue) return { kind: 'send', plan: { kind: 'probe' } };
    }
    if (state !== 'SYN_SENT' && this.#rcv.ackDue(state)) {
      return { kind: 'send', plan: { kind: 'ack', sack: this.#rcv.sackBlocks() } };
    }
    return { kind: 'wait', at: this.#timers.deadline(this.#rcv.delayedAckAt) };
  }

  #build(now: number, plan: Plan): TcpRepr {
    switch (plan.kind) {
      case 'reply':
        return this.#takeReply();
      case 'rst':
        this.#rstPending = false;
        return abortRst(this, this.#ctx, this.#rcv, this.#snd, now);
      case 'syn':
        return synSegment(this, this.#ctx, this.#rcv, this.#snd, now, this.#state === 'SYN_SENT');
      case 'probe':
        this.#snd.probeSent();
        return probeSegment(this, this.#ctx, this.#rcv, this.#snd, now);
      case 'ack':
        return pureAck(this, this.#ctx, this.#rcv, this.#snd, now, plan.sack);
      case 'data':
        this.#timers.dataSent();
        return dataSegment(this, this.#ctx, this.#rcv, this.#snd, now, plan);
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Timers (src/tcp/conn-timers.ts): the state changes a firing causes are made here.

  #fire(now: number, kind: Firing): void {
    const outcome = this.#timers.fire(now, kind, this.#passive, this.#ctx, this.#rcv, this.#snd);
    if (outcome === 'close') this.#enterClosed(null);
    else if (outcome === 'timedOut') this.#fail(this.#softError ?? 'ETIMEDOUT');
    this.#updateTimer(now);
  }

  #updateTimer(now: number): void {
    this.#timers.choose(now, this.#state, this.#userClosed, this.#ctx, this.#rcv, this.#snd);
  }

  // ---------------------------------------------------------------------------------------------
  // Transitions and small helpers

  /**
   * Record the peer's SYN: IRS, RCV.NXT and the negotiated options. ECN (src/tcp/ecn.ts): on an
   * active open, only the first SYN asked for it (one sent again falls back).
   */
  #takePeerSyn(syn: TcpRepr): void {
    const mode = this.#ctx.opts.ecn ?? 2;
    const asked = !this.#passive && mode === 1 && this.#snd.retries === 0;
    const ecn = ecnAgreed(mode, syn, asked);
    this.#ctx.negotiated = negotiate(this.#ctx.opts, syn.options, ecn);
    this.#ctx.ecn = ecn ? new EcnState() : null;
    this.#rcv.takeSyn(syn);
  }

  /**
   * Every state change after creation comes through here and is recorded. `timeKnown` is false
   * for a user call (no `now` comes with it): the change is stamped at the next dispatch.
   */
  #enter(state: TcpState, timeKnown = true): void {
    if (state === this.#state) return;
    this.#state = state;
    this.#history = appendChange(
      this.#history,
      state,
      timeKnown ? this.#now - this.#openedAt : null,
    );
  }

  #enterEstablished(): void {
    this.#softError = null;
    this.#enter(this.#snd.finQueued ? 'FIN_WAIT_1' : 'ESTABLISHED');
    this.#snd.established();
    this.#timers.stop();
    this.#ctx.emit({ type: 'connected' });
  }

  #enterTimeWait(now: number): void {
    const announced = this.#closedForUser();
    this.#enter('TIME_WAIT');
    this.#timers.startTimeWait(now, this.#ctx.opts.timeWaitMs);
    this.#rcv.delayedAckAt = null;
    if (!announced) this.#ctx.emit({ type: 'closed' });
  }

  /** CLOSED, with an optional error first. Frees the buffers; leaves no deadline behind. */
  #enterClosed(code: TcpErrorCode | null, timeKnown = true): void {
    if (code !== null) this.#ctx.emit({ type: 'error', code });
    const announced = this.#closedForUser();
    this.#enter('CLOSED', timeKnown);
    this.#timers.stop();
    this.#rcv.close();
    this.#snd.close();
    if (!announced) this.#ctx.emit({ type: 'closed' });
  }

  #fail(code: TcpErrorCode): void {
    this.#enterClosed(code);
  }

  /**
   * TIME_WAIT or CLOSED: the user was told 'closed' when the first of them was entered (was the
   * #closedEmitted flag). Only the two functions above enter them, CLOSED follows TIME_WAIT and
   * nothing leaves CLOSED; the constructor's CLOSED is replaced before any call.
   */
  #closedForUser(): boolean {
    return this.#state === 'TIME_WAIT' || this.#state === 'CLOSED';
  }

  #reply(seg: TcpRepr): void {
    if (this.#replies === null) {
      this.#replies = [seg];
    } else if (this.#replies.length >= MAX_REPLIES) {
      this.#ctx.drop('reply-queue-full');
    } else {
      this.#replies.push(seg);
    }
  }

  /** The oldest queued reply (nextAction saw the queue non-empty). */
  #takeReply(): TcpRepr {
    const replies = this.#replies!;
    const seg = replies.shift()!;
    if (replies.length === 0) this.#replies = null;
    return seg;
  }
}

export { tsClock } from './sender.ts';
