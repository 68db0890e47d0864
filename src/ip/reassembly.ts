/**
 * IPv4 fragment reassembly (RFC 791 §3.2, with RFC 815's hole descriptors), bounded everywhere.
 *
 * Each datagram in progress keeps a list of holes, the ranges of payload bytes not yet received
 * (RFC 815 §3). A fragment that falls wholly inside one hole splits it; the datagram is complete
 * when no hole is left. Received bytes are copied (a link's buffer is valid only during its
 * callback) and are put together once, at completion.
 *
 * Overlaps: a fragment that lies wholly inside bytes already received is a duplicate (a link may
 * duplicate packets) and is ignored, first copy wins. A fragment that covers part of a hole and
 * part of received bytes drops the whole datagram: honest senders never do this, and refusing it
 * is what Linux does since CVE-2018-5391 and RFC 5722 requires for IPv6. So received bytes are
 * never overwritten, and no layout of offsets can corrupt memory.
 *
 * Bounds (named options, see ReassemblyOptions): the datagram size, the fragments per datagram,
 * the memory of all datagrams in progress together (a fragment that would exceed it is dropped,
 * as Linux does since 4.17, rather than evicting others), and the time a datagram may wait.
 *
 * Deterministic: time comes in as `now`; `nextDeadline()` says when to call `expire(now)`.
 */
import { put16 } from '../wire/bytes.ts';
import { internetChecksum } from '../wire/checksum.ts';
import { IPV4_MAX_DATAGRAM, type Ipv4View } from '../wire/ipv4.ts';
import type { IpDropReason, IpStats } from './stats.ts';

/** The drop reasons a Reassembler counts (IPv4's and IPv6's stats both have them). */
export type ReassemblyDropReason = Extract<
  IpDropReason,
  'bad-fragment' | 'frag-overlap' | 'frag-duplicate' | 'frag-memory' | 'frag-timeout'
>;

/** The counters a Reassembler updates: a slice of IpStats (or of the IPv6 layer's stats). */
export type ReassemblyStats = Pick<IpStats, 'reassembled'> & {
  drops: Record<ReassemblyDropReason, number>;
};

export interface ReassemblyOptions {
  /** Largest reassembled datagram, header included (RFC 791: 65 535). */
  maxDatagramBytes?: number;
  /** Memory for all datagrams in progress together, overheads included. */
  maxBytes?: number;
  /** How long a datagram may wait for its missing fragments (RFC 1122 §3.3.2: 60-120 s; Linux 30 s). */
  timeoutMs?: number;
  /** Fragments kept per datagram; a datagram cut into more is dropped. */
  maxFragmentsPerDatagram?: number;
  /**
   * Only an exact duplicate (same offset and length as a fragment already held) is ignored; any
   * other fragment that overlaps received bytes drops the datagram, as RFC 5722 requires for IPv6.
   * Off for IPv4, where a fragment wholly inside received bytes is taken for a duplicate.
   */
  strictOverlap?: boolean;
}

export const REASSEMBLY_DEFAULTS: Required<ReassemblyOptions> = {
  maxDatagramBytes: IPV4_MAX_DATAGRAM,
  maxBytes: 1 << 20,
  timeoutMs: 30_000,
  maxFragmentsPerDatagram: 256,
  strictOverlap: false,
};

/** Memory charged per datagram and per fragment besides the bytes themselves. */
const DATAGRAM_OVERHEAD = 256;
const FRAGMENT_OVERHEAD = 64;

/** A range of missing payload bytes, [first, last] inclusive; last is Infinity until the end is known. */
interface Hole {
  first: number;
  last: number;
}

interface Piece {
  offset: number;
  data: Uint8Array;
}

class Pending {
  src = 0;
  dst = 0;
  protocol = 0;
  holes: Hole[] = [{ first: 0, last: Number.POSITIVE_INFINITY }];
  pieces: Piece[] = [];
  /** The offset-0 fragment's header, once it arrives. */
  header: Uint8Array | null = null;
  /** Payload length, once the last fragment (MF clear) arrives. */
  totalLen = -1;
  /** One past the highest payload byte received. */
  maxEnd = 0;
  /** Memory charged to this datagram. */
  charged = DATAGRAM_OVERHEAD;

  constructor(readonly deadline: number) {}
}

