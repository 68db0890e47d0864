/**
 * The TCP half of `tunstack relay`: every connection a client opens through the stack's device is
 * carried on by an ordinary kernel socket from the namespace tunstack itself runs in (the egress
 * side), as slirp4netns, passt and tun2socks do.
 *
 *   client ──SYN──► stack (held: TcpLayer.listenAny) ──► relay dials dst with node:net
 *                        connect ok ──► SYN-ACK (from dst's address)
 *                        refused     ──► RST          (as the closed port would)
 *                        unreachable or no answer in connectTimeoutMs ──► ICMP host unreachable
 *
 * Then bytes are copied both ways with backpressure and no unbounded buffer in between:
 *  - client → upstream: when the kernel socket's write() says "full", the stack side stops
 *    reading (setFlowing(false)): the core holds what comes next and its receive window closes
 *    toward the client; 'drain' on the kernel socket opens it again.
 *  - upstream → client: what the stack's send buffer does not take is kept (one chunk) and the
 *    kernel socket is paused, so the kernel's receive window closes toward the upstream; the
 *    stack's 'drain' resumes it.
 * A FIN on one side is end() on the other (half-close kept: allowHalfOpen), a RST on one side
 * destroys the other (a RST toward the client, resetAndDestroy toward the upstream), and a flow
 * idle for idleTimeoutMs is reset on both sides. At most maxFlows flows (connecting included):
 * a SYN beyond that is dropped, counted, and retried by the client.
 */
import * as net from 'node:net';
import type { Logger } from 'pino';
import type { HeldSyn } from '../stack/held-syn.ts';
import type { Stack } from '../stack/stack.ts';
import type { TcpAnyOwner, TcpHandle, TcpOwner } from '../stack/tcp.ts';
import type { TcpEvent } from '../tcp/events.ts';
import { UnreachCode } from '../wire/icmp.ts';

/** "address:port", "[address]:port" for IPv6 (as ss prints them). */
export function endpoint(addr: string, port: number): string {
  return addr.includes(':') ? `[${addr}]:${port}` : `${addr}:${port}`;
}

export interface TcpRelayOptions {
  /** Give up dialling the destination after this long and answer ICMP host unreachable. */
  connectTimeoutMs: number;
  /** Reset both sides of a flow that moved no byte for this long (0: never). */
  idleTimeoutMs: number;
  /** Flows at once, connecting ones included; a SYN past it is dropped (counted in flowsFull). */
  maxFlows: number;
  /** Finished flows kept for the exit summary (the oldest is forgotten first). */
  maxFinished: number;
  /**
   * Where to dial instead of the address the client dialled (the relay's DNS address is dialled
   * at the egress resolver, say); null: dial it as it is.
   */
  redirect?: (addr: string, port: number) => { host: string; port: number } | null;
}

export const DEFAULT_TCP_RELAY_OPTIONS: Readonly<TcpRelayOptions> = Object.freeze({
  connectTimeoutMs: 10_000,
  idleTimeoutMs: 600_000,
  maxFlows: 4096,
  maxFinished: 10_000,
});

export interface TcpRelayStats {
  /** SYNs handed to the relay (each a dial). */
  dials: number;
  /** Dials that connected (the client got its SYN-ACK). */
  connected: number;
  /** Dials refused upstream (RST to the client). */
  refused: number;
  /** Dials that found no host, no route, or no answer in time (ICMP to the client). */
  unreachable: number;
  /** Dials that timed out (of unreachable). */
  timedOut: number;
  /** Dials that failed otherwise (RST to the client). */
  failed: number;
  /** SYNs dropped because maxFlows flows were open. */
  flowsFull: number;
  /** Flows reset for idleTimeoutMs without a byte. */
  idleClosed: number;
  /** Flows that ended with a reset from either side. */
  resets: number;
  bytesUp: number;
  bytesDown: number;
}

