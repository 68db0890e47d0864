/**
 * A whole Stack (src/stack) as a DrillTarget: the script's segments go in as IP packets through
 * the stack's link, and what the stack sends is parsed back from the bytes it writes. So a script
 * checks the wire codec (option layout, checksums), IP input and output, the TCP layer's demux
 * and timer queue, not only the core. Time is a VirtualClock that the runner moves.
 *
 * The packets are IPv4, or IPv6 under `ipVersion: 'ipv6'` (packetdrill's --ip_version): then the
 * stack is dual-stack with the script's local address as its IPv6 one, listeners take both
 * families as a Linux AF_INET6 socket on `::` does, and connect() goes to the remote's IPv6
 * address. 'ipv4-mapped-ipv6' is the same dual-stack stack with IPv4 packets.
 *
 * Socket calls go through the same SocketTable as core-target.ts, over the TCP layer's
 * listen/connect and TcpHandle; per-socket options (TCP_MAXSEG, SO_RCVBUF, SO_SNDBUF) ride on
 * listen/connect as connection-option overrides, as in core-target.ts.
 */

import { VirtualClock } from '../stack/clock.ts';
import type { Link, LinkReceiver } from '../stack/link.ts';
import { Stack } from '../stack/stack.ts';
import type { TcpHandle, TcpOwner } from '../stack/tcp.ts';
import { resolveOptions, type TcpConnectionOptions } from '../tcp/options.ts';
import { formatIpv4 } from '../wire/ipv4.ts';
import { ipv6Equal } from '../wire/ipv6.ts';
import { ParseError } from '../wire/parse-error.ts';
import {
  emitTcpPacket,
  emitTcpPacket6,
  parseTcpPacket,
  parseTcpPacket6,
} from '../wire/tcp-packet.ts';
import type { TcpRepr } from '../wire/tcp-repr.ts';
import { DRILL_LOCAL4, DRILL_LOCAL6, defaultMtu, drillAddresses } from './addresses.ts';
import {
  applyListenerSetting,
  applySetting,
  DEFAULT_LISTENER_SETTINGS,
  type ListenerSettings,
} from './commands.ts';
import { DRILL_ISN_SECRET } from './core-target.ts';
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

/** Rounds of "retry blocked calls" after one input, call or timer. */
const MAX_SETTLE_ROUNDS = 64;

export interface StackTargetOptions {
  profile?: ProfileName;
  conn?: Partial<TcpConnectionOptions>;
  /** packetdrill's --ip_version (default ipv4). */
  ipVersion?: IpVersion;
  /** The link's MTU (default 1500, 1520 over IPv6: MSS 1460 in both, as packetdrill's run_all.py). */
  mtu?: number;
}

/**
 * The link the stack sends on: each packet is parsed back into a segment at once (the stack
 * hands over ownership of the bytes), and script segments are delivered as received packets.
 */
class DrillLink implements Link {
  rx: LinkReceiver | null = null;
  readonly out: Array<{ at: Ms; seg: TcpRepr }> = [];
  /** Packets the stack sent that are not valid TCP/IPv4 or TCP/IPv6 (a stack bug if ever any). */
  readonly bad: string[] = [];

  constructor(
    private readonly clock: VirtualClock,
    readonly mtu: number,
    /** The script's addresses: segments go in between them, in their family. */
    private readonly addrs: DrillAddresses,
  ) {}

  attach(rx: LinkReceiver): void {
    this.rx = rx;
  }

  send(packet: Uint8Array): void {
    const v6 = packet.length > 0 && packet[0] >>> 4 === 6;
    const p = v6 ? parseTcpPacket6(packet) : parseTcpPacket(packet);
    if (p instanceof ParseError) {
      // ICMP(v6) and UDP are not the script's business; anything else the stack sent is a bug.
      if (p.reason !== 'not-tcp') this.bad.push(p.reason);
      return;
    }
    // A segment in the other family than the script's, or between other addresses, is a bug too.
    const a = this.addrs;
    if (v6 !== (a.ipVersion === 'ipv6')) {
      this.bad.push(`an IPv${v6 ? 6 : 4} segment in an ${a.ipVersion ?? 'ipv4'} run`);
      return;
    }
    const between =
      p.src instanceof Uint8Array && p.dst instanceof Uint8Array
        ? a.local6 !== undefined &&
          a.remote6 !== undefined &&
          ipv6Equal(p.src, a.local6) &&
          ipv6Equal(p.dst, a.remote6)
        : p.src === a.local && p.dst === a.remote;
    if (!between) {
      this.bad.push('a segment not from the stack’s address to the script’s');
      return;
    }
    this.out.push({ at: this.clock.now(), seg: { ...p.tcp, payload: p.tcp.payload.slice() } });
  }

  flush(): void {}

  async close(): Promise<void> {}

  /** Deliver one segment from the script's remote end to the stack, in the run's family. */
  receive(seg: TcpRepr): void {
    const { local, remote, local6, remote6 } = this.addrs;
    const packet =
      local6 !== undefined && remote6 !== undefined
        ? emitTcpPacket6(seg, remote6, local6)
        : emitTcpPacket(seg, remote, local);
    this.rx?.packet(packet);
    this.rx?.batchEnd?.();
  }
}

export class StackTarget extends SocketTarget {
  readonly addresses: DrillAddresses;
  readonly options: TcpConnectionOptions;
  readonly clock = new VirtualClock(0);
  readonly #link: DrillLink;
  #stack: Stack | null = null;
  protected readonly sockets: SocketTable;
  /** tcp_syncookies and tcp_max_syn_backlog, as the script sets them: TCP layer options. */
  readonly listenerSettings: ListenerSettings = { ...DEFAULT_LISTENER_SETTINGS };

