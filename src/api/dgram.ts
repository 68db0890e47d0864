/**
 * node:dgram-shaped UDP sockets on a Stack: `stack.dgram.createSocket('udp4')`.
 *
 * What matches Node: bind([port][, address][, cb]) and bind(options[, cb]) with an ephemeral
 * port when none is given, 'listening' after bind, send(msg[, offset, length], port[, address]
 * [, cb]) with an implicit bind, 'message' (msg: Buffer, rinfo { address, family, port, size }),
 * address(), close([cb]) and 'close', connect/disconnect/remoteAddress (a connected socket gets
 * ICMP destination unreachables as 'error', e.g. recvmsg ECONNREFUSED), errors with Node's codes
 * (EADDRINUSE, EADDRNOTAVAIL, EMSGSIZE, ERR_SOCKET_DGRAM_NOT_RUNNING, ERR_SOCKET_BAD_PORT, …).
 * 'udp6' (on a stack with an IPv6 address, docs/ipv6.md) is dual-stack as Node's is by default:
 * bound to '::', it gets IPv6 datagrams and IPv4 ones, the latter from '::ffff:a.b.c.d', and
 * sends to either; `createSocket({ type: 'udp6', ipv6Only: true })` gets IPv6 only (IPv4
 * datagrams to its port find no socket: port unreachable) and may share its port with a udp4
 * socket, as on Linux; bound to an IPv4-mapped address it gets IPv4 only. 'udp4' gets IPv4 only.
 * The local address means what src/api/address.ts says (EADDRNOTAVAIL, EINVAL for the other
 * family, EAFNOSUPPORT for udp6 on a stack without IPv6); sending across families fails as on
 * Linux (ENETUNREACH from an IPv6-only socket to an IPv4 peer, EAFNOSUPPORT the other way).
 * What does not: multicast, broadcast and socket options (setters are no-ops where harmless,
 * absent otherwise); the address is resolved only as a literal, never by DNS; 'localhost',
 * 127.0.0.0/8, '::1' and an omitted address (Node: 127.0.0.1 or ::1) mean the stack's own
 * address, which the stack loops back.
 *
 * Layering: this module sits above src/stack (it is given the Stack); createStack (src/api/index.ts)
 * makes one DgramApi per stack, as `stack.dgram`.
 */
import { EventEmitter } from 'node:events';
import type { IcmpErrorReport } from '../icmp/icmp.ts';
import type { Icmp6ErrorReport } from '../icmp/icmp6.ts';
import type { Stack } from '../stack/stack.ts';
import type { UdpEndpoint, UdpFamily } from '../udp/udp.ts';
import { formatIpv4, tryParseIpv4 } from '../wire/ipv4.ts';
import { formatIpv6, get32Mapped, ipv6Equal, isIpv4Mapped, tryParseIpv6 } from '../wire/ipv6.ts';
import { localBinding } from './address.ts';
import { nodeError, notFound, sysError, validatePort } from './errors.ts';

export interface RemoteInfo {
  address: string;
  family: 'IPv4' | 'IPv6';
  port: number;
  size: number;
}

export interface AddressInfo {
  address: string;
  family: 'IPv4' | 'IPv6';
  port: number;
}

export type SocketType = 'udp4' | 'udp6';

export interface SocketOptions {
  type: SocketType;
  /** udp6 only: IPv6 datagrams only (IPV6_V6ONLY), the port free for a udp4 socket too. */
  ipv6Only?: boolean;
}

/** A peer: IPv4 (`addr6` null) or IPv6. */
interface Peer {
  addr: number;
  addr6: Uint8Array | null;
  port: number;
}

export interface BindOptions {
  port?: number;
  address?: string;
  exclusive?: boolean;
}

type SendCallback = (err: Error | null, bytes?: number) => void;
type Msg = Uint8Array | string | ReadonlyArray<Uint8Array | string>;

/** What Linux makes of a destination unreachable code (net/ipv4/icmp.c, icmp_err_convert). */
const UNREACH_ERRNO: Record<number, string> = {
  0: 'ENETUNREACH',
  1: 'EHOSTUNREACH',
  2: 'ENOPROTOOPT',
  3: 'ECONNREFUSED',
};

