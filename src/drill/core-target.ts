/**
 * The TCP core (src/tcp: TcpListener, TcpConnection) as a DrillTarget, under a virtual clock.
 *
 * A small POSIX-like socket facade stands where the kernel's socket layer would: file descriptors
 * from 3 up, blocking and non-blocking calls (O_NONBLOCK), SO_ERROR, poll with Linux's tcp_poll
 * readiness rules. Connections run paused (`setFlowing(false)`), so unread bytes stay in the
 * receive buffer and close the window as a kernel socket's would; read() takes them.
 *
 * Demultiplexing is the stack's job in production (src/stack); here it is the few lines it takes
 * for one local address: a connection whose 4-tuple matches, else a listener on the port, else a
 * reset (RFC 9293 §3.10.7.1).
 */

import { TcpConnection } from '../tcp/conn.ts';
import type { TcpErrorCode } from '../tcp/events.ts';
import { IsnGenerator } from '../tcp/isn.ts';
import { TcpListener } from '../tcp/listener.ts';
import { resolveOptions, type TcpConnectionOptions } from '../tcp/options.ts';
import { resetFor } from '../tcp/reply.ts';
import type { TcpRepr } from '../wire/tcp-repr.ts';
import { durationMs } from './commands.ts';
import { PROFILES, type ProfileName } from './profiles.ts';
import { SYMBOLS } from './symbols.ts';
import type {
  DrillAddresses,
  DrillTarget,
  Ms,
  SyscallOutcome,
  SyscallRequest,
  SyscallResult,
} from './target.ts';

/** Our addresses in drill scripts: the stack is 10.0.0.2, the remote end 10.0.0.1. */
export const DRILL_ADDRESSES: DrillAddresses = { local: 0x0a000002, remote: 0x0a000001 };
/** First local port for connect() (deterministic, where Linux picks at random). */
const EPHEMERAL_BASE = 50000;
/** The fixed RFC 6528 secret: ISNs are deterministic, given the time and the 4-tuple. */
const ISN_SECRET = new Uint8Array(16).fill(0x5a);
/** File descriptors a script may hold at once. */
const MAX_FDS = 1024;

const { POLLIN, POLLOUT, POLLERR, POLLHUP, POLLNVAL, POLLRDNORM, POLLWRNORM, POLLRDHUP } = SYMBOLS;

interface Socket {
  fd: number;
  nonblock: boolean;
  /** Bound local port, or null. */
  port: number | null;
  reuseAddr: boolean;
  noDelay: boolean;
  /** SO_LINGER with a zero timeout: close() aborts (sends RST). */
  lingerZero: boolean;
  /** Option overrides set before the connection exists (TCP_MAXSEG, buffers, keep-alive). */
  opts: Partial<TcpConnectionOptions>;
  listener: TcpListener | null;
  conn: TcpConnection | null;
  /** SO_ERROR: an error not yet reported. */
  error: TcpErrorCode | null;
  /** The connection reached ESTABLISHED once. */
  connected: boolean;
  /** The peer's FIN arrived (all data before it is in the receive queue). */
  eof: boolean;
  /** The connection is over (CLOSED or TIME_WAIT): `closed` event seen. */
  over: boolean;
  shutRd: boolean;
  shutWr: boolean;
}

interface Blocked {
  id: number;
  req: SyscallRequest;
  /** For poll: when its timeout expires. */
  deadline: Ms | null;
  /** For write: bytes not yet queued, and the total. */
  rest?: Uint8Array;
}

export interface CoreTargetOptions {
  profile?: ProfileName;
  /** Extra connection options over the profile. */
  conn?: Partial<TcpConnectionOptions>;
  addresses?: DrillAddresses;
}

export class CoreTarget implements DrillTarget {
  readonly addresses: DrillAddresses;
  readonly options: TcpConnectionOptions;
  #now: Ms = 0;
  readonly #isn = new IsnGenerator(ISN_SECRET);
  readonly #fds = new Map<number, Socket>();
  /** Every live connection, for demultiplexing and driving; some have no fd (not accepted, closed). */
  #conns: TcpConnection[] = [];
  /** The socket owning each accepted or connected connection. */
  readonly #owner = new Map<TcpConnection, Socket>();
  readonly #listeners: Array<{ sock: Socket; listener: TcpListener }> = [];
  #out: Array<{ at: Ms; seg: TcpRepr }> = [];
  #done: Array<{ id: number; at: Ms; result: SyscallResult }> = [];
  #blocked: Blocked[] = [];
  #nextId = 1;
  #nextPort = EPHEMERAL_BASE;
  /** Segments that reached no connection and no listener (answered with RST). */
  readonly stats = { noSocket: 0 };

