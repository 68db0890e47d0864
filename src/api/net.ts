/**
 * node:net-shaped TCP on a Stack: `stack.net.createServer(...)`, `stack.net.connect(port, host)`.
 *
 * `Socket` is a `stream.Duplex` over one TcpHandle (src/stack/tcp.ts); `Server` owns one listener.
 * Node's own `http.Server`, `http.request({ createConnection })` and `ws` run on these sockets
 * unchanged (see src/api/http.ts).
 *
 * What matches Node:
 *  - Socket: connect/ready, data, end, finish, close(hadError), error, timeout, drain; end() is a
 *    half-close (FIN) and `allowHalfOpen: false` (the default) ends our side when the peer's ends;
 *    destroy() resets (RST) a connection we have not shut down, and lets one we have shut down
 *    finish its close orphaned, as the kernel does after close(2); resetAndDestroy() always
 *    resets; destroySoon(); setTimeout/'timeout' (idle time, on the stack's clock);
 *    setNoDelay, setKeepAlive; remote/local address and port; bytesRead/bytesWritten;
 *    readyState, pending, connecting; ref/unref (no-ops: the stack's own timers decide).
 *  - Backpressure both ways: write() returns false once the core's send buffer is full and
 *    Node's writable buffer passes its high-water mark, and 'drain' follows the core's drain;
 *    when push() returns false the connection is paused (`setFlowing(false)`), the core holds
 *    data up to its receive buffer and the advertised window closes; _read() resumes it.
 *  - Server: listen(port[, host][, backlog][, cb]) and listen({ port, host, backlog }[, cb]),
 *    port 0 for an ephemeral port, 'listening', 'connection', 'close' (once every connection is
 *    gone), 'error' (EADDRINUSE), 'drop' (past maxConnections), close(cb), address(),
 *    maxConnections, getConnections(cb).
 *  - Errors: Node's messages and fields, e.g. `connect ECONNREFUSED 10.0.0.2:80` with code,
 *    errno (libuv's negative Linux numbers), syscall, address and port.
 *  - Families (docs/ipv6.md): listen() with no host is '::' for both families where the stack
 *    has IPv6, IPv4 peers seen as '::ffff:a.b.c.d'; ipv6Only on '::'; an IPv4 and an IPv6-only
 *    server may share a port, a dual-stack one shares it with nobody (EADDRINUSE), as on Linux
 *    (src/api/address.ts says what each local address means).
 * What does not: address literals only (no DNS: any other host fails with ENOTFOUND;
 * 'localhost', 127/8 and '::1' mean the stack's own address, looped back); no IPC paths, no
 * `fd`, no `signal`, no `autoSelectFamily`.
 */
import { EventEmitter } from 'node:events';
import { Duplex } from 'node:stream';
import type { Stack } from '../stack/stack.ts';
import type { TcpHandle, TcpListenOwner, TcpOwner } from '../stack/tcp.ts';
import type { Timer } from '../stack/timers.ts';
import { IPV6_ID_BASE } from '../tcp/address.ts';
import type { CongestionName } from '../tcp/congestion/index.ts';
import type { TcpEvent } from '../tcp/events.ts';
import type { EcnMode, TcpConnectionOptions } from '../tcp/options.ts';
import { formatIpv4, tryParseIpv4 } from '../wire/ipv4.ts';
import { formatIpv6, get32Mapped, isIpv4Mapped, tryParseIpv6 } from '../wire/ipv6.ts';
import { isIpv6Literal, type LocalBinding, localBinding } from './address.ts';
import { nodeError, notFound, sysError, validatePort } from './errors.ts';

export interface AddressInfo {
  address: string;
  family: 'IPv4' | 'IPv6';
  port: number;
}

export interface SocketConstructorOptions {
  /** Keep our side open after the peer's FIN (default false: end() follows 'end'). */
  allowHalfOpen?: boolean;
  readableHighWaterMark?: number;
  writableHighWaterMark?: number;
}

