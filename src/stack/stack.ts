/**
 * The Stack: one object that owns the link, the clock, the timer queue and the protocol tables,
 * and the only place where the layers meet.
 *
 *   link ──packet()──► IpInput ──► ICMP / UDP / TCP handler / registered protocol
 *   layers ──► IpOutput ──► transmit() ──► link.send()      link.flush() after each batch
 *                                 └──► to our own address: looped back to input (next event-loop turn)
 *
 * Received bytes are valid only while the link's callback runs, so everything below this file
 * either finishes with them before returning or copies them (reassembly, dgram messages).
 * Output is flushed at the end of each received batch, after each run of timers, and after user
 * work (one microtask per burst of sends, see requestFlush).
 */
import { type Logger, pino } from 'pino';
import { IcmpLayer, type IcmpOptions } from '../icmp/icmp.ts';
import { Icmp6Layer } from '../icmp/icmp6.ts';
import { type IpDatagram, IpInput } from '../ip/input.ts';
import { type Ip6Datagram, Ip6Input } from '../ip/ipv6-input.ts';
import { IP6_HEADER_ROOM, Ip6Output } from '../ip/ipv6-output.ts';
import { IP_HEADER_ROOM, IpOutput, type PacketSink } from '../ip/output.ts';
import type { ReassemblyOptions } from '../ip/reassembly.ts';
import { IPV6_ID_BASE } from '../tcp/address.ts';
import { UdpLayer, type UdpOptions } from '../udp/udp.ts';
import { get32 } from '../wire/bytes.ts';
import { UnreachCode } from '../wire/icmp.ts';
import { Icmpv6Type, Unreach6Code } from '../wire/icmpv6.ts';
import { formatIpv4, IpProtocol, parseIpv4 } from '../wire/ipv4.ts';
import {
  IPV6_MIN_MTU,
  Ipv6Next,
  type Ipv6WalkLimits,
  ipv6Equal,
  ParamProblemCode,
  parseIpv6,
} from '../wire/ipv6.ts';
import { ParseError } from '../wire/parse-error.ts';
import { emitTcp, emitTcp6, parseTcp, TcpView, tcpSegmentLen } from '../wire/tcp.ts';
import type { TcpRepr } from '../wire/tcp-repr.ts';
import { type Clock, realClock } from './clock.ts';
import { TsoCoalescer } from './gso.ts';
import { type Link, RxFlag } from './link.ts';
import { type PathMtuOptions, PathMtuTable } from './pmtu.ts';
import { createStackStats, type StackStats, type TcpDropReason } from './stats.ts';
import { type TcpConnectionRow, TcpLayer, type TcpLayerOptions } from './tcp.ts';
import { type Timer, TimerQueue } from './timers.ts';

export interface StackOptions {
  link: Link;
  /** Our IPv4 address, dotted quad. */
  address: string;
  /** Default: realClock. Simulations pass a VirtualClock. */
  clock?: Clock;
  /** Default: a silent pino logger. The stack logs through `logger.child({ component: 'stack' })`. */
  logger?: Logger;
  /** Largest IP packet we send; default and maximum: link.mtu. */
  mtu?: number;
  /** TTL of what we send (default 64). */
  ttl?: number;
  /** First IP identification value (default 0; tests vary it). */
  initialIpId?: number;
  reassembly?: ReassemblyOptions;
  /**
   * Our IPv6 address (e.g. 'fd00::2'); absent: IPv4 only, and IPv6 packets are dropped as
   * 'bad-version'. Needs an MTU of at least 1280 (RFC 8200 §5).
   */
  address6?: string;
  /** IPv6's bounds and knobs (docs/ipv6.md): reassembly (60 s), the header walk, hop limit. */
  ip6?: {
    reassembly?: ReassemblyOptions;
    walk?: Partial<Ipv6WalkLimits>;
    hopLimit?: number;
    /** First Fragment Identification (default random, RFC 7739). */
    initialId?: number;
  };
  /** ICMP error rate limits, shared by ICMPv4 and ICMPv6 (each has its own bucket). */
  icmp?: IcmpOptions;
  udp?: UdpOptions;
  tcp?: Partial<TcpLayerOptions>;
  /** The path-MTU table's bounds (src/stack/pmtu.ts): 1 024 destinations, 10 min. */
  pmtu?: Partial<PathMtuOptions>;
}

