/**
 * When to send: sender silly window syndrome avoidance and Nagle's algorithm as one pure decision
 * (RFC 9293 §3.8.6.2.1 and §3.7.4).
 */

export interface SendChoice {
  /** D: bytes queued and not yet sent. */
  queued: number;
  /** U: usable window, min(SND.WND, cwnd) minus bytes in flight (may be ≤ 0). */
  usable: number;
  /** Eff.snd.MSS for this segment. */
  mss: number;
  /** Max(SND.WND): the largest window the peer has offered. */
  maxSndWnd: number;
  /** SND.NXT = SND.UNA: nothing is in flight. */
  idle: boolean;
  /** Nagle's algorithm is off (TCP_NODELAY). */
  noDelay: boolean;
  /** The segment would also carry our FIN: the user has pushed everything (Linux skips Nagle here). */
  closing: boolean;
  /** The override timer (persist) fired: send what fits (RFC 9293 §3.8.6.2.1 case 4). */
  force: boolean;
  /**
   * The user holds partial segments back (TCP_CORK, MSG_MORE: src/tcp/push.ts): only a full
   * segment, the one carrying our FIN, or a forced one goes.
   */
  cork?: boolean;
}

/**
 * Bytes to put in the next segment, or 0 to wait.
 *
 * RFC 9293 §3.8.6.2.1: send when
 *  (1) min(D,U) >= Eff.snd.MSS;
 *  (2) [SND.NXT = SND.UNA and] D <= U (all queued data is pushed: we push every send);
 *  (3) [SND.NXT = SND.UNA and] min(D,U) >= Fs * Max(SND.WND), Fs = 1/2;
 *  (4) the override timeout fired.
 * The bracketed "SND.NXT = SND.UNA" is Nagle's algorithm (§3.7.4), waived by noDelay. A cork
 * holds every partial segment but the last before our FIN.
 */
export function bytesToSend(c: SendChoice): number {
  const n = Math.min(c.queued, Math.max(c.usable, 0), c.mss);
  if (n <= 0) return 0;
  if (n === c.mss || c.force) return n;
  if (c.cork && !c.closing) return 0;
  const nagleOk = c.idle || c.noDelay || c.closing;
  if (nagleOk && c.queued <= c.usable) return n;
  if (nagleOk && c.maxSndWnd > 0 && n >= c.maxSndWnd / 2) return n;
  return 0;
}
