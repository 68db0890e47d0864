/**
 * FaultLink: a link wrapped in a seeded fault model, applied to both directions: loss,
 * duplication, corruption, delay and reordering. The same code serves simulations (over a
 * VirtualClock, where a seed reproduces a run exactly) and `tunstack up --impair …` (over the
 * real clock), where `parseImpair` reads the flag.
 *
 * Per packet, in this order, each with its own draw from the direction's PRNG:
 *   loss     → dropped;
 *   ce       → an IPv4 packet whose ECN field says ECT(0) or ECT(1) gets CE instead, as a
 *              congested ECN router marks rather than drops (RFC 3168 §5); the header checksum
 *              is adjusted (RFC 1624). Packets that are not ECT are never drawn for;
 *   dup      → sent twice (the copy takes the same path, independently corrupted/reordered);
 *   corrupt  → one random bit of one random byte flipped (header or payload: checksums catch it);
 *   reorder  → held back `reorderDelayMs` longer than the rest, so later packets overtake it;
 *   delay    → every packet waits `delay` ms (plus a uniform jitter up to `jitter`).
 */
import type { Clock, TimerHandle } from '../stack/clock.ts';
import { MinHeap } from '../stack/heap.ts';
import type { Link, LinkReceiver } from '../stack/link.ts';
import { mulberry32 } from '../stack/rng.ts';
import { checksumAdjust } from '../wire/checksum.ts';

export interface Impairment {
  /** Probabilities in [0, 1]. */
  loss?: number;
  reorder?: number;
  dup?: number;
  corrupt?: number;
  /** Probability an ECT packet is marked CE (RFC 3168 §5). */
  ce?: number;
  /** Milliseconds. */
  delay?: number;
  jitter?: number;
  /** Extra hold of a reordered packet, ms (default: max(delay, 1)). */
  reorderDelayMs?: number;
  /** PRNG seed (default 1). */
  seed?: number;
  /**
   * Most packets held (delayed or reordered) per direction; one more is dropped and counted as
   * `overflow`, as a full router queue drops (default HELD_LIMIT).
   */
  limit?: number;
}

/** Default bound on the packets a direction holds: 20 ms at ~7 Gbit/s of 1500-byte packets. */
export const HELD_LIMIT = 10_000;

export interface FaultDirectionStats {
  packets: number;
  lost: number;
  duplicated: number;
  corrupted: number;
  reordered: number;
  delayed: number;
  /** ECT packets marked CE. */
  ceMarked: number;
  /** Packets dropped because the direction already held `limit` of them. */
  overflow: number;
}

export interface FaultStats {
  /** Outgoing: what the stack sent towards the inner link. */
  tx: FaultDirectionStats;
  /** Incoming: what the inner link received for the stack. */
  rx: FaultDirectionStats;
}

const PROBABILITIES = ['loss', 'reorder', 'dup', 'corrupt', 'ce'] as const;
const DURATIONS = ['delay', 'jitter', 'reorderDelayMs'] as const;

/**
 * Parse `loss=5%,reorder=25%,dup=1%,delay=1ms,corrupt=0.1%,ce=2%,seed=N,limit=N` (any subset,
 * any order).
 * Probabilities take `%` or a fraction (0.05); durations take ms (default), us or s.
 * Throws a TypeError with code ERR_INVALID_ARG_VALUE on anything else.
 */
