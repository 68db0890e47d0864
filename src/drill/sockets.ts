/**
 * A small POSIX-like socket layer for drill targets: where the kernel's socket layer would be.
 *
 * File descriptors from 3 up (the lowest free one, as Linux), blocking and non-blocking calls
 * (O_NONBLOCK), SO_ERROR, and poll with Linux's tcp_poll readiness rules. Connections run paused
 * (`setFlowing(false)`), so unread bytes stay in the receive buffer and close the window as a
 * kernel socket's would; read() takes them.
 *
 * What carries the connections is a SocketEngine: the bare TCP core (core-target.ts) or a whole
 * Stack (stack-target.ts). The target reports each connection event with `event()` and, after
 * each input, call or timer, calls `wake()` (until it reports no progress) so that blocked calls
 * can complete.
 */
import type { TcpConnection } from '../tcp/conn.ts';
import type { TcpErrorCode, TcpEvent } from '../tcp/events.ts';
import type { TcpConnectionOptions } from '../tcp/options.ts';
import type { TcpRepr } from '../wire/tcp-repr.ts';
import { SYMBOLS } from './symbols.ts';
import type {
  DrillAddresses,
  DrillTarget,
  Ms,
  SyscallOutcome,
  SyscallRequest,
  SyscallResult,
} from './target.ts';

/** File descriptors a script may hold at once. */
const MAX_FDS = 1024;

/** Linux's net.core.wmem_max and rmem_max defaults: SO_SNDBUF/SO_RCVBUF clamp to them. */
const WMEM_MAX = 212_992;
const RMEM_MAX = 212_992;
/** Linux's SOCK_MIN_SNDBUF and SOCK_MIN_RCVBUF on x86-64 (2 and 1 minimal skb truesizes). */
const SOCK_MIN_SNDBUF = 4608;
const SOCK_MIN_RCVBUF = 2304;

/**
 * IP-level options accepted and recorded (getsockopt reads them back) that change nothing here:
 * tunstack sends no TOS or TTL of a socket's choosing, has no error queue, and does no path MTU
 * discovery. Each one's default as Linux reports it, and its check (null: any value).
 */
const IP_OPTIONS: Readonly<
  Record<string, { initial: number; check: ((v: number) => boolean) | null; bool?: true }>
> = {
  // Linux keeps the ECN bits of a TCP socket's TOS its own (do_ip_setsockopt, IP_TOS).
  IP_TOS: { initial: 0, check: null },
  // -1 means the route's default (64).
  IP_TTL: { initial: 64, check: (v) => v === -1 || (v >= 1 && v <= 255) },
  IP_MTU_DISCOVER: {
    initial: SYMBOLS.IP_PMTUDISC_WANT,
    check: (v) => v >= SYMBOLS.IP_PMTUDISC_DONT && v <= SYMBOLS.IP_PMTUDISC_OMIT,
  },
  IP_RECVERR: { initial: 0, check: null, bool: true },
  IP_RECVTTL: { initial: 0, check: null, bool: true },
  IP_RECVTOS: { initial: 0, check: null, bool: true },
  IP_PKTINFO: { initial: 0, check: null, bool: true },
  IP_FREEBIND: { initial: 0, check: null, bool: true },
  IP_TRANSPARENT: { initial: 0, check: null, bool: true },
  IP_BIND_ADDRESS_NO_PORT: { initial: 0, check: null, bool: true },
};

const { POLLIN, POLLOUT, POLLERR, POLLHUP, POLLNVAL, POLLRDNORM, POLLWRNORM, POLLRDHUP } = SYMBOLS;

/** The user calls on one connection (TcpConnection itself, or the stack's TcpHandle). */
export interface UserCalls {
  /** `more`: MSG_MORE (the partial segment waits for more). */
  send(data: Uint8Array, more?: boolean): number;
  recv(max?: number): Uint8Array | null;
  shutdown(): void;
  close(): void;
  abort(): void;
  setNoDelay(noDelay: boolean): void;
  /** TCP_CORK. */
  setCork(on: boolean): void;
  setKeepAlive(enable: boolean, idleMs?: number): void;
}

/**
 * A connection: the user calls a script's syscalls become (on the core, or on the stack's handle
 * in front of it), and the core behind them (for state, snapshot and options).
 */
export interface ConnRef {
  userCalls: UserCalls;
  core: TcpConnection;
}