  constructor(o: StackTargetOptions = {}) {
    super();
    const ipVersion = o.ipVersion ?? 'ipv4';
    this.addresses = drillAddresses(ipVersion);
    this.#link = new DrillLink(this.clock, o.mtu ?? defaultMtu(ipVersion), this.addresses);
    this.options = resolveOptions({ ...PROFILES[o.profile ?? 'rfc'], ...o.conn });
    this.sockets = new SocketTable(this.#engine());
  }

  /** The stack, made on first use so that settings made before it apply to every connection. */
  get stack(): Stack {
    return this.#ensureStack();
  }

  #ensureStack(): Stack {
    const { ipVersion, local } = this.addresses;
    this.#stack ??= new Stack({
      link: this.#link,
      address: formatIpv4(ipVersion === 'ipv6' ? DRILL_LOCAL4 : local),
      // Dual-stack unless the run is plain IPv4 (whose stack has no IPv6, as before).
      ...(ipVersion === 'ipv4' ? {} : { address6: DRILL_LOCAL6 }),
      clock: this.clock,
      mtu: this.#link.mtu,
      tcp: {
        conn: this.options,
        isnSecret: DRILL_ISN_SECRET,
        synCookies: this.listenerSettings.synCookies,
        synBacklog: this.listenerSettings.synBacklog,
      },
    });
    return this.#stack;
  }

  // --- DrillTarget ------------------------------------------------------------------------

  inject(seg: TcpRepr, now: Ms): void {
    this.moveTo(now);
    this.#ensureStack();
    this.#link.receive(seg);
    this.settle();
  }

  takeOutbound(): Array<{ at: Ms; seg: TcpRepr }> {
    return this.#link.out.splice(0);
  }

  /** Packets the stack sent that do not parse: shown as what they are, not as missing segments. */
  takeProblems(): string[] {
    return this.#link.bad.splice(0).map((b) => `the stack sent a bad packet (${b})`);
  }

  setting(name: string, value: string): boolean {
    if (this.#stack !== null) return false; // the TCP layer has taken its options already
    return (
      applyListenerSetting(this.listenerSettings, name, value) ||
      applySetting(this.options, name, value)
    );
  }

  describe(): string {
    const c = this.sockets.latest;
    const rows = this.#stack?.connections().length ?? 0;
    return `${describeConnection(c)} (stack: ${rows} sockets, drops ${JSON.stringify(this.#stack?.stats.tcp ?? {})})`;
  }

  // --- the engine -------------------------------------------------------------------------

  protected moveTo(now: Ms): void {
    const t = this.clock.now();
    if (now > t) this.clock.advance(now - t);
  }

  protected engineDeadline(): Ms | null {
    return this.clock.nextTimerAt();
  }

  /** The stack services its connections itself (input, user calls, timers): only wake calls. */
  protected settle(): void {
    for (let round = 0; round < MAX_SETTLE_ROUNDS; round++) if (!this.sockets.wake()) return;
  }

  /**
   * After a user call the stack may service the connection in a microtask (to coalesce a burst
   * of writes), as it would in Node's event loop right after the call: let it run, then retry
   * blocked calls. A macrotask turn drains every microtask; the clock is virtual, so no real time
   * passes that matters.
   */
  async settled(): Promise<void> {
    for (let round = 0; round < MAX_SETTLE_ROUNDS; round++) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (!this.sockets.wake()) return;
    }
  }

  #owner(): TcpOwner {
    return { tcpEvent: (h: TcpHandle, e) => this.sockets.event(h.conn, e) };
  }

  #engine(): SocketEngine {
    return {
      now: () => this.clock.now(),
      options: this.options,
      perSocketOptions: true,
      listen: (port, backlog, opts): ListenRef | null => {
        const queue: TcpHandle[] = [];
        const owner = {
          accept: (h: TcpHandle) => {
            h.setFlowing(false);
            if (opts.noDelay) h.setNoDelay(true);
            queue.push(h);
            return this.#owner();
          },
        };
        if (!this.stack.tcp.listen(port, owner, backlog, opts)) return null;
        return {
          get pending() {
            return queue.length;
          },
          accept: () => {
            const h = queue.shift();
            return h === undefined ? null : { userCalls: h, core: h.conn };
          },
          setOptions: (o) => {
            this.stack.tcp.setListenerOptions(port, o);
          },
          close: () => {
            this.stack.tcp.unlisten(port);
            for (const h of queue.splice(0)) h.abort();
          },
        };
      },
      connect: (
        localPort,
        remotePort,
        opts,
      ): ConnRef | 'EADDRINUSE' | 'EADDRNOTAVAIL' | 'ENOBUFS' => {
        const { remote, remote6 } = this.addresses;
        const h =
          remote6 === undefined
            ? this.stack.tcp.connect(
                remote,
                remotePort,
                this.#owner(),
                localPort ?? undefined,
                opts,
              )
            : this.stack.tcp.connect6(
                remote6,
                remotePort,
                this.#owner(),
                localPort ?? undefined,
                opts,
              );
        if (h === 'EAFNOSUPPORT') return 'ENOBUFS'; // not reached: an IPv6 run's stack has IPv6
        if (typeof h === 'string') return h;
        if (opts.noDelay) h.setNoDelay(true);
        return { userCalls: h, core: h.conn };
      },
    };
  }
}
