/**
 * A connection's timers as absolute deadlines (ms, on the caller's clock).
 *
 * At most one of the "main" timers runs at a time, so they form one tagged union (as smoltcp's
 * `Timer`); the delayed ACK runs beside any of them and lives in its own field. The stack keeps one
 * real timer per connection at `pollAt()` and re-arms it lazily (gVisor tcp/timer.go).
 */
export type TcpTimer =
  | { kind: 'idle' }
  /** SYN (SYN_SENT) or SYN-ACK (SYN_RECEIVED) retransmission. */
  | { kind: 'synRetry'; at: number }
  /** Retransmission timeout for data or FIN in flight (RFC 6298). */
  | { kind: 'retransmit'; at: number }
  /** Zero-window probe, or the sender SWS override (RFC 9293 §3.8.6.1, §3.8.6.2.1). */
  | { kind: 'persist'; at: number }
  /** Keep-alive probe (RFC 9293 §3.8.4, RFC 1122 §4.2.3.6). */
  | { kind: 'keepalive'; at: number }
  /** Give up on a peer that never sends its FIN after we closed (as Linux tcp_fin_timeout). */
  | { kind: 'finWait2'; at: number }
  /** 2*MSL in TIME_WAIT (RFC 9293 §3.6). */
  | { kind: 'timeWait'; at: number };

export type TcpTimerKind = TcpTimer['kind'];

export const IDLE: TcpTimer = Object.freeze({ kind: 'idle' });

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
