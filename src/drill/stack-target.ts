/**
 * A whole Stack (src/stack) as a DrillTarget: the script's segments go in as IPv4 packets through
 * the stack's link, and what the stack sends is parsed back from the bytes it writes. So a script
 * checks the wire codec (option layout, checksums), IP input and output, the TCP layer's demux
 * and timer queue, not only the core. Time is a VirtualClock that the runner moves.
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
import { ParseError } from '../wire/parse-error.ts';
import { emitTcpPacket, parseTcpPacket } from '../wire/tcp-packet.ts';
import type { TcpRepr } from '../wire/tcp-repr.ts';
import {
  applyListenerSetting,
  applySetting,
  DEFAULT_LISTENER_SETTINGS,
  type ListenerSettings,
} from './commands.ts';
import { DRILL_ADDRESSES, DRILL_ISN_SECRET } from './core-target.ts';
import { describeConnection } from './format.ts';
import { PROFILES, type ProfileName } from './profiles.ts';
import {
  type ConnRef,
  type ListenRef,
  type SocketEngine,
  SocketTable,
  SocketTarget,
} from './sockets.ts';
import type { DrillAddresses, Ms } from './target.ts';

const MTU = 1500;
/** Rounds of "retry blocked calls" after one input, call or timer. */
const MAX_SETTLE_ROUNDS = 64;

export interface StackTargetOptions {
  profile?: ProfileName;
  conn?: Partial<TcpConnectionOptions>;
}

/**
 * The link the stack sends on: each packet is parsed back into a segment at once (the stack
 * hands over ownership of the bytes), and script segments are delivered as received packets.
 */
class DrillLink implements Link {
  readonly mtu = MTU;
  rx: LinkReceiver | null = null;
  readonly out: Array<{ at: Ms; seg: TcpRepr }> = [];
  /** Packets the stack sent that are not valid TCP/IPv4 (a stack bug if ever non-zero). */
  readonly bad: string[] = [];

  constructor(private readonly clock: VirtualClock) {}

  attach(rx: LinkReceiver): void {
    this.rx = rx;
  }

  send(packet: Uint8Array): void {
    const p = parseTcpPacket(packet);
    if (p instanceof ParseError) {
      // ICMP and UDP are not the script's business; anything else the stack sent is a bug.
      if (p.reason !== 'not-tcp') this.bad.push(p.reason);
      return;
    }
    this.out.push({ at: this.clock.now(), seg: { ...p.tcp, payload: p.tcp.payload.slice() } });
  }

  flush(): void {}

  async close(): Promise<void> {}

  /** Deliver one segment from `src` to `dst` as an IPv4 packet. */
  receive(seg: TcpRepr, src: number, dst: number): void {
    this.rx?.packet(emitTcpPacket(seg, src, dst));
    this.rx?.batchEnd?.();
  }
}

export class StackTarget extends SocketTarget {
  readonly addresses: DrillAddresses = DRILL_ADDRESSES;
  readonly options: TcpConnectionOptions;
  readonly clock = new VirtualClock(0);
  readonly #link = new DrillLink(this.clock);
  #stack: Stack | null = null;
  protected readonly sockets: SocketTable;
  /** tcp_syncookies and tcp_max_syn_backlog, as the script sets them: TCP layer options. */
  readonly listenerSettings: ListenerSettings = { ...DEFAULT_LISTENER_SETTINGS };

  constructor(o: StackTargetOptions = {}) {
    super();
    this.options = resolveOptions({ ...PROFILES[o.profile ?? 'rfc'], ...o.conn });
    this.sockets = new SocketTable(this.#engine());
  }

  /** The stack, made on first use so that settings made before it apply to every connection. */
  get stack(): Stack {
    return this.#ensureStack();
  }

  #ensureStack(): Stack {
    this.#stack ??= new Stack({
      link: this.#link,
      address: formatIpv4(this.addresses.local),
      clock: this.clock,
      mtu: MTU,
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
    this.#link.receive(seg, this.addresses.remote, this.addresses.local);
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
        const h = this.stack.tcp.connect(
          this.addresses.remote,
          remotePort,
          this.#owner(),
          localPort ?? undefined,
          opts,
        );
        if (typeof h === 'string') return h;
        if (opts.noDelay) h.setNoDelay(true);
        return { userCalls: h, core: h.conn };
      },
    };
  }
}