export interface ConnectOptions extends SocketConstructorOptions {
  port: number;
  /** A dotted quad or an IPv6 address ('fd00::1'; '::ffff:a.b.c.d' is IPv4). */
  host?: string;
  /** Bind the active open to this local port (default: an ephemeral one). */
  localPort?: number;
  /**
   * Bind the active open to this local address first: one of ours in the peer's family, or
   * that family's every-address ('0.0.0.0', '::'); else `bind EADDRNOTAVAIL` (not ours) or
   * `bind EINVAL` (the other family), as Node on Linux. Not an address: ERR_INVALID_IP_ADDRESS.
   */
  localAddress?: string;
  /** For a name ('localhost'): the family to resolve it in (4 or 6; 0, the default: IPv4). */
  family?: number;
  noDelay?: boolean;
  keepAlive?: boolean;
  keepAliveInitialDelay?: number;
  /** Idle timeout (ms) set before connecting, as socket.setTimeout. */
  timeout?: number;
  /** Congestion control of this connection (as Linux's TCP_CONGESTION); default: the stack's. */
  congestion?: CongestionName;
  /** ECN (RFC 3168; docs/ecn.md): 0 never, 1 ask for it, 2 accept only; default: the stack's. */
  ecn?: EcnMode;
}

export interface ServerOptions {
  allowHalfOpen?: boolean;
  /** Accepted sockets start paused (no 'data' until resume()). */
  pauseOnConnect?: boolean;
  noDelay?: boolean;
  keepAlive?: boolean;
  keepAliveInitialDelay?: number;
  /** Congestion control of the accepted connections; default: the stack's. */
  congestion?: CongestionName;
  /** ECN of the accepted connections (docs/ecn.md); default: the stack's. */
  ecn?: EcnMode;
}

/** The TCP options a connect or a server overrides, or undefined for the stack's own. */
function tcpOverrides(o: {
  congestion?: CongestionName;
  ecn?: EcnMode;
}): Partial<TcpConnectionOptions> | undefined {
  if (o.congestion === undefined && o.ecn === undefined) return undefined;
  return {
    ...(o.congestion !== undefined ? { congestion: o.congestion } : {}),
    ...(o.ecn !== undefined ? { ecn: o.ecn } : {}),
  };
}

export interface ListenOptions {
  port?: number | string;
  /**
   * '::' (the default when the stack has IPv6): both families, IPv4 peers seen as
   * '::ffff:a.b.c.d'; '0.0.0.0' or the stack's IPv4 address: IPv4 only; its IPv6 address: IPv6
   * only.
   */
  host?: string;
  backlog?: number;
  /** On '::': IPv6 only (IPV6_V6ONLY); IPv4 peers find no listener. */
  ipv6Only?: boolean;
}

type Callback = (err?: Error | null) => void;

/** A stream over one TCP connection. Made by `stack.net.connect` or a Server. */
export class Socket extends Duplex implements TcpOwner {
  /** Bytes received and pushed to the reader. */
  bytesRead = 0;
  /** True from connect() until 'connect' (or failure). */
  connecting = false;
  /** The idle timeout set by setTimeout (ms), or undefined. */
  timeout: number | undefined = undefined;
  /** The net.Server that accepted this socket (Node's http sets its own server here). */
  server: unknown = null;

  readonly #stack: Stack;
  #handle: TcpHandle | null = null;
  /** The peer as connect() named it; null for an accepted socket, whose handle tells (below). */
  #remote: { address: string; port: number } | null = null;
  #localPort: number | undefined = undefined;
  /**
   * The connection's family as this socket shows it: 4, 6 (over IPv6), or 'mapped' (IPv4,
   * accepted by a dual-stack server: addresses as '::ffff:a.b.c.d', family 'IPv6', as Node).
   */
  #family: 4 | 6 | 'mapped' = 4;
  /** Bytes the core's send buffer took. */
  #bytesSent = 0;
  /** A write the core could not take whole: the rest waits for the core's 'drain'. */
  #pending: { data: Uint8Array; cb: Callback } | null = null;
  /** _final waiting for the connection to exist. */
  #finalCb: Callback | null = null;
  /** Our FIN is queued (shutdown) and no error ended the connection. */
  #shutdown = false;
  /** The core reported the connection over (closed, TIME_WAIT, or after an error). */
  #coreDone = false;
  /** The core is holding data (push() said stop). */
  #paused = false;
  #finSeen = false;
  /** 'closed' came while the core held data for us (paused): decide once it is read. */
  #closedWhileHeld = false;
  #noDelay: boolean | null = null;
  #keepAlive: { enable: boolean; delay: number } | null = null;
  #idleTimer: Timer | null = null;
  #lastActive = 0;
  /** The stack.net Server that accepted this socket: told when it closes (no listener each). */
  #acceptedBy: Server | null = null;

