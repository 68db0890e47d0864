/**
 * An in-memory link for simulations: `SimLink.pair(clock)` gives two ends of a wire. What one end
 * sends (and flushes) the other receives after a propagation delay plus, if a bandwidth is set,
 * the time to serialise the bytes. Time is the given Clock's, so over a VirtualClock a run is
 * exact and repeatable.
 *
 * Like a TUN device that batches writes, a SimLink holds what send() queued until flush(): a
 * stack that forgets to flush sends nothing, and the simulation shows it.
 */
import type { Clock, TimerHandle } from '../stack/clock.ts';
import type { Link, LinkReceiver } from '../stack/link.ts';

export interface SimLinkOptions {
  /** One-way propagation delay, ms (default 0: delivered at the next clock advance). */
  delayMs?: number;
  /** Bits per second each way; 0 (default) is infinitely fast. */
  bandwidthBps?: number;
  /** Default 1500. */
  mtu?: number;
  /** Packets in flight each way before the wire drops (a bounded queue, like a NIC ring). */
  queueLimit?: number;
}

export interface SimLinkStats {
  txPackets: number;
  txBytes: number;
  rxPackets: number;
  rxBytes: number;
  /** Dropped: queue full, larger than the MTU, or nobody attached. */
  drops: number;
  flushes: number;
}

interface InFlight {
  at: number;
  packet: Uint8Array;
}

export class SimLink implements Link {
  readonly mtu: number;
  readonly stats: SimLinkStats = {
    txPackets: 0,
    txBytes: 0,
    rxPackets: 0,
    rxBytes: 0,
    drops: 0,
    flushes: 0,
  };
  private rx: LinkReceiver | null = null;
  private peer: SimLink | null = null;
  private pending: Uint8Array[] = [];
  /** Packets on the wire towards the peer, in arrival order. */
  private wire: InFlight[] = [];
  private wireHead = 0;
  private timer: TimerHandle | null = null;
  private busyUntil = 0;
  private closed = false;
  private readonly delayMs: number;
  private readonly bandwidthBps: number;
  private readonly queueLimit: number;

  private constructor(
    private readonly clock: Clock,
    options: SimLinkOptions,
  ) {
    this.mtu = options.mtu ?? 1500;
    this.delayMs = options.delayMs ?? 0;
    this.bandwidthBps = options.bandwidthBps ?? 0;
    this.queueLimit = options.queueLimit ?? 10_000;
  }

  /** Two connected ends. */
  static pair(clock: Clock, options: SimLinkOptions = {}): [SimLink, SimLink] {
    const a = new SimLink(clock, options);
    const b = new SimLink(clock, options);
    a.peer = b;
    b.peer = a;
    return [a, b];
  }

  attach(rx: LinkReceiver): void {
    this.rx = rx;
  }

  send(packet: Uint8Array): void {
    if (this.closed || packet.length > this.mtu) {
      this.stats.drops++;
      return;
    }
    this.pending.push(packet);
  }

  flush(): void {
    this.stats.flushes++;
    if (this.pending.length === 0) return;
    const now = this.clock.now();
    for (const packet of this.pending) {
      if (this.wire.length - this.wireHead >= this.queueLimit) {
        this.stats.drops++;
        continue;
      }
      const start = Math.max(now, this.busyUntil);
      const serialise = this.bandwidthBps > 0 ? (packet.length * 8 * 1000) / this.bandwidthBps : 0;
      this.busyUntil = start + serialise;
      this.wire.push({ at: this.busyUntil + this.delayMs, packet });
      this.stats.txPackets++;
      this.stats.txBytes += packet.length;
    }
    this.pending = [];
    this.arm();
  }

  close(): Promise<void> {
    this.closed = true;
    this.rx = null;
    this.timer?.cancel();
    this.timer = null;
    this.wire = [];
    this.wireHead = 0;
    this.pending = [];
    return Promise.resolve();
  }

  private arm(): void {
    if (this.timer !== null || this.wireHead >= this.wire.length) return;
    this.timer = this.clock.setTimer(this.wire[this.wireHead].at, this.deliver);
  }

  /** Hand every packet due now to the peer, as one batch. */
  private readonly deliver = (): void => {
    this.timer = null;
    const now = this.clock.now();
    const peer = this.peer!;
    let delivered = 0;
    while (this.wireHead < this.wire.length && this.wire[this.wireHead].at <= now) {
      const { packet } = this.wire[this.wireHead++];
      const rx = peer.rx;
      if (rx === null) {
        peer.stats.drops++;
        continue;
      }
      peer.stats.rxPackets++;
      peer.stats.rxBytes += packet.length;
      rx.packet(packet);
      delivered++;
    }
    if (this.wireHead > 1024 && this.wireHead * 2 > this.wire.length) {
      this.wire = this.wire.slice(this.wireHead);
      this.wireHead = 0;
    }
    if (delivered > 0) peer.rx?.batchEnd?.();
    this.arm();
  };
}
