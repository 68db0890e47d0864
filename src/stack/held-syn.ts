/**
 * The wildcard listener's SYNs, held until their owner decides (TcpLayer.listenAny).
 *
 * A relay (slirp4netns, passt, tun2socks) must not answer a SYN before it knows the destination
 * answers: otherwise a closed port looks open from inside, then resets after the handshake. So a
 * SYN to an address other than the stack's own is not answered at once: it is held here, keyed by
 * its 4-tuple, and handed to the owner, which dials the destination and then calls `accept`
 * (the SYN-ACK goes out), `refuse` (a RST, as a closed port answers), `unreachable` (ICMP, as a
 * router answers for a host that does not) or `drop` (silence).
 *
 * Bounds (named options, counted when they bite): at most `maxHeld` SYNs held at once (one more
 * is dropped, the client retries it), each for at most `holdMs` (then forgotten, as if dropped).
 * A SYN retransmitted while its first copy is held is dropped: the decision answers both.
 */
import type { IcmpLayer } from '../icmp/icmp.ts';
import { addrNum, IPV6_ID_BASE } from '../tcp/address.ts';
import { UnreachCode } from '../wire/icmp.ts';
import { IpProtocol, Ipv4View } from '../wire/ipv4.ts';
import { emitTcp } from '../wire/tcp.ts';
import type { TcpRepr } from '../wire/tcp-repr.ts';
import type { Timer, TimerQueue } from './timers.ts';

export interface AnyListenOptions {
  /** SYNs held at once waiting for the owner's decision; one more is dropped (the client retries). */
  maxHeld: number;
  /** A SYN the owner has not decided on after this long is forgotten (counted as expired). */
  holdMs: number;
}

export const DEFAULT_ANY_LISTEN_OPTIONS: Readonly<AnyListenOptions> = Object.freeze({
  maxHeld: 1024,
  holdMs: 30_000,
});

/** What the wildcard listener counts (stack.stats.tcp.layer.any). */
export interface AnyListenStats {
  /** New SYNs held for the owner. */
  syns: number;
  /** SYNs dropped because `maxHeld` were held already. */
  heldFull: number;
  /** Copies of a SYN that arrived while the first was held (dropped). */
  synRetransmits: number;
  /** Held SYNs forgotten after `holdMs` without a decision. */
  expired: number;
  accepted: number;
  refused: number;
  unreachable: number;
  dropped: number;
  /** accept() found no room in the connection table (the SYN was dropped). */
  openFailed: number;
  /** Non-SYN segments to another address that matched no connection (answered with a RST). */
  noConnection: number;
}

export function newAnyListenStats(): AnyListenStats {
  return {
    syns: 0,
    heldFull: 0,
    synRetransmits: 0,
    expired: 0,
    accepted: 0,
    refused: 0,
    unreachable: 0,
    dropped: 0,
    openFailed: 0,
    noConnection: 0,
  };
}

/** What the table needs from the TCP layer. */
export interface HeldSynSink<H> {
  /** Make the connection from the SYN and answer it (SYN-ACK); null when there is no room. */
  open(syn: HeldSyn<H>, owner: unknown): H | null;
  /** Answer the SYN with a RST from its destination. */
  reset(syn: HeldSyn<H>): void;
  /** The current time (ms). */
  now(): number;
  /** Flush the link after a decision (made outside input and timers). */
  flush(): void;
  /**
   * The SYN left the table (decided, expired or cleared), after its decision was carried out:
   * the TCP layer lets go of the IPv6 address ids it holds for it.
   */
  released?(syn: HeldSyn<H>): void;
  /**
   * Answer an IPv6 SYN (addresses ≥ IPV6_ID_BASE) with an ICMPv6 destination unreachable; `code`
   * is ICMPv4's (UnreachCode), mapped to ICMPv6's by the sink.
   */
  unreachable6?(syn: HeldSyn<H>, code: number): void;
}

/** One held SYN: the 4-tuple (local = the address the client dialled) and the decision. */
export class HeldSyn<H = unknown> {
  #table: HeldSyns<H> | null;

  constructor(
    table: HeldSyns<H>,
    readonly key: string,
    readonly localAddr: number,
    readonly localPort: number,
    readonly remoteAddr: number,
    readonly remotePort: number,
    /** The SYN, copied out of the packet. */
    readonly seg: TcpRepr,
    readonly heldAt: number,
  ) {
    this.#table = table;
  }

  /** Still waiting for a decision (false once decided or expired). */
  get pending(): boolean {
    return this.#table !== null;
  }

  /**
   * Answer the SYN: the connection is made (SYN_RECEIVED) with `owner` as its owner, which hears
   * 'connected' when the handshake completes. Null when the SYN is no longer held or the table
   * is full (the SYN is then forgotten; the client retries).
   */
  accept(owner: unknown): H | null {
    const t = this.#settle();
    if (t === null) return null;
    const h = t.sink.open(this, owner);
    if (h === null) t.stats.openFailed++;
    else t.stats.accepted++;
    t.sink.released?.(this);
    t.sink.flush();
    return h;
  }