/** One relayed connection as `tunstack ss` and the exit summary show it. */
export interface TcpFlowRow {
  id: number;
  /** The client's end, "address:port". */
  client: string;
  /** What the client dialled, "address:port". */
  dst: string;
  /**
   * The kernel socket's ends on the egress side ("address:port"), once connected. The local end
   * costs a getsockname() and is read only when the flow table is asked for (`tunstack ss`)
   * while the flow is open: null for a flow nobody looked at before it ended.
   */
  upstreamLocal: string | null;
  upstreamRemote: string | null;
  /** connecting, open, half-closed (one FIN passed), closed, reset, refused, unreachable */
  state: string;
  /** Client → upstream bytes, and upstream → client bytes. */
  bytesUp: number;
  bytesDown: number;
  /** ms since the epoch. */
  startedAt: number;
  endedAt: number | null;
  /** The stack-side connection's retransmissions (toward the client). */
  retransmits: number;
  /** The stack-side connection's state (the client ↔ stack leg). */
  stackState: string | null;
}

/** One flow: the held SYN or the stack-side handle, and the kernel socket. */
class Flow implements TcpOwner {
  handle: TcpHandle | null = null;
  readonly row: TcpFlowRow;
  /** Upstream bytes the stack's send buffer did not take yet (the kernel socket is paused). */
  #pending: Uint8Array | null = null;
  #upstreamEnded = false;
  #clientFin = false;
  #finished = false;
  #lastActive: number;

  constructor(
    readonly relay: TcpRelay,
    readonly sock: net.Socket,
    row: TcpFlowRow,
  ) {
    this.row = row;
    this.#lastActive = Date.now();
  }

  get idleFor(): number {
    return Date.now() - this.#lastActive;
  }