/** What Linux makes of an ICMPv6 Destination Unreachable code (net/ipv6/icmp.c, tab_unreach). */
const UNREACH6_ERRNO: Record<number, string> = {
  0: 'ENETUNREACH',
  1: 'EACCES',
  2: 'EHOSTUNREACH',
  3: 'EHOSTUNREACH',
  4: 'ECONNREFUSED',
  5: 'EACCES',
  6: 'EACCES',
};

function notRunning(): Error {
  return nodeError('ERR_SOCKET_DGRAM_NOT_RUNNING', 'Not running');
}

function toBytes(msg: Msg): Uint8Array {
  if (typeof msg === 'string') return Buffer.from(msg);
  if (msg instanceof Uint8Array) return msg;
  if (Array.isArray(msg))
    return Buffer.concat(msg.map((m) => (typeof m === 'string' ? Buffer.from(m) : m)));
  throw nodeError(
    'ERR_INVALID_ARG_TYPE',
    'The "buffer" argument must be of type string or an instance of Buffer, TypedArray, DataView or Array.',
    TypeError,
  );
}

type State = 'unbound' | 'bound' | 'closed';

/** The events, typed as node:dgram types them. */
export interface SocketEvents {
  message: [msg: Buffer, rinfo: RemoteInfo];
  listening: [];
  connect: [];
  close: [];
  error: [err: NodeJS.ErrnoException];
}

export class Socket extends EventEmitter<SocketEvents> implements UdpEndpoint {
  /** UdpEndpoint: present on a 'udp6' socket only, which takes IPv6 datagrams too. */
  readonly deliver6?: (payload: Uint8Array, srcAddr: Uint8Array, srcPort: number) => void;
  private state: State = 'unbound';
  private port = 0;
  /** The address bound, as address() says it ('0.0.0.0', '::', '::ffff:…', ours). */
  private boundAddress = '';
  /** Bound to every address of its family or families: address() names ours once connected. */
  private wildcard = false;
  /** The families it takes; before bind, those an implicit bind will give it. */
  private takes: UdpFamily;
  private remote: Peer | null = null;

  constructor(
    private readonly stack: Stack,
    private readonly api: DgramApi,
    readonly type: SocketType = 'udp4',
    private readonly ipv6Only = false,
  ) {
    super();
    this.takes = type === 'udp4' ? 4 : ipv6Only ? 6 : 'both';
    if (type === 'udp6') {
      this.deliver6 = (payload, srcAddr, srcPort) => {
        const r = this.remote;
        if (r !== null && (r.addr6 === null || !ipv6Equal(r.addr6, srcAddr) || r.port !== srcPort))
          return;
        this.emitMessage(payload, formatIpv6(srcAddr), srcPort);
      };
    }
  }

  /** bind([port][, address][, callback]) or bind(options[, callback]). */
  bind(port?: number, address?: string, callback?: () => void): this;
  bind(port?: number, callback?: () => void): this;
  bind(callback?: () => void): this;
  bind(options: BindOptions, callback?: () => void): this;
  bind(...args: unknown[]): this {
    let port: unknown;
    let address: unknown;
    let cb: (() => void) | undefined;
    if (typeof args[args.length - 1] === 'function') cb = args.pop() as () => void;
    if (args[0] !== null && typeof args[0] === 'object') {
      ({ port, address } = args[0] as BindOptions);
    } else {
      [port, address] = args;
    }
    if (this.state === 'closed') throw notRunning();
    if (this.state !== 'unbound')
      throw nodeError('ERR_SOCKET_ALREADY_BOUND', 'Socket is already bound');
    const p = port === undefined ? 0 : validatePort(port, true);
    if (cb !== undefined) this.once('listening', cb);

    const v6 = this.type === 'udp6';
    // Node binds every address when none is given: '0.0.0.0', or '::'.
    const addr =
      address === undefined || address === null || address === ''
        ? v6
          ? '::'
          : '0.0.0.0'
        : String(address);
    const b = localBinding(this.stack, addr, v6, this.ipv6Only);
    if (typeof b === 'string') {
      this.failBind(b === 'ENOTFOUND' ? notFound(addr) : sysError(b, 'bind', addr, p));
      return this;
    }
    this.bindNow(p, b.address, b.family, b.address === '::' || b.address.endsWith('0.0.0.0'));
    return this;
  }

