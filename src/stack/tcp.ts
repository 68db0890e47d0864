/**
 * The TCP layer of the stack: where the deterministic core (src/tcp) meets the clock, the timer
 * queue and IP.
 *
 *   segment in ──► demux by 4-tuple ──► conn.process(now, seg) ──┐
 *              └─► listener by port ──► new conn (SYN_RECEIVED) ─┤
 *              └─► neither: RST (RFC 9293 §3.10.7.1), counted    │
 *   user call (TcpHandle.send/shutdown/…) ───────────────────────┤
 *   the connection's Timer fires ────────────────────────────────┤
 *                                                                ▼
 *                       service(h): dispatch(now) until null ──► stack.sendTcp ──► IP ──► link
 *                                   takeEvents() ──► the owner (the socket layer), AFTER the core
 *                                   pollAt() ──► h.schedule (the handle is its own Timer)
 *
 * Input and timers are serviced at once, and the stack flushes the link at the end of each
 * received batch and after each run of timers. User calls only change the core: the handle is
 * serviced once per tick, in a microtask (TcpLayer.poke), so that a burst of writes is cut into
 * as few segments as fit, and then the link is flushed once (stack.requestFlush).
 *
 * Events are delivered after the core call that produced them has returned (STYLE.md, "events
 * after, never during"), so an owner may call its handle from an event handler: nothing
 * recurses into the core, and `service` is never re-entered for one handle.
 *
 * Layering: this file is src/stack; the socket layer (src/api/net.ts) registers owners here and
 * never touches TcpConnection itself.
 */

import type { IcmpErrorReport } from '../icmp/icmp.ts';
import type { Icmp6ErrorReport } from '../icmp/icmp6.ts';
import { TokenBucket } from '../icmp/token-bucket.ts';
import { addrNum, IPV6_ID_BASE } from '../tcp/address.ts';
import type { CongestionName } from '../tcp/congestion/index.ts';
import { TcpConnection } from '../tcp/conn.ts';
import type { IcmpErrorCode, TcpEvent } from '../tcp/events.ts';
import type { TcpStateChange } from '../tcp/history.ts';
import { IsnGenerator } from '../tcp/isn.ts';
import type { IsnSource, ListenerDropReason } from '../tcp/listener.ts';
import { TcpListener } from '../tcp/listener.ts';
import type { TcpConnectionOptions } from '../tcp/options.ts';
import { mssFromMtu, resolveOptions } from '../tcp/options.ts';
import { resetFor } from '../tcp/reply.ts';
import { seqGeq, seqLt } from '../tcp/seq.ts';
import type { TcpState } from '../tcp/state.ts';
import {
  newSynCookieStats,
  type SynCookieMode,
  type SynCookieStats,
  SynCookies,
} from '../tcp/syncookie.ts';
import {
  reuseIsn,
  type TimeWaitDropReason,
  type TimeWaitEntry,
  timeWaitAck,
  timeWaitInput,
} from '../tcp/time-wait.ts';
import { UnreachCode } from '../wire/icmp.ts';
import { Icmpv6Type, Unreach6Code } from '../wire/icmpv6.ts';
import { formatIpv4, IpProtocol } from '../wire/ipv4.ts';
import { formatIpv6, IPV6_HEADER_LEN, Ipv6Next, Ipv6View } from '../wire/ipv6.ts';
import { emitTcp6 } from '../wire/tcp.ts';
import type { TcpRepr } from '../wire/tcp-repr.ts';
import { Ipv6Peers } from './addr6.ts';
import {
  type AnyListenOptions,
  type AnyListenStats,
  DEFAULT_ANY_LISTEN_OPTIONS,
  type HeldSyn,
  HeldSyns,
  newAnyListenStats,
} from './held-syn.ts';
import { type PathMtuKey, pmtuKey6 } from './pmtu.ts';
import type { Stack } from './stack.ts';
import { Timer } from './timers.ts';

export interface TcpLayerOptions {
  /**
   * Connections in the table at once, TIME_WAIT and handshaking ones included. When full, the
   * oldest TIME_WAIT connection is forgotten early (as Linux's tcp_max_tw_buckets); failing
   * that, SYNs are dropped and active opens fail with ENOBUFS.
   */
  maxConnections: number;
  /** Ephemeral ports for active opens, inclusive (RFC 6335 §6: 49152–65535). */
  ephemeralLow: number;
  ephemeralHigh: number;
  /** SYN_RECEIVED connections per listener (see ListenerOptions.synBacklog). */
  synBacklog: number;
  /**
   * SYN cookies (RFC 4987 §3.6; src/tcp/syncookie.ts), as Linux's net.ipv4.tcp_syncookies: 0
   * never (a SYN that finds the SYN queue full is dropped), 1 when a listener's SYN queue is full,
   * 2 for every SYN. Counters: SyncookiesSent, SyncookiesRecv, SyncookiesFailed.
   */
  synCookies: SynCookieMode;
  /**
   * RSTs sent for segments that reach no connection (closed ports, a listener's bad ACKs): at
   * most this many per second, with a burst of as many, so that a flood of junk to closed ports
   * costs one answer per token, not one per packet. Linux answers each one; BSD limits them
   * (net.inet.icmp.icmplim covers its RSTs too). 0: unlimited.
   */
  resetsPerSecond: number;
  /**
   * Options for every connection; `mss` defaults to the stack's MTU − 40, and over IPv6 is at
   * most MTU − 60 (its header is 20 bytes longer).
   */
  conn: Partial<TcpConnectionOptions>;
  /**
   * IPv6 peers the connection table refers to at once (src/stack/addr6.ts: each gets a number for
   * the core's 4-tuples). Past it, a segment from a new IPv6 peer is dropped (`ipv6PeersFull`)
   * and an active open fails with ENOBUFS. The table bounds it too: one peer per connection.
   */
  maxIpv6Peers: number;
  /**
   * The share of `maxIpv6Peers` kept for peers that complete a handshake through a SYN cookie
   * (0 to 1; floor(share · maxIpv6Peers) ids). Once the others are held, a SYN from a new IPv6
   * peer to our address takes no id: a listener answers it with a cookie SYN-ACK (as when its SYN
   * queue is full), a closed port with a reset (`ipv6PeersHeadroom` counts them), so that
   * embryonic connections from spoofed sources cannot fill the table and lock new clients out;
   * the ACK bringing the cookie back takes an id from the headroom. Listeners with `synCookies`
   * 0 get no headroom: their SYNs take ids until `maxIpv6Peers`, then are dropped.
   */
  ipv6PeerHeadroom: number;
  /** RFC 6528 ISN secret; random when omitted (simulations pass one to be reproducible). */
  isnSecret?: Uint8Array;
}

export const DEFAULT_TCP_LAYER_OPTIONS: Readonly<Omit<TcpLayerOptions, 'isnSecret'>> =
  Object.freeze({
    maxConnections: 16_384,
    ephemeralLow: 49_152,
    ephemeralHigh: 65_535,
    synBacklog: 1024,
    synCookies: 1,
    resetsPerSecond: 2000,
    conn: {},
    maxIpv6Peers: 16_384,
    ipv6PeerHeadroom: 0.25,
  });

/**
 * What the TCP layer counts, beside the stack's own rx/tx/drop counters in stack.stats.tcp. The
 * SYN cookie counters (SyncookiesSent, SyncookiesRecv, SyncookiesFailed) keep nstat's names.
 */
export interface TcpLayerStats extends SynCookieStats {
  activeOpens: number;
  passiveOpens: number;
  /** Connections handed to a listener's owner. */
  accepted: number;
  /** Segments for a port with no connection and no listener. */
  noPort: number;
  /** RSTs sent for segments that reached no connection (closed port, or a listener's bad ACK). */
  resetsSent: number;
  /** Such RSTs not sent because `resetsPerSecond` was used up. */
  resetsRateLimited: number;
  /** SYNs dropped because the connection table was full. */
  tableFull: number;
  /** Segments from a new IPv6 peer dropped because `maxIpv6Peers` peers were held. */
  ipv6PeersFull: number;
  /**
   * SYNs from a new IPv6 peer that took no id (answered by a cookie SYN-ACK, or a reset for a
   * closed port) because the peers held had reached the headroom (`ipv6PeerHeadroom`).
   */
  ipv6PeersHeadroom: number;
  /** TIME_WAIT connections forgotten early to make room. */
  timeWaitEvicted: number;
  /**
   * TIME_WAIT connections swapped for a compact entry (src/tcp/time-wait.ts) once nothing was
   * left for their owner: the TcpConnection and its handle are let go.
   */
  timeWaitSlim: number;
  /** SYNs that met a TIME_WAIT entry and opened a new connection (RFC 6191). */
  timeWaitReused: number;
  /** Segments a TIME_WAIT entry dropped unanswered, by reason ('paws', 'ack-limited', …). */
  timeWaitDrops: Partial<Record<TimeWaitDropReason, number>>;
  /** Segments a listener dropped, by reason ('syn-queue-full', 'no-syn', …). */
  listenerDrops: Partial<Record<ListenerDropReason, number>>;
  /** Segments IP refused to send (larger than the MTU: a bug, since MSS follows the MTU). */
  txRefused: number;
  /** Exceptions thrown by owners' event handlers (rethrown asynchronously, as Node would). */
  ownerErrors: number;
  /** service() stopped at MAX_SERVICE_TURNS and left the rest to a microtask later. */
  serviceTurnsBound: number;
  /** service() stopped at MAX_SEGMENTS_PER_SERVICE segments and left the rest for later. */
  serviceSegmentsBound: number;
  /**
   * ICMP and ICMPv6 errors quoting a TCP segment of ours (RFC 5927 §4.1 checks them first):
   * quoting no connection (or a TIME_WAIT one), quoting a sequence number outside
   * [SND.UNA, SND.MAX) (forged, or about long-acknowledged data), both dropped; believed.
   */
  icmpNoConnection: number;
  icmpOutOfWindow: number;
  icmpAccepted: number;
  /**
   * Path MTU discovery: connections whose send MSS an ICMP "fragmentation needed" or Packet
   * Too Big lowered; those that then resent their flight at the new size (no congestion
   * response). Soft errors (net or host unreachable): remembered by the connection, which goes
   * on and, should it time out, reports them instead of ETIMEDOUT, as Linux's sk_err_soft.
   */
  pmtuMssLowered: number;
  pmtuResends: number;
  icmpSoftErrors: number;
  /** Hard unreachables (port, protocol, prohibited): they end an open in SYN_SENT. */
  icmpHardErrors: number;
  /** The wildcard listener's counters (listenAny; all zero without one). */
  any: AnyListenStats;
}