/** A listening endpoint: connections that completed the handshake, oldest first. */
export interface ListenRef {
  readonly pending: number;
  accept(): ConnRef | null;
  close(): void;
  /**
   * Options for the connections it makes from now on: setsockopt() on a listening socket, which
   * Linux's accepted sockets inherit (TCP_MAXSEG then sets the MSS its SYN-ACKs advertise).
   * Only engines with perSocketOptions have it.
   */
  setOptions?(opts: Partial<TcpConnectionOptions>): void;
}

export interface SocketEngine {
  now(): Ms;
  /** The options new connections get (profile and settings), before per-socket ones. */
  readonly options: TcpConnectionOptions;
  /**
   * Whether listen/connect honour per-socket options that must be known before the SYN (MSS,
   * buffer sizes); when false, setting them fails with ENOPROTOOPT rather than being ignored.
   */
  readonly perSocketOptions: boolean;
  /** LISTEN on `port`, or null when the port is taken. */
  listen(port: number, backlog: number, opts: Partial<TcpConnectionOptions>): ListenRef | null;
  /** Active open to the remote end's `remotePort` from `localPort` (or an ephemeral port). */
  connect(
    localPort: number | null,
    remotePort: number,
    opts: Partial<TcpConnectionOptions>,
  ): ConnRef | 'EADDRINUSE' | 'EADDRNOTAVAIL' | 'ENOBUFS';
}

interface Socket {
  fd: number;
  nonblock: boolean;
  /** Bound (or, after connect, local) port, or null. */
  port: number | null;
  reuseAddr: boolean;
  noDelay: boolean;
  /** TCP_CORK (an accepted socket inherits it, as Linux's clone of the listener). */
  cork: boolean;
  /** SO_LINGER with a zero timeout: close() aborts (sends RST). */
  lingerZero: boolean;
  /** Option overrides set before the connection exists (TCP_MAXSEG, buffers, keep-alive). */
  opts: Partial<TcpConnectionOptions>;
  /**
   * Values getsockopt reads back as set: SO_SNDBUF/SO_RCVBUF as Linux reports them (doubled),
   * and the IP_* options that change nothing here.
   */
  recorded: Map<string, number>;
  listener: ListenRef | null;
  conn: ConnRef | null;
  /** Bytes delivered as `data` events (before the connection was paused). */
  early: Uint8Array[];
  /** SO_ERROR: an error not yet reported. */
  error: TcpErrorCode | null;
  /** The connection reached ESTABLISHED once. */
  connected: boolean;
  /** The peer's FIN arrived (all data before it is in the receive queue). */
  eof: boolean;
  /** The connection is over for its user (`closed` event: CLOSED or TIME_WAIT). */
  over: boolean;
  shutRd: boolean;
  shutWr: boolean;
}

interface Blocked {
  id: number;
  req: SyscallRequest;
  /** For poll: when its timeout expires. */
  deadline: Ms | null;
  /** For write: the bytes not yet queued. */
  rest: Uint8Array | null;
}

export class SocketTable {
  readonly #fds = new Map<number, Socket>();
  /** The socket of each accepted or connected connection (by its core). */
  readonly #owner = new Map<TcpConnection, Socket>();
  #blocked: Blocked[] = [];
  #done: Array<{ id: number; at: Ms; result: SyscallResult }> = [];
  #nextId = 1;
  /** The newest connection a socket holds, for reports. */
  #latest: TcpConnection | null = null;
  /** Data delivered as events by connections no socket holds yet (not yet accepted). */
  readonly #unowned = new Map<TcpConnection, Uint8Array[]>();
  /** Set when a retried call made progress (see wake). */
  #moved = false;

  constructor(private readonly engine: SocketEngine) {}