/** A handler for an IP protocol the stack does not know itself. */
export interface ProtocolHandler {
  /** One whole datagram for us. Its bytes are valid only during the call. */
  input(d: IpDatagram, now: number): void;
}

/** Where checked, parsed TCP segments go (the TCP integration registers one). */
export interface TcpSegmentHandler {
  /** `seg.payload` is a view into the received packet: valid only during the call. */
  segment(seg: TcpRepr, src: number, dst: number, now: number): void;
  /**
   * A segment over IPv6 from `src` to `dst` (16 bytes each, valid during the call): our IPv6
   * address, or any other once the stack accepts any destination (a relay).
   */
  segment6?(seg: TcpRepr, src: Uint8Array, dst: Uint8Array, now: number): void;
}

/**
 * Where UDP and ICMP datagrams to addresses other than ours go once the stack accepts any
 * destination (a relay; TCP goes to the TCP layer's wildcard listener instead).
 */
export interface ForeignHandler {
  /** One whole datagram. It (and its bytes) is valid only during the call. */
  datagram(d: IpDatagram, now: number): void;
  /**
   * The same over IPv6 (UDP, ICMPv6; not multicast). Absent: such datagrams are dropped and
   * counted (`ip6.drops['not-our-address']`).
   */
  datagram6?(d: Ip6Datagram, now: number): void;
}

/** Datagrams to our own address waiting to be looped back; more are dropped and counted. */
const LOOPBACK_QUEUE_LIMIT = 1024;

export class Stack {
  readonly link: Link;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Our address, dotted and as a number. */
  readonly address: string;
  readonly addr: number;
  readonly mtu: number;
  readonly stats: StackStats = createStackStats();
  /** The one timer queue: connections and other deadlines create their Timer here. */
  readonly timers: TimerQueue;
  readonly ip: { input: IpInput; output: IpOutput };
  readonly icmp: IcmpLayer;
  /** Our IPv6 address, as given and as 16 bytes; null without IPv6. */
  readonly address6: string | null;
  readonly addr6: Uint8Array | null;
  /** IPv6 input and output, and ICMPv6: null without an IPv6 address. */
  readonly ip6: { input: Ip6Input; output: Ip6Output } | null;
  readonly icmp6: Icmp6Layer | null;
  readonly udp: UdpLayer;
  /**
   * TCP output for a link with segmentation offload (src/stack/gso.ts): the TCP layer passes a
   * connection's burst of segments through it, then calls `end()`. Null: use `sendTcp`.
   */
  readonly tso: TsoCoalescer | null;
  /** The TCP layer (src/stack/tcp.ts): connection table, listeners, output. */
  readonly tcp: TcpLayer;
  /**
   * What ICMP "fragmentation needed" and Packet Too Big taught us about each destination's path
   * MTU (RFC 1191, RFC 8201), once the TCP layer believed them (RFC 5927).
   */
  readonly pmtu: PathMtuTable;

  private readonly handlers = new Map<number, ProtocolHandler>();
  private loopback: Uint8Array[] = [];
  private loopbackImmediate: NodeJS.Immediate | null = null;
  private tcpHandler: TcpSegmentHandler | null = null;
  private foreign: ForeignHandler | null = null;
  private readonly reassemblyTimer: Timer;
  private readonly closeHooks: (() => void)[] = [];
  private flushQueued = false;
  private closing: Promise<void> | null = null;

