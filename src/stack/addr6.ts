/**
 * The IPv6 addresses the TCP layer's connections talk to, each given a number ≥ IPV6_ID_BASE
 * (src/tcp/address.ts) for the core's 4-tuples and the demux keys, so that IPv4's path keeps its
 * plain uint32 keys and pays nothing for IPv6.
 *
 *   id = IPV6_ID_BASE            our own IPv6 address, always held
 *   id = IPV6_ID_BASE + 1 … max  a peer, held while a connection (or TIME_WAIT entry) refers to it
 *
 * An id is referenced by each table entry that holds it (`ref`/`unref`); one made for a segment
 * that created nothing (a reset, a cookie SYN-ACK) is let go once the segment is done
 * (`releaseIfUnused`). Freed ids are reused, so the ids stay below IPV6_ID_BASE + `max` + 1 and a
 * demux key (id · 2^16 + port) stays an exact double. At most `max` peers at once: past it, `intern`
 * returns -1 and the caller drops and counts.
 *
 *   id = IPV6_ID_BASE + max + 1  the transient id (`transient`): an address that holds no slot,
 *                                for a segment answered without state (a cookie SYN-ACK, a reset)
 *                                while the table is near its bound; its bytes are valid until the
 *                                next `transient` call, and nothing may keep the id.
 */
import { IPV6_ID_BASE } from '../tcp/address.ts';

interface Peer {
  readonly bytes: Uint8Array;
  readonly key: string;
  refs: number;
}

/** A map key for 16 address bytes: eight UTF-16 code units, one per 16-bit group. */
function keyOf(a: Uint8Array): string {
  return String.fromCharCode(
    (a[0] << 8) | a[1],
    (a[2] << 8) | a[3],
    (a[4] << 8) | a[5],
    (a[6] << 8) | a[7],
    (a[8] << 8) | a[9],
    (a[10] << 8) | a[11],
    (a[12] << 8) | a[13],
    (a[14] << 8) | a[15],
  );
}

export class Ipv6Peers {
  readonly #byKey = new Map<string, number>();
  /** Index id − IPV6_ID_BASE; slot 0 is our own address. */
  readonly #peers: (Peer | undefined)[] = [];
  readonly #free: number[] = [];
  #size = 0;
  /** The transient address's bytes (overwritten by each `transient` call). */
  readonly #scratch = new Uint8Array(16);
  /** The transient id: above every slot's (slots are 1 … max). */
  readonly transientId: number;

  /** `own`: our address (id IPV6_ID_BASE); `max`: peers held at once. */
  constructor(
    own: Uint8Array,
    readonly max: number,
  ) {
    const bytes = own.slice();
    const key = keyOf(bytes);
    this.#peers.push({ bytes, key, refs: 1 });
    this.#byKey.set(key, IPV6_ID_BASE);
    this.transientId = IPV6_ID_BASE + max + 1;
  }

  /** Our own address's id. */
  get own(): number {
    return IPV6_ID_BASE;
  }

  /** Peers held now (our own address not counted). */
  get size(): number {
    return this.#size;
  }

  /** The id `addr` holds now, or -1 (none is made). */
  find(addr: Uint8Array): number {
    return this.#byKey.get(keyOf(addr)) ?? -1;
  }

  /**
   * The transient id, standing for `addr` (copied) until the next call: for a segment that must
   * be answered but may create nothing, when `addr` holds no id. It takes no slot and is not
   * counted in `size`; `ref` and the releases ignore it.
   */
  transient(addr: Uint8Array): number {
    this.#scratch.set(addr.subarray(0, 16));
    return this.transientId;
  }

  /** The id of `addr` (copied when new), or -1 when `max` peers are held already. */
  intern(addr: Uint8Array): number {
    const key = keyOf(addr);
    const known = this.#byKey.get(key);
    if (known !== undefined) return known;
    if (this.#size >= this.max) return -1;
    const slot = this.#free.pop() ?? this.#peers.length;
    this.#peers[slot] = { bytes: addr.slice(0, 16), key, refs: 0 };
    this.#size++;
    const id = IPV6_ID_BASE + slot;
    this.#byKey.set(key, id);
    return id;
  }

  /** The bytes behind `id` (throws for an id not held: a bug in the caller's reference counts). */
  bytes(id: number): Uint8Array {
    const p = this.#peers[id - IPV6_ID_BASE];
    if (p !== undefined) return p.bytes;
    if (id === this.transientId) return this.#scratch;
    throw new RangeError(`no IPv6 address with id ${id}`);
  }

  /** A table entry now refers to `id`. */
  ref(id: number): void {
    const p = this.#peers[id - IPV6_ID_BASE];
    if (p !== undefined) p.refs++;
  }

  /** A table entry that referred to `id` is gone; the id goes when nothing refers to it. */
  unref(id: number): void {
    const p = this.#peers[id - IPV6_ID_BASE];
    if (p === undefined) return;
    p.refs--;
    this.releaseIfUnused(id);
  }

  /** Let `id` go if nothing refers to it (one made for a segment that created nothing). */
  releaseIfUnused(id: number): void {
    const slot = id - IPV6_ID_BASE;
    const p = this.#peers[slot];
    if (p === undefined || p.refs > 0 || slot === 0) return;
    this.#byKey.delete(p.key);
    this.#peers[slot] = undefined;
    this.#free.push(slot);
    this.#size--;
  }
}
