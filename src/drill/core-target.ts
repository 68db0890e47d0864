/**
 * The TCP core (src/tcp: TcpListener, TcpConnection) as a DrillTarget, under a virtual clock.
 *
 * Demultiplexing is the stack's job in production (src/stack); here it is the few lines it takes
 * for one local address: a connection whose 4-tuple matches, else a listener on the port, else a
 * reset (RFC 9293 §3.10.7.1). The socket calls go through the POSIX-like SocketTable
 * (sockets.ts). stack-target.ts runs the same scripts through a whole Stack instead.
 */
import { TcpConnection } from '../tcp/conn.ts';
import { IsnGenerator } from '../tcp/isn.ts';
import { TcpListener } from '../tcp/listener.ts';
import { resolveOptions, type TcpConnectionOptions } from '../tcp/options.ts';
import { resetFor } from '../tcp/reply.ts';
import { SynCookies } from '../tcp/syncookie.ts';
import type { TcpRepr } from '../wire/tcp-repr.ts';
import { drillAddresses, mssCap } from './addresses.ts';
import {
  applyListenerSetting,
  applySetting,
  DEFAULT_LISTENER_SETTINGS,
  type ListenerSettings,
} from './commands.ts';
import { describeConnection } from './format.ts';
import { PROFILES, type ProfileName } from './profiles.ts';
import {
  type ConnRef,
  type ListenRef,
  type SocketEngine,
  SocketTable,
  SocketTarget,
} from './sockets.ts';
import type { DrillAddresses, IpVersion, Ms } from './target.ts';

/** Our addresses in drill scripts over IPv4: the stack is 10.0.0.2, the remote end 10.0.0.1. */
export const DRILL_ADDRESSES: DrillAddresses = drillAddresses('ipv4');
/** First local port for connect() (deterministic, where Linux picks at random). */
const EPHEMERAL_BASE = 50000;
/** The fixed RFC 6528 secret: ISNs are deterministic, given the time and the 4-tuple. */
export const DRILL_ISN_SECRET = new Uint8Array(16).fill(0x5a);
/** Rounds of "send what is due, then retry blocked calls" after one input or call. */
const MAX_SETTLE_ROUNDS = 64;

export interface CoreTargetOptions {
  profile?: ProfileName;
  /** Extra connection options over the profile. */
  conn?: Partial<TcpConnectionOptions>;
  addresses?: DrillAddresses;
  /**
   * packetdrill's --ip_version (default ipv4). The core sees no IP header; over IPv6 its
   * addresses are ids ≥ 2^32 with their 16 bytes behind them for ISNs and cookies, as in the
   * stack, and the MSS is capped by the MTU less 60 bytes instead of 40.
   */
  ipVersion?: IpVersion;
  /** The MTU the announced MSS must fit (default 1500, 1520 over IPv6: MSS 1460 in both). */
  mtu?: number;
}

export class CoreTarget extends SocketTarget {
  readonly addresses: DrillAddresses;
  readonly options: TcpConnectionOptions;
  #now: Ms = 0;
  readonly #isn = new IsnGenerator(DRILL_ISN_SECRET);
  /** SYN cookies with a secret derived from the fixed ISN secret, as the stack derives its own. */
  readonly #cookies = SynCookies.derivedFrom(DRILL_ISN_SECRET);
  /** tcp_syncookies and tcp_max_syn_backlog, as the script sets them. */
  readonly listenerSettings: ListenerSettings = { ...DEFAULT_LISTENER_SETTINGS };
  /** Every live connection, for demultiplexing and driving (accepted or not, closed by the user). */
  #conns: TcpConnection[] = [];
  readonly #listeners: TcpListener[] = [];
  protected readonly sockets: SocketTable;
  #out: Array<{ at: Ms; seg: TcpRepr }> = [];
  #nextPort = EPHEMERAL_BASE;
  /** Segments that reached no connection and no listener (answered with RST). */
  readonly stats = { noSocket: 0 };