  constructor(options: StackOptions) {
    this.link = options.link;
    this.clock = options.clock ?? realClock;
    this.logger = (options.logger ?? pino({ level: 'silent' })).child({ component: 'stack' });
    this.address = options.address;
    this.addr = parseIpv4(options.address);
    this.mtu = Math.min(options.mtu ?? this.link.mtu, this.link.mtu);

    const stats = this.stats;
    const sink: PacketSink = {
      send: (packet, segmentSize) => this.transmit(packet, segmentSize),
    };
    const output = new IpOutput(
      { address: this.addr, mtu: this.mtu, ttl: options.ttl, initialId: options.initialIpId },
      sink,
      stats.ip,
    );
    const input = new IpInput({ address: this.addr, reassembly: options.reassembly }, stats.ip);
    this.ip = { input, output };
    this.icmp = new IcmpLayer(output, stats.icmp, options.icmp, this.clock.now());
    this.udp = new UdpLayer(output, stats.udp, options.udp);
    this.icmp.setErrorHandler(IpProtocol.Udp, (report) => this.udp.icmpError(report));
    this.address6 = options.address6 ?? null;
    this.addr6 = this.address6 === null ? null : parseIpv6(this.address6);
    if (this.addr6 !== null) {
      if (this.mtu < IPV6_MIN_MTU) {
        throw Object.assign(
          new RangeError(`IPv6 needs an MTU of at least ${IPV6_MIN_MTU}, the link has ${this.mtu}`),
          { code: 'ERR_OUT_OF_RANGE' },
        );
      }
      const o6 = options.ip6 ?? {};
      const output6 = new Ip6Output(
        { address: this.addr6, mtu: this.mtu, hopLimit: o6.hopLimit, initialId: o6.initialId },
        sink,
        stats.ip6,
      );
      const input6 = new Ip6Input(
        { address: this.addr6, reassembly: o6.reassembly, walk: o6.walk },
        stats.ip6,
      );
      const icmp6 = new Icmp6Layer(output6, stats.icmp6, options.icmp, this.clock.now());
      input6.onProblem = (pkt, code, pointer, multicastToo, now) =>
        icmp6.sendParameterProblem(pkt, code, pointer, multicastToo, now);
      this.ip6 = { input: input6, output: output6 };
      this.icmp6 = icmp6;
      this.udp.ip6 = output6;
      // A Packet Too Big about a UDP datagram or an echo reply of ours lowers the destination's
      // path MTU, as Linux's udpv6_err and icmpv6_err do (no sequence number to check, unlike
      // TCP's); what IPv6 output fragments from then on is cut to it (RFC 8201 §5.2).
      icmp6.setErrorHandler(
        Ipv6Next.Udp,
        (r) => {
          if (r.type === Icmpv6Type.PacketTooBig) this.pmtu.report6(r.dst, r.mtu, this.now());
          else this.udp.icmpError6(r);
        },
        true,
      );
      icmp6.setErrorHandler(
        Ipv6Next.Icmpv6,
        (r) => {
          if (r.type === Icmpv6Type.PacketTooBig) this.pmtu.report6(r.dst, r.mtu, this.now());
        },
        true,
      );
      output6.pathMtu = (dst) => this.pmtu.get6(dst, this.now());
    } else {
      this.ip6 = null;
      this.icmp6 = null;
    }
    this.timers = new TimerQueue(
      this.clock,
      () => this.flush(),
      (err) => this.logger.error({ err }, 'timer callback threw'),
      stats.timers,
    );
    this.reassemblyTimer = this.timers.create((now) => {
      input.reassembler.expire(now, (first) => this.icmp.sendReassemblyTimeout(first, now));
      // RFC 8200 §4.5: Time Exceeded code 1 about the offset-0 fragment, when it had arrived.
      this.ip6?.input.reassembler.expire(now, (first) => {
        const pkt = new Uint8Array(first.header.length + first.payload.length);
        pkt.set(first.header);
        pkt.set(first.payload, first.header.length);
        this.icmp6?.sendReassemblyTimeout(pkt, now);
      });
      this.armReassemblyTimer();
    });
    const offload = this.link.offload;
    this.tso =
      offload?.tso === true
        ? new TsoCoalescer(
            output,
            stats.link,
            stats.tcp,
            offload.maxSegment,
            (seg, dst, src) => this.sendTcp(seg, dst, src),
            // IPv6 super-segments too where the link cuts them (TSO6).
            offload.tso6 === true && this.ip6 !== null
              ? { output: this.ip6.output, addressBytes: (id) => this.tcp.addressBytes(id) }
              : null,
          )
        : null;
    this.pmtu = new PathMtuTable(this.mtu, stats.pmtu, options.pmtu);
    this.tcp = new TcpLayer(this, options.tcp);

    this.link.attach({
      packet: (bytes, flags) => this.input(bytes, flags),
      batchEnd: () => this.flush(),
    });
    this.logger.info({ address: this.address, mtu: this.mtu }, 'stack up');
  }