/** One fragment for `Reassembler.addFragment`, whatever the IP version. */
export interface FragmentIn {
  src: number;
  dst: number;
  protocol: number;
  /** Offset of `data` in the datagram's payload, bytes. */
  offset: number;
  /** The fragment's payload (its fragmentable part): copied when kept. */
  data: Uint8Array;
  more: boolean;
  /** Header bytes that precede the payload (charged against maxDatagramBytes). */
  headerLen: number;
  /** The header to keep from the offset-0 fragment (copied; read only when `offset` is 0). */
  header: Uint8Array;
}

/** A datagram whose every byte has arrived: the offset-0 fragment's header and the pieces. */
export interface CompleteDatagram {
  header: Uint8Array;
  /** Payload length. */
  totalLen: number;
  pieces: readonly Piece[];
}

/** Copy every piece of `d` into `out` from `at` on (the payload, in place). */
export function copyPieces(d: CompleteDatagram, out: Uint8Array, at: number): void {
  for (const piece of d.pieces) out.set(piece.data, at + piece.offset);
}

/** The first fragment of a datagram that timed out. */
export interface TimedOutFragment {
  src: number;
  dst: number;
  protocol: number;
  broadcast: boolean;
  header: Uint8Array;
  payload: Uint8Array;
}

export class Reassembler {
  private readonly opts: Required<ReassemblyOptions>;
  /** In arrival order, which is deadline order since every datagram gets the same timeout. */
  private readonly pending = new Map<string, Pending>();
  private used = 0;

  constructor(
    options: ReassemblyOptions,
    private readonly stats: ReassemblyStats,
  ) {
    this.opts = { ...REASSEMBLY_DEFAULTS, ...options };
  }

  /** Memory charged to datagrams in progress. */
  get bytesInUse(): number {
    return this.used;
  }

  /** Datagrams in progress. */
  get datagramsInProgress(): number {
    return this.pending.size;
  }

  /** When `expire` next has work, or null when nothing is pending. */
  nextDeadline(): number | null {
    for (const p of this.pending.values()) return p.deadline;
    return null;
  }

  /**
   * Drop every datagram whose time is up; returns how many. For each that had its first
   * fragment, `onTimeout` gets that fragment (header and data) so that the caller may send ICMP
   * time exceeded (RFC 1122 §3.3.2). Its bytes are valid only during the call.
   */
  expire(now: number, onTimeout?: (first: TimedOutFragment) => void): number {
    let n = 0;
    for (const [key, p] of this.pending) {
      if (p.deadline > now) break;
      this.discard(key, p, 'frag-timeout');
      n++;
      const first = p.header === null ? undefined : p.pieces.find((x) => x.offset === 0);
      if (onTimeout !== undefined && first !== undefined) {
        onTimeout({
          src: p.src,
          dst: p.dst,
          protocol: p.protocol,
          broadcast: p.dst === 0xffffffff,
          header: p.header!,
          payload: first.data,
        });
      }
    }
    return n;
  }

  /** Forget everything (stack close). */
  clear(): void {
    this.pending.clear();
    this.used = 0;
  }

  /**
   * Add one checked fragment (MF set or offset non-zero). Returns the whole datagram, header and
   * payload, as new bytes that form a valid unfragmented IPv4 packet, or null while incomplete or
   * when the fragment was dropped (counted in stats.drops).
   */
  add(frag: Ipv4View, now: number): Uint8Array | null {
    const whole = this.addFragment(
      `${frag.src}/${frag.dst}/${frag.protocol}/${frag.id}`,
      {
        src: frag.src,
        dst: frag.dst,
        protocol: frag.protocol,
        offset: frag.fragOffset,
        data: frag.payload,
        more: frag.moreFrags,
        headerLen: frag.headerLen,
        header: frag.bytes.subarray(0, frag.headerLen),
      },
      now,
    );
    return whole === null ? null : assemble(whole);
  }