  constructor(o: CoreTargetOptions = {}) {
    this.addresses = o.addresses ?? DRILL_ADDRESSES;
    this.options = resolveOptions({ ...PROFILES[o.profile ?? 'rfc'], ...o.conn });
  }

  // --- DrillTarget ------------------------------------------------------------------------

  inject(seg: TcpRepr, now: Ms): void {
    this.#tick(now);
    const { local, remote } = this.addresses;
    const conn = this.#conns.find((c) => !c.finished && c.accepts(remote, local, seg));
    if (conn) {
      conn.process(this.#now, seg);
    } else {
      const l = this.#listeners.find((x) => x.listener.accepts(local, seg));
      if (l) {
        const v = l.listener.process(this.#now, remote, local, seg);
        if (v.kind === 'created') this.#adopt(v.conn);
        else if (v.kind === 'reset') this.#send(v.seg);
      } else {
        this.stats.noSocket++;
        const rst = resetFor(seg);
        if (rst) this.#send(rst);
      }
    }
    this.#pump();
  }

  syscall(req: SyscallRequest, now: Ms): SyscallOutcome {
    this.#tick(now);
    const r = this.#call(req);
    this.#pump();
    if (r !== null) return { kind: 'done', result: r };
    const id = this.#nextId++;
    const b: Blocked = { id, req, deadline: null };
    if (req.name === 'poll' && req.timeoutMs >= 0) b.deadline = this.#now + req.timeoutMs;
    if (req.name === 'write') b.rest = this.#pendingWrite;
    this.#blocked.push(b);
    return { kind: 'blocked', id };
  }

  nextDeadline(): Ms | null {
    let d: Ms | null = null;
    const min = (x: Ms | null) => {
      if (x !== null && (d === null || x < d)) d = x;
    };
    for (const c of this.#conns) min(c.pollAt());
    for (const b of this.#blocked) min(b.deadline);
    return d;
  }

  advance(to: Ms): void {
    for (let guard = 0; guard < 100_000; guard++) {
      const d = this.nextDeadline();
      if (d === null || d > to) break;
      this.#tick(d);
      this.#pump();
    }
    this.#tick(to);
    this.#pump();
  }

  takeOutbound(): Array<{ at: Ms; seg: TcpRepr }> {
    return this.#out.splice(0);
  }

  takeCompleted(): Array<{ id: number; at: Ms; result: SyscallResult }> {
    return this.#done.splice(0);
  }

  setting(name: string, value: string): boolean {
    const o = this.options;
    const n = Number(value);
    const on = value.trim() !== '0';
    switch (name) {
      case 'tcp_timestamps':
        o.timestamps = on;
        return true;
      case 'tcp_sack':
        o.sack = on;
        return true;
      case 'tcp_window_scaling':
        o.windowScale = on;
        return true;
      case 'tcp_syn_retries':
      case 'tcp_synack_retries':
        o.synRetries = n;
        return true;
      case 'tcp_retries2':
        o.maxRetries = n;
        return true;
      case 'tcp_fin_timeout':
        o.finWait2Ms = n * 1000;
        return true;
      case 'tcp_keepalive_time':
        o.keepAliveIdleMs = n * 1000;
        return true;
      case 'tcp_keepalive_intvl':
        o.keepAliveIntervalMs = n * 1000;
        return true;
      case 'tcp_keepalive_probes':
        o.keepAliveCount = n;
        return true;
      case 'tcp_rmem':
      case 'tcp_wmem': {
        const mid = Number(value.trim().split(/\s+/)[1]);
        if (!(mid > 0)) return false;
        if (name === 'tcp_rmem') o.rcvBuf = mid;
        else o.sndBuf = mid;
        return true;
      }
      case 'tcp_congestion_control':
        if (value !== 'reno' && value !== 'cubic') return false;
        o.congestion = value;
        return true;
      case 'initcwnd':
        o.initialWindow = n;
        return true;
      case 'rto_min': {
        const ms = durationMs(value);
        if (ms === null) return false;
        o.minRto = ms;
        return true;
      }
      default:
        return false;
    }
  }

  describe(): string {
    const c = this.#current();
    if (c === null) return `no connection (${this.#listeners.length} listening)`;
    const s = c.snapshot();
    const rel = (x: number) => (x - s.iss) >>> 0;
    const relR = (x: number) => (x - s.irs) >>> 0;
    return [
      s.state,
      `sndUna=${rel(s.sndUna)} sndNxt=${rel(s.sndNxt)} sndWnd=${s.sndWnd}`,
      `rcvNxt=${relR(s.rcvNxt)}(irs+) rcvWnd=${s.rcvWnd}`,
      `cwnd=${s.cwnd} ssthresh=${s.ssthresh} rto=${s.rto} srtt=${s.srtt ?? '-'}`,
      `timer=${s.timer.kind}${s.timer.kind === 'idle' ? '' : `@${s.timer.at}`}`,
      `sendQ=${s.sendQueue} recvQ=${s.recvQueue}`,
      Object.keys(s.drops).length > 0 ? `drops=${JSON.stringify(s.drops)}` : '',
    ]
      .filter(Boolean)
      .join(' ');
  }

  // --- the engine -------------------------------------------------------------------------

  #tick(now: Ms): void {
    if (now > this.#now) this.#now = now;
  }

  #send(seg: TcpRepr): void {
    this.#out.push({ at: this.#now, seg });
  }

  /** A connection the listener made: drive it, paused, until someone accepts it. */
  #adopt(c: TcpConnection): void {
    c.setFlowing(false);
    this.#conns.push(c);
  }

  /** The connection reports are about: the newest one. */
  #current(): TcpConnection | null {
    return this.#conns.at(-1) ?? [...this.#owner.keys()].at(-1) ?? null;
  }

  /** Send whatever every connection has to send now, take events, wake blocked calls. */
  #pump(): void {
    for (let round = 0; round < 8; round++) {
      let moved = false;
      for (const c of this.#conns) {
        for (let i = 0; i < 10_000; i++) {
          const seg = c.dispatch(this.#now);
          if (seg === null) break;
          this.#send(seg);
          moved = true;
        }
        this.#events(c);
      }
      this.#conns = this.#conns.filter((c) => !(c.finished && c.pollAt() === null));
      if (this.#wake()) moved = true;
      if (!moved) break;
    }
  }

  #events(c: TcpConnection): void {
    const sock = this.#owner.get(c);
    for (const e of c.takeEvents()) {
      if (!sock) continue;
      if (e.type === 'connected') sock.connected = true;
      else if (e.type === 'fin') sock.eof = true;
      else if (e.type === 'error') sock.error = e.code;
      else if (e.type === 'closed') sock.over = true;
    }
  }

  /** Complete every blocked call that can complete; true if one did. */
  #wake(): boolean {
    let any = false;
    for (const b of [...this.#blocked]) {
      this.#pendingWrite = b.rest;
      let r = this.#call(b.req, true);
      if (r === null && b.req.name === 'write') b.rest = this.#pendingWrite;
      if (r === null && b.deadline !== null && b.deadline <= this.#now)
        r = { ret: 0, revents: b.req.name === 'poll' ? b.req.fds.map(() => 0) : [] };
      if (r !== null) {
        this.#blocked.splice(this.#blocked.indexOf(b), 1);
        this.#done.push({ id: b.id, at: this.#now, result: r });
        any = true;
      }
    }
    return any;
  }

  // --- the socket calls -------------------------------------------------------------------

  /** For a blocking write: the bytes still to queue. */
  #pendingWrite: Uint8Array | undefined;

  /** Run a call: its result, or null when it must block. `retry`: a blocked call tried again. */
  #call(req: SyscallRequest, retry = false): SyscallResult | null {
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
        return this.#write(
          sock,
          retry ? (this.#pendingWrite ?? req.data) : req.data,
          req.data.length,
        );
      case 'read':
        return this.#read(sock, req.length);
      case 'shutdown':
        return this.#shutdown(sock, req.how);
      case 'close':
        return this.#close(sock);
      case 'setsockopt':
        return this.#setsockopt(sock, req.option, req.value);
      case 'getsockopt':
        return this.#getsockopt(sock, req.option);
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
    let fd = 3;
    while (this.#fds.has(fd)) fd++;
    if (fd >= MAX_FDS) return err('EMFILE');
    this.#fds.set(fd, newSocket(fd));
    return ok(fd);
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
    if (sock.listener === null) {
      if (sock.port === null) sock.port = this.#nextPort++;
      const conn = { ...this.options, ...sock.opts, noDelay: sock.noDelay || this.options.noDelay };
      sock.listener = new TcpListener(this.addresses.local, sock.port, this.#isn, {
        backlog: Math.max(1, backlog),
        conn,
      });
      this.#listeners.push({ sock, listener: sock.listener });
    }
    return ok(0);
  }

  #accept(sock: Socket): SyscallResult | null {
    if (sock.listener === null) return err('EINVAL');
    const c = sock.listener.accept();
    if (c === null) return sock.nonblock ? err('EAGAIN') : null;
    const s = newSocket(0);
    let fd = 3;
    while (this.#fds.has(fd)) fd++;
    s.fd = fd;
    s.conn = c;
    s.connected = true;
    s.port = c.localPort;
    s.noDelay = c.options.noDelay;
    this.#fds.set(fd, s);
    this.#owner.set(c, s);
    // Whatever happened before accept (data, FIN, RST) shows in the state.
    this.#events(c);
    if (c.state === 'CLOSE_WAIT' || c.state === 'LAST_ACK') s.eof = true;
    return ok(fd);
  }

  #connect(sock: Socket, port: number, retry: boolean): SyscallResult | null {
    if (retry || sock.conn !== null) {
      const c = sock.conn;
      if (c === null) return err('EBADF');
      if (sock.error !== null && !sock.connected) return err(this.#takeError(sock)!);
      if (sock.connected) return retry ? ok(0) : err('EISCONN');
      if (c.finished) return err('ECONNREFUSED');
      return retry ? null : err('EALREADY');
    }
    if (sock.listener !== null) return err('EISCONN');
    const localPort = sock.port ?? this.#nextPort++;
    sock.port = localPort;
    const tuple = {
      localAddr: this.addresses.local,
      localPort,
      remoteAddr: this.addresses.remote,
      remotePort: port,
    };
    const iss = this.#isn.next(tuple.localAddr, localPort, tuple.remoteAddr, port, this.#now);
    const opts = { ...this.options, ...sock.opts, noDelay: sock.noDelay || this.options.noDelay };
    const c = TcpConnection.connect(tuple, iss, this.#now, opts);
    c.setFlowing(false);
    sock.conn = c;
    this.#conns.push(c);
    this.#owner.set(c, sock);
    return sock.nonblock ? err('EINPROGRESS') : null;
  }

  #write(sock: Socket, data: Uint8Array, total: number): SyscallResult | null {
    const c = sock.conn;
    if (c === null) return err('EPIPE');
    if (sock.error !== null) return err(this.#takeError(sock)!);
    if (sock.shutWr || c.finished || sock.over) return err('EPIPE');
    if (!sock.connected) return sock.nonblock ? err('EAGAIN') : this.#blockWrite(data);
    const n = c.send(data);
    this.#events(c);
    if (n === data.length) return ok(total);
    if (sock.nonblock) return n > 0 ? ok(n) : err('EAGAIN');
    // A blocking write returns when every byte is queued (as Linux's tcp_sendmsg).
    return this.#blockWrite(data.subarray(n));
  }

  #blockWrite(rest: Uint8Array): null {
    this.#pendingWrite = rest;
    return null;
  }

  #read(sock: Socket, max: number): SyscallResult | null {
    const c = sock.conn;
    if (c === null) return err('ENOTCONN');
    let n = 0;
    while (n < max) {
      const chunk = c.recv(max - n);
      if (chunk === null) break;
      n += chunk.length;
    }
    if (n > 0) return ok(n);
    if (sock.error !== null) return err(this.#takeError(sock)!);
    if (sock.eof || sock.shutRd || sock.over) return ok(0);
    if (!sock.connected && c.finished) return err('ENOTCONN');
    return sock.nonblock ? err('EAGAIN') : null;
  }

  #shutdown(sock: Socket, how: 'SHUT_RD' | 'SHUT_WR' | 'SHUT_RDWR'): SyscallResult {
    const c = sock.conn;
    if (c === null || !sock.connected) return err('ENOTCONN');
    if (how !== 'SHUT_WR') sock.shutRd = true;
    if (how !== 'SHUT_RD' && !sock.shutWr) {
      sock.shutWr = true;
      c.shutdown();
    }
    return ok(0);
  }