  /** The clock's time. */
  now(): number {
    return this.clock.now();
  }

  /**
   * Hand datagrams of IP protocol `protocol` to `handler` instead of answering ICMP protocol
   * unreachable. ICMP (1) and UDP (17) are the stack's own; for TCP (6) prefer setTcpHandler,
   * which gets parsed segments.
   */
  registerProtocol(protocol: number, handler: ProtocolHandler): void {
    if (protocol === IpProtocol.Icmp || protocol === IpProtocol.Udp) {
      throw new Error(`IP protocol ${protocol} is handled by the stack itself`);
    }
    this.handlers.set(protocol, handler);
  }

  /**
   * Take datagrams to every destination, not only our address, as a relay's gateway does (the
   * client namespace routes everything through the device): TCP goes to the TCP layer (its
   * connections, then `tcp.listenAny`), UDP and ICMP to `handler`. Null: a host again.
   */
  acceptAnyDestination(handler: ForeignHandler | null): void {
    this.foreign = handler;
    this.ip.input.anyDestination = handler !== null;
    if (this.ip6 !== null) this.ip6.input.anyDestination = handler !== null;
  }

  /** Where TCP segments go once checked (TcpView.check) and parsed (parseTcp). */
  setTcpHandler(handler: TcpSegmentHandler | null): void {
    this.tcpHandler = handler;
  }

  /**
   * Send one TCP segment from our address to `dst`, DF set (RFC 1191). False when IP refused it
   * (larger than the MTU). Call `requestFlush()` after user-driven sends; timer- and
   * input-driven sends are flushed by the stack. `src`: our address, or the one a relayed
   * connection answers from (acceptAnyDestination).
   */
  sendTcp(seg: TcpRepr, dst: number, src: number = this.addr): boolean {
    if (dst >= IPV6_ID_BASE) return this.sendTcp6(seg, dst, src);
    const pkt = this.ip.output.allocPacket(tcpSegmentLen(seg));
    emitTcp(pkt.subarray(IP_HEADER_ROOM), seg, src, dst);
    if (!this.ip.output.send(pkt, IpProtocol.Tcp, dst, true, src, seg.ipEcn ?? 0)) return false;
    this.stats.tcp.txSegments++;
    return true;
  }

  /**
   * sendTcp to an IPv6 peer (an id of the TCP layer's, src/tcp/address.ts), from our IPv6
   * address, or from `src` when it is an IPv6 id too (a relayed connection answers from the
   * address its client dialled): the checksum over the IPv6 pseudo-header, never fragmented
   * (the MSS is MTU − 60).
   */
  private sendTcp6(seg: TcpRepr, dst: number, src: number): boolean {
    const ip6 = this.ip6;
    const own = this.addr6;
    if (ip6 === null || own === null) return false;
    const to = this.tcp.addressBytes(dst);
    const from = src > IPV6_ID_BASE ? this.tcp.addressBytes(src) : own;
    const pkt = ip6.output.allocPacket(tcpSegmentLen(seg));
    emitTcp6(pkt.subarray(IP6_HEADER_ROOM), seg, from, to);
    if (!ip6.output.send(pkt, Ipv6Next.Tcp, to, true, from, seg.ipEcn ?? 0)) return false;
    this.stats.tcp.txSegments++;
    return true;
  }