/**
 * The owner of the wildcard listener (listenAny): told of each SYN to an address other than the
 * stack's own that matches no connection, held until it decides (src/stack/held-syn.ts).
 */
export interface TcpAnyOwner {
  syn(syn: HeldSyn<TcpHandle>): void;
}

/** The socket layer's side of one connection. */
export interface TcpOwner {
  /** One event of the connection, delivered after the core call that produced it returned. */
  tcpEvent(handle: TcpHandle, event: TcpEvent): void;
}

/** The socket layer's side of one listener. */
export interface TcpListenOwner {
  /**
   * A connection completed its handshake. Return its owner, or null to refuse it (it is reset).
   * No user code should run here: the handle has no owner until this returns.
   */
  accept(handle: TcpHandle): TcpOwner | null;
  /**
   * The owner is attached: now tell the user (net.Server emits 'connection' here). Events that
   * arrived with the handshake (data, even a FIN) follow at once.
   */
  accepted?(owner: TcpOwner): void;
}

/** One row of `stack.connections()`, after `ss -tan` (src/cli/ss.ts prints them). */
export interface TcpConnectionRow {
  state: TcpState;
  /** "address:port"; a listener on every address shows "0.0.0.0:port". */
  local: string;
  /** "address:port", or "*:*" for a listener. */
  remote: string;
  /** Bytes queued to send (unsent and unacknowledged); for a listener, the backlog. */
  sendQ: number;
  /** Bytes received and not yet read; for a listener, connections waiting for accept. */
  recvQ: number;
  /** Smoothed RTT, ms, or null before the first sample. */
  srtt: number | null;
  rto: number;
  cwnd: number;
  retransmits: number;
  /**
   * How loss was repaired: retransmission timeouts, fast recoveries, tail loss probes, and
   * retransmissions found lost again (absent for a TIME_WAIT entry).
   */
  recovery?: {
    timeouts: number;
    recoveries: number;
    tailLossProbes: number;
    recoveryProbes: number;
    lostRetransmits: number;
  };
  bytesSent: number;
  bytesReceived: number;
  /** Segments sent and received on this connection (retransmissions and pure ACKs included). */
  segsSent: number;
  segsReceived: number;
  /** The peer's window (SND.WND, scaled) and the window we last offered (RCV.WND), bytes. */
  sndWnd: number;
  rcvWnd: number;
  /** The congestion controller ('reno', 'cubic'); null for a listener. */
  congestion: CongestionName | null;
  /**
   * The send MSS in force: payload per full segment, options taken off (ss's `mss`), which path
   * MTU discovery lowers; and the path MTU to the peer (ss's `pmtu`): the link's, or what an
   * ICMP error taught (src/stack/pmtu.ts). Absent for listeners and TIME_WAIT entries.
   */
  mss?: number;
  pmtu?: number;
  /** State changes, ms since the connection was created, oldest first (TcpConnection.stateHistory). */
  history: TcpStateChange[];
  /**
   * Present when the SYNs agreed on ECN (RFC 3168; src/tcp/ecn.ts): CE-marked data segments
   * received, ACKs with ECE received, cwnd reductions for them, CWRs sent.
   */
  ecn?: TcpEcnCounts;
}

/** A connection's ECN counters (TcpConnectionRow.ecn). */
export interface TcpEcnCounts {
  ceReceived: number;
  eceReceived: number;
  cwndReduced: number;
  cwrSent: number;
}

/**
 * One connection as the socket layer sees it: the user calls of RFC 9293 §3.10 (SEND, RECEIVE,
 * CLOSE, ABORT and the options), each followed by servicing the connection (output, timer,
 * events) a microtask later. The socket layer makes no other call on the core.
 */
export class TcpHandle extends Timer {
  owner: TcpOwner | null = null;
  /** The listener's port for a passive open not yet accepted, else -1. */
  listenPort: number;
  /** Inside service(): a nested service only marks `again` (a refused accept, say). */
  busy = false;
  again = false;
  /** Still in the table. */
  inTable = true;
  /** Waiting for the layer's microtask service after user calls (TcpLayer.poke). */
  dirty = false;

  constructor(
    private readonly layer: TcpLayer,
    readonly conn: TcpConnection,
    listenPort: number,
  ) {
    // The handle is the connection's timer in the stack's one queue (src/stack/timers.ts).
    super(layer.stack.timers);
    this.listenPort = listenPort;
  }

  /** @internal The connection's deadline came: service it (retransmit, delayed ACK, …). */
  override fire(): void {
    this.layer.service(this);
  }

  get state(): TcpState {
    return this.conn.state;
  }
  get localAddr(): number {
    return this.conn.localAddr;
  }
  get localPort(): number {
    return this.conn.localPort;
  }
  get remoteAddr(): number {
    return this.conn.remoteAddr;
  }
  get remotePort(): number {
    return this.conn.remotePort;
  }
  /** Bytes `send` would accept now. */
  get sendRoom(): number {
    return this.conn.sendRoom;
  }

  /**
   * Queue bytes; returns how many the send buffer took (a 'drain' event follows a short count).
   * `more`: MSG_MORE, the partial segment waits for more (src/tcp/push.ts).
   */
  send(data: Uint8Array, more = false): number {
    const n = this.conn.send(data, more);
    this.layer.poke(this);
    return n;
  }
  /** Half-close: FIN after the queued data. */
  shutdown(): void {
    this.conn.shutdown();
    this.layer.poke(this);
  }
  /** Full close; the layer keeps driving the connection until it is over (orphaned). */
  close(): void {
    this.owner = null;
    this.conn.close();
    this.layer.poke(this);
  }
  /** RST (where the state calls for one) and forget. */
  abort(): void {
    this.owner = null;
    this.conn.abort();
    this.layer.poke(this);
  }
  setFlowing(flowing: boolean): void {
    this.conn.setFlowing(flowing);
    if (flowing) this.layer.poke(this); // held data comes out as events, and the window opens
  }
  /** Take up to `max` held bytes (paused mode), or null; the window reopens as they go. */
  recv(max?: number): Uint8Array | null {
    const data = this.conn.recv(max);
    if (data !== null) this.layer.poke(this);
    return data;
  }
  /** Bytes the core holds for `recv` (paused), even after the connection has closed. */
  get heldBytes(): number {
    return this.conn.heldBytes;
  }
  setNoDelay(noDelay: boolean): void {
    this.conn.setNoDelay(noDelay);
    this.layer.poke(this);
  }
  /** TCP_CORK: partial segments wait until uncorked (src/tcp/push.ts). */
  setCork(on: boolean): void {
    this.conn.setCork(on);
    this.layer.poke(this);
  }
  setKeepAlive(enable: boolean, idleMs?: number): void {
    this.conn.setKeepAlive(enable, idleMs);
    this.layer.poke(this);
  }
}

/** The wildcard listener (TcpLayer.listenAny): its owner, connection options and held SYNs. */
interface AnyListener {
  owner: TcpAnyOwner;
  conn: Partial<TcpConnectionOptions>;
  held: HeldSyns<TcpHandle>;
}

/** The families a listener takes: both (a dual-stack socket on '::'), IPv4 only, IPv6 only. */
export type ListenFamily = 'both' | 4 | 6;

interface ListenEntry {
  listener: TcpListener;
  owner: TcpListenOwner;
  family: ListenFamily;
  /** "Sending cookies" was logged for this listener (once, as Linux's synflood_warned). */
  floodLogged: boolean;
}

/**
 * A port's listeners by the family of the peers they take: one entry in both places for a
 * dual-stack listener ('::'), or up to two of one family each, as Linux lets a '0.0.0.0' socket
 * and an IPV6_V6ONLY '::' one share a port. A family with none finds no listener (RST).
 */
interface ListenSlot {
  v4: ListenEntry | null;
  v6: ListenEntry | null;
}

const TWO_16 = 0x1_0000;

/**
 * What a destination unreachable means to a TCP connection, by code, as Linux's
 * icmp_err_convert (IPv4) and tab_unreach (IPv6): the error, and whether it is hard (it ends a
 * connection in SYN_SENT). Codes Linux reports as EHOSTDOWN or ENONET read EHOSTUNREACH here.
 */
