/**
 * A connection's timers as absolute deadlines (ms, on the caller's clock).
 *
 * At most one of the "main" timers runs at a time, so they form one tagged union (as smoltcp's
 * `Timer`); the delayed ACK runs beside any of them and lives in its own field. The stack keeps one
 * real timer per connection at `pollAt()` and re-arms it lazily (gVisor tcp/timer.go).
 */
import type { TcpState } from './state.ts';

export type TcpTimer =
  | { kind: 'idle' }
  /** SYN (SYN_SENT) or SYN-ACK (SYN_RECEIVED) retransmission. */
  | { kind: 'synRetry'; at: number }
  /** Retransmission timeout for data or FIN in flight (RFC 6298). */
  | { kind: 'retransmit'; at: number }
  /** Tail loss probe (RFC 8985 §7): an earlier probe before the RTO, at most one per flight. */
  | { kind: 'tlp'; at: number }
  /** RACK's reordering timer (RFC 8985 §6.2 step 6): look for losses again when it expires. */
  | { kind: 'reorder'; at: number }
  /** Zero-window probe, or the sender SWS override (RFC 9293 §3.8.6.1, §3.8.6.2.1). */
  | { kind: 'persist'; at: number }
  /** Keep-alive probe (RFC 9293 §3.8.4, RFC 1122 §4.2.3.6). */
  | { kind: 'keepalive'; at: number }
  /** Give up on a peer that never sends its FIN after we closed (as Linux tcp_fin_timeout). */
  | { kind: 'finWait2'; at: number }
  /** 2*MSL in TIME_WAIT (RFC 9293 §3.6). */
  | { kind: 'timeWait'; at: number };

export type TcpTimerKind = TcpTimer['kind'];

/** What the choice of the running timer depends on. */
export interface TimerFacts {
  state: TcpState;
  /** Our SYN (or SYN-ACK) has been sent (SND.MAX ≠ ISS). */
  synSent: boolean;
  /** Data, SYN or FIN is unacknowledged (SND.MAX ≠ SND.UNA). */
  inFlight: boolean;
  /** Data or a FIN is queued and not yet sent. */
  unsent: boolean;
  /** The user called close(), not just shutdown(). */
  userClosed: boolean;
  /** The current RTO, backoff included. */
  rto: number;
  /** The probe timeout when a tail loss probe may be armed now (RFC 8985 §7.2), else null. */
  pto: number | null;
  /**
   * The probe allowed is a recovery probe (TcpConnectionOptions.recoveryProbe): it replaces even
   * a running RTO, which recovery started.
   */
  recoveryProbe: boolean;
  /** When RACK's reordering timer is due (an absolute time), else null. */
  reorderAt: number | null;
  /** The current persist interval, backoff included. */
  persistInterval: number;
  finWait2Ms: number;
  /** When the next keep-alive probe is due, or null when keep-alive is off. */
  keepaliveAt: number | null;
}

/**
 * The one timer that should run now. A running timer of the chosen kind keeps its deadline
 * (RFC 6298 §5.1: start the retransmission timer only if it is not running); the connection
 * restarts one by setting its timer to IDLE first (§5.3). TIME_WAIT keeps its own deadline.
 */
export function chooseTimer(current: TcpTimer, now: number, f: TimerFacts): TcpTimer {
  switch (f.state) {
    case 'CLOSED':
    case 'LISTEN':
      return IDLE;
    case 'TIME_WAIT':
      return current;
    case 'SYN_SENT':
    case 'SYN_RECEIVED':
      return f.synSent ? keepOrStart(current, 'synRetry', now + f.rto) : IDLE;
    default:
      break;
  }
  if (f.inFlight) {
    // RFC 8985 §6.2: the reordering timer, when RACK wants one, runs instead of the others (it
    // is shorter than both; the RTO starts again after it).
    if (f.reorderAt !== null) {
      return current.kind === 'reorder' && current.at === f.reorderAt
        ? current
        : { kind: 'reorder', at: f.reorderAt };
    }
    // RFC 8985 §7.2: the PTO replaces the RTO while a probe is allowed; a running RTO stays,
    // but for a recovery probe (recovery started that RTO: the probe comes first, once).
    if (f.pto !== null && (current.kind !== 'retransmit' || f.recoveryProbe))
      return keepOrStart(current, 'tlp', now + Math.min(f.pto, f.rto));
    return keepOrStart(current, 'retransmit', now + f.rto);
  }
  // Nothing in flight but something to send: the peer's window (or SWS avoidance) holds it.
  if (f.unsent) return keepOrStart(current, 'persist', now + f.persistInterval);
  if (f.state === 'FIN_WAIT_2' && f.userClosed)
    return keepOrStart(current, 'finWait2', now + f.finWait2Ms);
  const keepAliveStates =
    f.state === 'ESTABLISHED' || f.state === 'CLOSE_WAIT' || f.state === 'FIN_WAIT_2';
  if (f.keepaliveAt !== null && keepAliveStates) return { kind: 'keepalive', at: f.keepaliveAt };
  return IDLE;
}

export const IDLE: TcpTimer = Object.freeze({ kind: 'idle' });

/**
 * The running timer if it is of this kind (RFC 6298 §5.1: a running timer keeps its deadline),
 * else a new one at `at`. A module function rather than a closure made in each chooseTimer call:
 * that runs on every ACK, and under tsx each closure made also costs a name-setting call.
 */
function keepOrStart(current: TcpTimer, kind: Exclude<TcpTimerKind, 'idle'>, at: number): TcpTimer {
  return current.kind === kind ? current : ({ kind, at } as TcpTimer);
}

/** The deadline of a timer, or null when idle. */
export function timerDeadline(t: TcpTimer): number | null {
  return t.kind === 'idle' ? null : t.at;
}

/** The earlier of two optional deadlines. */
export function earliest(a: number | null, b: number | null): number | null {
  if (a === null) return b;
  if (b === null) return a;
  return a < b ? a : b;
}
