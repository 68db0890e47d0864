import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Reassembler, type ReassemblyOptions } from '../../../src/ip/reassembly.ts';
import { createIpStats } from '../../../src/ip/stats.ts';
import { Ipv4View } from '../../../src/wire/ipv4.ts';
import { fragment, PEER, packet, pattern } from './helpers.ts';

function setup(options: ReassemblyOptions = {}) {
  const stats = createIpStats();
  const r = new Reassembler(options, stats);
  const add = (b: Uint8Array, now = 0) => r.add(Ipv4View.check(b) as Ipv4View, now);
  return { stats, r, add };
}

function payloadOf(b: Uint8Array | null): Uint8Array | null {
  if (b === null) return null;
  const v = Ipv4View.check(b);
  if (!(v instanceof Ipv4View)) throw new Error('reassembled bytes do not check');
  return v.payload;
}

describe('Reassembler', () => {
  it('ignores an exact duplicate fragment and still completes', () => {
    const { stats, add } = setup();
    const whole = pattern(24);
    expect(add(fragment(whole, 0, 16, true))).toBe(null);
    expect(add(fragment(whole, 0, 16, true))).toBe(null);
    expect(payloadOf(add(fragment(whole, 16, 8, false)))).toEqual(whole);
    expect(stats.drops['frag-duplicate']).toBe(1);
  });

  it('keeps the first copy when a contained fragment brings different bytes', () => {
    const { add } = setup();
    const whole = pattern(32);
    add(fragment(whole, 0, 24, true));
    add(fragment(pattern(32, 99), 8, 8, true)); // inside received bytes, other content
    expect(payloadOf(add(fragment(whole, 24, 8, false)))).toEqual(whole);
  });

  it('drops the whole datagram on a partial overlap', () => {
    const { stats, r, add } = setup();
    const whole = pattern(40);
    add(fragment(whole, 0, 16, true));
    expect(add(fragment(whole, 8, 16, true))).toBe(null); // 8..24 straddles 16
    expect(stats.drops['frag-overlap']).toBe(1);
    expect(r.datagramsInProgress).toBe(0);
    expect(r.bytesInUse).toBe(0);
    // What follows starts a new datagram and can never complete with the lost first part.
    expect(add(fragment(whole, 16, 24, false))).toBe(null);
  });

  it('drops a datagram whose last fragment contradicts bytes already received', () => {
    const { stats, add } = setup();
    const whole = pattern(64);
    add(fragment(whole, 32, 16, true));
    expect(add(fragment(whole, 0, 16, false))).toBe(null); // ends at 16 but bytes up to 48 exist
    expect(stats.drops['bad-fragment']).toBe(1);
    const again = setup();
    again.add(fragment(whole, 40, 24, false)); // length 64
    again.add(fragment(whole, 0, 48, false)); // says 48
    expect(again.stats.drops['bad-fragment']).toBe(1);
  });

  it('refuses malformed fragments: empty, unaligned, or past 65 535', () => {
    const { stats, add } = setup();
    add(packet(new Uint8Array(0), { id: 1, moreFrags: true }));
    add(packet(pattern(12), { id: 2, moreFrags: true })); // not a multiple of 8
    add(packet(pattern(100), { id: 3, fragOffset: 65_480, moreFrags: false })); // ping of death
    expect(stats.drops['bad-fragment']).toBe(3);
  });

  it('times out a datagram that never completes', () => {
    const { stats, r, add } = setup({ timeoutMs: 30_000 });
    const whole = pattern(32);
    add(fragment(whole, 0, 16, true), 1000);
    expect(r.nextDeadline()).toBe(31_000);
    expect(r.expire(30_999)).toBe(0);
    expect(r.expire(31_000)).toBe(1);
    expect(stats.drops['frag-timeout']).toBe(1);
    expect(r.nextDeadline()).toBe(null);
    expect(r.bytesInUse).toBe(0);
    // The late half alone does not complete anything.
    expect(add(fragment(whole, 16, 16, false), 31_001)).toBe(null);
  });

  it('hands the first fragment of a timed-out datagram to the caller, if it came', () => {
    const { r, add } = setup({ timeoutMs: 100 });
    const whole = pattern(48);
    add(fragment(whole, 0, 16, true, 1), 0);
    add(fragment(whole, 16, 16, true, 2), 0); // fragment zero of id 2 never came
    const firsts: unknown[] = [];
    expect(
      r.expire(100, (f) =>
        firsts.push([f.src, f.protocol, f.header.length, Array.from(f.payload)]),
      ),
    ).toBe(2);
    expect(firsts).toEqual([[PEER, 17, 20, Array.from(whole.subarray(0, 16))]]);
  });

  it('expires a stale datagram lazily when its next fragment comes late', () => {
    const { stats, add } = setup({ timeoutMs: 100 });
    const whole = pattern(32);
    add(fragment(whole, 0, 16, true), 0);
    expect(add(fragment(whole, 16, 16, false), 500)).toBe(null);
    expect(stats.drops['frag-timeout']).toBe(1);
  });

  it('bounds memory under a flood of fragments that never complete', () => {
    const maxBytes = 64 * 1024;
    const { stats, r, add } = setup({ maxBytes });
    const chunk = pattern(1000 - (1000 % 8));
    for (let id = 0; id < 2000; id++) {
      add(packet(chunk, { id, moreFrags: true }), 0);
      expect(r.bytesInUse).toBeLessThanOrEqual(maxBytes);
    }
    expect(stats.drops['frag-memory']).toBeGreaterThan(1900);
    expect(r.datagramsInProgress).toBeLessThan(70);
    // Once they time out, memory comes back and new datagrams are accepted.
    r.expire(30_000);
    expect(r.bytesInUse).toBe(0);
    const whole = pattern(32);
    add(fragment(whole, 0, 16, true, 9999), 30_001);
    expect(payloadOf(add(fragment(whole, 16, 16, false, 9999), 30_001))).toEqual(whole);
  });

  it('drops a datagram cut into too many fragments', () => {
    const { stats, add } = setup({ maxFragmentsPerDatagram: 4 });
    const whole = pattern(40);
    for (let off = 0; off < 40; off += 8) add(fragment(whole, off, 8, off + 8 < 40));
    expect(stats.drops['bad-fragment']).toBe(1);
    expect(stats.reassembled).toBe(0);
  });

  it('keeps datagrams apart by (src, dst, protocol, id)', () => {
    const { add } = setup();
    const a = pattern(32, 1);
    const b = pattern(32, 2);
    add(fragment(a, 0, 16, true, 1));
    add(fragment(b, 0, 16, true, 2));
    expect(payloadOf(add(fragment(b, 16, 16, false, 2)))).toEqual(b);
    expect(payloadOf(add(fragment(a, 16, 16, false, 1)))).toEqual(a);
  });

  it('reassembles any order of any fragmentation, with duplicates', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 400 }),
        fc.array(fc.integer({ min: 1, max: 10 }), { minLength: 1, maxLength: 30 }),
        fc.infiniteStream(fc.nat()),
        (units, cuts, rand) => {
          const total = units * 8 - 3; // last fragment of odd length
          const whole = pattern(total);
          const frags: Uint8Array[] = [];
          let off = 0;
          for (const c of cuts) {
            if (off >= total) break;
            const len = Math.min(c * 8, total - off);
            frags.push(fragment(whole, off, len, off + len < total));
            off += len;
          }
          if (off < total) frags.push(fragment(whole, off, total - off, false));
          // One piece is no fragment at all (IpInput never passes it here).
          fc.pre(frags.length >= 2);
          // Shuffle and duplicate a few.
          const it = rand[Symbol.iterator]();
          const order = frags.concat(frags.filter(() => (it.next().value as number) % 4 === 0));
          for (let i = order.length - 1; i > 0; i--) {
            const j = (it.next().value as number) % (i + 1);
            [order[i], order[j]] = [order[j], order[i]];
          }
          const { add } = setup();
          // Duplicates arriving after completion start a new datagram, which may complete again:
          // IP may deliver a datagram twice (RFC 791 promises nothing else). Each must be whole.
          const done: Uint8Array[] = [];
          for (const f of order) {
            const out = add(f);
            if (out !== null) done.push(out);
          }
          expect(done.length).toBeGreaterThanOrEqual(1);
          for (const d of done) expect(payloadOf(d)).toEqual(whole);
        },
      ),
      { numRuns: 200 },
    );
  });
});
