/**
 * The path-MTU table (RFC 1191 for IPv4, RFC 8201 for IPv6): what ICMP "fragmentation needed"
 * (type 3 code 4) and ICMPv6 Packet Too Big taught us about each destination, as Linux keeps it
 * in its route exceptions.
 *
 * - An entry only ever lowers a destination's MTU: a report at or above what we hold (or above
 *   the link's MTU) changes nothing (RFC 1191 §3, RFC 8201 §4: never raised by an ICMP message).
 * - Lower bounds: IPv6 never below 1280 (RFC 8200 §5; a smaller Packet Too Big is clamped),
 *   IPv4 never below Linux's min_pmtu, 552 (a smaller next-hop MTU, or an old router's 0, is
 *   clamped). Both counted.
 * - Entries expire after `expiryMs` (RFC 1191 §6.3 and RFC 8201 §4 suggest 10 minutes, Linux's
 *   mtu_expires is 600 s); the destination's MTU is then the link's again.
 * - Bounded by `maxEntries`: past it the oldest entry is forgotten (counted as `evicted`).
 *
 * Keys: an IPv4 address as its number, an IPv6 address as a 16-character string of its eight
 * 16-bit words (not the TCP layer's ids, which are freed with the last connection to a peer).
 * All entries have one lifetime, so the Map's insertion order (an update re-inserts) is also
 * the expiry order: `expire` reads from the front.
 */
import { get16 } from '../wire/bytes.ts';
import { IPV6_MIN_MTU } from '../wire/ipv6.ts';

/** Linux's net.ipv4.route.min_pmtu: no IPv4 path MTU below this. */
export const IPV4_MIN_PMTU = 552;

export interface PathMtuOptions {
  /** Destinations remembered at once; past it the oldest is forgotten (`evicted`). */
  maxEntries: number;
  /** How long a learned path MTU holds, ms (Linux's mtu_expires: 10 min). */
  expiryMs: number;
}

export const DEFAULT_PATH_MTU_OPTIONS: Readonly<PathMtuOptions> = Object.freeze({
  maxEntries: 1024,
  expiryMs: 600_000,
});

export interface PathMtuStats {
  /** Reports that lowered a destination's path MTU. */
  lowered: number;
  /** Reports at or above what we hold, or above the link's MTU: ignored (never raised). */
  notLower: number;
  /** IPv4 reports below 552 (or 0), taken as 552. */
  clampedV4: number;
  /** IPv6 Packet Too Big below 1280, taken as 1280. */
  clampedV6: number;
  /** Entries forgotten to make room (`maxEntries`). */
  evicted: number;
  /** Entries that expired: the destination is back at the link's MTU. */
  expired: number;
  /** Entries held now. */
  entries: number;
}

export function createPathMtuStats(): PathMtuStats {
  return {
    lowered: 0,
    notLower: 0,
    clampedV4: 0,
    clampedV6: 0,
    evicted: 0,
    expired: 0,
    entries: 0,
  };
}

/** A destination's key: an IPv4 address, or an IPv6 address as a string (see pmtuKey6). */
export type PathMtuKey = number | string;

interface Entry {
  mtu: number;
  expiry: number;
}

/** The key of an IPv6 address (16 bytes from `at`): its eight words as one 8-character string. */
export function pmtuKey6(addr: Uint8Array, at = 0): string {
  return String.fromCharCode(
    get16(addr, at),
    get16(addr, at + 2),
    get16(addr, at + 4),
    get16(addr, at + 6),
    get16(addr, at + 8),
    get16(addr, at + 10),
    get16(addr, at + 12),
    get16(addr, at + 14),
  );
}

export class PathMtuTable {
  readonly options: Readonly<PathMtuOptions>;
  readonly #entries = new Map<PathMtuKey, Entry>();

