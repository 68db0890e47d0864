/**
 * node:dgram-shaped UDP sockets on a Stack: `stack.dgram.createSocket('udp4')`.
 *
 * What matches Node: bind([port][, address][, cb]) and bind(options[, cb]) with an ephemeral
 * port when none is given, 'listening' after bind, send(msg[, offset, length], port[, address]
 * [, cb]) with an implicit bind, 'message' (msg: Buffer, rinfo { address, family, port, size }),
 * address(), close([cb]) and 'close', connect/disconnect/remoteAddress (a connected socket gets
 * ICMP destination unreachables as 'error', e.g. recvmsg ECONNREFUSED), errors with Node's codes
 * (EADDRINUSE, EADDRNOTAVAIL, EMSGSIZE, ERR_SOCKET_DGRAM_NOT_RUNNING, ERR_SOCKET_BAD_PORT, …).
 * What does not: only 'udp4'; no multicast, broadcast or socket options (setters are no-ops
 * where harmless, absent otherwise); the address is resolved only as a dotted quad, never by DNS;
 * 'localhost', 127.0.0.0/8 and an omitted address (Node: 127.0.0.1) mean the stack's own
 * address, which the stack loops back.
 *
 * Layering: this module sits above src/stack (it is given the Stack); createStack (src/api/index.ts)
 * makes one DgramApi per stack, as `stack.dgram`.
 */
import { EventEmitter } from 'node:events';
import type { IcmpErrorReport } from '../icmp/icmp.ts';
import type { Stack } from '../stack/stack.ts';
import type { UdpEndpoint } from '../udp/udp.ts';
import { formatIpv4, tryParseIpv4 } from '../wire/ipv4.ts';
import { nodeError, sysError, validatePort } from './errors.ts';

export interface RemoteInfo {
  address: string;
  family: 'IPv4';
  port: number;
  size: number;
}

export interface AddressInfo {
  address: string;
  family: 'IPv4';
  port: number;
}

export interface SocketOptions {
  type: 'udp4';
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
  private state: State = 'unbound';
  private port = 0;
  private remote: { addr: number; port: number } | null = null;

  constructor(
    private readonly stack: Stack,
    private readonly api: DgramApi,
  ) {
    super();
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

    const addr = address === undefined || address === null ? this.stack.address : String(address);
    if (addr !== '0.0.0.0' && addr !== this.stack.address) {
      this.failBind(sysError('EADDRNOTAVAIL', 'bind', addr, p));
      return this;
    }
    this.bindNow(p, addr);
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

    let dstAddr: number;
    let dstPort: number;
    let addressText: string;
    if (this.remote !== null) {
      if (args.length > 0 && args[0] !== undefined) throw sysError('EISCONN', 'send');
      dstAddr = this.remote.addr;
      dstPort = this.remote.port;
      addressText = formatIpv4(dstAddr);
    } else {
      dstPort = validatePort(args[0], false);
      addressText = this.resolve(args[1]);
      const parsed = tryParseIpv4(addressText);
      if (parsed === null) {
        this.report(cb, sysError('EINVAL', 'send', addressText, dstPort));
        return;
      }
      dstAddr = parsed;
    }
    if (this.state === 'unbound') this.bind();
    if (this.state !== 'bound') {
      this.report(cb, notRunning());
      return;
    }
    // UDP refuses only what one datagram cannot carry (UDP_MAX_PAYLOAD), counted as tx-too-big.
    if (!this.stack.udp.send(this.port, dstAddr, dstPort, bytes)) {
      this.report(cb, sysError('EMSGSIZE', 'send', addressText, dstPort));
      return;
    }
    this.stack.requestFlush();
    if (cb !== undefined) process.nextTick(cb, null, bytes.length);
  }

  /** Only datagrams from `address:port` are received, and send() needs no destination. */
  connect(port: number, address?: string | (() => void), cb?: () => void): void {
    if (typeof address === 'function') {
      cb = address;
      address = undefined;
    }
    if (this.state === 'closed') throw notRunning();
    if (this.remote !== null) throw nodeError('ERR_SOCKET_DGRAM_IS_CONNECTED', 'Already connected');
    validatePort(port, false);
    const text = this.resolve(address);
    const addr = tryParseIpv4(text);
    if (this.state === 'unbound') this.bind();
    if (cb !== undefined) this.once('connect', cb);
    if (addr === null) {
      process.nextTick(() => this.emit('error', sysError('EINVAL', 'connect', text, port)));
      return;
    }
    this.remote = { addr, port };
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
    return { address: formatIpv4(this.remote.addr), family: 'IPv4', port: this.remote.port };
  }

  address(): AddressInfo {
    if (this.state === 'closed') throw notRunning();
    if (this.state !== 'bound') throw sysError('EBADF', 'getsockname');
    return { address: this.stack.address, family: 'IPv4', port: this.port };
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

  /** UdpEndpoint: one datagram for our port. The payload is copied into the message Buffer. */
  deliver(payload: Uint8Array, srcAddr: number, srcPort: number): void {
    const r = this.remote;
    if (r !== null && (r.addr !== srcAddr || r.port !== srcPort)) return;
    const msg = Buffer.from(payload);
    try {
      this.emit('message', msg, {
        address: formatIpv4(srcAddr),
        family: 'IPv4',
        port: srcPort,
        size: msg.length,
      });
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
    if (r === null || code === undefined || r.addr !== report.dst || r.port !== report.dstPort)
      return;
    process.nextTick(() => this.emit('error', sysError(code, 'recvmsg')));
  }

  /**
   * The destination as a dotted quad. Node's default, 'localhost', and 127.0.0.0/8 mean this
   * stack itself (it has no loopback interface; datagrams to its own address are looped back).
   */
  private resolve(address: unknown): string {
    if (address === undefined || address === null || address === 'localhost')
      return this.stack.address;
    const text = String(address);
    return text.startsWith('127.') && tryParseIpv4(text) !== null ? this.stack.address : text;
  }

  private bindNow(port: number, address: string): void {
    const udp = this.stack.udp;
    let bound: number | null;
    if (port === 0) bound = udp.bindEphemeral(this);
    else bound = udp.bind(port, this) ? port : null;
    if (bound === null) {
      this.failBind(sysError(port === 0 ? 'EAGAIN' : 'EADDRINUSE', 'bind', address, port));
      return;
    }
    this.port = bound;
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
    type: 'udp4' | SocketOptions,
    listener?: (msg: Buffer, rinfo: RemoteInfo) => void,
  ): Socket {
    const t = typeof type === 'string' ? type : type?.type;
    if (t !== 'udp4') {
      throw nodeError(
        'ERR_SOCKET_BAD_TYPE',
        'Bad socket type specified. Valid types are: udp4',
        TypeError,
      );
    }
    if (this.stack.closed) throw notRunning();
    const s = new Socket(this.stack, this);
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