  /** Flush the link soon: once, after the current burst of user calls (a microtask). */
  requestFlush(): void {
    if (this.flushQueued || this.closing !== null) return;
    this.flushQueued = true;
    queueMicrotask(this.flushBound);
  }

  /** Send an ICMP echo request (for a ping client); replies arrive at `stack.icmp.onEchoReply`. */
  sendEchoRequest(dst: string | number, ident: number, seqNo: number, data: Uint8Array): boolean {
    const ok = this.icmp.sendEchoRequest(
      typeof dst === 'number' ? dst : parseIpv4(dst),
      ident,
      seqNo,
      data,
    );
    this.requestFlush();
    return ok;
  }

  /** Send an ICMPv6 echo request (a ping client); replies arrive at `stack.icmp6.onEchoReply`. */
  sendEchoRequest6(
    dst: string | Uint8Array,
    ident: number,
    seqNo: number,
    data: Uint8Array,
  ): boolean {
    if (this.icmp6 === null) throw new Error('sendEchoRequest6: the stack has no IPv6 address');
    const ok = this.icmp6.sendEchoRequest(
      typeof dst === 'string' ? parseIpv6(dst) : dst,
      ident,
      seqNo,
      data,
    );
    this.requestFlush();
    return ok;
  }

  /** Every TCP listener and connection, like `ss -tan`. */
  connections(): TcpConnectionRow[] {
    return this.tcp.connections();
  }

  get closed(): boolean {
    return this.closing !== null;
  }

  /**
   * Call `fn` first thing when the stack closes: the socket layers above (src/api) close their
   * sockets there, while the tables below are still whole.
   */
  onClose(fn: () => void): void {
    this.closeHooks.push(fn);
  }

  /** Close every socket, cancel every timer, and close the link. */
  close(): Promise<void> {
    if (this.closing === null) {
      for (const fn of this.closeHooks) fn();
      this.tcp.close();
      this.timers.close();
      if (this.loopbackImmediate !== null) clearImmediate(this.loopbackImmediate);
      this.loopbackImmediate = null;
      this.loopback = [];
      this.ip.input.reassembler.clear();
      this.ip6?.input.reassembler.clear();
      this.flush();
      this.logger.info({ stats: this.stats }, 'stack closed');
      this.closing = this.link.close();
    }
    return this.closing;
  }

  /** Where IP output goes: the link, or back to us for our own address. */
  private transmit(packet: Uint8Array, segmentSize?: number): void {
    const link = this.stats.link;
    const own =
      packet[0] >>> 4 === 4
        ? get32(packet, 16) === this.addr
        : this.addr6 !== null && ipv6Equal(packet, this.addr6, 24);
    if (own) {
      // A datagram to ourselves never reaches the wire (the kernel would not send it back). It
      // goes in on a later turn of the event loop (setImmediate, not a microtask), so that no
      // layer is re-entered and, whatever two of our own ends say to each other, timers, I/O
      // and signals still run between their exchanges: a conversation with ourselves can cost
      // CPU, never the event loop.
      if (this.loopback.length >= LOOPBACK_QUEUE_LIMIT) {
        link.loopbackDrops++;
        return;
      }
      link.loopbackPackets++;
      this.loopback.push(packet);
      if (this.loopback.length === 1 && this.loopbackImmediate === null) {
        this.loopbackImmediate = setImmediate(this.drainLoopback);
      }
      return;
    }
    link.txPackets++;
    link.txBytes += packet.length;
    this.link.send(packet, segmentSize);
  }