  /**
   * send(msg, [offset, length,] port[, address][, callback]); on a connected socket
   * send(msg, [offset, length,][callback]).
   */
  send(msg: Msg, port?: number, address?: string, callback?: SendCallback): void;
  send(msg: Msg, port?: number, callback?: SendCallback): void;
  send(msg: Msg, callback?: SendCallback): void;
  send(
    msg: Msg,
    offset: number,
    length: number,
    port?: number,
    address?: string,
    callback?: SendCallback,
  ): void;
  send(msg: Msg, offset: number, length: number, callback?: SendCallback): void;
  send(msg: Msg, ...args: unknown[]): void {
    let cb: SendCallback | undefined;
    if (typeof args[args.length - 1] === 'function') cb = args.pop() as SendCallback;
    let bytes = toBytes(msg);
    if (
      typeof args[0] === 'number' &&
      typeof args[1] === 'number' &&
      (args.length > 2 || this.remote !== null)
    ) {
      const [offset, length] = args as [number, number];
      bytes = bytes.subarray(offset, offset + length);
      args = args.slice(2);
    }
    if (this.state === 'closed') throw notRunning();

    let dst: Peer;
    let addressText: string;
    if (this.remote !== null) {
      if (args.length > 0 && args[0] !== undefined) throw sysError('EISCONN', 'send');
      dst = this.remote;
      addressText = this.format(dst);
    } else {
      const dstPort = validatePort(args[0], false);
      addressText = this.resolve(args[1]);
      const parsed = this.parse(addressText, dstPort);
      if (parsed === null) {
        this.report(cb, sysError('EINVAL', 'send', addressText, dstPort));
        return;
      }
      dst = parsed;
    }
    const refused = this.crossFamily(dst);
    if (refused !== null) {
      this.report(cb, sysError(refused, 'send', addressText, dst.port));
      return;
    }
    if (this.state === 'unbound') this.bind();
    if (this.state !== 'bound') {
      this.report(cb, notRunning());
      return;
    }
    const udp = this.stack.udp;
    // UDP refuses only what one datagram cannot carry (UDP_MAX_PAYLOAD), counted as tx-too-big.
    const sent =
      dst.addr6 === null
        ? udp.send(this.port, dst.addr, dst.port, bytes)
        : udp.send6(this.port, dst.addr6, dst.port, bytes);
    if (!sent) {
      this.report(cb, sysError('EMSGSIZE', 'send', addressText, dst.port));
      return;
    }
    this.stack.requestFlush();
    if (cb !== undefined) process.nextTick(cb, null, bytes.length);
  }

  /**
   * Only datagrams from `address:port` are received, and send() needs no destination. A failure
   * goes to `cb` when there is one (Node 20's dgram), else to 'error'.
   */
  connect(
    port: number,
    address?: string | ((err?: Error) => void),
    cb?: (err?: Error) => void,
  ): void {
    if (typeof address === 'function') {
      cb = address;
      address = undefined;
    }
    if (this.state === 'closed') throw notRunning();
    if (this.remote !== null) throw nodeError('ERR_SOCKET_DGRAM_IS_CONNECTED', 'Already connected');
    validatePort(port, false);
    const text = this.resolve(address);
    const peer = this.parse(text, port);
    if (this.state === 'unbound') this.bind();
    const refused = peer === null ? 'EINVAL' : this.crossFamily(peer);
    if (refused !== null) {
      const err = sysError(refused, 'connect', text, port);
      process.nextTick(() => (cb !== undefined ? cb(err) : this.emit('error', err)));
      return;
    }
    if (cb !== undefined) this.once('connect', cb);
    this.remote = peer;
    process.nextTick(() => this.emit('connect'));
  }

  disconnect(): void {
    if (this.state === 'closed') throw notRunning();
    if (this.remote === null) throw nodeError('ERR_SOCKET_DGRAM_NOT_CONNECTED', 'Not connected');
    this.remote = null;
  }

  remoteAddress(): AddressInfo {
    if (this.state === 'closed') throw notRunning();
    if (this.remote === null) throw nodeError('ERR_SOCKET_DGRAM_NOT_CONNECTED', 'Not connected');
    return { address: this.format(this.remote), family: this.family, port: this.remote.port };
  }