const SOFT_HOST = ['EHOSTUNREACH', false] as const;
const UNREACH_TCP: Readonly<Record<number, readonly [IcmpErrorCode, boolean]>> = {
  0: ['ENETUNREACH', false],
  1: SOFT_HOST,
  2: ['ENOPROTOOPT', true],
  3: ['ECONNREFUSED', true],
  6: ['ENETUNREACH', true],
  7: ['EHOSTUNREACH', true],
  8: ['EHOSTUNREACH', true],
  9: ['ENETUNREACH', true],
  10: ['EHOSTUNREACH', true],
  11: ['ENETUNREACH', false],
  12: SOFT_HOST,
  13: ['EHOSTUNREACH', true],
  14: ['EHOSTUNREACH', true],
  15: ['EHOSTUNREACH', true],
};
const UNREACH6_TCP: Readonly<Record<number, readonly [IcmpErrorCode, boolean]>> = {
  0: ['ENETUNREACH', false],
  1: ['EACCES', true],
  2: SOFT_HOST,
  3: SOFT_HOST,
  4: ['ECONNREFUSED', true],
  5: ['EACCES', true],
  6: ['EACCES', true],
};

/** IPv4 and TCP headers without options (RFC 9293 §3.7.1), and IPv6's (RFC 8200 §5). */
const IPV4_TCP_HEADERS = 40;
const IPV6_TCP_HEADERS = 60;

/** Bound on service()'s send-then-deliver loop for one handle (owners calling back). */
const MAX_SERVICE_TURNS = 1000;
/** Bound on the segments one service() turn sends (a window's burst is far smaller). */
const MAX_SEGMENTS_PER_SERVICE = 16_384;

/**
 * The key of an end (address and port): 48 bits for IPv4, and below 2^53 for the IPv6 ids
 * (IPV6_ID_BASE + at most maxIpv6Peers): exact in a double either way.
 */
function remoteKey(addr: number, port: number): number {
  return (addr < IPV6_ID_BASE ? addr >>> 0 : addr) * TWO_16 + port;
}

/** "address:port" of an end, "[address]:port" over IPv6 (as `ss` prints them). */
type Endpoint = (addr: number, port: number) => string;

/** "local>remote" for logs (STYLE.md: `{conn: '10.0.0.1:5555>10.0.0.2:80'}`). */
function connName(c: TcpConnection, ep: Endpoint): string {
  return `${ep(c.localAddr, c.localPort)}>${ep(c.remoteAddr, c.remotePort)}`;
}

/** A connection's row of `connections()`. */
function connectionRow(c: TcpConnection, ep: Endpoint): TcpConnectionRow {
  const s = c.snapshot();
  return {
    state: s.state,
    local: ep(c.localAddr, c.localPort),
    remote: ep(c.remoteAddr, c.remotePort),
    sendQ: s.sendQueue,
    recvQ: s.recvQueue,
    srtt: s.srtt,
    rto: s.rto,
    cwnd: s.cwnd,
    retransmits: s.retransmits,
    recovery: {
      timeouts: s.timeouts,
      recoveries: s.fastRetransmits,
      tailLossProbes: s.tailLossProbes,
      recoveryProbes: s.recoveryProbes,
      lostRetransmits: s.lostRetransmissions,
    },
    bytesSent: s.bytesOut,
    bytesReceived: s.bytesIn,
    segsSent: s.segsOut,
    segsReceived: s.segsIn,
    sndWnd: s.sndWnd,
    rcvWnd: s.rcvWnd,
    congestion: c.congestion,
    mss: s.smss,
    history: c.stateHistory(),
    ...(s.ecn
      ? {
          ecn: {
            ceReceived: s.counters['ecn-ce-received'] ?? 0,
            eceReceived: s.counters['ecn-ece-received'] ?? 0,
            cwndReduced: s.counters['ecn-cwnd-reduced'] ?? 0,
            cwrSent: s.counters['ecn-cwr-sent'] ?? 0,
          },
        }
      : {}),
  };
}

/**
 * A TIME_WAIT entry as the layer keeps it: the rules' fields, and the connection's final counters
 * for `ss` (five numbers; its RTT, window and history are not kept).
 */
interface SlimTimeWait extends TimeWaitEntry {
  /**
   * The connection's row when it was made an entry, kept for the onConnectionGone watchers (only
   * while there are any) until the entry leaves the table.
   */
  finalRow: TcpConnectionRow | null;
  readonly retransmits: number;
  readonly bytesSent: number;
  readonly bytesReceived: number;
  readonly segsSent: number;
  readonly segsReceived: number;
}

/**
 * A TIME_WAIT entry's row: the state, the 4-tuple and the connection's final counters.
 */
function timeWaitRow(e: SlimTimeWait, ep: Endpoint): TcpConnectionRow {
  return {
    state: 'TIME_WAIT',
    local: ep(e.localAddr, e.localPort),
    remote: ep(e.remoteAddr, e.remotePort),
    sendQ: 0,
    recvQ: 0,
    srtt: null,
    rto: 0,
    cwnd: 0,
    retransmits: e.retransmits,
    bytesSent: e.bytesSent,
    bytesReceived: e.bytesReceived,
    segsSent: e.segsSent,
    segsReceived: e.segsReceived,
    sndWnd: 0,
    rcvWnd: e.rcvWnd,
    congestion: null,
    history: [],
  };
}

export class TcpLayer {
  readonly options: Readonly<Omit<TcpLayerOptions, 'isnSecret'>>;
  readonly stats: TcpLayerStats;
  readonly #isn: IsnGenerator;
  /** Makes and checks SYN cookies for every listener; its secret derives from the ISN secret. */
  readonly #cookies: SynCookies;
  readonly #connOptions: Partial<TcpConnectionOptions>;
  /** The same for IPv6 peers: the MSS at most MTU − 60. */
  readonly #connOptions6: Partial<TcpConnectionOptions>;
  /** The IPv6 addresses connections refer to, by id (null: the stack has no IPv6). */
  readonly #peers: Ipv6Peers | null;
  /** Peers held at which a SYN from a new IPv6 peer takes no id (see ipv6PeerHeadroom). */
  readonly #peersCookieAt: number;
  /** The headroom's first use was logged (once, as a listener's "sending cookies"). */
  #headroomLogged = false;
  /** During #inputTransient: a listener answers the SYN with a cookie (it may hold no state). */
  #cookieOnly = false;
  /**
   * The connection table, by local address and port, then by remote address and port: two plain
   * number lookups (48-bit keys, exact in a double), no key strings. The local address is the
   * stack's own except for connections a relay answers for (listenAny).
   */
  readonly #table = new Map<number, Map<number, TcpHandle | SlimTimeWait>>();
  #count = 0;
  #entries = 0;
  /**
   * Connections in TIME_WAIT, oldest first (insertion order), for early eviction: whole ones
   * (their owner still holds data) and compact entries (src/tcp/time-wait.ts). The entries are
   * also the expiry queue: all wait the same 2·MSL, so the oldest expires first (a FIN again
   * restarts it and moves the entry to the end); #timeWaitTimer fires at the first one's expiry.
   */
  readonly #timeWait = new Set<TcpHandle | SlimTimeWait>();
  readonly #timeWaitTimer: Timer;
  /** The TIME_WAIT entry a reused SYN replaces, while the listener picks its ISN (RFC 6191). */
  #isnAbove: SlimTimeWait | null = null;
  /** The listeners' ISNs: the generator's, above a replaced TIME_WAIT entry's SND.NXT. */
  readonly #listenerIsn: IsnSource;
  /** What TIME_WAIT entries read of the layer's connection options (2·MSL, the ACK limiter). */
  readonly #timeWaitOptions: { timeWaitMs: number; invalidAckIntervalMs: number };
  readonly #listeners = new Map<number, ListenSlot>();
  /** Handles poked by user calls in this tick, serviced together in one microtask. */
  #dirty: TcpHandle[] = [];
  /** Handles that took a FIN this turn, serviced together in one setImmediate (#serviceAfterTurn). */
  #late: TcpHandle[] = [];
  #nextEphemeral: number;
  /** The budget for RSTs to segments that reach no connection (null: unlimited). */
  readonly #resetBucket: TokenBucket | null;
  #closed = false;
  /** Told each connection's last row as it leaves the table (see onConnectionGone). */
  readonly #goneWatchers = new Set<(row: TcpConnectionRow) => void>();
  /** The wildcard listener (listenAny): its owner, connection options and held SYNs. */
  #any: AnyListener | null = null;
  /** Fires when the path-MTU table's oldest entry expires (#expirePathMtu). */
  readonly #pmtuTimer: Timer;