  /** Answer with a RST from the destination address: what a closed port says. */
  refuse(): void {
    const t = this.#settle();
    if (t === null) return;
    t.stats.refused++;
    t.sink.reset(this);
    t.sink.released?.(this);
    t.sink.flush();
  }

  /**
   * Answer with an ICMP destination unreachable (default: host) from the stack's own address, as
   * the router on the way would for a host that does not answer.
   */
  unreachable(code: number = UnreachCode.Host): void {
    const t = this.#settle();
    if (t === null) return;
    t.stats.unreachable++;
    t.sendUnreachable(this, code);
    t.sink.released?.(this);
    t.sink.flush();
  }

  /** Forget the SYN without answering. */
  drop(): void {
    const t = this.#settle();
    if (t === null) return;
    t.stats.dropped++;
    t.sink.released?.(this);
  }

  #settle(): HeldSyns<H> | null {
    const t = this.#table;
    if (t === null) return null;
    this.#table = null;
    t.forget(this);
    return t;
  }

  /** @internal expiry */
  expire(): void {
    this.#table = null;
  }
}

/** The held SYNs of one wildcard listener, oldest first (they all wait the same holdMs). */
export class HeldSyns<H> {
  readonly #held = new Map<string, HeldSyn<H>>();
  readonly #timer: Timer;

  constructor(
    readonly options: AnyListenOptions,
    readonly stats: AnyListenStats,
    readonly sink: HeldSynSink<H>,
    timers: TimerQueue,
    readonly icmp: IcmpLayer,
  ) {
    this.#timer = timers.create((now) => this.#expire(now));
  }

  get size(): number {
    return this.#held.size;
  }

  /**
   * A SYN with no connection: the new held SYN for the owner, or null when it was dropped (a
   * copy of one already held, or the table full).
   */
  hold(seg: TcpRepr, src: number, dst: number, now: number): HeldSyn<H> | null {
    const key = `${dst}:${seg.dstPort}>${src}:${seg.srcPort}`;
    if (this.#held.has(key)) {
      this.stats.synRetransmits++;
      return null;
    }
    if (this.#held.size >= this.options.maxHeld) {
      this.stats.heldFull++;
      return null;
    }
    const copy: TcpRepr = {
      ...seg,
      options: { ...seg.options, sackBlocks: [] },
      payload: new Uint8Array(seg.payload), // a SYN's data (rare) outlives the packet
    };
    const syn = new HeldSyn<H>(
      this,
      key,
      addrNum(dst), // an IPv6 address's id (TcpLayer) stays as it is
      seg.dstPort,
      addrNum(src),
      seg.srcPort,
      copy,
      now,
    );
    this.#held.set(key, syn);
    this.stats.syns++;
    if (!this.#timer.scheduled) this.#timer.schedule(now + this.options.holdMs);
    return syn;
  }

  /** @internal */
  forget(syn: HeldSyn<H>): void {
    this.#held.delete(syn.key);
    if (this.#held.size === 0) this.#timer.cancel();
  }

  /** Forget every held SYN (the stack closing). */
  clear(): void {
    for (const s of this.#held.values()) {
      s.expire();
      this.sink.released?.(s);
    }
    this.#held.clear();
    this.#timer.cancel();
  }

  #expire(now: number): void {
    for (const s of this.#held.values()) {
      const at = s.heldAt + this.options.holdMs;
      if (at > now) {
        this.#timer.schedule(at);
        return;
      }
      this.#held.delete(s.key);
      s.expire();
      this.stats.expired++;
      this.sink.released?.(s);
    }
  }

  /** @internal An ICMP unreachable quoting the SYN's IP header and first 8 TCP bytes. */
  sendUnreachable(syn: HeldSyn<H>, code: number): void {
    if (syn.localAddr >= IPV6_ID_BASE) {
      this.sink.unreachable6?.(syn, code);
      return;
    }
    const tcpLen = 20;
    const bytes = new Uint8Array(20 + tcpLen);
    const seg: TcpRepr = {
      ...syn.seg,
      options: { ...syn.seg.options, mss: null, windowScale: null, sackPermitted: false },
      payload: new Uint8Array(0),
    };
    seg.options.timestamp = null;
    emitTcp(bytes.subarray(20), seg, syn.remoteAddr, syn.localAddr);
    Ipv4View.emit(bytes, {
      src: syn.remoteAddr,
      dst: syn.localAddr,
      protocol: IpProtocol.Tcp,
      ttl: 64,
      id: 0,
      dontFrag: true,
      moreFrags: false,
      fragOffset: 0,
      payloadLength: tcpLen,
    });
    this.icmp.sendUnreachable(
      code,
      {
        src: syn.remoteAddr,
        protocol: IpProtocol.Tcp,
        broadcast: false,
        header: bytes.subarray(0, 20),
        payload: bytes.subarray(20),
      },
      this.sink.now(),
    );
  }
}