  #close(sock: Socket): SyscallResult {
    this.#fds.delete(sock.fd);
    if (sock.listener !== null) {
      // Connections not yet accepted are reset; they stay in #conns until their RST is sent.
      sock.listener.close();
      const i = this.#listeners.findIndex((l) => l.sock === sock);
      if (i >= 0) this.#listeners.splice(i, 1);
    }
    const c = sock.conn;
    if (c !== null) {
      if (sock.lingerZero) c.abort();
      else c.close();
      this.#owner.delete(c);
    }
    // Calls blocked on this fd fail.
    for (const b of [...this.#blocked])
      if ('fd' in b.req && b.req.fd === sock.fd) {
        this.#blocked.splice(this.#blocked.indexOf(b), 1);
        this.#done.push({ id: b.id, at: this.#now, result: err('EBADF') });
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
        c?.setNoDelay(sock.noDelay);
        return ok(0);
      case 'SO_LINGER':
        sock.lingerZero = value === 0;
        return ok(0);
      case 'SO_KEEPALIVE':
        sock.opts.keepAlive = value !== 0;
        c?.setKeepAlive(value !== 0);
        return ok(0);
      case 'TCP_KEEPIDLE':
        sock.opts.keepAliveIdleMs = value * 1000;
        if (c?.options.keepAlive) c.setKeepAlive(true, value * 1000);
        return ok(0);
      case 'TCP_KEEPINTVL':
        sock.opts.keepAliveIntervalMs = value * 1000;
        if (c) c.options.keepAliveIntervalMs = value * 1000;
        return ok(0);
      case 'TCP_KEEPCNT':
        sock.opts.keepAliveCount = value;
        if (c) c.options.keepAliveCount = value;
        return ok(0);
      case 'TCP_MAXSEG':
        if (c !== null) return err('EINVAL');
        sock.opts.mss = value;
        return ok(0);
      case 'SO_RCVBUF':
        if (c !== null) return err('EINVAL');
        sock.opts.rcvBuf = value;
        return ok(0);
      case 'SO_SNDBUF':
        if (c !== null) return err('EINVAL');
        sock.opts.sndBuf = value;
        return ok(0);
      default:
        return err('ENOPROTOOPT');
    }
  }

  #getsockopt(sock: Socket, option: string): SyscallResult {
    switch (option) {
      case 'SO_ERROR': {
        const e = this.#takeError(sock);
        return { ret: 0, value: e === null ? 0 : SYMBOLS[e] };
      }
      case 'TCP_NODELAY':
        return { ret: 0, value: sock.noDelay ? 1 : 0 };
      case 'SO_REUSEADDR':
        return { ret: 0, value: sock.reuseAddr ? 1 : 0 };
      case 'TCP_MAXSEG':
        return { ret: 0, value: sock.conn?.snapshot().smss ?? sock.opts.mss ?? this.options.mss };
      default:
        return err('ENOPROTOOPT');
    }
  }

  #takeError(sock: Socket): TcpErrorCode | null {
    const e = sock.error;
    sock.error = null;
    return e;
  }

  /** poll(2) over our sockets; readiness as Linux's tcp_poll (net/ipv4/tcp.c). */
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
    const c = s.conn;
    if (c === null) return POLLOUT | POLLWRNORM | POLLHUP;
    let mask = 0;
    const closed = c.finished || s.over;
    const rcvShut = s.eof || s.shutRd || closed;
    const sndShut = s.shutWr || closed;
    if (rcvShut && sndShut) mask |= POLLHUP;
    if (rcvShut) mask |= POLLIN | POLLRDNORM | POLLRDHUP;
    const handshaking = c.state === 'SYN_SENT' || c.state === 'SYN_RECEIVED';
    if (!handshaking) {
      if (c.snapshot().recvQueue > 0) mask |= POLLIN | POLLRDNORM;
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
    lingerZero: false,
    opts: {},
    listener: null,
    conn: null,
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
