/**
 * A connection's state history: the last few state changes with their times, for `tunstack ss
 * -i` and tests, kept as small as it can be because every idle connection carries one.
 *
 * Each change is one number, `round(µs since the connection was created) × 16 + state index`
 * (exact in a double for 17 years of connection life). The first change is kept as that one
 * number (16 bytes boxed; an ESTABLISHED connection idle since its handshake holds just this),
 * later ones in a plain array sized exactly to its contents.
 * The state the connection was created in (SYN_SENT or SYN_RECEIVED, at time 0) is not stored
 * at all: the caller passes it in when the history is read.
 *
 * RFC 9293's state diagram (§3.3.2) has no cycles once a connection exists (LISTEN ⇄
 * SYN_RECEIVED belongs to the listener, which makes a new connection per SYN), so a connection
 * changes state at most six times (SYN_SENT → SYN_RECEIVED → ESTABLISHED → FIN_WAIT_1 → CLOSING
 * → TIME_WAIT → CLOSED). The bound below is a guard, not a limit anything reaches.
 *
 * A change made by a user call (shutdown, close, abort) happens between calls that bring the
 * time, so it is stored with its time unknown (a negative number: −(index + 1)) and stamped by
 * the next call that brings `now` (`stampPending`), normally the stack's dispatch a microtask
 * later.
 */
import { TCP_STATES, type TcpState } from './state.ts';

/** One state change: `at` is ms since the connection was created. */
export interface TcpStateChange {
  state: TcpState;
  at: number;
}

/** The most changes kept; the oldest is dropped first (the creation state is always kept). */
export const MAX_HISTORY = 8;

/** Index ↔ state, for the packed form: TCP_STATES's order is part of the encoding. */
const STATES = TCP_STATES;
const INDEX: Readonly<Record<TcpState, number>> = Object.fromEntries(
  STATES.map((s, i) => [s, i]),
) as Record<TcpState, number>;

/** The packed history: null while in the creation state, one number after one change. */
export type PackedHistory = number | number[] | null;

const pack = (state: TcpState, sinceOpenMs: number): number =>
  Math.round(Math.max(0, sinceOpenMs) * 1000) * 16 + INDEX[state];

/**
 * `h` with the change to `state` appended. `sinceOpenMs` null means "time not known yet" (a user
 * call). A new array each time, exactly as long as its contents: changes are rare, idle is not.
 */
export function appendChange(
  h: PackedHistory,
  state: TcpState,
  sinceOpenMs: number | null,
): PackedHistory {
  const e = sinceOpenMs === null ? -(INDEX[state] + 1) : pack(state, sinceOpenMs);
  if (h === null) return e;
  if (typeof h === 'number') return [h, e];
  const keep = h.length < MAX_HISTORY - 1 ? h : h.slice(h.length - (MAX_HISTORY - 2));
  return [...keep, e];
}

/**
 * `h` with every change whose time was not known given the time `sinceOpenMs` (such changes
 * are always the newest). An array is stamped in place; a lone number is returned anew.
 */
export function stampPending(h: PackedHistory, sinceOpenMs: number): PackedHistory {
  if (h === null) return h;
  if (typeof h === 'number') return h < 0 ? pack(STATES[-h - 1], sinceOpenMs) : h;
  for (let i = h.length - 1; i >= 0 && h[i] < 0; i--) h[i] = pack(STATES[-h[i] - 1], sinceOpenMs);
  return h;
}

/**
 * The history as records: the creation state at 0, then each change. A change still waiting for
 * its time is shown at `nowSinceOpenMs` (the latest time the connection has seen).
 */
export function unpackHistory(
  initial: TcpState,
  h: PackedHistory,
  nowSinceOpenMs: number,
): TcpStateChange[] {
  const out: TcpStateChange[] = [{ state: initial, at: 0 }];
  if (h === null) return out;
  for (const e of typeof h === 'number' ? [h] : h) {
    if (e < 0) out.push({ state: STATES[-e - 1], at: nowSinceOpenMs });
    else {
      const i = e % 16;
      out.push({ state: STATES[i], at: (e - i) / 16 / 1000 });
    }
  }
  return out;
}

/**
 * A history as `SYN_RECEIVED@0ms>ESTABLISHED@0.412ms`: each state with the time it was entered
 * since the connection was created (to the µs, trailing zeros cut). `name` renames states (ss's
 * vocabulary, for instance).
 */
export function formatStateHistory(
  h: readonly { state: string; at: number }[],
  name: (state: string) => string = (s) => s,
): string {
  return h.map((c) => `${name(c.state)}@${Number(c.at.toFixed(3))}ms`).join('>');
}