  /**
   * Run a call; it finishes at once, or blocks until `wake()` finds it can finish. The caller
   * lets the engine send what the call made due (and calls `wake()` until it reports no progress).
   */
  syscall(req: SyscallRequest): SyscallOutcome {
    const b: Blocked = { id: this.#nextId++, req, deadline: null, rest: null };
    const r = this.#call(req, b, false);
    if (r !== null) return { kind: 'done', result: r };
    if (req.name === 'poll' && req.timeoutMs >= 0) b.deadline = this.engine.now() + req.timeoutMs;
    this.#blocked.push(b);
    return { kind: 'blocked', id: b.id };
  }

  /** A connection event, from the engine. */
  event(core: TcpConnection, e: TcpEvent): void {
    const sock = this.#owner.get(core);
    if (!sock) {
      // Data that came with the handshake, before accept(): keep it for the socket to be.
      if (e.type === 'data')
        this.#unowned.set(core, [...(this.#unowned.get(core) ?? []), e.data.slice()]);
      return;
    }
    if (e.type === 'connected') sock.connected = true;
    else if (e.type === 'data') sock.early.push(e.data.slice());
    else if (e.type === 'fin') sock.eof = true;
    else if (e.type === 'error') sock.error = e.code;
    else if (e.type === 'closed') sock.over = true;
  }

  /**
   * Retry every blocked call; true when one finished or a blocked write queued more bytes, so
   * that the engine has something new to send.
   */
  wake(): boolean {
    this.#moved = false;
    for (const b of [...this.#blocked]) {
      let r = this.#call(b.req, b, true);
      if (r === null && b.deadline !== null && b.deadline <= this.engine.now())
        r = { ret: 0, revents: b.req.name === 'poll' ? b.req.fds.map(() => 0) : [] };
      if (r !== null) {
        this.#blocked.splice(this.#blocked.indexOf(b), 1);
        this.#done.push({ id: b.id, at: this.engine.now(), result: r });
        this.#moved = true;
      }
    }
    return this.#moved;
  }

  /** Blocked calls that finished since the last call. */
  takeCompleted(): Array<{ id: number; at: Ms; result: SyscallResult }> {
    return this.#done.splice(0);
  }

  /** The earliest poll() timeout, or null. */
  nextDeadline(): Ms | null {
    let d: Ms | null = null;
    for (const b of this.#blocked)
      if (b.deadline !== null && (d === null || b.deadline < d)) d = b.deadline;
    return d;
  }

  /** The newest connection any socket held, for reports. */
  get latest(): TcpConnection | null {
    return this.#latest;
  }

  // --- the calls --------------------------------------------------------------------------

  /** A call's result, or null when it must block. `retry`: a blocked call tried again. */
  #call(req: SyscallRequest, b: Blocked, retry: boolean): SyscallResult | null {
    if (req.name === 'socket') return this.#socket(req);
    if (req.name === 'poll') return this.#poll(req);
    const sock = this.#fds.get(req.fd);
    if (!sock) return err('EBADF');
    switch (req.name) {
      case 'bind':
        return this.#bind(sock, req.port);
      case 'listen':
        return this.#listen(sock, req.backlog);
      case 'accept':
        return this.#accept(sock);
      case 'connect':
        return this.#connect(sock, req.port, retry);
      case 'write':
        return this.#write(sock, b, req.data.length, req.badPointer === true, req.flags);
      case 'read':
        return this.#read(sock, req.length, req.badPointer === true, req.flags);
      case 'shutdown':
        return this.#shutdown(sock, req.how);
      case 'close':
        return this.#close(sock);
      case 'setsockopt':
        return this.#setsockopt(sock, req.option, req.value);
      case 'getsockopt':
        return this.#getsockopt(sock, req.option);
      case 'ioctl':
        return this.#ioctl(sock, req.request);
      case 'fcntl':
        if (req.command === 'F_SETFL') {
          sock.nonblock = (req.flags & SYMBOLS.O_NONBLOCK) !== 0;
          return ok(0);
        }
        return ok(SYMBOLS.O_RDWR | (sock.nonblock ? SYMBOLS.O_NONBLOCK : 0));
    }
  }

  #socket(req: Extract<SyscallRequest, { name: 'socket' }>): SyscallResult {
    if (req.type !== 'SOCK_STREAM' && req.type !== '...') return err('EPROTONOSUPPORT');
    const fd = this.#freeFd();
    if (fd === null) return err('EMFILE');
    const sock = newSocket(fd);
    sock.nonblock = req.nonblock;
    this.#fds.set(fd, sock);
    return ok(fd);
  }

  #freeFd(): number | null {
    for (let fd = 3; fd < MAX_FDS; fd++) if (!this.#fds.has(fd)) return fd;
    return null;
  }

  #bind(sock: Socket, port: number): SyscallResult {
    if (sock.port !== null) return err('EINVAL');
    const clash = [...this.#fds.values()].some((s) => s.port === port && s.listener !== null);
    if (clash) return err('EADDRINUSE');
    sock.port = port;
    return ok(0);
  }

  #listen(sock: Socket, backlog: number): SyscallResult {
    if (sock.conn !== null) return err('EINVAL');
    if (sock.listener !== null) return ok(0);
    if (sock.port === null) return err('EINVAL'); // we do not pick a port for a listener
    const l = this.engine.listen(sock.port, Math.max(1, backlog), this.#connOptions(sock));
    if (l === null) return err('EADDRINUSE');
    sock.listener = l;
    return ok(0);
  }

  #accept(sock: Socket): SyscallResult | null {
    if (sock.listener === null) return err('EINVAL');
    const c = sock.listener.accept();
    if (c === null) return sock.nonblock ? err('EAGAIN') : null;
    const fd = this.#freeFd();
    if (fd === null) {
      c.userCalls.abort();
      return err('EMFILE');
    }
    const s = newSocket(fd);
    s.conn = c;
    s.connected = true;
    s.port = c.core.localPort;
    s.noDelay = c.core.options.noDelay;
    s.cork = sock.cork;
    if (s.cork) c.userCalls.setCork(true);
    // Linux's accepted socket is a clone of the listener's: buffer sizes and IP options carry over.
    s.recorded = new Map(sock.recorded);
    this.#fds.set(fd, s);
    this.#adopt(s, c);
    // What happened before accept (a FIN) shows in the state.
    const st = c.core.state;
    if (st === 'CLOSE_WAIT' || st === 'LAST_ACK' || st === 'CLOSING') s.eof = true;
    return ok(fd);
  }