  /** One turn's looped-back datagrams (at most LOOPBACK_QUEUE_LIMIT, the queue's bound). */
  private readonly drainLoopback = (): void => {
    this.loopbackImmediate = null;
    const batch = this.loopback;
    this.loopback = [];
    for (const p of batch) this.process(p, false, true);
    this.flush();
  };

  /** One packet from the link, with the link's RxFlag bits. Never throws. */
  private input(bytes: Uint8Array, flags = 0): void {
    if (this.closing !== null) return;
    const link = this.stats.link;
    link.rxPackets++;
    link.rxBytes += bytes.length;
    // Checksum offload: the TCP/UDP checksum is partial (or was verified): TCP and UDP skip it.
    const trusted = (flags & RxFlag.CsumTrusted) !== 0;
    if (trusted) link.rxCsumTrusted++;
    // Segmentation offload: one TCP segment larger than the MTU, taken whole (TCP does not care).
    if (bytes.length > this.mtu) link.rxLarge++;
    this.process(bytes, trusted);
  }

  /** One packet for IP input, from the link or looped back. Never throws. */
  private process(bytes: Uint8Array, csumTrusted = false, looped = false): void {
    if (this.closing !== null) return;
    const stats = this.stats;
    const now = this.clock.now();
    try {
      // The version switch: IPv6 goes its own way, IPv4's path is as it was.
      if (bytes[0] >>> 4 === 6 && this.ip6 !== null) {
        const d6 = this.ip6.input.receive(bytes, now, csumTrusted, looped);
        if (d6 !== null) this.deliver6(d6, now);
        else if (this.ip6.input.reassembler.datagramsInProgress > 0) this.armReassemblyTimer();
        return;
      }
      const d = this.ip.input.receive(bytes, now, csumTrusted, looped);
      if (d !== null) this.deliver(d, now);
      else if (this.ip.input.reassembler.datagramsInProgress > 0) this.armReassemblyTimer();
    } catch (err) {
      stats.link.rxErrors++;
      this.logger.error({ err }, 'exception while handling a received packet');
    }
  }

  private deliver(d: IpDatagram, now: number): void {
    const foreign = this.foreign;
    if (foreign !== null && d.dst !== this.addr && !d.broadcast && d.protocol !== IpProtocol.Tcp) {
      foreign.datagram(d, now);
      return;
    }
    switch (d.protocol) {
      case IpProtocol.Icmp:
        this.icmp.input(d);
        return;
      case IpProtocol.Udp:
        if (this.udp.input(d) === 'no-port') this.icmp.sendUnreachable(UnreachCode.Port, d, now);
        return;
      case IpProtocol.Tcp:
        this.tcpInput(d, now);
        return;
    }
    const handler = this.handlers.get(d.protocol);
    if (handler !== undefined) {
      handler.input(d, now);
      return;
    }
    this.stats.unknownProtocol++;
    this.icmp.sendUnreachable(UnreachCode.Protocol, d, now);
  }