  constructor(stack: Stack, options: SocketConstructorOptions = {}) {
    super({
      allowHalfOpen: options.allowHalfOpen ?? false,
      readableHighWaterMark: options.readableHighWaterMark,
      writableHighWaterMark: options.writableHighWaterMark,
      // 'close' carries hadError, as net.Socket's does: emitted by _destroy.
      emitClose: false,
      autoDestroy: true,
    });
    this.#stack = stack;
  }

  // ---------------------------------------------------------------------------------------------
  // Opening

  /** connect(port[, host][, cb]) or connect(options[, cb]). */
  connect(port: number, host?: string, cb?: () => void): this;
  connect(port: number, cb?: () => void): this;
  connect(options: ConnectOptions, cb?: () => void): this;
  connect(...args: unknown[]): this;
  connect(...args: unknown[]): this {
    let cb: (() => void) | undefined;
    if (typeof args[args.length - 1] === 'function') cb = args.pop() as () => void;
    const opts: ConnectOptions =
      args[0] !== null && typeof args[0] === 'object'
        ? (args[0] as ConnectOptions)
        : { port: args[0] as number, host: args[1] as string | undefined };
    if (this.#handle !== null || this.connecting || this.destroyed)
      throw nodeError(
        'ERR_INVALID_STATE',
        'Invalid state: the socket is connecting, open or destroyed',
      );
    const port = validatePort(opts.port, false);
    const host = opts.host ?? 'localhost';
    const local = opts.localAddress;
    if (local !== undefined && tryParseIpv4(local) === null && tryParseIpv6(local) === null) {
      throw nodeError('ERR_INVALID_IP_ADDRESS', `Invalid IP address: ${local}`, TypeError);
    }
    if (cb !== undefined) this.once('connect', cb);
    if (opts.noDelay) this.setNoDelay(true);
    if (opts.keepAlive) this.setKeepAlive(true, opts.keepAliveInitialDelay);
    if (opts.timeout !== undefined) this.setTimeout(opts.timeout);
    this.connecting = true;
    const target = this.#resolve(host, opts.family);
    this.#remote = { address: target, port };
    let addr = tryParseIpv4(target);
    const addr6 = addr === null ? tryParseIpv6(target) : null;
    if (addr6 !== null && this.#stack.addr6 === null) {
      // An IPv6 socket (IPv4-mapped addresses included) on a host without IPv6.
      process.nextTick(() => this.destroy(sysError('EAFNOSUPPORT', 'connect', target, port)));
      return this;
    }
    if (local !== undefined && (addr !== null || addr6 !== null)) {
      const b = localBinding(this.#stack, local, addr6 !== null, false);
      if (typeof b === 'string') {
        process.nextTick(() => this.destroy(sysError(b, 'bind', local, opts.localPort)));
        return this;
      }
    }
    if (addr6 !== null && isIpv4Mapped(addr6)) {
      // An IPv6 socket to an IPv4 peer: both ends read '::ffff:a.b.c.d', family 'IPv6'.
      addr = get32Mapped(addr6);
      this.#family = 'mapped';
      this.#remote.address = `::ffff:${formatIpv4(addr)}`;
    } else if (addr6 !== null) {
      this.#family = 6;
      this.#remote.address = formatIpv6(addr6);
      const r = this.#stack.tcp.connect6(addr6, port, this, opts.localPort, tcpOverrides(opts));
      if (typeof r === 'string') {
        process.nextTick(() => this.destroy(sysError(r, 'connect', target, port)));
        return this;
      }
      this.#attach(r);
      return this;
    }
    if (addr === null) {
      const err = notFound(host);
      this.#remote = null;
      process.nextTick(() => this.destroy(err));
      return this;
    }
    const conn = tcpOverrides(opts);
    const r = this.#stack.tcp.connect(addr, port, this, opts.localPort, conn);
    if (typeof r === 'string') {
      process.nextTick(() => this.destroy(sysError(r, 'connect', host, port)));
      return this;
    }
    this.#attach(r);
    return this;
  }

  /**
   * The host as an address literal. 'localhost' (Node's default), 127.0.0.0/8 and '0.0.0.0'
   * mean the stack itself, whose own address loops back inside it (as src/api/dgram.ts does);
   * so do '::1' and '::' where it has IPv6 (Linux connects to the unspecified address as to
   * the loopback one). Anything else that is not a literal is left to fail with ENOTFOUND (no
   * DNS).
   */
  #resolve(host: string, family?: number): string {
    const stack = this.#stack;
    if (host === 'localhost' && family === 6) return stack.address6 ?? host;
    if (host === 'localhost' || host === '0.0.0.0') return stack.address;
    if ((host === '::1' || host === '::') && stack.address6 !== null) return stack.address6;
    return host.startsWith('127.') && tryParseIpv4(host) !== null ? stack.address : host;
  }

  /** @internal A Server's accepted connection. */
  static accepted(
    stack: Stack,
    handle: TcpHandle,
    options: ServerOptions,
    server: Server,
    mapped = false,
  ): Socket {
    const s = new Socket(stack, { allowHalfOpen: options.allowHalfOpen });
    s.#family = handle.remoteAddr >= IPV6_ID_BASE ? 6 : mapped ? 'mapped' : 4;
    s.#acceptedBy = server;
    s.server = server;
    s.#attach(handle);
    if (options.noDelay) s.setNoDelay(true);
    if (options.keepAlive) s.setKeepAlive(true, options.keepAliveInitialDelay);
    if (options.pauseOnConnect) s.pause();
    return s;
  }

  #attach(handle: TcpHandle): void {
    this.#handle = handle;
    this.#localPort = handle.localPort;
    if (this.#noDelay !== null) handle.setNoDelay(this.#noDelay);
    if (this.#keepAlive !== null)
      handle.setKeepAlive(this.#keepAlive.enable, this.#keepAlive.delay || undefined);
  }

  // ---------------------------------------------------------------------------------------------
  // Events from the connection (after the core call returned)

  /** @internal TcpOwner. */
  tcpEvent(handle: TcpHandle, e: TcpEvent): void {
    if (handle !== this.#handle) return;
    switch (e.type) {
      case 'connected':
        if (!this.connecting) return; // accepted sockets are connected from the start
        this.connecting = false;
        this.#touch();
        this.emit('connect');
        this.emit('ready');
        return;
      case 'data': {
        const d = e.data;
        this.bytesRead += d.length;
        this.#touch();
        // The core's chunk is ours to keep (copied out of the packet): no second copy.
        if (!this.push(Buffer.from(d.buffer, d.byteOffset, d.length)) && !this.#paused) {
          this.#paused = true;
          handle.setFlowing(false); // the core holds what follows, and the window closes
        }
        return;
      }
      case 'fin':
        this.#touch();
        this.#finSeen = true;
        // The core tells of the FIN only once the data before it is taken, paused or not.
        this.push(null);
        return;
      case 'drain':
        this.#pump();
        return;
      case 'error':
        this.#coreDone = e.code !== 'EPIPE';
        this.destroy(this.#errorFor(e.code));
        return;
      case 'closed':
        this.#coreDone = true;
        // After the peer's FIN the stream finishes by itself once it is read (autoDestroy), and
        // so it does when the core still holds data for a paused reader (the FIN follows that
        // data); anything else (the stack closing, a timeout after close) ends the stream now.
        if (this.#finSeen) return;
        if (handle.heldBytes === 0) this.destroy();
        else this.#closedWhileHeld = true;
        return;
    }
  }

  #errorFor(code: string): Error {
    const r = this.#remote;
    if (this.connecting && code !== 'EPIPE' && code !== 'ECONNRESET') {
      return sysError(code, 'connect', r?.address, r?.port);
    }
    return sysError(code, code === 'EPIPE' ? 'write' : 'read');
  }

  // ---------------------------------------------------------------------------------------------
  // stream.Duplex

  override _write(chunk: Buffer, _encoding: BufferEncoding, cb: Callback): void {
    this.#touch();
    this.#pending = { data: chunk, cb };
    if (this.#handle !== null) this.#pump();
  }

  /** Hand the pending write to the core; finish it when the core has taken all of it. */
  #pump(): void {
    const p = this.#pending;
    const h = this.#handle;
    if (p === null || h === null) return;
    if (this.#coreDone) {
      this.destroy(sysError('EPIPE', 'write'));
      return;
    }
    // The core takes what fits and, if that is not all, promises a 'drain' event.
    const n = h.send(p.data);
    this.#bytesSent += n;
    if (n < p.data.length) {
      p.data = p.data.subarray(n);
      return;
    }
    this.#pending = null;
    p.cb();
  }

  override _final(cb: Callback): void {
    if (this.#handle === null) {
      this.#finalCb = cb; // still resolving or refused: destroy() answers it
      return;
    }
    this.#shutdown = true;
    this.#handle.shutdown();
    cb();
  }

  override _read(): void {
    const h = this.#handle;
    if (h === null || !this.#paused) return;
    // Take what the core held, while the reader wants more; the window reopens as it drains.
    for (let chunk = h.recv(); chunk !== null; chunk = h.recv()) {
      this.bytesRead += chunk.length;
      if (!this.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length))) return;
    }
    this.#paused = false;
    h.setFlowing(true);
    if (this.#closedWhileHeld) {
      // The connection closed while it held our data. Its FIN, if it had one, is delivered in
      // the layer's microtask queued by the last recv(); without one (a reset, the stack
      // closing), nothing more will come: end the stream after it.
      queueMicrotask(() => {
        if (!this.#finSeen && !this.destroyed) this.destroy();
      });
    }
  }

  override _destroy(err: Error | null, cb: (err: Error | null) => void): void {
    this.#idleTimer?.cancel();
    this.#idleTimer = null;
    const h = this.#handle;
    if (h !== null && h.owner === this && !this.#coreDone) {
      // After our FIN, let the close finish without us (FIN_WAIT_*, LAST_ACK, TIME_WAIT), as
      // the kernel does after close(2); otherwise reset (RFC 9293 §3.10.5 ABORT).
      if (err === null && this.#shutdown) h.close();
      else h.abort();
    } else if (h !== null && h.owner === this) {
      h.owner = null;
    }
    this.connecting = false;
    const pending = this.#pending;
    this.#pending = null;
    const fin = this.#finalCb;
    this.#finalCb = null;
    if (pending !== null || fin !== null) {
      // Built only when someone waits: an Error captures a stack trace (~3 % of a
      // connect/request/close run when made for every socket).
      const gone =
        err ?? nodeError('ERR_STREAM_DESTROYED', 'Cannot call write after a stream was destroyed');
      pending?.cb(gone);
      fin?.(gone);
    }
    // As net.Socket's _destroy: the server's count drops now, before 'close' is emitted (and a
    // closing server's own 'close' comes first).
    this.#acceptedBy?.socketClosed(this);
    cb(err);
    const hadError = err !== null;
    process.nextTick(() => this.emit('close', hadError));
  }

  // ---------------------------------------------------------------------------------------------
  // node:net extras

  /** Reset the connection (RST) and destroy the socket. */
  resetAndDestroy(): this {
    const h = this.#handle;
    if (h !== null && h.owner === this && !this.#coreDone) h.abort();
    this.#coreDone = true;
    return this.destroy();
  }

  /** End our side; destroy once the end is written. */
  destroySoon(): void {
    if (this.writable) this.end();
    if (this.writableFinished) this.destroy();
    else this.once('finish', () => this.destroy());
  }

  setNoDelay(noDelay = true): this {
    this.#noDelay = noDelay;
    this.#handle?.setNoDelay(noDelay);
    return this;
  }

  setKeepAlive(enable = false, initialDelay = 0): this {
    this.#keepAlive = { enable, delay: initialDelay };
    this.#handle?.setKeepAlive(enable, initialDelay > 0 ? initialDelay : undefined);
    return this;
  }

  /**
   * Emit 'timeout' after `ms` of no activity (data in or out); 0 disables. The timer runs on the
   * stack's clock (virtual in simulations) and only tells: the socket stays open.
   */
  setTimeout(ms: number, cb?: () => void): this {
    if (!(ms >= 0) || !Number.isFinite(ms))
      throw nodeError(
        'ERR_OUT_OF_RANGE',
        `The value of "msecs" is out of range. Received ${ms}`,
        RangeError,
      );
    if (cb !== undefined) {
      if (ms === 0) this.removeListener('timeout', cb);
      else this.once('timeout', cb);
    }
    this.timeout = ms;
    if (ms === 0) {
      this.#idleTimer?.cancel();
      return this;
    }
    if (this.destroyed) return this;
    this.#idleTimer ??= this.#stack.timers.create((now) => this.#onIdle(now));
    this.#lastActive = this.#stack.now();
    this.#idleTimer.schedule(this.#lastActive + ms);
    return this;
  }

  #touch(): void {
    if (this.timeout === undefined || this.timeout === 0 || this.#idleTimer === null) return;
    this.#lastActive = this.#stack.now();
    // Lazy: pushing a deadline later only records it (src/stack/timers.ts).
    this.#idleTimer.schedule(this.#lastActive + this.timeout);
  }

  #onIdle(now: number): void {
    const ms = this.timeout ?? 0;
    if (ms === 0 || this.destroyed) return;
    if (now < this.#lastActive + ms) {
      this.#idleTimer?.schedule(this.#lastActive + ms);
      return;
    }
    this.emit('timeout');
  }

  address(): AddressInfo | Record<string, never> {
    if (this.#localPort === undefined) return {};
    return {
      address: this.localAddress as string,
      family: this.#familyName,
      port: this.#localPort,
    };
  }

  get #familyName(): 'IPv4' | 'IPv6' {
    return this.#family === 4 ? 'IPv4' : 'IPv6';
  }

  get remoteAddress(): string | undefined {
    if (this.#remote !== null)
      return this.#handle !== null || this.destroyed ? this.#remote.address : undefined;
    // Accepted: read from the handle rather than kept (~60 B per socket, most never asked).
    const h = this.#handle;
    if (h === null) return undefined;
    const text = this.#stack.tcp.formatAddr(h.remoteAddr);
    return this.#family === 'mapped' ? `::ffff:${text}` : text;
  }
  get remotePort(): number | undefined {
    if (this.#remote !== null)
      return this.#handle !== null || this.destroyed ? this.#remote.port : undefined;
    return this.#handle?.remotePort;
  }
  get remoteFamily(): 'IPv4' | 'IPv6' | undefined {
    return this.remoteAddress === undefined ? undefined : this.#familyName;
  }
  get localAddress(): string | undefined {
    if (this.#localPort === undefined) return undefined;
    const stack = this.#stack;
    if (this.#family === 4) return stack.address;
    if (this.#family === 'mapped') return `::ffff:${stack.address}`;
    return stack.addr6 === null ? undefined : formatIpv6(stack.addr6);
  }
  get localPort(): number | undefined {
    return this.#localPort;
  }
  get localFamily(): 'IPv4' | 'IPv6' | undefined {
    return this.#localPort === undefined ? undefined : this.#familyName;
  }

  /** Bytes the core has taken, plus those still waiting in the stream (as Node counts). */
  get bytesWritten(): number {
    return this.#bytesSent + (this.#pending?.data.length ?? 0) + this.writableLength;
  }

  /** Bytes waiting to be handed to the connection (deprecated in Node, kept for http). */
  get bufferSize(): number {
    return this.writableLength + (this.#pending?.data.length ?? 0);
  }

  get pending(): boolean {
    return this.#handle === null || this.connecting;
  }

  get readyState(): 'opening' | 'open' | 'readOnly' | 'writeOnly' | 'closed' {
    if (this.connecting) return 'opening';
    if (this.readable && this.writable) return 'open';
    if (this.readable && !this.writable) return 'readOnly';
    if (!this.readable && this.writable) return 'writeOnly';
    return 'closed';
  }

  /** The core's connection state ('ESTABLISHED', …), or null once detached. For tests and ss. */
  get tcpState(): string | null {
    return this.#handle?.state ?? null;
  }

  ref(): this {
    return this;
  }
  unref(): this {
    return this;
  }
}

/** A TCP server on the stack, shaped like net.Server. */
export class Server extends EventEmitter implements TcpListenOwner {
  /** Refuse (reset) connections beyond this many open ones; undefined: no limit. */
  maxConnections: number | undefined = undefined;
  readonly #stack: Stack;
  readonly #api: NetApi;
  readonly #options: ServerOptions;
  #port: number | null = null;
  /** The address listened on, as address() says it: '::', '0.0.0.0', one of the stack's. */
  #host = '0.0.0.0';
  /** An IPv6 socket that takes IPv4 peers ('::', '::ffff:…'): they read '::ffff:a.b.c.d'. */
  #mapped = false;
  #closing = false;
  readonly #sockets = new Set<Socket>();

  constructor(stack: Stack, api: NetApi, options: ServerOptions = {}) {
    super();
    this.#stack = stack;
    this.#api = api;
    this.#options = options;
  }

  /** listen(port[, host][, backlog][, cb]) or listen({ port, host, backlog }[, cb]). */
  listen(port?: number, host?: string, backlog?: number, cb?: () => void): this;
  listen(port?: number, host?: string, cb?: () => void): this;
  listen(port?: number, cb?: () => void): this;
  listen(options: ListenOptions, cb?: () => void): this;
  listen(...args: unknown[]): this;
  listen(...args: unknown[]): this {
    let cb: (() => void) | undefined;
    if (typeof args[args.length - 1] === 'function') cb = args.pop() as () => void;
    let opts: ListenOptions;
    if (args[0] !== null && typeof args[0] === 'object') opts = args[0] as ListenOptions;
    else {
      const [port, a, b] = args;
      opts = { port: port as number | undefined };
      if (typeof a === 'number') opts.backlog = a;
      else if (typeof a === 'string') {
        opts.host = a;
        if (typeof b === 'number') opts.backlog = b;
      }
    }
    if (this.#port !== null)
      throw nodeError(
        'ERR_SERVER_ALREADY_LISTEN',
        'Listen method has been called more than once without closing.',
      );
    const requested = opts.port === undefined ? 0 : validatePort(opts.port, true);
    if (cb !== undefined) this.once('listening', cb);
    const stack = this.#stack;
    const host = opts.host;
    let b: LocalBinding;
    if (host === undefined || host === null || host === '') {
      // Node 20 with no host: '::' where the host has IPv6 (both families; ipv6Only is not
      // passed on without a host), else '0.0.0.0'.
      b =
        stack.addr6 !== null
          ? { family: 'both', address: '::', mapped: true }
          : { family: 4, address: '0.0.0.0', mapped: false };
    } else {
      const r = localBinding(stack, host, isIpv6Literal(host), opts.ipv6Only === true);
      if (typeof r === 'string') {
        const err = r === 'ENOTFOUND' ? notFound(host) : sysError(r, 'listen', host, requested);
        process.nextTick(() => this.emit('error', err));
        return this;
      }
      b = r;
    }
    const tcp = stack.tcp;
    const port = requested === 0 ? tcp.allocatePort() : requested;
    const conn = tcpOverrides(this.#options);
    if (port === null || !tcp.listen(port, this, opts.backlog, conn, b.family)) {
      const err = sysError('EADDRINUSE', 'listen', b.address, requested);
      process.nextTick(() => this.emit('error', err));
      return this;
    }
    this.#port = port;
    this.#host = b.address;
    this.#mapped = b.mapped;
    this.#closing = false;
    this.#api.track(this);
    process.nextTick(() => {
      if (this.#port === port) this.emit('listening');
    });
    return this;
  }

  get listening(): boolean {
    return this.#port !== null;
  }

  address(): AddressInfo | null {
    if (this.#port === null) return null;
    const family = this.#host.includes(':') ? 'IPv6' : 'IPv4';
    return { address: this.#host, family, port: this.#port };
  }

  /** @internal TcpListenOwner: a connection completed its handshake. */
  accept(handle: TcpHandle): TcpOwner | null {
    if (this.#port === null) return null;
    const mapped = this.#mapped && handle.remoteAddr < IPV6_ID_BASE;
    if (this.maxConnections !== undefined && this.#sockets.size >= this.maxConnections) {
      const tcp = this.#stack.tcp;
      const v6 = handle.remoteAddr >= IPV6_ID_BASE;
      const prefix = mapped ? '::ffff:' : '';
      const family = v6 || mapped ? 'IPv6' : 'IPv4';
      this.emit('drop', {
        localAddress: prefix + tcp.formatAddr(handle.localAddr),
        localPort: handle.localPort,
        localFamily: family,
        remoteAddress: prefix + tcp.formatAddr(handle.remoteAddr),
        remotePort: handle.remotePort,
        remoteFamily: family,
      });
      return null;
    }
    const s = Socket.accepted(this.#stack, handle, this.#options, this, mapped);
    this.#sockets.add(s);
    return s;
  }

  /** @internal An accepted socket was destroyed (its 'close' follows). */
  socketClosed(s: Socket): void {
    if (this.#sockets.delete(s)) this.#maybeClosed();
  }

  /** @internal TcpListenOwner: the socket owns its connection; the user may use it now. */
  accepted(owner: TcpOwner): void {
    this.emit('connection', owner as Socket);
  }

  /** Stop accepting; 'close' (and cb) once every accepted connection has closed. */
  close(cb?: (err?: Error) => void): this {
    if (this.#port === null) {
      if (cb !== undefined)
        process.nextTick(cb, nodeError('ERR_SERVER_NOT_RUNNING', 'Server is not running.'));
      return this;
    }
    if (cb !== undefined) this.once('close', cb);
    this.#stack.tcp.unlisten(this.#port, this);
    this.#port = null;
    this.#closing = true;
    this.#api.untrack(this);
    this.#maybeClosed();
    return this;
  }

  getConnections(cb: (err: Error | null, count: number) => void): this {
    process.nextTick(cb, null, this.#sockets.size);
    return this;
  }

  ref(): this {
    return this;
  }
  unref(): this {
    return this;
  }

  #maybeClosed(): void {
    if (!this.#closing || this.#sockets.size > 0) return;
    this.#closing = false;
    process.nextTick(() => this.emit('close'));
  }
}

/** `stack.net`: the node:net functions, bound to one stack. */
export class NetApi {
  readonly #stack: Stack;
  readonly #servers = new Set<Server>();
  /** `new stack.net.Socket([options])`: an unconnected socket on this stack (then connect()). */
  readonly Socket: new (
    options?: SocketConstructorOptions,
  ) => Socket;

  constructor(stack: Stack) {
    this.#stack = stack;
    this.Socket = class extends Socket {
      constructor(options?: SocketConstructorOptions) {
        super(stack, options);
      }
    };
  }

  /** createServer([options][, connectionListener]). */
  createServer(
    options?: ServerOptions | ((socket: Socket) => void),
    listener?: (socket: Socket) => void,
  ): Server {
    if (typeof options === 'function') {
      listener = options;
      options = {};
    }
    const server = new Server(this.#stack, this, options ?? {});
    if (listener !== undefined) server.on('connection', listener);
    return server;
  }

  /** connect(port[, host][, cb]) or connect(options[, cb]): a new Socket, connecting. */
  connect(port: number, host?: string, cb?: () => void): Socket;
  connect(port: number, cb?: () => void): Socket;
  connect(options: ConnectOptions, cb?: () => void): Socket;
  connect(...args: unknown[]): Socket;
  connect(...args: unknown[]): Socket {
    const opts = args[0] !== null && typeof args[0] === 'object' ? (args[0] as ConnectOptions) : {};
    const s = new Socket(this.#stack, opts);
    return s.connect(...args);
  }

  /** The same as connect. */
  createConnection(port: number, host?: string, cb?: () => void): Socket;
  createConnection(port: number, cb?: () => void): Socket;
  createConnection(options: ConnectOptions, cb?: () => void): Socket;
  createConnection(...args: unknown[]): Socket {
    return this.connect(...args);
  }

  /** @internal */
  track(s: Server): void {
    this.#servers.add(s);
  }
  /** @internal */
  untrack(s: Server): void {
    this.#servers.delete(s);
  }

  /** @internal Stack shutdown: close every listening server. */
  closeAll(): void {
    for (const s of [...this.#servers]) s.close();
  }
}