  #adopt(sock: Socket, c: ConnRef): void {
    c.core.setFlowing(false);
    sock.early.push(...(this.#unowned.get(c.core) ?? []));
    this.#unowned.delete(c.core);
    this.#owner.set(c.core, sock);
    this.#latest = c.core;
  }

  #connect(sock: Socket, port: number, retry: boolean): SyscallResult | null {
    const c = sock.conn;
    if (retry || c !== null) {
      if (c === null) return err('EBADF');
      if (sock.error !== null && !sock.connected) return err(this.#takeError(sock)!);
      if (sock.connected) return retry ? ok(0) : err('EISCONN');
      if (c.core.finished) return err('ECONNREFUSED');
      return retry ? null : err('EALREADY');
    }
    if (sock.listener !== null) return err('EISCONN');
    const r = this.engine.connect(sock.port, port, this.#connOptions(sock));
    if (typeof r === 'string') return err(r);
    sock.conn = r;
    sock.port = r.core.localPort;
    if (sock.cork) r.userCalls.setCork(true);
    this.#adopt(sock, r);
    return sock.nonblock ? err('EINPROGRESS') : null;
  }

  #connOptions(sock: Socket): Partial<TcpConnectionOptions> {
    return { ...sock.opts, noDelay: sock.noDelay || this.engine.options.noDelay };
  }

  /** `badPointer`: Linux fails the copy from user memory with EFAULT once the call would queue. */
  #write(
    sock: Socket,
    b: Blocked,
    total: number,
    badPointer: boolean,
    flags: number,
  ): SyscallResult | null {
    const nonblock = sock.nonblock || (flags & SYMBOLS.MSG_DONTWAIT) !== 0;
    // No TCP Fast Open: Linux with net.ipv4.tcp_fastopen's client bit off answers EOPNOTSUPP.
    if ((flags & SYMBOLS.MSG_FASTOPEN) !== 0) return err('EOPNOTSUPP');
    const c = sock.conn;
    if (c === null) return err('EPIPE');
    if (sock.error !== null) return err(this.#takeError(sock)!);
    if (sock.shutWr || c.core.finished || sock.over) return err('EPIPE');
    const data = b.rest ?? (b.req.name === 'write' ? b.req.data : new Uint8Array(0));
    // Before the handshake completes, a write waits (as Linux's sk_stream_wait_connect).
    if (!sock.connected) {
      b.rest = data;
      return nonblock ? err('EAGAIN') : null;
    }
    if (badPointer && data.length > 0) return err('EFAULT');
    const n = c.userCalls.send(data, (flags & SYMBOLS.MSG_MORE) !== 0);
    if (n > 0) this.#moved = true;
    if (n === data.length) return ok(total);
    if (nonblock) return n > 0 ? ok(n) : err('EAGAIN');
    // A blocking write returns when every byte is queued (as Linux's tcp_sendmsg).
    b.rest = data.subarray(n);
    return null;
  }

  /**
   * `badPointer`: Linux fails the copy to user memory with EFAULT when there are bytes to copy
   * (they stay queued); with none the call answers as it would otherwise.
   */
  #read(sock: Socket, max: number, badPointer: boolean, flags: number): SyscallResult | null {
    const c = sock.conn;
    if (c === null) return err('ENOTCONN');
    if (badPointer && max > 0) {
      const early = sock.early.reduce((n, x) => n + x.length, 0);
      if (early + c.core.snapshot().recvQueue > 0) return err('EFAULT');
    }
    let n = 0;
    const taken: Uint8Array[] = [];
    while (n < max && sock.early.length > 0) {
      const head = sock.early[0];
      const take = Math.min(head.length, max - n);
      if (take === head.length) sock.early.shift();
      else sock.early[0] = head.subarray(take);
      taken.push(head.subarray(0, take));
      n += take;
    }
    while (n < max) {
      const chunk = c.userCalls.recv(max - n);
      if (chunk === null) break;
      taken.push(chunk);
      n += chunk.length;
    }
    // MSG_PEEK: the bytes go back to the front of the queue. Taking them from the connection
    // reopened its window as a read would (Linux's peek leaves the window as it was).
    if ((flags & SYMBOLS.MSG_PEEK) !== 0) sock.early.unshift(...taken);
    if (n > 0) return ok(n);
    if (sock.error !== null) return err(this.#takeError(sock)!);
    if (sock.eof || sock.shutRd || sock.over) return ok(0);
    if (!sock.connected && c.core.finished) return err('ENOTCONN');
    return sock.nonblock || (flags & SYMBOLS.MSG_DONTWAIT) !== 0 ? err('EAGAIN') : null;
  }

  #shutdown(sock: Socket, how: 'SHUT_RD' | 'SHUT_WR' | 'SHUT_RDWR'): SyscallResult {
    const c = sock.conn;
    if (c === null || !sock.connected) return err('ENOTCONN');
    if (how !== 'SHUT_WR') sock.shutRd = true;
    if (how !== 'SHUT_RD' && !sock.shutWr) {
      sock.shutWr = true;
      c.userCalls.shutdown();
    }
    return ok(0);
  }

