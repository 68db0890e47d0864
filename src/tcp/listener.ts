/**
 * Passive open (RFC 9293 §3.10.7.2, LISTEN): a listener turns SYNs into connections in
 * SYN_RECEIVED and queues the ones that complete the handshake for `accept`.
 *
 * Both queues are bounded (named options): a SYN beyond the SYN queue or when the accept queue is
 * full is dropped and counted, so the peer retransmits it later (as Linux does). The listener
 * keeps no timers: its embryonic connections carry their own SYN-ACK retransmission timers, and
 * the stack drives them like any other connection.
 *
 * SYN cookies (RFC 4987 §3.6, src/tcp/syncookie.ts), as Linux's tcp_syncookies: with mode 1 a SYN
 * that finds the SYN queue full, with mode 2 every SYN, is answered by a SYN-ACK whose ISS is a
 * cookie, and nothing is kept. An ACK that matches no connection and brings back a valid cookie
 * (SEG.ACK − 1) makes the connection then, already past its SYN-ACK; processing that ACK on it
 * makes it ESTABLISHED. Cookies are checked only while this listener has sent one within their
 * lifetime (Linux's tcp_synq_no_recent_overflow), so ACKs to a listener that was never flooded
 * cost no hashing.
 */
import { TCP_MAX_WINDOW_SCALE } from '../wire/tcp.ts';
import { NO_OPTIONS, type TcpOptions, type TcpRepr, type TcpTimestamp } from '../wire/tcp-repr.ts';
import { addrNum, IPV6_ID_BASE } from './address.ts';
import { TcpConnection, tsClock } from './conn.ts';
import { acceptsEcn } from './ecn.ts';
import { DEFAULT_PEER_MSS, MAX_WINDOW_FIELD, windowShiftFor } from './handshake.ts';
import { sharedOptions, type TcpConnectionOptions } from './options.ts';
import { resetFor } from './reply.ts';
import { seqAdd } from './seq.ts';
import {
  COOKIE_MSS_TABLE,
  cookieMssIndex,
  cookieTsOptions,
  cookieTsVal,
  MAX_COOKIE_AGE,
  newSynCookieStats,
  type SynCookieMode,
  type SynCookieStats,
  SynCookies,
} from './syncookie.ts';

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
  /**
   * Connections in SYN_RECEIVED at once (Linux's tcp_max_syn_backlog: 2 048 on this project's
   * machines). Past it, SYN cookies (or drops, with cookies off). Not smaller: a cookie connection
   * whose handshake ACK and first data segment are both lost can only be reset (its ISN is checked
   * against SEG.SEQ − 1), so a burst of ordinary connections should not need cookies.
   */
  synBacklog: number;
  /** Established connections waiting for `accept` (the listen(2) backlog). */
  backlog: number;
  /** Options for every connection this listener creates. */
  conn: Partial<TcpConnectionOptions>;
  /**
   * Options for connections from IPv6 peers (src ≥ IPV6_ID_BASE, src/tcp/address.ts): the same
   * but for the MSS, 20 bytes smaller behind IPv6's 40-byte header. Absent: `conn`.
   */
  conn6?: Partial<TcpConnectionOptions>;
  /** SYN cookies: 0 never, 1 when the SYN queue is full, 2 always (Linux tcp_syncookies). */
  synCookies: SynCookieMode;
}

export const DEFAULT_LISTENER_OPTIONS: Readonly<ListenerOptions> = Object.freeze({
  synBacklog: 1024,
  backlog: 128,
  conn: {},
  synCookies: 1,
});

/** Why a listener dropped a segment (counted in stats.drops and the layer's listenerDrops). */
export type ListenerDropReason = 'rst' | 'no-syn' | 'syn-queue-full' | 'accept-queue-full';