  constructor(
    readonly stack: Stack,
    options: Partial<TcpLayerOptions> = {},
  ) {
    const { isnSecret, ...rest } = options;
    this.options = { ...DEFAULT_TCP_LAYER_OPTIONS, ...rest };
    const o = this.options;
    if (!(o.ephemeralLow >= 1 && o.ephemeralLow <= o.ephemeralHigh && o.ephemeralHigh <= 65_535)) {
      throw new RangeError(`bad ephemeral port range ${o.ephemeralLow}-${o.ephemeralHigh}`);
    }
    this.#isn = new IsnGenerator(isnSecret);
    const isn = this.#isn;
    this.#listenerIsn = {
      next: (localAddr, localPort, remoteAddr, remotePort, nowMs) => {
        const iss = isn.next(localAddr, localPort, remoteAddr, remotePort, nowMs);
        const e = this.#isnAbove;
        if (e === null || e.localPort !== localPort || e.remotePort !== remotePort) return iss;
        return e.remoteAddr === addrNum(remoteAddr) ? reuseIsn(e, iss) : iss;
      },
    };
    this.#timeWaitTimer = stack.timers.create((now) => this.#expireTimeWait(now));
    this.#cookies = SynCookies.derivedFrom(isnSecret);
    if (!(o.ipv6PeerHeadroom >= 0 && o.ipv6PeerHeadroom <= 1)) {
      throw new RangeError(`bad ipv6PeerHeadroom ${o.ipv6PeerHeadroom} (0 to 1)`);
    }
    this.#peersCookieAt = o.maxIpv6Peers - Math.floor(o.maxIpv6Peers * o.ipv6PeerHeadroom);
    this.#connOptions = { mss: mssFromMtu(stack.mtu), ...o.conn };
    this.#connOptions6 = this.#v6(this.#connOptions);
    const addr6 = stack.addr6;
    if (addr6 !== null) {
      const peers = new Ipv6Peers(addr6, o.maxIpv6Peers);
      const bytes = (id: number) => peers.bytes(id);
      this.#isn.addressBytes = bytes;
      this.#cookies.addressBytes = bytes;
      this.#peers = peers;
    } else {
      this.#peers = null;
    }
    const resolved = resolveOptions(this.#connOptions);
    this.#timeWaitOptions = {
      timeWaitMs: resolved.timeWaitMs,
      invalidAckIntervalMs: resolved.invalidAckIntervalMs,
    };
    this.#nextEphemeral = o.ephemeralLow;
    this.#resetBucket =
      o.resetsPerSecond > 0
        ? new TokenBucket(o.resetsPerSecond, o.resetsPerSecond, stack.now())
        : null;
    this.stats = {
      activeOpens: 0,
      passiveOpens: 0,
      accepted: 0,
      noPort: 0,
      resetsSent: 0,
      resetsRateLimited: 0,
      tableFull: 0,
      ipv6PeersFull: 0,
      ipv6PeersHeadroom: 0,
      timeWaitEvicted: 0,
      timeWaitSlim: 0,
      timeWaitReused: 0,
      timeWaitDrops: {},
      listenerDrops: {},
      txRefused: 0,
      ownerErrors: 0,
      serviceTurnsBound: 0,
      serviceSegmentsBound: 0,
      icmpNoConnection: 0,
      icmpOutOfWindow: 0,
      icmpAccepted: 0,
      pmtuMssLowered: 0,
      pmtuResends: 0,
      icmpSoftErrors: 0,
      icmpHardErrors: 0,
      any: newAnyListenStats(),
      ...newSynCookieStats(),
    };
    // The counters live in stack.stats.tcp beside the stack's own (rx/tx segments, drops).
    Object.assign(stack.stats.tcp, { layer: this.stats });
    stack.setTcpHandler({
      segment: (seg, src, dst, now) => this.input(seg, src, dst, now),
      segment6: (seg, src, dst, now) => this.input6(seg, src, dst, now),
    });
    // ICMP errors about our segments: path MTU discovery (RFC 1191, RFC 8201) after RFC 5927.
    this.#pmtuTimer = stack.timers.create((now) => this.#expirePathMtu(now));
    stack.icmp.setErrorHandler(IpProtocol.Tcp, (r) => this.icmpError(r));
    stack.icmp6?.setErrorHandler(Ipv6Next.Tcp, (r) => this.icmpError6(r), true);
  }

  /** Connection options for IPv6 peers: `o` with the MSS at most MTU − 60 (RFC 8200's header). */
  #v6(o: Partial<TcpConnectionOptions>): Partial<TcpConnectionOptions> {
    const cap = this.stack.mtu - 60;
    const mss = o.mss ?? mssFromMtu(this.stack.mtu);
    return mss <= cap ? o : { ...o, mss: cap };
  }

  /** An address as text: dotted quad, or RFC 5952's form for an IPv6 id. */
  formatAddr(addr: number): string {
    if (addr < IPV6_ID_BASE) return formatIpv4(addr);
    return this.#peers === null ? `?${addr}` : formatIpv6(this.#peers.bytes(addr));
  }

  /** The 16 bytes behind an IPv6 id (the TCP handles' addresses ≥ IPV6_ID_BASE). */
  addressBytes(addr: number): Uint8Array {
    if (this.#peers === null || addr < IPV6_ID_BASE) {
      throw new RangeError(`${addr} is not an IPv6 address id`);
    }
    return this.#peers.bytes(addr);
  }

  /** "address:port", or "[address]:port" over IPv6. */
  readonly #endpoint: Endpoint = (addr, port) =>
    addr < IPV6_ID_BASE ? `${formatIpv4(addr)}:${port}` : `[${this.formatAddr(addr)}]:${port}`;

  /** Connections in the table (TIME_WAIT included). */
  get size(): number {
    return this.#count;
  }

  /** IPv6 peers the table refers to now (each has an id, src/stack/addr6.ts). */
  get ipv6Peers(): number {
    return this.#peers?.size ?? 0;
  }

  /** Of those, TIME_WAIT connections kept as compact entries (timeWaitSlim), not whole. */
  get timeWaitEntries(): number {
    return this.#entries;
  }

  // ---------------------------------------------------------------------------------------------
  // Passive and active open

  /**
   * LISTEN on `port` (every local address) for peers of `family`. Returns false when the port
   * already has a listener for one of those families (Linux's bind conflict: a dual-stack one
   * excludes any other; one per family may share the port). Connections on the port (say, an
   * active open's) do not conflict: demux prefers them.
   */
  listen(
    port: number,
    owner: TcpListenOwner,
    backlog?: number,
    conn?: Partial<TcpConnectionOptions>,
    family: ListenFamily = 'both',
  ): boolean {
    if (this.#closed || (family === 6 && this.#peers === null)) return false;
    const slot = this.#listeners.get(port);
    if (slot !== undefined && ((family !== 6 && slot.v4) || (family !== 4 && slot.v6))) {
      return false;
    }
    const listener = new TcpListener(
      0,
      port,
      this.#listenerIsn,
      {
        synBacklog: this.options.synBacklog,
        backlog: backlog ?? 511,
        conn: this.#optionsFor(conn),
        conn6: this.#v6(this.#optionsFor(conn)),
        synCookies: this.options.synCookies,
      },
      this.#cookies,
      this.stats,
    );
    const entry: ListenEntry = { listener, owner, family, floodLogged: false };
    const s = slot ?? { v4: null, v6: null };
    if (family !== 6) s.v4 = entry;
    if (family !== 4 && this.#peers !== null) s.v6 = entry;
    this.#listeners.set(port, s);
    return true;
  }

  /** The listeners of `port`, each once. */
  #listenersOf(port: number): ListenEntry[] {
    const slot = this.#listeners.get(port);
    if (slot === undefined) return [];
    const out: ListenEntry[] = [];
    if (slot.v4 !== null) out.push(slot.v4);
    if (slot.v6 !== null && slot.v6 !== slot.v4) out.push(slot.v6);
    return out;
  }

  /**
   * Options for the connections the listener on `port` makes from now on (setsockopt on a
   * listening socket: accepted connections inherit it); connections already made keep theirs.
   */
  setListenerOptions(port: number, conn: Partial<TcpConnectionOptions>): boolean {
    const entries = this.#listenersOf(port);
    for (const entry of entries) {
      const o = entry.listener.options;
      o.conn = { ...o.conn, ...conn };
      o.conn6 = this.#v6({ ...(o.conn6 ?? o.conn), ...conn });
    }
    return entries.length > 0;
  }

  /**
   * Stop listening on `port`: `owner`'s listener, or every one on the port when no owner is
   * named. Connections not yet accepted are reset.
   */
  unlisten(port: number, owner?: TcpListenOwner): void {
    const slot = this.#listeners.get(port);
    if (slot === undefined) return;
    for (const entry of this.#listenersOf(port)) {
      if (owner !== undefined && entry.owner !== owner) continue;
      if (slot.v4 === entry) slot.v4 = null;
      if (slot.v6 === entry) slot.v6 = null;
      for (const conn of entry.listener.close()) {
        const h = this.#lookup(conn.localAddr, conn.localPort, conn.remoteAddr, conn.remotePort);
        if (h instanceof TcpHandle) this.poke(h);
      }
    }
    if (slot.v4 === null && slot.v6 === null) this.#listeners.delete(port);
  }

  /** A free port for a listener: an ephemeral port with no listener and no connection. */
  allocatePort(): number | null {
    return this.#ephemeralPort();
  }

  isListening(port: number): boolean {
    return this.#listeners.has(port);
  }

  /**
   * Listen on every address and port the stack does not own (with Stack.acceptAnyDestination):
   * a relay's wildcard listener, keyed by the 4-tuple, answering from the address the client
   * dialled. Each SYN is held (bounded, src/stack/held-syn.ts) and given to `owner`, which
   * answers it later: accept (SYN-ACK), refuse (RST), unreachable (ICMP) or drop. Segments to the
   * stack's own address still go to its listeners. False when one is already set.
   */
  listenAny(
    owner: TcpAnyOwner,
    options: Partial<AnyListenOptions> = {},
    conn?: Partial<TcpConnectionOptions>,
  ): boolean {
    if (this.#closed || this.#any !== null) return false;
    const sink = {
      open: (syn: HeldSyn<TcpHandle>, o: unknown) => this.#openHeld(syn, o as TcpOwner),
      reset: (syn: HeldSyn<TcpHandle>) => this.#reset(syn.seg, syn.remoteAddr, syn.localAddr),
      now: () => this.stack.now(),
      flush: () => this.stack.requestFlush(),
      // A held IPv6 SYN holds its two address ids (#anyInput) until it is decided.
      released: (syn: HeldSyn<TcpHandle>) => {
        this.#unref6(syn.localAddr);
        this.#unref6(syn.remoteAddr);
      },
      unreachable6: (syn: HeldSyn<TcpHandle>, code: number) => this.#unreachable6(syn, code),
    };
    const o = { ...DEFAULT_ANY_LISTEN_OPTIONS, ...options };
    const held = new HeldSyns(o, this.stats.any, sink, this.stack.timers, this.stack.icmp);
    this.#any = { owner, conn: this.#optionsFor(conn), held };
    return true;
  }

  /** Stop the wildcard listener; held SYNs are forgotten, connections it made go on. */
  unlistenAny(): void {
    this.#any?.held.clear();
    this.#any = null;
  }

  /** SYNs the wildcard listener holds for its owner's decision. */
  get heldSyns(): number {
    return this.#any?.held.size ?? 0;
  }

  /** A held SYN accepted: the connection, owned from the start, answers with its SYN-ACK. */
  #openHeld(syn: HeldSyn<TcpHandle>, owner: TcpOwner): TcpHandle | null {
    const any = this.#any;
    if (this.#closed || any === null) return null;
    if (this.#count >= this.options.maxConnections && !this.#evictTimeWait()) {
      this.stats.tableFull++;
      return null;
    }
    const { localAddr, localPort, remoteAddr, remotePort } = syn;
    if (this.#lookup(localAddr, localPort, remoteAddr, remotePort) !== undefined) return null;
    const now = this.stack.now();
    const tuple = { localAddr, localPort, remoteAddr, remotePort };
    const iss = this.#isn.next(localAddr, localPort, remoteAddr, remotePort, now);
    const options = remoteAddr >= IPV6_ID_BASE ? this.#v6(any.conn) : any.conn;
    const conn = TcpConnection.accept(tuple, iss, now, syn.seg, options);
    this.#startPathMtu(conn, now);
    const h = this.#insert(conn, -1);
    h.owner = owner;
    this.stats.passiveOpens++;
    this.service(h);
    return h;
  }

  /** Hold an IPv6 address id other than our own (a table entry or a held SYN refers to it). */
  #ref6(addr: number): void {
    if (addr > IPV6_ID_BASE) this.#peers?.ref(addr);
  }

  /** Let go of what #ref6 held; the id is freed when nothing else refers to it. */
  #unref6(addr: number): void {
    if (addr > IPV6_ID_BASE) this.#peers?.unref(addr);
  }

  /**
   * A held IPv6 SYN answered with ICMPv6 destination unreachable from our address, quoting the
   * SYN (its header without options): ICMPv4's host unreachable is ICMPv6's address unreachable
   * (code 3), net unreachable is no route (code 0), as Linux maps them back to EHOSTUNREACH and
   * ENETUNREACH.
   */
  #unreachable6(syn: HeldSyn<TcpHandle>, code: number): void {
    const icmp6 = this.stack.icmp6;
    if (icmp6 === null) return;
    const src = this.addressBytes(syn.remoteAddr);
    const dst = this.addressBytes(syn.localAddr);
    const packet = new Uint8Array(IPV6_HEADER_LEN + 20);
    const seg: TcpRepr = {
      ...syn.seg,
      options: {
        ...syn.seg.options,
        mss: null,
        windowScale: null,
        sackPermitted: false,
        timestamp: null,
      },
      payload: new Uint8Array(0),
    };
    emitTcp6(packet.subarray(IPV6_HEADER_LEN), seg, src, dst);
    Ipv6View.emit(packet, {
      src,
      dst,
      nextHeader: Ipv6Next.Tcp,
      hopLimit: 64,
      trafficClass: 0,
      payloadLength: 20,
    });
    icmp6.sendUnreachable(
      code === UnreachCode.Net ? Unreach6Code.NoRoute : Unreach6Code.Address,
      {
        src: packet.subarray(8, 24),
        dst: packet.subarray(24, 40),
        protocol: Ipv6Next.Tcp,
        hopLimit: 64,
        tos: 0,
        multicast: false,
        reassembled: false,
        csumTrusted: false,
        packet,
        protocolFieldAt: 6,
        payload: packet.subarray(IPV6_HEADER_LEN),
      },
      this.stack.now(),
    );
  }

  /** A segment to another address (the wildcard listener's) that matched no connection. */
  #anyInput(seg: TcpRepr, src: number, dst: number, now: number): void {
    const any = this.#any as AnyListener;
    if (seg.control === 'rst') return;
    if (seg.control !== 'syn' || seg.ack !== null) {
      this.stats.any.noConnection++;
      this.#reset(seg, src, dst);
      return;
    }
    const syn = any.held.hold(seg, src, dst, now);
    if (syn === null) return;
    // An IPv6 SYN's address ids stay while it is held (released by the sink's `released`).
    this.#ref6(src);
    this.#ref6(dst);
    try {
      any.owner.syn(syn);
    } catch (err) {
      this.stats.ownerErrors++;
      process.nextTick(() => {
        throw err;
      });
    }
  }

  /**
   * Active open to `remoteAddr:remotePort` from an ephemeral port (or `localPort`). The first
   * segment (SYN) goes out at once. Returns an errno code when the open cannot start. `conn`
   * overrides the layer's connection options for this connection only (congestion, buffers…).
   */
  connect(
    remoteAddr: number,
    remotePort: number,
    owner: TcpOwner,
    localPort?: number,
    conn?: Partial<TcpConnectionOptions>,
  ): TcpHandle | 'EADDRNOTAVAIL' | 'EADDRINUSE' | 'ENOBUFS' {
    if (this.#closed) return 'ENOBUFS';
    if (this.#count >= this.options.maxConnections && !this.#evictTimeWait()) return 'ENOBUFS';
    const v6 = remoteAddr >= IPV6_ID_BASE;
    const localAddr = v6 ? IPV6_ID_BASE : this.stack.addr;
    let port: number;
    if (localPort === undefined || localPort === 0) {
      const p = this.#ephemeralPort();
      if (p === null) return 'EADDRNOTAVAIL';
      port = p;
    } else {
      if (this.#lookup(localAddr, localPort, remoteAddr, remotePort) !== undefined) {
        return 'EADDRINUSE';
      }
      port = localPort;
    }
    const now = this.stack.now();
    const tuple = { localAddr, localPort: port, remoteAddr, remotePort };
    const iss = this.#isn.next(tuple.localAddr, port, remoteAddr, remotePort, now);
    let options = this.#optionsFor(conn);
    if (v6) options = conn === undefined ? this.#connOptions6 : this.#v6(options);
    const c = TcpConnection.connect(tuple, iss, now, options);
    this.#startPathMtu(c, now);
    const h = this.#insert(c, -1);
    h.owner = owner;
    this.stats.activeOpens++;
    this.poke(h);
    return h;
  }

  /**
   * Active open to an IPv6 address (16 bytes), as `connect`. ENOBUFS also when `maxIpv6Peers`
   * peers are held; EAFNOSUPPORT when the stack has no IPv6 address.
   */
  connect6(
    remoteAddr: Uint8Array,
    remotePort: number,
    owner: TcpOwner,
    localPort?: number,
    conn?: Partial<TcpConnectionOptions>,
  ): TcpHandle | 'EADDRNOTAVAIL' | 'EADDRINUSE' | 'ENOBUFS' | 'EAFNOSUPPORT' {
    const peers = this.#peers;
    if (peers === null) return 'EAFNOSUPPORT';
    const id = peers.intern(remoteAddr);
    if (id < 0) {
      this.stats.ipv6PeersFull++;
      return 'ENOBUFS';
    }
    const h = this.connect(id, remotePort, owner, localPort, conn);
    if (typeof h === 'string') peers.releaseIfUnused(id);
    return h;
  }

  /** The layer's connection options, with `override` on top (the same object when none). */
  #optionsFor(override: Partial<TcpConnectionOptions> | undefined): Partial<TcpConnectionOptions> {
    if (override === undefined) return this.#connOptions;
    const o: Partial<TcpConnectionOptions> = { ...this.#connOptions };
    for (const [k, v] of Object.entries(override))
      if (v !== undefined) Object.assign(o, { [k]: v });
    return o;
  }

  // ---------------------------------------------------------------------------------------------
  // Input

  /**
   * A checked, parsed segment over IPv6 from `src` (16 bytes, valid during the call) to our IPv6
   * address: the source gets its id and the segment goes the IPv4 way from there. A SYN from a
   * new peer while the table is in its headroom (ipv6PeerHeadroom) gets the transient id instead
   * and a stateless answer (#inputTransient).
   */
  input6(seg: TcpRepr, src: Uint8Array, dst: Uint8Array, now: number): void {
    const peers = this.#peers;
    if (this.#closed || peers === null) return;
    let id = peers.find(src);
    if (id < 0) {
      const held = peers.size;
      if (held >= this.#peersCookieAt && held < peers.max && this.#synWithoutId(seg, dst)) {
        this.#inputTransient(peers, seg, src, now);
        return;
      }
      id = peers.intern(src);
    }
    // Our own address is IPV6_ID_BASE; another (a relay's, acceptAnyDestination) gets an id too.
    const to = id < 0 ? -1 : peers.intern(dst);
    if (to < 0) {
      this.stats.ipv6PeersFull++;
      if (id >= 0) peers.releaseIfUnused(id);
      return;
    }
    this.input(seg, id, to, now);
    // A segment that made nothing (a reset, a cookie SYN-ACK, a drop) holds no id.
    peers.releaseIfUnused(id);
    peers.releaseIfUnused(to);
  }

  /**
   * A segment from a new IPv6 peer, the table in its headroom (when it is full, every segment
   * from a new peer is dropped: ipv6PeersFull): it takes no id when it is a SYN to our own
   * address whose answer keeps no state: a closed port's reset, or a listener's cookie SYN-ACK
   * (not with `synCookies` 0: that listener's SYNs take ids, or are dropped when full).
   */
  #synWithoutId(seg: TcpRepr, dst: Uint8Array): boolean {
    if (seg.control !== 'syn' || seg.ack !== null) return false;
    if ((this.#peers as Ipv6Peers).find(dst) !== IPV6_ID_BASE) return false; // a relay's
    const l = this.#listeners.get(seg.dstPort)?.v6 ?? null;
    return l === null || l.listener.options.synCookies !== 0;
  }

  /**
   * #synWithoutId's SYN, under the transient id (src/stack/addr6.ts): a listener answers it with
   * a cookie, whatever its SYN queue holds, so that nothing refers to the id after this call.
   */
  #inputTransient(peers: Ipv6Peers, seg: TcpRepr, src: Uint8Array, now: number): void {
    this.stats.ipv6PeersHeadroom++;
    if (!this.#headroomLogged) {
      this.#headroomLogged = true;
      this.stack.logger.info(
        { held: peers.size, max: peers.max },
        'IPv6 peer table near its bound: SYNs from new peers answered with cookies',
      );
    }
    const id = peers.transient(src);
    this.#cookieOnly = true;
    try {
      this.input(seg, id, IPV6_ID_BASE, now);
    } finally {
      this.#cookieOnly = false;
    }
  }

  /** A checked, parsed segment from `src` to `dst` (one of our addresses). */
  input(seg: TcpRepr, src: number, dst: number, now: number): void {
    if (this.#closed) return;
    const h = this.#lookup(dst, seg.dstPort, src, seg.srcPort);
    if (h instanceof TcpHandle) {
      h.conn.process(now, seg);
      if (seg.control === 'fin') this.#serviceAfterTurn(h);
      else this.service(h);
      return;
    }
    if (h !== undefined && !this.#timeWaitInput(h, seg, now)) return;
    if (this.#any !== null && dst !== this.stack.addr && dst !== IPV6_ID_BASE) {
      this.#anyInput(seg, src, dst, now);
      return;
    }
    const slot = this.#listeners.get(seg.dstPort);
    // A listener of the other family only is no listener for this segment (RST below).
    const l = slot === undefined ? null : src < IPV6_ID_BASE ? slot.v4 : slot.v6;
    if (l !== null) {
      if (h === undefined) this.#toListener(l, seg, src, dst, now);
      else {
        // RFC 6191: a new incarnation, with an ISN above the old SND.NXT.
        this.#isnAbove = h;
        try {
          this.#toListener(l, seg, src, dst, now);
        } finally {
          this.#isnAbove = null;
        }
      }
      return;
    }
    // RFC 9293 §3.10.7.1: no connection, no listener: "If the state is CLOSED … a reset is sent".
    this.stats.noPort++;
    this.#reset(seg, src);
  }

  /**
   * A segment met a TIME_WAIT entry: answer it as the whole connection would have. Returns true
   * when the entry was dropped for a new SYN (RFC 6191), which then goes on to the listener.
   */
  #timeWaitInput(e: SlimTimeWait, seg: TcpRepr, now: number): boolean {
    const expiry = e.expiry;
    const v = timeWaitInput(e, seg, now, this.#timeWaitOptions);
    switch (v.kind) {
      case 'ack':
        if (!this.stack.sendTcp(timeWaitAck(e, now), e.remoteAddr, e.localAddr)) {
          this.stats.txRefused++;
        }
        if (e.expiry !== expiry) {
          // A FIN again restarted 2·MSL: the entry moves to the end of the queue.
          this.#timeWait.delete(e);
          this.#timeWait.add(e);
        }
        return false;
      case 'gone':
        this.#removeEntry(e);
        return false;
      case 'reuse':
        this.stats.timeWaitReused++;
        this.#removeEntry(e);
        return true;
      case 'drop': {
        const d = this.stats.timeWaitDrops;
        d[v.reason] = (d[v.reason] ?? 0) + 1;
        return false;
      }
    }
  }

  #toListener(l: ListenEntry, seg: TcpRepr, src: number, dst: number, now: number): void {
    const isSyn = seg.control === 'syn' && seg.ack === null;
    if (isSyn && this.#count >= this.options.maxConnections && !this.#evictTimeWait()) {
      this.stats.tableFull++; // dropped: the peer retransmits its SYN later
      return;
    }
    const v = l.listener.process(now, src, dst, seg, this.#cookieOnly);
    switch (v.kind) {
      case 'created': {
        this.#startPathMtu(v.conn, now);
        const h = this.#insert(v.conn, l.listener.localPort);
        this.stats.passiveOpens++;
        this.service(h);
        return;
      }
      case 'synack':
        // A cookie: nothing kept, nothing to service.
        if (!this.stack.sendTcp(v.seg, src)) this.stats.txRefused++;
        if (!l.floodLogged && l.listener.options.synCookies === 1) {
          l.floodLogged = true;
          this.stack.logger.info(
            { port: l.listener.localPort },
            'possible SYN flooding: SYN queue full, sending cookies',
          );
        }
        return;
      case 'cookie': {
        // A valid cookie ACK: the connection exists from now on; the ACK makes it ESTABLISHED.
        if (this.#count >= this.options.maxConnections && !this.#evictTimeWait()) {
          this.stats.tableFull++;
          v.conn.abort(); // never registered: the listener forgets it, no RST goes out
          return;
        }
        this.#startPathMtu(v.conn, now);
        const h = this.#insert(v.conn, l.listener.localPort);
        this.stats.passiveOpens++;
        v.conn.process(now, v.seg);
        this.service(h);
        return;
      }
      case 'reset':
        this.#sendReset(v.seg, src);
        return;
      case 'drop': {
        const d = this.stats.listenerDrops;
        d[v.reason] = (d[v.reason] ?? 0) + 1;
        return;
      }
    }
  }

  #reset(seg: TcpRepr, to: number, from: number = this.stack.addr): void {
    const rst = resetFor(seg);
    if (rst !== null) this.#sendReset(rst, to, from);
  }

  #sendReset(rst: TcpRepr, to: number, from: number = this.stack.addr): void {
    if (this.#resetBucket !== null && !this.#resetBucket.take(this.stack.now())) {
      this.stats.resetsRateLimited++;
      return;
    }
    if (this.stack.sendTcp(rst, to, from)) this.stats.resetsSent++;
    else this.stats.txRefused++;
  }

  // ---------------------------------------------------------------------------------------------
  // ICMP errors and path MTU discovery

  /**
   * An ICMP destination unreachable quoting a segment we sent over IPv4 (src/icmp/icmp.ts
   * checked that it quotes our address). "Fragmentation needed" (code 4, RFC 1191) lowers the
   * destination's path MTU and the connection's send MSS to it; the others are soft errors.
   */
  icmpError(r: IcmpErrorReport): void {
    const now = this.stack.now();
    const h = this.#icmpConnection(this.stack.addr, r.srcPort, r.dst, r.dstPort, r.seq);
    if (h === null) return;
    if (r.code !== UnreachCode.FragNeeded) {
      this.#unreachable(h, UNREACH_TCP[r.code] ?? SOFT_HOST, now);
      return;
    }
    const pmtu = this.stack.pmtu;
    pmtu.report4(r.dst, r.nextHopMtu, now);
    const mtu = pmtu.get4(r.dst, now);
    if (mtu < pmtu.linkMtu) this.#pathMtu(h, mtu - IPV4_TCP_HEADERS, now, r.seq);
  }

  /** The same over IPv6: Packet Too Big (RFC 8201), else Destination Unreachable (soft). */
  icmpError6(r: Icmp6ErrorReport): void {
    const peers = this.#peers;
    if (peers === null) return;
    const now = this.stack.now();
    const id = peers.intern(r.dst);
    if (id < 0) {
      this.stats.icmpNoConnection++;
      return;
    }
    const h = this.#icmpConnection(IPV6_ID_BASE, r.srcPort, id, r.dstPort, r.seq);
    peers.releaseIfUnused(id);
    if (h === null) return;
    if (r.type !== Icmpv6Type.PacketTooBig) {
      this.#unreachable(h, UNREACH6_TCP[r.code] ?? SOFT_HOST, now);
      return;
    }
    const pmtu = this.stack.pmtu;
    pmtu.report6(r.dst, r.mtu, now);
    const mtu = pmtu.get6(r.dst, now);
    if (mtu < pmtu.linkMtu) this.#pathMtu(h, mtu - IPV6_TCP_HEADERS, now, r.seq);
  }

  /**
   * A destination unreachable other than "too big", believed: a hard one ends an open in
   * SYN_SENT, a soft one is what its timeout will report (TcpConnection.icmpError).
   */
  #unreachable(h: TcpHandle, [code, hard]: readonly [IcmpErrorCode, boolean], now: number): void {
    if (hard) this.stats.icmpHardErrors++;
    else this.stats.icmpSoftErrors++;
    h.conn.icmpError(code, hard, now);
    this.service(h);
  }

  /**
   * RFC 5927 §4.1 (as Linux's tcp_v4_err): an ICMP error is believed only when it quotes a live
   * connection's 4-tuple and a sequence number in [SND.UNA, SND.MAX), data we sent and is not
   * yet acknowledged. Anything else (forged, or about what is long acknowledged) is dropped.
   */
  #icmpConnection(
    localAddr: number,
    localPort: number,
    remoteAddr: number,
    remotePort: number,
    seq: number,
  ): TcpHandle | null {
    const h = this.#lookup(localAddr, localPort, remoteAddr, remotePort);
    if (!(h instanceof TcpHandle) || h.conn.finished) {
      this.stats.icmpNoConnection++;
      return null;
    }
    const c = h.conn;
    if (seq < 0 || !(seqGeq(seq >>> 0, c.sndUna) && seqLt(seq >>> 0, c.sndMax))) {
      this.stats.icmpOutOfWindow++;
      return null;
    }
    this.stats.icmpAccepted++;
    return h;
  }

  /** Lower a connection's send MSS to `mss` for its segment at `seq`, and send what is due. */
  #pathMtu(h: TcpHandle, mss: number, now: number, seq: number): void {
    const before = h.conn.snapshot().smss;
    const retransmits = h.conn.stats.retransmits;
    h.conn.pathMtu(mss, now, seq >>> 0);
    if (h.conn.snapshot().smss < before) this.stats.pmtuMssLowered++;
    this.service(h);
    if (h.conn.stats.retransmits > retransmits) this.stats.pmtuResends++;
    if (!this.#pmtuTimer.scheduled) {
      const at = this.stack.pmtu.nextExpiry();
      if (at !== null) this.#pmtuTimer.schedule(at);
    }
  }

  /**
   * A new connection starts below a path MTU the table knows for its peer (RFC 1191 §6.3): its
   * send MSS is min(the peer's MSS, path MTU − headers); the MSS it announces stays the link's.
   */
  #startPathMtu(conn: TcpConnection, now: number): void {
    const pmtu = this.stack.pmtu;
    if (pmtu.size === 0) return;
    const v6 = conn.remoteAddr >= IPV6_ID_BASE;
    const mtu = v6
      ? pmtu.get6(this.addressBytes(conn.remoteAddr), now)
      : pmtu.get4(conn.remoteAddr, now);
    if (mtu < pmtu.linkMtu) conn.pathMtu(mtu - (v6 ? IPV6_TCP_HEADERS : IPV4_TCP_HEADERS), now);
  }

  /** Path-MTU entries expired: their destinations' connections go back to the link's MTU. */
  #expirePathMtu(now: number): void {
    const gone: PathMtuKey[] = [];
    const next = this.stack.pmtu.expire(now, (key) => gone.push(key));
    if (next !== null) this.#pmtuTimer.schedule(next);
    if (gone.length === 0) return;
    const keys = new Set(gone);
    const mtu = this.stack.pmtu.linkMtu;
    for (const byRemote of this.#table.values()) {
      for (const h of byRemote.values()) {
        if (!(h instanceof TcpHandle)) continue;
        const a = h.conn.remoteAddr;
        const v6 = a >= IPV6_ID_BASE;
        if (!keys.has(v6 ? pmtuKey6(this.addressBytes(a)) : a >>> 0)) continue;
        h.conn.pathMtu(mtu - (v6 ? IPV6_TCP_HEADERS : IPV4_TCP_HEADERS), now);
      }
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Output, timers and events

  /**
   * Service after a user call, once per burst: the connection is serviced a microtask later, so
   * that every write of the current tick is in the send buffer before segments are cut (100
   * small writes become one segment, not 100, whatever Nagle says; Linux's autocorking has the
   * same effect), then the link is flushed once.
   */
  poke(h: TcpHandle): void {
    if (h.dirty) return;
    h.dirty = true;
    this.#dirty.push(h);
    if (this.#dirty.length === 1) queueMicrotask(this.#serviceDirty);
  }

  readonly #serviceDirty = (): void => {
    const dirty = this.#dirty;
    this.#dirty = [];
    this.#serviceEach(dirty);
  };

  readonly #serviceLate = (): void => {
    const late = this.#late;
    this.#late = [];
    this.#serviceEach(late);
  };

  #serviceEach(handles: readonly TcpHandle[]): void {
    for (const h of handles) {
      h.dirty = false;
      if (h.inTable) this.service(h);
      // Gone from the table, but a paused reader still takes held data, then hears the FIN.
      else this.#deliver(h, h.conn.takeEvents());
    }
    this.stack.requestFlush();
  }

  /**
   * A FIN arrived: tell the owner now, but cut the segments at the end of the turn, in a
   * setImmediate after every process.nextTick and microtask of the turn: a stream's 'end' makes
   * its owner end() or close() a chain of nextTicks later, so an owner that closes at once sends
   * one FIN+ACK instead of an ACK and then a FIN (3 segments from us per connect/request/close
   * instead of 4, and one packet fewer for the peer to take). The ACK waits for the rest of
   * this event-loop turn only, well within RFC 9293 §3.8.6.3; user calls made meanwhile fold into
   * the same service (the handle is dirty). Timer-driven and owner-less paths are unchanged.
   */
  #serviceAfterTurn(h: TcpHandle): void {
    if (h.busy || h.owner === null) {
      this.service(h);
      return;
    }
    h.busy = true;
    try {
      this.#deliver(h, h.conn.takeEvents());
    } finally {
      h.busy = false;
    }
    if (h.dirty) return; // a user call's service is already due (a microtask): it sends the ACK
    h.dirty = true;
    this.#late.push(h);
    if (this.#late.length === 1) setImmediate(this.#serviceLate);
  }

  /**
   * Send what the connection has to send, deliver its events, re-arm its timer, and forget it
   * once CLOSED. Never re-entered for one handle: a nested call is folded into the loop.
   */
  service(h: TcpHandle): void {
    if (h.busy) {
      h.again = true;
      return;
    }
    h.busy = true;
    try {
      let turn = 0;
      for (; turn < MAX_SERVICE_TURNS; turn++) {
        h.again = false;
        const now = this.stack.now();
        const conn = h.conn;
        // With segmentation offload, the burst's full-sized segments go out as super-segments
        // (IPv6 ones too where the link has TSO6; else the coalescer sends them one by one).
        const tso = this.stack.tso;
        let n = 0;
        for (let seg = conn.dispatch(now); seg !== null; seg = conn.dispatch(now)) {
          const sent =
            tso !== null
              ? tso.add(seg, conn.remoteAddr, conn.localAddr)
              : this.stack.sendTcp(seg, conn.remoteAddr, conn.localAddr);
          if (!sent) this.stats.txRefused++;
          if (++n >= MAX_SEGMENTS_PER_SERVICE) {
            // The window bounds a burst; this bounds one call. The rest goes a microtask later.
            this.stats.serviceSegmentsBound++;
            this.poke(h);
            break;
          }
        }
        if (tso !== null && !tso.end()) this.stats.txRefused++;
        this.#deliver(h, conn.takeEvents());
        if (!h.again) break;
      }
      // Owners kept calling back into the handle from its own events: the rest waits a microtask.
      if (turn === MAX_SERVICE_TURNS) {
        this.stats.serviceTurnsBound++;
        this.poke(h);
      }
    } finally {
      h.busy = false;
    }
    this.#settle(h);
  }

  #deliver(h: TcpHandle, events: readonly TcpEvent[]): void {
    if (events.length === 0) return;
    if (h.owner === null && h.listenPort >= 0) {
      for (const e of events) {
        if (e.type === 'connected') this.#acceptReady(h);
      }
    }
    for (const e of events) {
      const owner = h.owner;
      if (owner === null) return; // embryonic, orphaned or refused: nobody to tell
      try {
        owner.tcpEvent(h, e);
      } catch (err) {
        // User code threw from an event handler. Node would surface it as an uncaught
        // exception; do so, but outside the stack, so the tables stay consistent.
        this.stats.ownerErrors++;
        process.nextTick(() => {
          throw err;
        });
      }
    }
  }

  /**
   * Hand every connection that completed its handshake to the owner of the listener that made
   * `ready` (the one for its peer's family).
   */
  #acceptReady(ready: TcpHandle): void {
    const slot = this.#listeners.get(ready.listenPort);
    const l = slot === undefined ? null : ready.remoteAddr < IPV6_ID_BASE ? slot.v4 : slot.v6;
    if (l === null) return;
    for (let conn = l.listener.accept(); conn !== null; conn = l.listener.accept()) {
      const h = this.#lookup(conn.localAddr, conn.localPort, conn.remoteAddr, conn.remotePort);
      if (!(h instanceof TcpHandle)) continue;
      h.listenPort = -1;
      const owner = l.owner.accept(h);
      if (owner === null) {
        h.conn.abort(); // refused: RST, then forgotten
        if (h.busy) h.again = true;
        else this.service(h);
        continue;
      }
      this.stats.accepted++;
      h.owner = owner;
      l.owner.accepted?.(owner);
    }
  }

  /** After servicing: timer, TIME_WAIT bookkeeping, removal. */
  #settle(h: TcpHandle): void {
    const conn = h.conn;
    if (conn.finished) {
      // A user call still owes its output (an abort's RST): the microtask service removes it.
      if (!h.dirty) this.#remove(h);
      return;
    }
    if (conn.state === 'TIME_WAIT') {
      if (this.#slim(h)) return;
      this.#timeWait.add(h);
    }
    const at = conn.pollAt();
    if (at === null) h.cancel();
    else h.schedule(at);
  }

  // ---------------------------------------------------------------------------------------------
  // The table

  #lookup(
    localAddr: number,
    localPort: number,
    remoteAddr: number,
    remotePort: number,
  ): TcpHandle | SlimTimeWait | undefined {
    return this.#table.get(remoteKey(localAddr, localPort))?.get(remoteKey(remoteAddr, remotePort));
  }

  #insert(conn: TcpConnection, listenPort: number): TcpHandle {
    const h = new TcpHandle(this, conn, listenPort);
    const local = remoteKey(conn.localAddr, conn.localPort);
    let byRemote = this.#table.get(local);
    if (byRemote === undefined) {
      byRemote = new Map();
      this.#table.set(local, byRemote);
    }
    byRemote.set(remoteKey(conn.remoteAddr, conn.remotePort), h);
    this.#count++;
    if (conn.remoteAddr >= IPV6_ID_BASE) this.#peers?.ref(conn.remoteAddr);
    this.#ref6(conn.localAddr); // a relayed connection's (the address its client dialled)
    const log = this.stack.logger;
    if (log.isLevelEnabled('debug')) {
      log.debug(
        { conn: connName(conn, this.#endpoint), passive: listenPort >= 0, state: conn.state },
        'tcp open',
      );
    }
    return h;
  }

  #remove(h: TcpHandle, to: SlimTimeWait | null = null): void {
    if (!h.inTable) return;
    h.inTable = false;
    h.cancel();
    // The owner stays: it may still take held data (and the FIN after it) from the core.
    this.#timeWait.delete(h);
    const conn = h.conn;
    const local = remoteKey(conn.localAddr, conn.localPort);
    const byRemote = this.#table.get(local);
    let released = false;
    if (byRemote?.get(remoteKey(conn.remoteAddr, conn.remotePort)) === h) {
      if (to !== null) {
        byRemote.set(remoteKey(conn.remoteAddr, conn.remotePort), to);
      } else {
        byRemote.delete(remoteKey(conn.remoteAddr, conn.remotePort));
        if (byRemote.size === 0) this.#table.delete(local);
        this.#count--;
        released = true;
      }
    }
    const log = this.stack.logger;
    if (log.isLevelEnabled('debug')) {
      const ep = this.#endpoint;
      log.debug({ conn: connName(conn, ep), last: connectionRow(conn, ep) }, 'tcp gone');
    }
    if (this.#goneWatchers.size > 0) {
      // A connection made a compact TIME_WAIT entry is still in the table: its watchers hear of
      // it when the entry leaves (#removeEntry), with the row it had now, its last counters.
      if (to !== null) to.finalRow = connectionRow(conn, this.#endpoint);
      else this.#tellGone(connectionRow(conn, this.#endpoint));
    }
    // The peer's IPv6 id goes last: the rows above still format its address.
    if (released && conn.remoteAddr >= IPV6_ID_BASE) this.#peers?.unref(conn.remoteAddr);
    if (released) this.#unref6(conn.localAddr);
  }

  /** Tell the onConnectionGone watchers a connection's final row. */
  #tellGone(row: TcpConnectionRow): void {
    for (const fn of this.#goneWatchers) {
      try {
        fn(row);
      } catch (err) {
        this.stats.ownerErrors++;
        process.nextTick(() => {
          throw err;
        });
      }
    }
  }

  /** Forget the oldest TIME_WAIT connection to make room. */
  #evictTimeWait(): boolean {
    for (const h of this.#timeWait) {
      this.stats.timeWaitEvicted++;
      if (h instanceof TcpHandle) this.#remove(h);
      else this.#removeEntry(h);
      return true;
    }
    return false;
  }

  /**
   * A TIME_WAIT connection with nothing left for its owner (no held data, no event or segment
   * owed, no user call pending) is swapped for a compact entry (src/tcp/time-wait.ts) and let
   * go; the owner, if it still holds the handle, finds the connection as it was (TIME_WAIT).
   * Its final row goes to the onConnectionGone watchers when the entry leaves the table.
   */
  #slim(h: TcpHandle): boolean {
    const conn = h.conn;
    if (h.dirty || h.busy || conn.heldBytes > 0) return false;
    const s = conn.snapshot();
    if (s.timer.kind !== 'timeWait' || s.delayedAckAt !== null) return false;
    if (conn.pollAt() !== s.timer.at) return false; // a reply or an ACK still owed
    const field = Math.min(0xffff, Math.floor(s.rcvWnd / 2 ** s.rcvShift));
    const e: SlimTimeWait = {
      localAddr: conn.localAddr,
      localPort: conn.localPort,
      remoteAddr: conn.remoteAddr,
      remotePort: conn.remotePort,
      rcvNxt: s.rcvNxt,
      sndNxt: s.sndMax,
      rcvWnd: s.rcvWnd,
      windowField: field,
      tsRecent: s.timestamps ? s.tsRecent : null,
      tsOffset: s.iss,
      expiry: s.timer.at,
      lastAckAt: Number.NEGATIVE_INFINITY,
      retransmits: s.retransmits,
      bytesSent: s.bytesOut,
      bytesReceived: s.bytesIn,
      segsSent: s.segsOut,
      segsReceived: s.segsIn,
      finalRow: null,
    };
    this.#remove(h, e);
    this.#timeWait.add(e);
    this.#entries++;
    this.stats.timeWaitSlim++;
    if (!this.#timeWaitTimer.scheduled) this.#timeWaitTimer.schedule(e.expiry);
    return true;
  }

  /** Forget a TIME_WAIT entry (expired, evicted, reset, reused, or the stack closing). */
  #removeEntry(e: SlimTimeWait): void {
    if (!this.#timeWait.delete(e)) return;
    this.#entries--;
    const local = remoteKey(e.localAddr, e.localPort);
    const byRemote = this.#table.get(local);
    const key = remoteKey(e.remoteAddr, e.remotePort);
    let released = false;
    if (byRemote?.get(key) === e) {
      byRemote.delete(key);
      if (byRemote.size === 0) this.#table.delete(local);
      this.#count--;
      released = true;
    }
    if (this.#goneWatchers.size > 0) this.#tellGone(e.finalRow ?? timeWaitRow(e, this.#endpoint));
    e.finalRow = null;
    if (released && e.remoteAddr >= IPV6_ID_BASE) this.#peers?.unref(e.remoteAddr);
    if (released) this.#unref6(e.localAddr);
  }

  /** The expiry queue's deadline: forget the entries whose 2·MSL is over, oldest first. */
  #expireTimeWait(now: number): void {
    for (const x of this.#timeWait) {
      if (x instanceof TcpHandle) continue; // a whole connection keeps its own timer
      if (x.expiry > now) {
        this.#timeWaitTimer.schedule(x.expiry);
        return;
      }
      this.#removeEntry(x);
    }
  }

  /**
   * The next ephemeral port with neither a listener nor any connection on it, searched from
   * where the last search ended (RFC 6056 §3.3.2's simple sequential selection).
   */
  #ephemeralPort(): number | null {
    const { ephemeralLow: lo, ephemeralHigh: hi } = this.options;
    const span = hi - lo + 1;
    for (let i = 0; i < span; i++) {
      const p = this.#nextEphemeral;
      this.#nextEphemeral = p >= hi ? lo : p + 1;
      // One port space for both families, as a dual-stack socket's on Linux.
      if (
        !this.#table.has(remoteKey(this.stack.addr, p)) &&
        !this.#listeners.has(p) &&
        (this.#peers === null || !this.#table.has(remoteKey(IPV6_ID_BASE, p)))
      ) {
        return p;
      }
    }
    return null;
  }

  // ---------------------------------------------------------------------------------------------
  // Introspection and shutdown

  /** Every listener and connection, like `ss -tan`. */
  connections(): TcpConnectionRow[] {
    const rows: TcpConnectionRow[] = [];
    for (const port of this.#listeners.keys()) {
      for (const { listener, family } of this.#listenersOf(port))
        rows.push({
          state: 'LISTEN',
          // Both families or IPv4 only: 0.0.0.0, as before IPv6; IPv6 only: [::].
          local: family === 6 ? `[::]:${port}` : `0.0.0.0:${port}`,
          remote: '*:*',
          sendQ: listener.options.backlog,
          recvQ: listener.pending,
          srtt: null,
          rto: 0,
          cwnd: 0,
          retransmits: 0,
          bytesSent: 0,
          bytesReceived: 0,
          segsSent: 0,
          segsReceived: 0,
          sndWnd: 0,
          rcvWnd: 0,
          congestion: null,
          history: [],
        });
    }
    for (const byRemote of this.#table.values()) {
      for (const h of byRemote.values()) {
        const ep = this.#endpoint;
        if (h instanceof TcpHandle) {
          const row = connectionRow(h.conn, ep);
          const a = h.conn.remoteAddr;
          const now = this.stack.now();
          const pmtu = this.stack.pmtu;
          row.pmtu = a < IPV6_ID_BASE ? pmtu.get4(a, now) : pmtu.get6(this.addressBytes(a), now);
          rows.push(row);
        } else {
          rows.push(timeWaitRow(h, ep));
        }
      }
    }
    return rows;
  }

  /**
   * Call `fn` with each connection's final row (its last state and counters) when it leaves the
   * table: closed, reset, timed out, TIME_WAIT expired or evicted, or the stack closing. A
   * connection's counters are otherwise gone with it. Returns a function that stops the calls.
   */
  onConnectionGone(fn: (row: TcpConnectionRow) => void): () => void {
    this.#goneWatchers.add(fn);
    return () => this.#goneWatchers.delete(fn);
  }

  /** Stack shutdown: stop listening, reset every connection, forget them all. */
  close(): void {
    if (this.#closed) return;
    for (const port of [...this.#listeners.keys()]) this.unlisten(port);
    this.unlistenAny();
    const all: TcpHandle[] = [];
    const entries: SlimTimeWait[] = [];
    for (const byRemote of this.#table.values()) {
      for (const h of byRemote.values()) {
        if (h instanceof TcpHandle) all.push(h);
        else entries.push(h);
      }
    }
    for (const e of entries) this.#removeEntry(e);
    this.#timeWaitTimer.cancel();
    for (const h of all) {
      // RST where the state calls for one; the owner hears 'closed' (the core emits it on abort).
      h.conn.abort();
      this.service(h);
    }
    this.#closed = true;
    for (const h of all) this.#remove(h);
  }
}