  #close(sock: Socket): SyscallResult {
    this.#fds.delete(sock.fd);
    // Connections not yet accepted are reset.
    sock.listener?.close();
    const c = sock.conn;
    if (c !== null) {
      this.#owner.delete(c.core);
      if (sock.lingerZero) c.userCalls.abort();
      else c.userCalls.close();
    }
    // Calls blocked on this descriptor fail.
    for (const b of [...this.#blocked])
      if ('fd' in b.req && b.req.fd === sock.fd) {
        this.#blocked.splice(this.#blocked.indexOf(b), 1);
        this.#done.push({ id: b.id, at: this.engine.now(), result: err('EBADF') });
      }
    return ok(0);
  }

  #setsockopt(sock: Socket, option: string, value: number): SyscallResult {
    const c = sock.conn;
    switch (option) {
      case 'SO_REUSEADDR':
      case 'SO_REUSEPORT':
        sock.reuseAddr = value !== 0;
        return ok(0);
      case 'TCP_NODELAY':
        sock.noDelay = value !== 0;
        c?.userCalls.setNoDelay(sock.noDelay);
        return ok(0);
      case 'TCP_CORK':
        sock.cork = value !== 0;
        c?.userCalls.setCork(sock.cork);
        return ok(0);
      case 'SO_LINGER':
        sock.lingerZero = value === 0;
        return ok(0);
      case 'SO_KEEPALIVE':
        sock.opts.keepAlive = value !== 0;
        c?.userCalls.setKeepAlive(value !== 0);
        return ok(0);
      case 'TCP_KEEPIDLE':
        sock.opts.keepAliveIdleMs = value * 1000;
        if (c?.core.options.keepAlive) c.userCalls.setKeepAlive(true, value * 1000);
        return ok(0);
      case 'TCP_KEEPINTVL':
        sock.opts.keepAliveIntervalMs = value * 1000;
        if (c) c.core.options.keepAliveIntervalMs = value * 1000;
        return ok(0);
      case 'TCP_KEEPCNT':
        sock.opts.keepAliveCount = value;
        if (c) c.core.options.keepAliveCount = value;
        return ok(0);
      case 'TCP_MAXSEG': {
        if (!this.engine.perSocketOptions) return err('ENOPROTOOPT');
        if (c !== null) return err('EINVAL');
        sock.opts.mss = value;
        sock.listener?.setOptions?.({ mss: value });
        return ok(0);
      }
      case 'SO_RCVBUF':
      case 'SO_SNDBUF':
        return this.#setBuffer(sock, option, value);
      default: {
        const ip = IP_OPTIONS[option];
        if (ip === undefined) return err('ENOPROTOOPT');
        if (ip.check !== null && !ip.check(value)) return err('EINVAL');
        let v = ip.bool ? (value !== 0 ? 1 : 0) : value;
        if (option === 'IP_TOS') v &= ~3;
        if (option === 'IP_TTL' && v === -1) v = ip.initial;
        sock.recorded.set(option, v);
        return ok(0);
      }
    }
  }