/** What the stack should do with a segment the listener was given. */
export type ListenerVerdict =
  /** A new connection in SYN_RECEIVED: register it under its 4-tuple and dispatch it. */
  | { kind: 'created'; conn: TcpConnection }
  /** Send this SYN-ACK, whose ISS is a cookie; nothing was kept. */
  | { kind: 'synack'; seg: TcpRepr }
  /**
   * A valid cookie ACK made this connection (SYN_RECEIVED, its SYN-ACK already sent): register it
   * under its 4-tuple, then process `seg` (the ACK) on it and dispatch it.
   */
  | { kind: 'cookie'; conn: TcpConnection; seg: TcpRepr }
  /** Send this reset (an ACK that matches no connection). */
  | { kind: 'reset'; seg: TcpRepr }
  /** Nothing to do; the reason is counted in `stats`. */
  | { kind: 'drop'; reason: ListenerDropReason };

export class TcpListener {
  readonly localAddr: number;
  readonly localPort: number;
  readonly options: ListenerOptions;
  readonly #isn: IsnSource;
  /** Connections created from a SYN that have not yet been accepted, oldest first. */
  #embryonic: TcpConnection[] = [];
  #ready: TcpConnection[] = [];
  readonly stats = {
    syns: 0,
    created: 0,
    accepted: 0,
    drops: {} as Partial<Record<ListenerDropReason, number>>,
  };
  /** SyncookiesSent/Recv/Failed, as nstat names them (shared with the stack's TCP layer). */
  readonly cookieStats: SynCookieStats;
  #cookies: SynCookies | null;
  /** When this listener last sent a cookie (ms), or null: cookies are checked only after one. */
  #lastCookieAt: number | null = null;
  /** When a SYN last walked the SYN queue (#refreshForSyn). */
  #refreshedAt = Number.NEGATIVE_INFINITY;

  /**
   * `localAddr` 0 listens on every local address. `cookies` makes and checks SYN cookies (one with
   * a random secret is made when the first is needed); `cookieStats` receives their counters.
   */
  constructor(
    localAddr: number,
    localPort: number,
    isn: IsnSource,
    options: Partial<ListenerOptions> = {},
    cookies?: SynCookies,
    cookieStats?: SynCookieStats,
  ) {
    this.localAddr = addrNum(localAddr);
    this.localPort = localPort;
    this.#isn = isn;
    this.options = { ...DEFAULT_LISTENER_OPTIONS, ...options };
    this.#cookies = cookies ?? null;
    this.cookieStats = cookieStats ?? newSynCookieStats();
  }

