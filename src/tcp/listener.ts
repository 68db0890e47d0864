/**
 * Passive open (RFC 9293 §3.10.7.2, LISTEN): a listener turns SYNs into connections in
 * SYN_RECEIVED and queues the ones that complete the handshake for `accept`.
 *
 * Both queues are bounded (named options): a SYN beyond the SYN queue or when the accept queue is
 * full is dropped and counted, so the peer retransmits it later (as Linux does). The listener
 * keeps no timers: its embryonic connections carry their own SYN-ACK retransmission timers, and
 * the stack drives them like any other connection.
 */
import type { TcpRepr } from '../wire/tcp-repr.ts';
import { TcpConnection } from './conn.ts';
import type { TcpConnectionOptions } from './options.ts';
import { resetFor } from './reply.ts';

/** Where initial sequence numbers come from (src/tcp/isn.ts, RFC 6528). */
export interface IsnSource {
  next(
    localAddr: number,
    localPort: number,
    remoteAddr: number,
    remotePort: number,
    nowMs: number,
  ): number;
}

export interface ListenerOptions {
  /** Connections in SYN_RECEIVED at once (Linux tcp_max_syn_backlog is larger; 128 suffices). */
  synBacklog: number;
  /** Established connections waiting for `accept` (the listen(2) backlog). */
  backlog: number;
  /** Options for every connection this listener creates. */
  conn: Partial<TcpConnectionOptions>;
}

export const DEFAULT_LISTENER_OPTIONS: Readonly<ListenerOptions> = Object.freeze({
  synBacklog: 128,
  backlog: 128,
  conn: {},
});

/** What the stack should do with a segment the listener was given. */
export type ListenerVerdict =
  /** A new connection in SYN_RECEIVED: register it under its 4-tuple and dispatch it. */
  | { kind: 'created'; conn: TcpConnection }
  /** Send this reset (an ACK that matches no connection). */
  | { kind: 'reset'; seg: TcpRepr }
  /** Nothing to do; the reason is counted in `stats`. */
  | { kind: 'drop'; reason: string };

export class TcpListener {
  readonly localAddr: number;
  readonly localPort: number;
  readonly options: ListenerOptions;
  readonly #isn: IsnSource;
  /** Connections created from a SYN that have not yet been accepted, oldest first. */
  #embryonic: TcpConnection[] = [];
  #ready: TcpConnection[] = [];
  readonly stats = { syns: 0, created: 0, accepted: 0, drops: {} as Record<string, number> };

  /** `localAddr` 0 listens on every local address. */
  constructor(
    localAddr: number,
    localPort: number,
    isn: IsnSource,
    options: Partial<ListenerOptions> = {},
  ) {
    this.localAddr = localAddr >>> 0;
    this.localPort = localPort;
    this.#isn = isn;
    this.options = { ...DEFAULT_LISTENER_OPTIONS, ...options };
  }

  /** The segment is addressed to this listener's address and port. */
  accepts(dst: number, seg: Pick<TcpRepr, 'dstPort'>): boolean {
    return seg.dstPort === this.localPort && (this.localAddr === 0 || dst >>> 0 === this.localAddr);
  }

  /** RFC 9293 §3.10.7.2: a segment from `src` to `dst` that matched no connection. */
  process(now: number, src: number, dst: number, seg: TcpRepr): ListenerVerdict {
    // First, check for an RST: ignore it.
    if (seg.control === 'rst') return this.#drop('rst');
    // Second, check for an ACK: no connection has this 4-tuple, so it is bad: reset it.
    if (seg.ack !== null) {
      const rst = resetFor(seg);
      return rst === null ? this.#drop('rst') : { kind: 'reset', seg: rst };
    }
    // Third, check for a SYN.
    if (seg.control !== 'syn') return this.#drop('no-syn');
    this.stats.syns++;
    this.#refresh();
    if (this.#embryonic.length >= this.options.synBacklog) {
      return this.#drop('syn-queue-full');
    }
    if (this.#ready.length >= this.options.backlog) {
      return this.#drop('accept-queue-full');
    }
    const tuple = {
      localAddr: dst >>> 0,
      localPort: seg.dstPort,
      remoteAddr: src >>> 0,
      remotePort: seg.srcPort,
    };
    const iss = this.#isn.next(
      tuple.localAddr,
      tuple.localPort,
      tuple.remoteAddr,
      tuple.remotePort,
      now,
    );
    const conn = TcpConnection.accept(tuple, iss, now, seg, this.options.conn);
    this.#embryonic.push(conn);
    this.stats.created++;
    return { kind: 'created', conn };
  }

  /** The oldest connection that completed the handshake, or null. */
  accept(): TcpConnection | null {
    this.#refresh();
    const conn = this.#ready.shift() ?? null;
    if (conn !== null) this.stats.accepted++;
    return conn;
  }

  /** Connections ready for `accept`. */
  get pending(): number {
    this.#refresh();
    return this.#ready.length;
  }

  /** Connections still in the handshake. */
  get handshaking(): number {
    this.#refresh();
    return this.#embryonic.length;
  }

  /**
   * Stop listening: every connection not yet accepted is aborted (RST once dispatched) and
   * returned, so the stack can send its reset and forget it.
   */
  close(): TcpConnection[] {
    const all = [...this.#ready, ...this.#embryonic];
    this.#ready = [];
    this.#embryonic = [];
    for (const c of all) c.abort();
    return all;
  }

  /** Move connections that reached ESTABLISHED (or beyond) to the accept queue; forget dead ones. */
  #refresh(): void {
    const still: TcpConnection[] = [];
    for (const c of this.#embryonic) {
      if (c.state === 'SYN_RECEIVED') still.push(c);
      else if (c.state !== 'CLOSED') this.#ready.push(c);
    }
    this.#embryonic = still;
  }

  #drop(reason: string): ListenerVerdict {
    this.stats.drops[reason] = (this.stats.drops[reason] ?? 0) + 1;
    return { kind: 'drop', reason };
  }
}