  /**
   * SO_SNDBUF/SO_RCVBUF as Linux's sock_setsockopt: the value (as unsigned) clamps to
   * wmem_max/rmem_max and is doubled for bookkeeping, which getsockopt then reports. The byte
   * bound tunstack applies is the clamped value before doubling (its buffers hold payload only;
   * Linux counts skb overhead against the doubled value, lets the skb it starts below the bound
   * fill up, and wakes a blocked writer only when a third is free, so its payload count differs
   * both ways: on 6.18 a non-blocking write took 26 000 bytes for 20 000, 378 000 for 400 000).
   * Both bounds apply to an open connection at once.
   */
  #setBuffer(sock: Socket, option: 'SO_SNDBUF' | 'SO_RCVBUF', value: number): SyscallResult {
    if (!this.engine.perSocketOptions) return err('ENOPROTOOPT');
    const snd = option === 'SO_SNDBUF';
    const clamped = Math.min(value >>> 0, snd ? WMEM_MAX : RMEM_MAX);
    const reported = Math.max(clamped * 2, snd ? SOCK_MIN_SNDBUF : SOCK_MIN_RCVBUF);
    const bound = reported / 2;
    const key = snd ? 'sndBuf' : 'rcvBuf';
    sock.recorded.set(option, reported);
    sock.opts[key] = bound;
    sock.listener?.setOptions?.({ [key]: bound });
    if (sock.conn !== null) sock.conn.core.options[key] = bound;
    return ok(0);
  }

  #getsockopt(sock: Socket, option: string): SyscallResult {
    switch (option) {
      case 'SO_ERROR': {
        const e = this.#takeError(sock);
        return { ret: 0, value: e === null ? 0 : SYMBOLS[e] };
      }
      case 'TCP_NODELAY':
        return { ret: 0, value: sock.noDelay ? 1 : 0 };
      case 'TCP_CORK':
        return { ret: 0, value: sock.cork ? 1 : 0 };
      case 'SO_REUSEADDR':
        return { ret: 0, value: sock.reuseAddr ? 1 : 0 };
      case 'TCP_MAXSEG':
        return {
          ret: 0,
          value: sock.conn?.core.snapshot().smss ?? sock.opts.mss ?? this.engine.options.mss,
        };
      case 'SO_SNDBUF':
      case 'SO_RCVBUF': {
        // Not set: the bound in force. Linux's unset send buffer is tcp_wmem[1] as it is
        // (262144 under defaults.sh, what tunstack's 256 KiB stands for; seen on 6.18); the
        // receive side stays doubled, as the bound is half of what Linux would report.
        const snd = option === 'SO_SNDBUF';
        const key = snd ? 'sndBuf' : 'rcvBuf';
        const bound = sock.conn?.core.options[key] ?? sock.opts[key] ?? this.engine.options[key];
        return { ret: 0, value: sock.recorded.get(option) ?? (snd ? bound : bound * 2) };
      }
      default: {
        const ip = IP_OPTIONS[option];
        if (ip === undefined) return err('ENOPROTOOPT');
        return { ret: 0, value: sock.recorded.get(option) ?? ip.initial };
      }
    }
  }

  /** Linux tcp_ioctl: EINVAL on a listener; 0 before the connection exists. */
  #ioctl(sock: Socket, request: 'SIOCINQ' | 'SIOCOUTQ'): SyscallResult {
    if (sock.listener !== null) return err('EINVAL');
    const snap = sock.conn?.core.snapshot();
    if (snap === undefined) return { ret: 0, value: 0 };
    if (request === 'SIOCOUTQ') return { ret: 0, value: snap.sendQueue };
    const early = sock.early.reduce((n, b) => n + b.length, 0);
    return { ret: 0, value: early + snap.recvQueue };
  }

  #takeError(sock: Socket): TcpErrorCode | null {
    const e = sock.error;
    sock.error = null;
    return e;
  }

  /** poll(2): readiness as Linux's tcp_poll (net/ipv4/tcp.c). */
  #poll(req: Extract<SyscallRequest, { name: 'poll' }>): SyscallResult | null {
    const revents = req.fds.map(({ fd, events }) => {
      const s = this.#fds.get(fd);
      if (!s) return POLLNVAL;
      return this.#readiness(s) & (events | POLLERR | POLLHUP | POLLNVAL);
    });
    const ready = revents.filter((r) => r !== 0).length;
    if (ready > 0 || req.timeoutMs === 0) return { ret: ready, revents };
    return null;
  }

  #readiness(s: Socket): number {
    if (s.listener !== null) return s.listener.pending > 0 ? POLLIN | POLLRDNORM : 0;
    const c = s.conn?.core;
    if (c === undefined) return POLLOUT | POLLWRNORM | POLLHUP;
    let mask = 0;
    const closed = c.finished || s.over;
    const rcvShut = s.eof || s.shutRd || closed;
    const sndShut = s.shutWr || closed;
    if (rcvShut && sndShut) mask |= POLLHUP;
    if (rcvShut) mask |= POLLIN | POLLRDNORM | POLLRDHUP;
    const handshaking = c.state === 'SYN_SENT' || c.state === 'SYN_RECEIVED';
    if (!handshaking) {
      if (s.early.length > 0 || c.snapshot().recvQueue > 0) mask |= POLLIN | POLLRDNORM;
      if (sndShut || c.sendRoom > 0) mask |= POLLOUT | POLLWRNORM;
    }
    if (s.error !== null) mask |= POLLERR;
    return mask;
  }
}

