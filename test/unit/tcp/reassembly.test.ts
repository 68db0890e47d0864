import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CopySlab, Reassembly } from '../../../src/tcp/reassembly.ts';
import { seqAdd } from '../../../src/tcp/seq.ts';

const bytes = (from: number, to: number) =>
  Uint8Array.from({ length: to - from }, (_, i) => (from + i) & 0xff);
const concat = (chunks: Uint8Array[]) => {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
};

describe('CopySlab', () => {
  it('returns independent copies, across slab boundaries and larger than a slab', () => {
    const slab = new CopySlab(16);
    const src = bytes(0, 40);
    const a = slab.copy(src, 0, 10);
    const b = slab.copy(src, 10, 20); // does not fit in the rest of the first slab
    const c = slab.copy(src); // larger than a slab
    const d = slab.copy(src, 3, 3);
    src.fill(0);
    expect(a).toEqual(bytes(0, 10));
    expect(b).toEqual(bytes(10, 20));
    expect(c).toEqual(bytes(0, 40));
    expect(d.length).toBe(0);
    a.fill(1);
    expect(b).toEqual(bytes(10, 20));
  });
});

describe('Reassembly', () => {
  it('holds out-of-order data and releases it when the gap fills', () => {
    const r = new Reassembly(10_000);
    expect(r.insert(10, bytes(10, 20))).toBe(true);
    expect(r.insert(30, bytes(30, 40))).toBe(true);
    expect(r.bytes).toBe(20);
    // The caller accepted bytes 0..10 in order: 10..20 is now contiguous.
    const got = r.advance(10);
    expect(concat(got)).toEqual(bytes(10, 20));
    // RCV.NXT is now 20 (10 + 10 returned); 30..40 sits at offset 10.
    expect(r.bytes).toBe(10);
    expect(concat(r.advance(10))).toEqual(bytes(30, 40));
    expect(r.bytes).toBe(0);
    expect(r.empty).toBe(true);
  });

  it('keeps queued bytes and trims overlapping new ones', () => {
    const r = new Reassembly(10_000);
    r.insert(10, bytes(10, 20));
    const other = bytes(5, 30).fill(0xee); // different content over the same positions
    expect(r.insert(5, other)).toBe(true);
    expect(r.bytes).toBe(25);
    const out = concat(r.advance(5));
    expect(out.length).toBe(25);
    expect(out.subarray(0, 5).every((b) => b === 0xee)).toBe(true);
    expect(out.subarray(5, 15)).toEqual(bytes(10, 20));
    expect(out.subarray(15).every((b) => b === 0xee)).toBe(true);
  });

  it('drops queued bytes that the in-order data already covered', () => {
    const r = new Reassembly(10_000);
    r.insert(10, bytes(10, 20));
    const got = r.advance(15);
    expect(concat(got)).toEqual(bytes(15, 20));
    expect(r.bytes).toBe(0);
  });

  it('ignores bytes before RCV.NXT', () => {
    const r = new Reassembly(10_000);
    expect(r.insert(-5, bytes(0, 5))).toBe(true);
    expect(r.bytes).toBe(0);
    r.insert(-5, bytes(0, 10));
    expect(r.bytes).toBe(5);
    expect(concat(r.advance(0))).toEqual(bytes(5, 10));
  });

  it('copies the inserted bytes', () => {
    const r = new Reassembly(10_000);
    const packet = bytes(0, 10);
    r.insert(1, packet);
    packet.fill(0);
    expect(concat(r.advance(1))).toEqual(bytes(0, 10));
  });

  it('stores what fits within the bound, in position order, and reports the rest', () => {
    const r = new Reassembly(15);
    expect(r.insert(10, bytes(0, 10))).toBe(true);
    expect(r.insert(0, bytes(0, 30))).toBe(false);
    expect(r.bytes).toBe(15);
    // Only the first 5 bytes of the first gap (0..10) fitted.
    expect(r.sackBlocks(0, 4)).toEqual([
      { left: 0, right: 5 },
      { left: 10, right: 20 },
    ]);
    expect(r.insert(40, bytes(0, 1))).toBe(false);
    expect(r.bytes).toBe(15);
  });

  it('reports SACK blocks most recent first (RFC 2018 §4), across the sequence wrap', () => {
    const r = new Reassembly(10_000);
    const base = 0xffff_fff0;
    r.insert(100, bytes(0, 10));
    r.insert(200, bytes(0, 10));
    r.insert(300, bytes(0, 10));
    r.insert(110, bytes(0, 10)); // extends the first block, received last
    expect(r.sackBlocks(base, 4)).toEqual([
      { left: seqAdd(base, 100), right: seqAdd(base, 120) },
      { left: seqAdd(base, 300), right: seqAdd(base, 310) },
      { left: seqAdd(base, 200), right: seqAdd(base, 210) },
    ]);
    expect(r.sackBlocks(base, 2)).toHaveLength(2);
    expect(r.sackBlocks(base, 0)).toEqual([]);
    // A duplicate of held data still names its block first.
    r.insert(205, bytes(0, 2));
    expect(r.sackBlocks(base, 1)).toEqual([{ left: seqAdd(base, 200), right: seqAdd(base, 210) }]);
    r.clear();
    expect(r.bytes).toBe(0);
    expect(r.sackBlocks(base, 4)).toEqual([]);
  });

  it('fills spare SACK slots with the other blocks in order', () => {
    const r = new Reassembly(10_000);
    for (let i = 1; i <= 12; i++) r.insert(i * 20, bytes(0, 10));
    const blocks = r.sackBlocks(0, 12);
    expect(blocks.map((b) => b.left)).toEqual([
      240, 220, 200, 180, 160, 140, 120, 100, 20, 40, 60, 80,
    ]);
  });

  it('reassembles any shuffled, duplicated, overlapping segmentation of a stream', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 3000 }),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 400 })), { maxLength: 80 }),
        fc.integer({ min: 0, max: 1 << 30 }),
        (length, extra, seed) => {
          const stream = bytes(0, length).map((b, i) => (b ^ (i >> 8) ^ seed) & 0xff);
          // Cover the stream with consecutive segments, then add random overlapping ones.
          const segs: Array<[number, number]> = [];
          for (let at = 0; at < length; ) {
            const len = 1 + ((seed >> (at % 17)) % 300);
            segs.push([at, Math.min(at + len, length)]);
            at += len;
          }
          for (const [s, len] of extra) {
            const start = s % length;
            segs.push([start, Math.min(start + len, length)]);
          }
          // Shuffle deterministically from the seed.
          let x = seed | 1;
          for (let i = segs.length - 1; i > 0; i--) {
            x = (x * 1103515245 + 12345) & 0x7fffffff;
            const j = x % (i + 1);
            [segs[i], segs[j]] = [segs[j], segs[i]];
          }
          const received = deliver(new Reassembly(1 << 20), stream, segs);
          expect(received).toEqual(stream);
        },
      ),
    );
  });

  it('never holds more than the bound, and what it delivers is a prefix of the stream', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 500 }),
        fc.array(fc.tuple(fc.nat(2000), fc.integer({ min: 1, max: 300 })), { maxLength: 60 }),
        (bound, segs0) => {
          const length = 2000;
          const stream = bytes(0, length);
          const segs = segs0.map(([s, len]): [number, number] => [s, Math.min(s + len, length)]);
          const r = new Reassembly(bound);
          const received = deliver(r, stream, segs, () => {
            expect(r.bytes).toBeLessThanOrEqual(bound);
          });
          expect(received).toEqual(stream.subarray(0, received.length));
          // Sending everything once more, in order, completes it.
          const rest = deliver(r, stream, [[received.length, length]], undefined, received.length);
          expect(received.length + rest.length).toBe(length);
        },
      ),
    );
  });

  it('reports exactly the held ranges as SACK blocks, disjoint and above RCV.NXT', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 1, max: 500 }), fc.integer({ min: 1, max: 40 })), {
          maxLength: 40,
        }),
        fc.integer({ min: 0, max: 0xffff_ffff }),
        (segs, base) => {
          const r = new Reassembly(1 << 20);
          const held = new Uint8Array(600);
          for (const [s, len] of segs) {
            r.insert(s, new Uint8Array(len));
            held.fill(1, s, s + len);
            const blocks = r.sackBlocks(base, 1000);
            // First block contains the segment just received (RFC 2018 §4).
            const off = (b: number) => (b - base) >>> 0;
            expect(off(blocks[0].left)).toBeLessThanOrEqual(s);
            expect(off(blocks[0].right)).toBeGreaterThanOrEqual(s + len);
            const model = new Uint8Array(600);
            for (const b of blocks) model.fill(1, off(b.left), off(b.right));
            expect(model).toEqual(held);
            const total = blocks.reduce((n, b) => n + off(b.right) - off(b.left), 0);
            expect(total).toBe(r.bytes);
          }
        },
      ),
    );
  });
});

/**
 * A receiver: in-order bytes are accepted directly, later ones queued, as a connection would do.
 * Returns the bytes delivered in order.
 */
function deliver(
  r: Reassembly,
  stream: Uint8Array,
  segs: Array<[number, number]>,
  check?: () => void,
  rcvNxt0 = 0,
): Uint8Array {
  let rcvNxt = rcvNxt0;
  const out: Uint8Array[] = [];
  for (const [s, e] of segs) {
    if (s <= rcvNxt && rcvNxt < e) {
      out.push(stream.slice(rcvNxt, e));
      const n = e - rcvNxt;
      const chunks = r.advance(n);
      out.push(...chunks);
      rcvNxt += n + chunks.reduce((k, c) => k + c.length, 0);
    } else if (s > rcvNxt) {
      r.insert(s - rcvNxt, stream.subarray(s, e));
    }
    check?.();
  }
  return concat(out);
}