  /**
   * An IPv6 packet for us (or to multicast: ICMPv6 only). An unknown Next Header is answered with
   * a Parameter Problem code 1 pointing at the field (RFC 8200 §4, RFC 4443 §3.4). UDP shares
   * IPv4's port table; TCP goes to the TCP layer's one table too (tcpInput6).
   */
  private deliver6(d: Ip6Datagram, now: number): void {
    const drops = this.stats.ip6.drops;
    // A relay's gateway (acceptAnyDestination): UDP and ICMPv6 to other addresses go to its
    // handler, TCP to the TCP layer's wildcard listener.
    const foreign = this.foreign;
    if (
      foreign !== null &&
      !d.multicast &&
      d.protocol !== Ipv6Next.Tcp &&
      !ipv6Equal(d.dst, this.addr6 as Uint8Array)
    ) {
      if (foreign.datagram6 !== undefined) foreign.datagram6(d, now);
      else drops['not-our-address']++;
      return;
    }
    switch (d.protocol) {
      case Ipv6Next.Icmpv6:
        this.icmp6!.input(d);
        return;
      case Ipv6Next.NoNext:
        drops['no-next-header']++;
        return;
    }
    if (d.multicast) {
      drops['multicast-not-joined']++;
      return;
    }
    if (d.protocol === Ipv6Next.Tcp) {
      this.tcpInput6(d, now);
      return;
    }
    if (d.protocol === Ipv6Next.Udp) {
      // RFC 4443 §3.1: port unreachable, code 4.
      if (this.udp.input6(d) === 'no-port') this.icmp6!.sendUnreachable(Unreach6Code.Port, d, now);
      return;
    }
    drops['unknown-next-header']++;
    this.icmp6!.sendParameterProblem(
      d.packet,
      ParamProblemCode.NextHeader,
      d.protocolFieldAt,
      false,
      now,
    );
  }

  private tcpInput(d: IpDatagram, now: number): void {
    const tcp = this.stats.tcp;
    const handler = this.handlers.get(IpProtocol.Tcp);
    if (handler !== undefined) {
      handler.input(d, now);
      return;
    }
    const seg = this.tcpSegment(TcpView.check(d.payload, d.src, d.dst, !d.csumTrusted), d.tos);
    if (seg === null) return;
    if (this.tcpHandler === null) {
      tcp.rxUnhandled++; // no TCP yet: answer nothing
      if (this.logger.isLevelEnabled('debug')) {
        this.logger.debug(
          { from: formatIpv4(d.src), port: seg.dstPort },
          'TCP segment with no TCP handler',
        );
      }
      return;
    }
    this.tcpHandler.segment(seg, d.src, d.dst, now);
  }

  /**
   * A checked TCP header parsed into a segment carrying the IP header's ECN field (RFC 3168 §5:
   * a CE mark is TCP's to echo), counted; null (and the drop counted) when either step failed.
   */
  private tcpSegment(view: TcpView | ParseError<string>, tos: number): TcpRepr | null {
    const tcp = this.stats.tcp;
    if (view instanceof ParseError) {
      tcp.drops[view.reason as TcpDropReason]++;
      return null;
    }
    const seg = parseTcp(view);
    if (seg instanceof ParseError) {
      tcp.drops[seg.reason as TcpDropReason]++;
      return null;
    }
    if ((tos & 3) !== 0) seg.ipEcn = tos & 3;
    tcp.rxSegments++;
    return seg;
  }

  /** A TCP segment over IPv6: checked over the IPv6 pseudo-header, then as IPv4's. */
  private tcpInput6(d: Ip6Datagram, now: number): void {
    const tcp = this.stats.tcp;
    // The Traffic Class's ECN bits stand where IPv4's TOS does (RFC 8200 §7).
    const seg = this.tcpSegment(TcpView.check6(d.payload, d.src, d.dst, !d.csumTrusted), d.tos);
    if (seg === null) return;
    const handler = this.tcpHandler;
    if (handler === null || handler.segment6 === undefined) {
      tcp.rxUnhandled++;
      return;
    }
    handler.segment6(seg, d.src, d.dst, now);
  }

  private armReassemblyTimer(): void {
    const at4 = this.ip.input.reassembler.nextDeadline();
    const at6 = this.ip6?.input.reassembler.nextDeadline() ?? null;
    const at = at4 === null ? at6 : at6 === null ? at4 : Math.min(at4, at6);
    if (at === null) this.reassemblyTimer.cancel();
    else this.reassemblyTimer.schedule(at);
  }

  private flush(): void {
    this.flushQueued = false;
    this.link.flush();
  }

  private readonly flushBound = () => {
    if (this.flushQueued) this.flush();
  };
}