  /**
   * The upstream connected and the SYN was answered: wire both sides together. `upstream` is the
   * address dialled: the socket's remote end without a getpeername() per connection.
   */
  start(handle: TcpHandle, upstream: string): void {
    this.handle = handle;
    const sock = this.sock;
    this.row.state = 'open';
    this.row.upstreamRemote = upstream;
    sock.on('data', (chunk: Buffer) => this.#fromUpstream(chunk));
    sock.on('end', () => {
      this.#upstreamEnded = true;
      this.#maybeShutdown();
    });
    sock.on('drain', () => {
      if (this.handle !== null && !this.#finished) this.handle.setFlowing(true);
    });
  }

  /** TcpOwner: the client side. */
  tcpEvent(h: TcpHandle, e: TcpEvent): void {
    if (h !== this.handle) return;
    switch (e.type) {
      case 'connected':
        return;
      case 'data': {
        this.#lastActive = Date.now();
        this.row.bytesUp += e.data.length;
        this.relay.stats.bytesUp += e.data.length;
        // The core's chunk is ours to keep: no copy.
        const ok = this.sock.write(Buffer.from(e.data.buffer, e.data.byteOffset, e.data.length));
        // The kernel socket is full: hold what comes next in the core, and close the window.
        if (!ok) h.setFlowing(false);
        return;
      }
      case 'fin':
        this.#clientFin = true;
        this.row.state = this.#upstreamEnded ? 'closing' : 'half-closed';
        this.sock.end();
        return;
      case 'drain':
        this.#flushPending();
        return;
      case 'error':
        // ECONNRESET from the client (or a timeout on the stack side): reset the upstream too.
        this.finish('reset');
        return;
      case 'closed':
        this.finish(this.row.state === 'reset' ? 'reset' : 'closed');
        return;
    }
  }

  #fromUpstream(chunk: Buffer): void {
    const h = this.handle;
    if (h === null || this.#finished) return;
    this.#lastActive = Date.now();
    this.row.bytesDown += chunk.length;
    this.relay.stats.bytesDown += chunk.length;
    const n = h.send(chunk);
    if (n < chunk.length) {
      // The stack's send buffer is full: keep the rest, stop reading the kernel socket (its
      // window closes toward the upstream) until the stack's 'drain'.
      this.#pending = chunk.subarray(n);
      this.sock.pause();
    }
  }

  #flushPending(): void {
    const h = this.handle;
    const p = this.#pending;
    if (h === null || p === null || this.#finished) return;
    const n = h.send(p);
    if (n < p.length) {
      this.#pending = p.subarray(n);
      return;
    }
    this.#pending = null;
    this.sock.resume();
    this.#maybeShutdown();
  }

  /** The upstream's FIN goes to the client once every byte before it is in the send buffer. */
  #maybeShutdown(): void {
    if (!this.#upstreamEnded || this.#pending !== null || this.handle === null) return;
    if (this.#finished) return;
    this.row.state = this.#clientFin ? 'closing' : 'half-closed';
    this.handle.shutdown();
  }

  /** The kernel socket failed (a RST from the upstream, mostly): reset the client side. */
  upstreamError(err: NodeJS.ErrnoException): void {
    if (this.#finished) return;
    this.relay.logger.debug({ flow: this.row.id, err: err.code }, 'relay: upstream error');
    this.handle?.abort();
    this.finish('reset');
  }

  /** The kernel socket closed. */
  upstreamClosed(): void {
    // After both FINs the stack side finishes by itself ('closed'); anything else is an abort.
    if (this.#finished) return;
    if (this.#upstreamEnded && this.#clientFin) return;
    if (this.#upstreamEnded) return; // half-closed: the client may still send; we end() later
    this.handle?.abort();
    this.finish('reset');
  }

  /** No byte either way for idleTimeoutMs: reset both sides. */
  idle(): void {
    this.relay.stats.idleClosed++;
    this.handle?.abort();
    this.finish('reset');
  }

  finish(state: 'closed' | 'reset'): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#pending = null;
    const h = this.handle;
    if (h !== null) {
      const s = h.conn.snapshot();
      this.row.retransmits = s.retransmits;
      this.row.stackState = s.state;
    }
    if (state === 'reset') {
      this.relay.stats.resets++;
      this.row.state = 'reset';
      if (!this.sock.destroyed) this.sock.resetAndDestroy();
    } else {
      this.row.state = 'closed';
      // Both FINs have passed; the kernel socket finishes its own close.
      if (!this.sock.destroyed) this.sock.end();
    }
    this.relay.flowEnded(this);
  }
}

/** The relay's TCP side: the stack's wildcard listener's owner. */
export class TcpRelay implements TcpAnyOwner {
  readonly options: TcpRelayOptions;
  readonly stats: TcpRelayStats = {
    dials: 0,
    connected: 0,
    refused: 0,
    unreachable: 0,
    timedOut: 0,
    failed: 0,
    flowsFull: 0,
    idleClosed: 0,
    resets: 0,
    bytesUp: 0,
    bytesDown: 0,
  };
  readonly #flows = new Set<Flow>();
  /** Finished flows' rows, a ring of at most maxFinished (#finishedNext: the oldest's slot). */
  readonly #finished: TcpFlowRow[] = [];
  #finishedNext = 0;
  #nextId = 1;
  #idleTimer: NodeJS.Timeout | null = null;
  #closed = false;

  constructor(
    readonly stack: Stack,
    readonly logger: Logger,
    options: Partial<TcpRelayOptions> = {},
  ) {
    this.options = { ...DEFAULT_TCP_RELAY_OPTIONS, ...options };
    if (!stack.tcp.listenAny(this)) throw new Error('the stack already has a wildcard listener');
    if (this.options.idleTimeoutMs > 0) {
      const every = Math.max(1000, Math.min(this.options.idleTimeoutMs / 4, 30_000));
      this.#idleTimer = setInterval(() => this.#sweepIdle(), every);
      this.#idleTimer.unref();
    }
  }

  /** Flows open now (connecting included). */
  get size(): number {
    return this.#flows.size;
  }

  /** Every flow: open ones first, then finished ones (newest last). */
  flows(): TcpFlowRow[] {
    const open = [...this.#flows].map((f) => {
      const h = f.handle;
      if (h !== null) {
        const s = h.conn.snapshot();
        f.row.retransmits = s.retransmits;
        f.row.stackState = s.state;
        if (f.row.upstreamLocal === null && f.sock.localPort !== undefined) {
          f.row.upstreamLocal = endpoint(f.sock.localAddress ?? '?', f.sock.localPort);
        }
      }
      return { ...f.row };
    });
    const n = this.#finished.length;
    const finished: TcpFlowRow[] = [];
    for (let i = 0; i < n; i++) finished.push({ ...this.#finished[(this.#finishedNext + i) % n] });
    return [...open, ...finished];
  }

  /** TcpAnyOwner: a SYN to `syn.localAddr:localPort`. Dial it first; answer when we know. */
  syn(syn: HeldSyn<TcpHandle>): void {
    if (this.#closed) {
      syn.drop();
      return;
    }
    if (this.#flows.size >= this.options.maxFlows) {
      this.stats.flowsFull++;
      syn.drop();
      return;
    }
    this.stats.dials++;
    // IPv4 or IPv6 (the TCP layer's address ids, src/stack/addr6.ts): node:net dials either.
    const tcp = this.stack.tcp;
    const dstAddr = tcp.formatAddr(syn.localAddr);
    const target = this.options.redirect?.(dstAddr, syn.localPort) ?? {
      host: dstAddr,
      port: syn.localPort,
    };
    const row: TcpFlowRow = {
      id: this.#nextId++,
      client: endpoint(tcp.formatAddr(syn.remoteAddr), syn.remotePort),
      dst: endpoint(dstAddr, syn.localPort),
      upstreamLocal: null,
      upstreamRemote: null,
      state: 'connecting',
      bytesUp: 0,
      bytesDown: 0,
      startedAt: Date.now(),
      endedAt: null,
      retransmits: 0,
      stackState: null,
    };
    const sock = net.connect({ host: target.host, port: target.port, allowHalfOpen: true });
    sock.setNoDelay(true);
    const flow = new Flow(this, sock, row);
    this.#flows.add(flow);
    let settled = false;
    const timer = setTimeout(() => {
      if (settled) return;
      settled = true;
      this.stats.unreachable++;
      this.stats.timedOut++;
      sock.destroy();
      syn.unreachable(UnreachCode.Host);
      this.#failed(flow, 'unreachable');
    }, this.options.connectTimeoutMs);
    sock.once('connect', () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      const h = syn.accept(flow);
      if (h === null) {
        // The SYN expired or the table is full: the client retries, and we dial again then.
        sock.destroy();
        this.#failed(flow, 'closed');
        return;
      }
      this.stats.connected++;
      flow.start(h, endpoint(target.host, target.port));
      if (this.logger.isLevelEnabled('debug')) {
        this.logger.debug({ flow: row.id, client: row.client, dst: row.dst }, 'relay: open');
      }
    });
    sock.on('error', (err: NodeJS.ErrnoException) => {
      if (settled) {
        if (flow.handle !== null) flow.upstreamError(err);
        return;
      }
      settled = true;
      clearTimeout(timer);
      switch (err.code) {
        case 'ECONNREFUSED':
          this.stats.refused++;
          syn.refuse();
          this.#failed(flow, 'refused');
          return;
        case 'EHOSTUNREACH':
        case 'ENETUNREACH':
        case 'ETIMEDOUT':
          this.stats.unreachable++;
          syn.unreachable(err.code === 'ENETUNREACH' ? UnreachCode.Net : UnreachCode.Host);
          this.#failed(flow, 'unreachable');
          return;
        default:
          this.stats.failed++;
          syn.refuse();
          this.#failed(flow, 'failed');
      }
    });
    sock.on('close', () => {
      if (flow.handle !== null) flow.upstreamClosed();
    });
  }

  #failed(flow: Flow, state: string): void {
    flow.row.state = state;
    this.flowEnded(flow);
  }

  /** @internal A flow is over: keep its row for the summary (bounded). */
  flowEnded(flow: Flow): void {
    if (!this.#flows.delete(flow)) return;
    flow.row.endedAt = Date.now();
    // A ring: shift() on a full array of 10 000 rows would move them all, once per flow.
    const max = this.options.maxFinished;
    if (this.#finished.length < max) this.#finished.push(flow.row);
    else if (max > 0) {
      this.#finished[this.#finishedNext] = flow.row;
      this.#finishedNext = (this.#finishedNext + 1) % max;
    }
    if (this.logger.isLevelEnabled('debug')) this.logger.debug({ flow: flow.row }, 'relay: done');
  }

  #sweepIdle(): void {
    const limit = this.options.idleTimeoutMs;
    for (const f of [...this.#flows]) {
      if (f.handle !== null && f.idleFor >= limit) f.idle();
    }
  }

  /** Reset every flow and stop relaying. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#idleTimer !== null) clearInterval(this.#idleTimer);
    this.stack.tcp.unlistenAny();
    for (const f of [...this.#flows]) {
      f.handle?.abort();
      f.finish('reset');
      f.sock.destroy();
    }
  }
}