export function parseImpair(text: string): Impairment {
  const out: Impairment = {};
  const bad = (why: string) =>
    Object.assign(new TypeError(`--impair ${JSON.stringify(text)}: ${why}`), {
      code: 'ERR_INVALID_ARG_VALUE',
    });
  for (const part of text.split(',')) {
    const item = part.trim();
    if (item === '') continue;
    const m = /^([a-zA-Z]+)=(.+)$/.exec(item);
    if (m === null) throw bad(`expected key=value, got ${JSON.stringify(item)}`);
    const [, key, value] = m;
    if ((PROBABILITIES as readonly string[]).includes(key)) {
      const pm = /^(\d+(?:\.\d+)?)(%?)$/.exec(value);
      if (pm === null) throw bad(`${key} must be a percentage or a fraction`);
      const p = Number(pm[1]) / (pm[2] === '%' ? 100 : 1);
      if (p > 1) throw bad(`${key} must be at most 100%`);
      out[key as (typeof PROBABILITIES)[number]] = p;
    } else if ((DURATIONS as readonly string[]).includes(key)) {
      const dm = /^(\d+(?:\.\d+)?)(ms|us|s)?$/.exec(value);
      if (dm === null) throw bad(`${key} must be a duration like 1ms, 500us or 0.1s`);
      const scale = dm[2] === 's' ? 1000 : dm[2] === 'us' ? 0.001 : 1;
      out[key as (typeof DURATIONS)[number]] = Number(dm[1]) * scale;
    } else if (key === 'seed' || key === 'limit') {
      if (!/^\d+$/.test(value)) throw bad(`${key} must be a non-negative integer`);
      out[key] = Number(value);
    } else {
      throw bad(`unknown key ${JSON.stringify(key)}`);
    }
  }
  return out;
}

function directionStats(): FaultDirectionStats {
  return {
    packets: 0,
    lost: 0,
    duplicated: 0,
    corrupted: 0,
    reordered: 0,
    delayed: 0,
    ceMarked: 0,
    overflow: 0,
  };
}

interface Held {
  at: number;
  seq: number;
  packet: Uint8Array;
}

/** One direction's fault model and its queue of held packets. */
class Direction {
  readonly stats = directionStats();
  private readonly random: () => number;
  private readonly held = new MinHeap<Held>(
    (a, b) => a.at < b.at || (a.at === b.at && a.seq < b.seq),
  );
  private seq = 0;
  private timer: TimerHandle | null = null;
  private timerAt = Number.POSITIVE_INFINITY;

  constructor(
    private readonly imp: Required<Omit<Impairment, 'seed'>>,
    seed: number,
    private readonly clock: Clock,
    /** Passes a packet on. */
    private readonly pass: (packet: Uint8Array) => void,
    private readonly batchEnd: () => void,
    /** Incoming bytes are the link's only during its callback: copy before holding or changing. */
    private readonly mustCopy: boolean,
  ) {
    this.random = mulberry32(seed);
  }

  /** Apply the model to one packet. Returns true when something was passed on at once. */
  handle(packet: Uint8Array): boolean {
    const imp = this.imp;
    this.stats.packets++;
    if (imp.loss > 0 && this.random() < imp.loss) {
      this.stats.lost++;
      return false;
    }
    if (imp.ce > 0 && isEct(packet) && this.random() < imp.ce) {
      // Incoming bytes are the inner link's: mark a copy.
      if (this.mustCopy) packet = packet.slice();
      markCe(packet);
      this.stats.ceMarked++;
    }
    // The duplicate goes first, as a copy taken before the original may be corrupted in place.
    let passed = false;
    if (imp.dup > 0 && this.random() < imp.dup) {
      this.stats.duplicated++;
      passed = this.one(packet, true);
    }
    return this.one(packet, false) || passed;
  }

  close(): void {
    this.timer?.cancel();
    this.timer = null;
    this.held.clear();
  }

  private one(packet: Uint8Array, isCopy: boolean): boolean {
    const imp = this.imp;
    // Outgoing bytes are ours (the link owns what it is sent); incoming ones only for this call.
    const owned = !this.mustCopy;
    // An outgoing duplicate needs bytes of its own: the original may be corrupted in place after
    // it, while a link still holds both. (Incoming bytes are never changed in place.)
    if (isCopy && owned) packet = packet.slice();
    let mine = owned;
    if (imp.corrupt > 0 && this.random() < imp.corrupt) {
      if (!mine) packet = packet.slice();
      mine = true;
      const at = Math.floor(this.random() * packet.length);
      packet[at] ^= 1 << Math.floor(this.random() * 8);
      this.stats.corrupted++;
    }
    let wait = imp.delay;
    if (imp.jitter > 0) wait += this.random() * imp.jitter;
    if (imp.reorder > 0 && this.random() < imp.reorder) {
      wait += imp.reorderDelayMs;
      this.stats.reordered++;
    }
    if (wait <= 0) {
      this.pass(packet);
      return true;
    }
    if (this.held.size >= this.imp.limit) {
      this.stats.overflow++;
      return false;
    }
    this.stats.delayed++;
    const at = this.clock.now() + wait;
    this.held.push({ at, seq: this.seq++, packet: mine ? packet : packet.slice() });
    if (at < this.timerAt) {
      this.timer?.cancel();
      this.timerAt = at;
      this.timer = this.clock.setTimer(at, this.release);
    }
    return false;
  }