  /**
   * The bound address; once connected, a socket bound to every address names the one it sends
   * from (getsockname after connect(2)): ours, in the peer's family ('::ffff:…' on udp6).
   */
  address(): AddressInfo {
    if (this.state === 'closed') throw notRunning();
    if (this.state !== 'bound') throw sysError('EBADF', 'getsockname');
    const r = this.remote;
    let address = this.boundAddress;
    if (r !== null && this.wildcard) {
      const stack = this.stack;
      if (r.addr6 !== null) address = stack.address6 ?? address;
      else address = this.type === 'udp6' ? `::ffff:${stack.address}` : stack.address;
    }
    return { address, family: this.family, port: this.port };
  }

  close(cb?: () => void): this {
    if (this.state === 'closed') throw notRunning();
    if (cb !== undefined) this.once('close', cb);
    this.closeNow();
    return this;
  }

  /** Close without the "already closed" check (stack shutdown). */
  closeNow(): void {
    if (this.state === 'closed') return;
    if (this.state === 'bound') this.stack.udp.unbind(this.port, this);
    this.state = 'closed';
    this.remote = null;
    this.api.forget(this);
    process.nextTick(() => this.emit('close'));
  }

  ref(): this {
    return this;
  }

  unref(): this {
    return this;
  }

  /** UdpEndpoint: one IPv4 datagram for our port (a udp6 socket sees '::ffff:a.b.c.d'). */
  deliver(payload: Uint8Array, srcAddr: number, srcPort: number): void {
    const r = this.remote;
    if (r !== null && (r.addr6 !== null || r.addr !== srcAddr || r.port !== srcPort)) return;
    const text = formatIpv4(srcAddr);
    this.emitMessage(payload, this.type === 'udp6' ? `::ffff:${text}` : text, srcPort);
  }

  private get family(): 'IPv4' | 'IPv6' {
    return this.type === 'udp6' ? 'IPv6' : 'IPv4';
  }

  /** 'message' with a copy of the payload. */
  private emitMessage(payload: Uint8Array, address: string, port: number): void {
    const msg = Buffer.from(payload);
    try {
      this.emit('message', msg, { address, family: this.family, port, size: msg.length });
    } catch (err) {
      // A 'message' listener threw. Node would surface it as an uncaught exception; so do we,
      // but outside the stack's receive path, which carries on with the next packet.
      this.stack.stats.udp.listenerErrors++;
      process.nextTick(() => {
        throw err;
      });
    }
  }

  /**
   * UdpEndpoint: a destination unreachable about a datagram we sent. As on Linux, only a
   * connected socket hears of it (an unconnected one cannot tell which send failed), and Node
   * surfaces it as an 'error' event from recvmsg, e.g. "recvmsg ECONNREFUSED".
   */
  icmpError(report: IcmpErrorReport): void {
    const r = this.remote;
    const code = UNREACH_ERRNO[report.code];
    if (
      r === null ||
      r.addr6 !== null ||
      code === undefined ||
      r.addr !== report.dst ||
      r.port !== report.dstPort
    )
      return;
    process.nextTick(() => this.emit('error', sysError(code, 'recvmsg')));
  }

  /** UdpEndpoint: the same over IPv6 (a connected udp6 socket with an IPv6 peer). */
  icmpError6(report: Icmp6ErrorReport): void {
    const r = this.remote;
    const code = UNREACH6_ERRNO[report.code];
    if (r === null || r.addr6 === null || code === undefined || r.port !== report.dstPort) return;
    if (!ipv6Equal(r.addr6, report.dst)) return;
    process.nextTick(() => this.emit('error', sysError(code, 'recvmsg')));
  }

  /**
   * The destination as a literal. Node's default, 'localhost', 127.0.0.0/8 (udp4) and '::1'
   * (udp6) mean this stack itself (it has no loopback interface; datagrams to its own address
   * are looped back). A literal of the other family stays as it is, for EINVAL.
   */
  private resolve(address: unknown): string {
    const udp6 = this.type === 'udp6';
    const self = udp6
      ? (this.stack.address6 ?? `::ffff:${this.stack.address}`)
      : this.stack.address;
    if (address === undefined || address === null || address === 'localhost') return self;
    const text = String(address);
    if (udp6) return text === '::1' ? self : text;
    return text.startsWith('127.') && tryParseIpv4(text) !== null ? this.stack.address : text;
  }