  constructor(
    /** The link's MTU: every destination's path MTU until told otherwise, and the ceiling. */
    readonly linkMtu: number,
    readonly stats: PathMtuStats = createPathMtuStats(),
    options: Partial<PathMtuOptions> = {},
  ) {
    this.options = { ...DEFAULT_PATH_MTU_OPTIONS, ...options };
    const o = this.options;
    if (!(Number.isInteger(o.maxEntries) && o.maxEntries >= 1)) {
      throw Object.assign(new RangeError(`pmtu.maxEntries must be ≥ 1, got ${o.maxEntries}`), {
        code: 'ERR_OUT_OF_RANGE',
      });
    }
    if (!(o.expiryMs > 0)) {
      throw Object.assign(new RangeError(`pmtu.expiryMs must be > 0, got ${o.expiryMs}`), {
        code: 'ERR_OUT_OF_RANGE',
      });
    }
  }

  /** Entries held (expired ones included until `expire` or a lookup removes them). */
  get size(): number {
    return this.#entries.size;
  }

  /** The path MTU to IPv4 address `dst` at `now`: the learned one, or the link's. */
  get4(dst: number, now: number): number {
    return this.#get(dst >>> 0, now);
  }

  /** The path MTU to IPv6 address `dst` (16 bytes from `at`). */
  get6(dst: Uint8Array, now: number, at = 0): number {
    if (this.#entries.size === 0) return this.linkMtu;
    return this.#get(pmtuKey6(dst, at), now);
  }

  /**
   * A "fragmentation needed" about a datagram to `dst` with next-hop MTU `mtu` (0 from a router
   * older than RFC 1191). Returns the destination's new path MTU when it was lowered, else null.
   */
  report4(dst: number, mtu: number, now: number): number | null {
    let m = mtu;
    if (m < IPV4_MIN_PMTU) {
      this.stats.clampedV4++;
      m = IPV4_MIN_PMTU;
    }
    return this.#lower(dst >>> 0, m, now);
  }

  /** A Packet Too Big about a packet to `dst` (16 bytes) with MTU `mtu`; as report4. */
  report6(dst: Uint8Array, mtu: number, now: number): number | null {
    let m = mtu;
    if (m < IPV6_MIN_MTU) {
      this.stats.clampedV6++;
      m = IPV6_MIN_MTU;
    }
    return this.#lower(pmtuKey6(dst), m, now);
  }

  /**
   * Forget the entries whose time is over, oldest first, telling `gone` each key: those
   * destinations are back at the link's MTU. Returns the next expiry, or null when none is left.
   */
  expire(now: number, gone?: (key: PathMtuKey) => void): number | null {
    for (const [key, e] of this.#entries) {
      if (e.expiry > now) return e.expiry;
      this.#entries.delete(key);
      this.stats.expired++;
      this.stats.entries = this.#entries.size;
      gone?.(key);
    }
    return null;
  }

  /** The earliest expiry, or null with no entries. */
  nextExpiry(): number | null {
    for (const e of this.#entries.values()) return e.expiry;
    return null;
  }

  clear(): void {
    this.#entries.clear();
    this.stats.entries = 0;
  }

  #get(key: PathMtuKey, now: number): number {
    const e = this.#entries.get(key);
    if (e === undefined) return this.linkMtu;
    if (e.expiry <= now) {
      this.#entries.delete(key);
      this.stats.expired++;
      this.stats.entries = this.#entries.size;
      return this.linkMtu;
    }
    return e.mtu;
  }

  #lower(key: PathMtuKey, mtu: number, now: number): number | null {
    const current = this.#get(key, now);
    if (mtu >= current) {
      this.stats.notLower++;
      return null;
    }
    const entries = this.#entries;
    // A new entry (or an update) goes to the end: the front is always the first to expire.
    entries.delete(key);
    if (entries.size >= this.options.maxEntries) {
      for (const oldest of entries.keys()) {
        entries.delete(oldest);
        this.stats.evicted++;
        break;
      }
    }
    entries.set(key, { mtu, expiry: now + this.options.expiryMs });
    this.stats.lowered++;
    this.stats.entries = entries.size;
    return mtu;
  }
}