function newSocket(fd: number): Socket {
  return {
    fd,
    nonblock: false,
    port: null,
    reuseAddr: false,
    noDelay: false,
    cork: false,
    lingerZero: false,
    opts: {},
    recorded: new Map(),
    listener: null,
    conn: null,
    early: [],
    error: null,
    connected: false,
    eof: false,
    over: false,
    shutRd: false,
    shutWr: false,
  };
}

function ok(ret: number): SyscallResult {
  return { ret };
}

function err(errno: string): SyscallResult {
  return { ret: -1, errno };
}

/**
 * The drive loop both drill targets share around their SocketTable: a call or a step of the clock
 * is followed by `settle`, which sends what became due and retries blocked calls.
 */
export abstract class SocketTarget implements DrillTarget {
  abstract readonly addresses: DrillAddresses;
  protected abstract readonly sockets: SocketTable;

  abstract inject(seg: TcpRepr, now: Ms): void;
  abstract takeOutbound(): Array<{ at: Ms; seg: TcpRepr }>;
  abstract setting(name: string, value: string): boolean;
  abstract describe(): string;

  /** Move the clock forward to `now`, firing whatever timers the engine's clock fires itself. */
  protected abstract moveTo(now: Ms): void;
  /**
   * After an input, a call or a deadline: send what is due, deliver events, wake blocked calls,
   * until nothing moves. `service` is false when only the clock moved to a time nobody asked for.
   */
  protected abstract settle(service: boolean): void;
  /** The engine's earliest deadline, or null. */
  protected abstract engineDeadline(): Ms | null;

  syscall(req: SyscallRequest, now: Ms): SyscallOutcome {
    this.moveTo(now);
    const out = this.sockets.syscall(req);
    this.settle(true);
    return out;
  }

  nextDeadline(): Ms | null {
    const a = this.engineDeadline();
    const b = this.sockets.nextDeadline();
    if (a === null) return b;
    return b === null || a < b ? a : b;
  }

  advance(to: Ms): void {
    for (let guard = 0; guard < 100_000; guard++) {
      const d = this.nextDeadline();
      if (d === null || d > to) break;
      this.moveTo(d);
      this.settle(true);
    }
    this.moveTo(to);
    this.settle(false);
  }

  takeCompleted(): Array<{ id: number; at: Ms; result: SyscallResult }> {
    return this.sockets.takeCompleted();
  }
}