  constructor(o: CoreTargetOptions = {}) {
    super();
    this.addresses = o.addresses ?? drillAddresses(o.ipVersion);
    this.options = resolveOptions({ ...PROFILES[o.profile ?? 'rfc'], ...o.conn });
    const cap = mssCap(this.addresses.ipVersion, o.mtu);
    if (this.options.mss > cap) this.options.mss = cap;
    const { local, remote, local6, remote6 } = this.addresses;
    if (local6 !== undefined && remote6 !== undefined) {
      // The real 128-bit addresses behind the ids, for RFC 6528 ISNs and SYN cookies.
      const bytes = (id: number): Uint8Array => {
        if (id === local) return local6;
        if (id === remote) return remote6;
        throw new RangeError(`${id} is not a drill address`);
      };
      this.#isn.addressBytes = bytes;
      this.#cookies.addressBytes = bytes;
    }
    this.sockets = new SocketTable(this.#engine());
  }

  // --- DrillTarget ------------------------------------------------------------------------

  inject(seg: TcpRepr, now: Ms): void {
    this.moveTo(now);
    const { local, remote } = this.addresses;
    const conn = this.#conns.find((c) => !c.finished && c.accepts(remote, local, seg));
    if (conn) {
      conn.process(this.#now, seg);
    } else {
      const l = this.#listeners.find((x) => x.accepts(local, seg));
      if (l) {
        const v = l.process(this.#now, remote, local, seg);
        if (v.kind === 'created') {
          // Paused from the start, like a kernel socket: data before accept() waits in its buffer.
          v.conn.setFlowing(false);
          this.#conns.push(v.conn);
        } else if (v.kind === 'cookie') {
          // Made by a cookie ACK: registered and paused first, then the ACK (and its data) go in.
          v.conn.setFlowing(false);
          this.#conns.push(v.conn);
          v.conn.process(this.#now, v.seg);
        } else if (v.kind === 'reset' || v.kind === 'synack') this.#send(v.seg);
      } else {
        this.stats.noSocket++;
        const rst = resetFor(seg);
        if (rst) this.#send(rst);
      }
    }
    this.settle(true);
  }

  takeOutbound(): Array<{ at: Ms; seg: TcpRepr }> {
    return this.#out.splice(0);
  }

  setting(name: string, value: string): boolean {
    return (
      applyListenerSetting(this.listenerSettings, name, value) ||
      applySetting(this.options, name, value)
    );
  }

  describe(): string {
    const c = this.sockets.latest ?? this.#conns.at(-1) ?? null;
    if (c === null) return `no connection (${this.#listeners.length} listening)`;
    return describeConnection(c);
  }

  // --- the engine -------------------------------------------------------------------------

  protected moveTo(now: Ms): void {
    if (now > this.#now) this.#now = now;
  }

  protected engineDeadline(): Ms | null {
    let d: Ms | null = null;
    for (const c of this.#conns) {
      const at = c.pollAt();
      if (at !== null && (d === null || at < d)) d = at;
    }
    return d;
  }

  #send(seg: TcpRepr): void {
    this.#out.push({ at: this.#now, seg });
  }

  /**
   * Send what every connection has due, hand over events, retry blocked calls; repeat until
   * nothing moves. `service` false: the clock merely moved (no input, no call, no deadline), and
   * as in the stack no connection is serviced, so that a core that depends on being serviced
   * (its idea of "now" comes from its last input or dispatch) shows it here too.
   */
  protected settle(service: boolean): void {
    let dispatch = service;
    for (let round = 0; round < MAX_SETTLE_ROUNDS; round++) {
      let sent = false;
      for (const c of this.#conns) {
        if (dispatch)
          for (let seg = c.dispatch(this.#now); seg !== null; seg = c.dispatch(this.#now)) {
            this.#send(seg);
            sent = true;
          }
        for (const e of c.takeEvents()) this.sockets.event(c, e);
      }
      this.#conns = this.#conns.filter((c) => !(c.finished && c.pollAt() === null));
      if (!this.sockets.wake() && !sent) return;
      dispatch = true;
    }
  }

  #engine(): SocketEngine {
    return {
      now: () => this.#now,
      options: this.options,
      perSocketOptions: true,
      listen: (port, backlog, opts): ListenRef | null => {
        if (this.#listeners.some((l) => l.localPort === port)) return null;
        const listener = new TcpListener(
          this.addresses.local,
          port,
          this.#isn,
          {
            backlog,
            conn: { ...this.options, ...opts },
            synCookies: this.listenerSettings.synCookies,
            synBacklog: this.listenerSettings.synBacklog,
          },
          this.#cookies,
        );
        this.#listeners.push(listener);
        return {
          get pending() {
            return listener.pending;
          },
          accept: () => {
            const c = listener.accept();
            return c === null ? null : { userCalls: c, core: c };
          },
          setOptions: (o) => {
            // A new object: connections already made keep theirs.
            listener.options.conn = { ...listener.options.conn, ...o };
          },
          close: () => {
            // The connections it aborts stay in #conns until their RST is sent.
            listener.close();
            this.#listeners.splice(this.#listeners.indexOf(listener), 1);
          },
        };
      },
      connect: (localPort, remotePort, opts): ConnRef => {
        const port = localPort ?? this.#nextPort++;
        const { local, remote } = this.addresses;
        const tuple = { localAddr: local, localPort: port, remoteAddr: remote, remotePort };
        const iss = this.#isn.next(local, port, remote, remotePort, this.#now);
        const c = TcpConnection.connect(tuple, iss, this.#now, { ...this.options, ...opts });
        this.#conns.push(c);
        return { userCalls: c, core: c };
      },
    };
  }
}