  /**
   * Add one fragment of the datagram named `key` (the fields that identify it: RFC 791 §3.2,
   * RFC 8200 §4.5). Returns the complete datagram once every byte is in, else null (waiting, or
   * dropped and counted). The IP version's own code puts the datagram together.
   */
  addFragment(key: string, frag: FragmentIn, now: number): CompleteDatagram | null {
    const data = frag.data;
    const first = frag.offset;
    const end = first + data.length;
    const more = frag.more;
    // RFC 791 §3.2: every fragment but the last carries a multiple of 8 bytes; a datagram may not
    // outgrow the Total Length field (the "ping of death" sends one that does).
    if (
      data.length === 0 ||
      (more && data.length % 8 !== 0) ||
      frag.headerLen + end > this.opts.maxDatagramBytes
    ) {
      this.stats.drops['bad-fragment']++;
      return null;
    }

    let p = this.pending.get(key);
    if (p !== undefined && p.deadline <= now) {
      this.discard(key, p, 'frag-timeout');
      p = undefined;
    }
    const cost = data.length + FRAGMENT_OVERHEAD + (first === 0 ? frag.headerLen : 0);
    if (this.used + cost + (p === undefined ? DATAGRAM_OVERHEAD : 0) > this.opts.maxBytes) {
      this.stats.drops['frag-memory']++;
      return null;
    }
    if (p === undefined) {
      p = new Pending(now + this.opts.timeoutMs);
      p.src = frag.src;
      p.dst = frag.dst;
      p.protocol = frag.protocol;
      this.pending.set(key, p);
      this.used += DATAGRAM_OVERHEAD;
    }

    let verdict = this.fill(p, first, end, more);
    if (verdict === 'frag-duplicate' && this.opts.strictOverlap) {
      const same = p.pieces.some((x) => x.offset === first && x.data.length === data.length);
      if (!same) verdict = 'frag-overlap';
    }
    if (verdict !== 'ok') {
      if (verdict === 'frag-duplicate') this.stats.drops['frag-duplicate']++;
      else this.discard(key, p, verdict);
      return null;
    }
    if (p.pieces.length >= this.opts.maxFragmentsPerDatagram) {
      this.discard(key, p, 'bad-fragment');
      return null;
    }
    p.pieces.push({ offset: first, data: data.slice() });
    if (first === 0) p.header = frag.header.slice();
    p.charged += cost;
    this.used += cost;

    if (p.holes.length > 0) return null;
    this.pending.delete(key);
    this.used -= p.charged;
    this.stats.reassembled++;
    return { header: p.header!, totalLen: p.totalLen, pieces: p.pieces };
  }

  /**
   * Update `p.holes` for payload bytes [first, end) (RFC 815 §3, steps 1-8), or say why not.
   * Nothing changes unless the answer is 'ok'.
   */
  private fill(
    p: Pending,
    first: number,
    end: number,
    more: boolean,
  ): 'ok' | 'frag-duplicate' | 'frag-overlap' | 'bad-fragment' {
    const last = end - 1;
    if (p.totalLen >= 0 && (end > p.totalLen || (!more && end !== p.totalLen)))
      return 'bad-fragment';
    // The last fragment fixes the length: nothing may have arrived beyond it.
    if (!more && p.maxEnd > end) return 'bad-fragment';

    let hit = -1;
    for (let i = 0; i < p.holes.length; i++) {
      const h = p.holes[i];
      if (h.first > last || h.last < first) continue; // no intersection
      if (h.first <= first && last <= h.last && hit === -1) {
        hit = i;
        continue;
      }
      return 'frag-overlap'; // touches a hole and received bytes, or two holes
    }
    if (hit === -1) return 'frag-duplicate';
    // A fragment inside a hole can still straddle received bytes only if it also touched another
    // hole (caught above); so the range is entirely new.

    const h = p.holes[hit];
    const replacement: Hole[] = [];
    if (first > h.first) replacement.push({ first: h.first, last: first - 1 });
    if (last < h.last && more) replacement.push({ first: last + 1, last: h.last });
    p.holes.splice(hit, 1, ...replacement);
    if (!more) {
      p.totalLen = end;
      // Every remaining hole lies below `first` (maxEnd ≤ end was checked), so none is open-ended.
    }
    if (end > p.maxEnd) p.maxEnd = end;
    return 'ok';
  }

  private discard(
    key: string,
    p: Pending,
    reason: 'frag-timeout' | 'frag-overlap' | 'bad-fragment',
  ): void {
    this.pending.delete(key);
    this.used -= p.charged;
    this.stats.drops[reason]++;
  }
}

/** The reassembled datagram: the first fragment's header, fixed up (RFC 791 §3.2), then the payload. */
function assemble(p: CompleteDatagram): Uint8Array {
  const header = p.header;
  const hlen = header.length;
  const out = new Uint8Array(hlen + p.totalLen);
  out.set(header, 0);
  copyPieces(p, out, hlen);
  put16(out, 2, hlen + p.totalLen);
  out[6] &= 0x40; // keep DF, clear MF and the offset
  out[7] = 0;
  put16(out, 10, 0);
  put16(out, 10, internetChecksum(out, 0, hlen));
  return out;
}
