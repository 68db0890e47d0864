/**
 * The timer half of a connection: which one main timer runs (chooseTimer in timers.ts, from the
 * state of the connection's parts), what dispatch fires at `now`, and what each firing does to
 * the sender, the receiver and the keep-alive count. The delayed ACK is the receiver's deadline
 * and fires from here too.
 *
 * The state changes a firing causes stay with the connection: `fire` returns them (CLOSED
 * quietly, or CLOSED with ETIMEDOUT) instead of making them. Like segments.ts, the methods take
 * the parts they read rather than keeping references (three fewer per connection: ~24 B of heap
 * each); nothing here makes an object or a closure per segment.
 */
import type { ConnContext } from './context.ts';
import type { Receiver } from './receiver.ts';
import type { Sender } from './sender.ts';
import type { TcpState } from './state.ts';
import {
  chooseTimer,
  earliest,
  IDLE,
  type TcpTimer,
  type TcpTimerKind,
  timerDeadline,
} from './timers.ts';

/**
 * What dispatch fires: a timer, the delayed ACK, or 'rearm' (a user call changed what the timer
 * should be; it is chosen at dispatch time, with the caller's `now`, not the last one seen).
 */
export type Firing = 'delayedAck' | 'rearm' | Exclude<TcpTimerKind, 'idle'>;

/** What a firing asks of the connection: nothing, CLOSED quietly, or CLOSED with ETIMEDOUT. */
export type FireOutcome = 'none' | 'close' | 'timedOut';

export class ConnTimers {
  /** The one main timer running (at most one at a time; the delayed ACK runs beside it). */
  timer: TcpTimer = IDLE;
  /** A user call changed what should be running: choose the timer at the next dispatch. */
  #stale = false;
  /** When an acceptable segment last arrived: keep-alive counts its idle time from here. */
  #lastRecvAt: number;
  /** Keep-alive probes sent since the peer was last heard from, and when the last one went. */
  #keepAliveProbes = 0;
  #lastProbeAt = 0;

  constructor(now: number) {
    this.#lastRecvAt = now;
  }

  /** A user call changed what should run (data or a FIN queued, close): choose at dispatch. */
  rechoose(): void {
    this.#stale = true;
  }

  /** Keep-alive was switched or its idle time changed: probes count from zero again. */
  keepAliveChanged(): void {
    this.#keepAliveProbes = 0;
    this.#stale = true;
  }

  /** An acceptable segment arrived at `now`: the peer is alive. */
  heardFrom(now: number): void {
    this.#lastRecvAt = now;
    this.#keepAliveProbes = 0;
  }

  /**
   * What dispatch fires at `now`, in this order, or null when nothing is due. `delayedAckAt`:
   * the receiver's delayed ACK deadline.
   */
  due(now: number, delayedAckAt: number | null): Firing | null {
    if (this.#stale) return 'rearm';
    if (delayedAckAt !== null && delayedAckAt <= now) return 'delayedAck';
    const t = this.timer;
    if (t.kind !== 'idle' && t.at <= now) return t.kind;
    return null;
  }

  /** The next deadline: the main timer's or the delayed ACK's, whichever is first (null: none). */
  deadline(delayedAckAt: number | null): number | null {
    return earliest(timerDeadline(this.timer), delayedAckAt);
  }

  /**
   * Fire `kind` at `now`. `passive`: the connection was made by a listener, which forgets it
   * quietly when its SYN-ACK is never answered. The connection chooses the next timer after.
   */
  fire(
    now: number,
    kind: Firing,
    passive: boolean,
    ctx: ConnContext,
    rcv: Receiver,
    snd: Sender,
  ): FireOutcome {
    switch (kind) {
      case 'delayedAck':
        rcv.delayedAckFired();
        return 'none';
      case 'rearm':
        // The connection calls choose(now) after every firing.
        this.#stale = false;
        return 'none';
      case 'synRetry':
        this.timer = IDLE;
        if (snd.synTimeout()) return 'none';
        return passive ? 'close' : 'timedOut';
      case 'retransmit':
        this.timer = IDLE;
        return snd.retransmitTimeout(now) ? 'none' : 'timedOut';
      case 'tlp':
        // RFC 8985 §7.3: send one probe, then the RTO runs (chosen after the probe is sent).
        this.timer = IDLE;
        snd.tlpTimeout();
        return 'none';
      case 'reorder':
        this.timer = IDLE;
        snd.reorderTimeout(now);
        return 'none';
      case 'persist':
        // A zero-window probe, or the sender SWS override; ETIMEDOUT after maxRetries probes
        // that got no answer at all.
        this.timer = IDLE;
        return snd.persistTimeout() ? 'none' : 'timedOut';
      case 'keepalive':
        this.timer = IDLE;
        if (this.#keepAliveProbes >= ctx.opts.keepAliveCount) return 'timedOut';
        this.#keepAliveProbes++;
        this.#lastProbeAt = now;
        snd.keepAliveTimeout();
        return 'none';
      case 'finWait2':
      case 'timeWait':
        this.timer = IDLE;
        return 'close';
    }
  }

  /**
   * Choose the one running timer from the state (keeping a running deadline of the same kind).
   * `userClosed`: close() was called, not just shutdown() (the FIN_WAIT_2 timeout applies).
   */
  choose(
    now: number,
    state: TcpState,
    userClosed: boolean,
    ctx: ConnContext,
    rcv: Receiver,
    snd: Sender,
  ): void {
    this.#stale = false;
    const o = ctx.opts;
    const unsent = snd.unsent();
    if (!unsent) snd.persistBackoff = 0;
    this.timer = chooseTimer(this.timer, now, {
      state,
      synSent: snd.sndMax !== snd.iss,
      inFlight: snd.sndMax !== snd.sndUna,
      unsent,
      userClosed,
      rto: snd.rtt.rto,
      pto: snd.probeTimeout(state),
      recoveryProbe: snd.inRecovery,
      reorderAt: snd.reorderAt,
      persistInterval: Math.min(snd.rtt.rto * 2 ** snd.persistBackoff, o.maxRto),
      finWait2Ms: o.finWait2Ms,
      keepaliveAt: !o.keepAlive
        ? null
        : this.#keepAliveProbes === 0
          ? this.#lastRecvAt + o.keepAliveIdleMs
          : this.#lastProbeAt + o.keepAliveIntervalMs,
    });
    if (state === 'CLOSED') rcv.delayedAckAt = null;
  }

  /** RFC 6298 §5.2–5.3: new data acknowledged stops the timer (chosen again after this input). */
  stopSendTimer(): void {
    const k = this.timer.kind;
    if (k === 'retransmit' || k === 'persist' || k === 'tlp' || k === 'reorder') this.timer = IDLE;
  }

  /** A data segment went out: RFC 8985 §7.2, the probe timeout counts from the latest one. */
  dataSent(): void {
    if (this.timer.kind === 'tlp') this.timer = IDLE;
  }

  /** 2*MSL from `now`: entering TIME_WAIT, or the peer's FIN again in it. */
  startTimeWait(now: number, timeWaitMs: number): void {
    this.timer = { kind: 'timeWait', at: now + timeWaitMs };
  }

  /** No main timer (CLOSED, ESTABLISHED reached, or a simultaneous open's SYN to resend). */
  stop(): void {
    this.timer = IDLE;
  }
}