  /**
   * Why a datagram to `dst` cannot go from this socket, as Linux's udpv6_sendmsg and
   * ip6_datagram_connect refuse it, or null: an IPv4 peer from an IPv6-only socket is
   * ENETUNREACH, an IPv6 peer from one bound to an IPv4(-mapped) address EAFNOSUPPORT; an IPv6
   * peer on a stack without IPv6 ENETUNREACH.
   */
  private crossFamily(dst: Peer): 'ENETUNREACH' | 'EAFNOSUPPORT' | null {
    if (dst.addr6 === null) return this.takes === 6 ? 'ENETUNREACH' : null;
    if (this.takes === 4) return 'EAFNOSUPPORT';
    return this.stack.ip6 === null ? 'ENETUNREACH' : null;
  }

  /**
   * A literal address as a peer: a dotted quad for udp4; for udp6 an IPv6 address, IPv4-mapped
   * ones ('::ffff:10.0.0.1') meaning IPv4, as on a dual-stack socket. Null when it is neither.
   */
  private parse(text: string, port: number): Peer | null {
    if (this.type === 'udp4') {
      const addr = tryParseIpv4(text);
      return addr === null ? null : { addr, addr6: null, port };
    }
    const a6 = tryParseIpv6(text);
    if (a6 === null) return null;
    if (isIpv4Mapped(a6)) return { addr: get32Mapped(a6), addr6: null, port };
    return { addr: 0, addr6: a6, port };
  }

  private format(p: Peer): string {
    if (p.addr6 !== null) return formatIpv6(p.addr6);
    const text = formatIpv4(p.addr);
    return this.type === 'udp6' ? `::ffff:${text}` : text;
  }

  /** `address` as address() will say it, taking datagrams of `family`. */
  private bindNow(port: number, address: string, family: UdpFamily, wildcard: boolean): void {
    const udp = this.stack.udp;
    let bound: number | null;
    if (port === 0) bound = udp.bindEphemeral(this, family);
    else bound = udp.bind(port, this, family) ? port : null;
    if (bound === null) {
      this.failBind(sysError(port === 0 ? 'EAGAIN' : 'EADDRINUSE', 'bind', address, port));
      return;
    }
    this.port = bound;
    this.boundAddress = address;
    this.wildcard = wildcard;
    this.takes = family;
    this.state = 'bound';
    process.nextTick(() => {
      if (this.state === 'bound') this.emit('listening');
    });
  }

  /** The socket stays unbound; the error comes as an event, as Node's does. */
  private failBind(err: Error): void {
    process.nextTick(() => this.emit('error', err));
  }

  /** An error for `cb` if given, else for the 'error' event; always asynchronously, as Node does. */
  private report(cb: SendCallback | undefined, err: Error): void {
    if (cb !== undefined) process.nextTick(cb, err);
    else process.nextTick(() => this.emit('error', err));
  }
}

/** `stack.dgram`: makes sockets and remembers the open ones so that the stack can close them. */
export class DgramApi {
  private readonly open = new Set<Socket>();

  constructor(private readonly stack: Stack) {}

  createSocket(
    type: SocketType | SocketOptions,
    listener?: (msg: Buffer, rinfo: RemoteInfo) => void,
  ): Socket {
    const t = typeof type === 'string' ? type : type?.type;
    if (t !== 'udp4' && t !== 'udp6') {
      throw nodeError(
        'ERR_SOCKET_BAD_TYPE',
        'Bad socket type specified. Valid types are: udp4, udp6',
        TypeError,
      );
    }
    if (this.stack.closed) throw notRunning();
    // As Node, ipv6Only is read for udp6 only.
    const v6only = t === 'udp6' && typeof type === 'object' && type.ipv6Only === true;
    const s = new Socket(this.stack, this, t, v6only);
    if (listener !== undefined) s.on('message', listener);
    this.open.add(s);
    return s;
  }

  /** Sockets not yet closed. */
  get sockets(): number {
    return this.open.size;
  }

  /** @internal Called by a socket when it closes. */
  forget(s: Socket): void {
    this.open.delete(s);
  }

  /** @internal Stack shutdown. */
  closeAll(): void {
    for (const s of [...this.open]) s.closeNow();
  }
}