  /** The connection options for a peer at `src`: IPv6 ones have their own (the MSS). */
  #connFor(src: number): Partial<TcpConnectionOptions> {
    const o = this.options;
    return src >= IPV6_ID_BASE && o.conn6 !== undefined ? o.conn6 : o.conn;
  }

  /** The segment is addressed to this listener's address and port. */
  accepts(dst: number, seg: Pick<TcpRepr, 'dstPort'>): boolean {
    return (
      seg.dstPort === this.localPort && (this.localAddr === 0 || addrNum(dst) === this.localAddr)
    );
  }

  /**
   * RFC 9293 §3.10.7.2: a segment from `src` to `dst` that matched no connection. `cookieOnly`:
   * a SYN is answered with a cookie whatever the queue holds (mode 2 for this segment), for a
   * caller that can hold no state for its source (the stack's IPv6 peer table near its bound).
   */
  process(
    now: number,
    src: number,
    dst: number,
    seg: TcpRepr,
    cookieOnly = false,
  ): ListenerVerdict {
    // First, check for an RST: ignore it.
    if (seg.control === 'rst') return this.#drop('rst');
    // Second, check for an ACK: no connection has this 4-tuple, so it is bad (reset it), unless
    // it completes a handshake we answered with a cookie.
    if (seg.ack !== null) {
      if (seg.control !== 'syn' && this.#cookiesRecent(now)) {
        const v = this.#fromCookie(now, src, dst, seg);
        if (v !== null) return v;
      }
      const rst = resetFor(seg);
      return rst === null ? this.#drop('rst') : { kind: 'reset', seg: rst };
    }
    // Third, check for a SYN.
    if (seg.control !== 'syn') return this.#drop('no-syn');
    this.stats.syns++;
    this.#refreshForSyn(now);
    const mode = cookieOnly && this.options.synCookies !== 0 ? 2 : this.options.synCookies;
    const synQueueFull = this.#embryonic.length >= this.options.synBacklog;
    // The accept queue bounds cookie connections too: Linux drops a SYN while it is full.
    if (this.#ready.length >= this.options.backlog) {
      return this.#drop('accept-queue-full');
    }
    if (mode === 2 || (mode === 1 && synQueueFull)) return this.#cookieSynAck(now, src, dst, seg);
    if (synQueueFull) return this.#drop('syn-queue-full');
    const tuple = {
      localAddr: addrNum(dst),
      localPort: seg.dstPort,
      remoteAddr: addrNum(src),
      remotePort: seg.srcPort,
    };
    const iss = this.#isn.next(
      tuple.localAddr,
      tuple.localPort,
      tuple.remoteAddr,
      tuple.remotePort,
      now,
    );
    const conn = TcpConnection.accept(tuple, iss, now, seg, this.#connFor(tuple.remoteAddr));
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

  /**
   * Move connections that reached ESTABLISHED (or beyond) to the accept queue; forget dead ones.
   * In place: this runs for every SYN, and a flood keeps the SYN queue full.
   */
  #refresh(): void {
    const e = this.#embryonic;
    let keep = 0;
    for (let i = 0; i < e.length; i++) {
      const c = e[i];
      if (c.state === 'SYN_RECEIVED') e[keep++] = c;
      else if (c.state !== 'CLOSED') this.#ready.push(c);
    }
    e.length = keep;
  }

  /**
   * #refresh for a SYN. A flood keeps the SYN queue full, and walking all of it for every SYN
   * cost more than the cookie itself (8 % of the stack's CPU under hping3 --flood): while the
   * queue is full it is walked at most once per ms. Its entries leave it by completing the
   * handshake or timing out, so a ms late is soon enough; accept(), pending and handshaking
   * always walk it.
   */
  #refreshForSyn(now: number): void {
    if (this.#embryonic.length >= this.options.synBacklog && now - this.#refreshedAt < 1) return;
    this.#refresh();
    this.#refreshedAt = now;
  }

  /** A cookie sent by this listener may still be valid: ACKs are worth checking. */
  #cookiesRecent(now: number): boolean {
    const last = this.#lastCookieAt;
    if (last === null || this.#cookies === null) return false;
    return now - last < MAX_COOKIE_AGE * this.#cookies.periodMs;
  }

  /**
   * The stateless SYN-ACK: ISS a cookie carrying the peer's MSS (rounded down to the table);
   * with timestamps on both sides, the peer's window scale and SACK-permitted ride in our TSval's
   * low bits and the SYN-ACK offers them as usual; without, it offers MSS only (as Linux).
   * ECN rides there too (RFC 3168 §6.1.1: the SYN-ACK says ECE when we accept the SYN's ask);
   * without timestamps the cookie cannot carry it, and the SYN-ACK does not agree to it.
   */
  #cookieSynAck(now: number, src: number, dst: number, syn: TcpRepr): ListenerVerdict {
    this.#cookies ??= new SynCookies();
    const o = sharedOptions(this.#connFor(src));
    const peer = syn.options;
    const mssIndex = cookieMssIndex(peer.mss ?? DEFAULT_PEER_MSS);
    const iss = this.#cookies.make(dst, syn.dstPort, src, syn.srcPort, syn.seq, mssIndex, now);
    let options: TcpOptions = { ...NO_OPTIONS, mss: o.mss };
    let ecn = false;
    if (o.timestamps && peer.timestamp !== null) {
      const scale =
        o.windowScale && peer.windowScale !== null
          ? Math.min(peer.windowScale, TCP_MAX_WINDOW_SCALE)
          : null;
      const sack = o.sack && peer.sackPermitted;
      ecn = acceptsEcn(o.ecn ?? 2, syn);
      const tsVal = cookieTsVal(tsClock(now, iss), scale, sack, ecn);
      options = {
        mss: o.mss,
        windowScale: scale === null ? null : windowShiftFor(o.rcvBuf),
        sackPermitted: sack,
        sackBlocks: NO_OPTIONS.sackBlocks,
        timestamp: { tsVal, tsEcr: peer.timestamp.tsVal },
      };
    }
    this.#lastCookieAt = now;
    this.cookieStats.SyncookiesSent++;
    return {
      kind: 'synack',
      seg: {
        srcPort: syn.dstPort,
        dstPort: syn.srcPort,
        control: 'syn',
        psh: false,
        urg: false,
        ece: ecn,
        cwr: false,
        seq: iss,
        ack: seqAdd(syn.seq, 1),
        // The window in a SYN-ACK is never scaled (RFC 7323 §2.2), as TcpConnection sends it.
        window: Math.min(o.rcvBuf, MAX_WINDOW_FIELD),
        urgentPointer: 0,
        options,
        payload: EMPTY,
      },
    };
  }

  /**
   * An ACK that matched no connection: if SEG.ACK − 1 is a cookie of ours for this 4-tuple and
   * SEG.SEQ − 1, the connection it stands for (null otherwise: the caller resets, as for any bad
   * ACK). The SYN is rebuilt from the cookie: MSS from the table and, if the ACK carries
   * timestamps, window scale and SACK-permitted from its TSecr (our TSval echoed).
   */
  #fromCookie(now: number, src: number, dst: number, seg: TcpRepr): ListenerVerdict | null {
    const cookies = this.#cookies as SynCookies;
    const iss = ((seg.ack as number) - 1) >>> 0;
    const peerIsn = (seg.seq - 1) >>> 0;
    const mssIndex = cookies.check(dst, seg.dstPort, src, seg.srcPort, peerIsn, iss, now);
    if (mssIndex < 0) {
      this.cookieStats.SyncookiesFailed++;
      return null;
    }
    const o = sharedOptions(this.#connFor(src));
    const ts = seg.options.timestamp;
    let windowScale: number | null = null;
    let sackPermitted = false;
    let ecn = false;
    let timestamp: TcpTimestamp | null = null;
    if (ts !== null && o.timestamps) {
      const carried = cookieTsOptions(ts.tsEcr);
      // Options we would not have offered: not a SYN-ACK of ours (Linux refuses these too).
      if (
        (carried.windowScale !== null && !o.windowScale) ||
        (carried.sackPermitted && !o.sack) ||
        (carried.ecn && (o.ecn ?? 2) === 0)
      ) {
        this.cookieStats.SyncookiesFailed++;
        return null;
      }
      windowScale = carried.windowScale;
      sackPermitted = carried.sackPermitted;
      ecn = carried.ecn;
      timestamp = { tsVal: ts.tsVal, tsEcr: 0 };
    }
    this.cookieStats.SyncookiesRecv++;
    this.#refresh();
    if (this.#ready.length >= this.options.backlog) return this.#drop('accept-queue-full');
    const syn: TcpRepr = {
      srcPort: seg.srcPort,
      dstPort: seg.dstPort,
      control: 'syn',
      psh: false,
      urg: false,
      // The SYN asked for ECN if our cookie says we agreed (a SYN-ACK with ECE).
      ece: ecn,
      cwr: ecn,
      seq: peerIsn,
      ack: null,
      window: seg.window,
      urgentPointer: 0,
      options: {
        mss: COOKIE_MSS_TABLE[mssIndex],
        windowScale,
        sackPermitted,
        sackBlocks: [],
        timestamp,
      },
      payload: EMPTY,
    };
    const tuple = {
      localAddr: addrNum(dst),
      localPort: seg.dstPort,
      remoteAddr: addrNum(src),
      remotePort: seg.srcPort,
    };
    const conn = TcpConnection.fromCookie(tuple, iss, now, syn, this.#connFor(tuple.remoteAddr));
    // Through the SYN queue like any handshake: the ACK makes it ESTABLISHED, and #refresh moves
    // it to the accept queue.
    this.#embryonic.push(conn);
    this.stats.created++;
    return { kind: 'cookie', conn, seg };
  }

  #drop(reason: ListenerDropReason): ListenerVerdict {
    this.stats.drops[reason] = (this.stats.drops[reason] ?? 0) + 1;
    return { kind: 'drop', reason };
  }
}

const EMPTY = new Uint8Array(0);