  private readonly release = (): void => {
    this.timer = null;
    this.timerAt = Number.POSITIVE_INFINITY;
    const now = this.clock.now();
    let any = false;
    for (let h = this.held.peek(); h !== undefined && h.at <= now; h = this.held.peek()) {
      this.held.pop();
      this.pass(h.packet);
      any = true;
    }
    if (any) this.batchEnd();
    const next = this.held.peek();
    if (next !== undefined) {
      this.timerAt = next.at;
      this.timer = this.clock.setTimer(next.at, this.release);
    }
  };
}

const IP_TOS = 1;
const IP_CHECKSUM = 10;

/** An IPv4 packet whose ECN field is ECT(0) or ECT(1). */
function isEct(p: Uint8Array): boolean {
  if (p.length < 20 || p[0] >> 4 !== 4) return false;
  const ecn = p[IP_TOS] & 3;
  return ecn === 1 || ecn === 2;
}

/** Set the ECN field to CE, adjusting the header checksum for the changed word (RFC 1624). */
function markCe(p: Uint8Array): void {
  const oldWord = (p[0] << 8) | p[IP_TOS];
  p[IP_TOS] |= 3;
  const newWord = (p[0] << 8) | p[IP_TOS];
  const sum = (p[IP_CHECKSUM] << 8) | p[IP_CHECKSUM + 1];
  const adjusted = checksumAdjust(sum, oldWord, newWord);
  p[IP_CHECKSUM] = adjusted >> 8;
  p[IP_CHECKSUM + 1] = adjusted & 0xff;
}

/**
 * Offloads: none. Faults are per packet, so a TSO super-segment (one packet standing for dozens)
 * would be lost or corrupted as a whole; and a corrupted packet whose checksum the inner link
 * vouched for (RxFlag.CsumTrusted) would go unnoticed. Received flags are therefore not passed
 * on: open the inner TunLink without `offload` (tunstack up does when faults are asked for).
 */
export class FaultLink implements Link {
  readonly mtu: number;
  private rx: LinkReceiver | null = null;
  private readonly out: Direction;
  private readonly in: Direction;
  private closed = false;

  constructor(
    private readonly inner: Link,
    impairment: Impairment,
    clock: Clock,
  ) {
    this.mtu = inner.mtu;
    const delay = impairment.delay ?? 0;
    const imp = {
      loss: impairment.loss ?? 0,
      reorder: impairment.reorder ?? 0,
      dup: impairment.dup ?? 0,
      corrupt: impairment.corrupt ?? 0,
      ce: impairment.ce ?? 0,
      delay,
      jitter: impairment.jitter ?? 0,
      reorderDelayMs: impairment.reorderDelayMs ?? Math.max(delay, 1),
      limit: impairment.limit ?? HELD_LIMIT,
    };
    const seed = impairment.seed ?? 1;
    this.out = new Direction(
      imp,
      seed,
      clock,
      (p) => inner.send(p),
      () => inner.flush(),
      false,
    );
    // The other direction draws from its own stream, so that traffic one way does not change
    // the faults the other way sees.
    this.in = new Direction(
      imp,
      (seed ^ 0x9e3779b9) >>> 0,
      clock,
      (p) => this.rx?.packet(p),
      () => this.rx?.batchEnd?.(),
      true,
    );
  }

  get stats(): FaultStats {
    return { tx: this.out.stats, rx: this.in.stats };
  }

  attach(rx: LinkReceiver): void {
    this.rx = rx;
    this.inner.attach({
      packet: (p) => {
        if (!this.closed) this.in.handle(p);
      },
      batchEnd: () => this.rx?.batchEnd?.(),
    });
  }

  send(packet: Uint8Array): void {
    if (!this.closed) this.out.handle(packet);
  }

  flush(): void {
    this.inner.flush();
  }

  close(): Promise<void> {
    this.closed = true;
    this.out.close();
    this.in.close();
    return this.inner.close();
  }
}
