import { describe, expect, it } from 'vitest';
import { IsnGenerator } from '../../../src/tcp/isn.ts';
import { sipHash24 } from '../../../src/tcp/siphash.ts';

const secret = Uint8Array.from({ length: 16 }, (_, i) => i);
const a = 0x0a00_0001;
const b = 0x0a00_0002;

describe('IsnGenerator (RFC 6528)', () => {
  it('is deterministic given the secret and the time', () => {
    const g1 = new IsnGenerator(secret);
    const g2 = new IsnGenerator(secret);
    expect(g1.next(a, 80, b, 5555, 1234)).toBe(g2.next(a, 80, b, 5555, 1234));
    const isn = g1.next(a, 80, b, 5555, 1234);
    expect(Number.isInteger(isn)).toBe(true);
    expect(isn).toBeGreaterThanOrEqual(0);
    expect(isn).toBeLessThan(2 ** 32);
  });

  it('advances 250 per ms (a 4 µs clock) for one 4-tuple, wrapping modulo 2^32', () => {
    const g = new IsnGenerator(secret);
    const base = g.next(a, 80, b, 5555, 0);
    expect(g.next(a, 80, b, 5555, 1)).toBe((base + 250) >>> 0);
    expect(g.next(a, 80, b, 5555, 0.004)).toBe((base + 1) >>> 0);
    const oneWrap = 2 ** 32 / 250; // ms per wrap of the 4 µs clock
    expect(g.next(a, 80, b, 5555, oneWrap)).toBe(base);
  });

  it('differs per 4-tuple and per secret', () => {
    const g = new IsnGenerator(secret);
    const isns = new Set([
      g.next(a, 80, b, 5555, 0),
      g.next(a, 80, b, 5556, 0),
      g.next(a, 81, b, 5555, 0),
      g.next(b, 80, a, 5555, 0),
      g.next(a, 80, a, 5555, 0),
      new IsnGenerator(Uint8Array.from(secret, (x) => x ^ 1)).next(a, 80, b, 5555, 0),
    ]);
    expect(isns.size).toBe(6);
  });

  it('draws a random secret when none is given', () => {
    const x = new IsnGenerator().next(a, 80, b, 5555, 0);
    const y = new IsnGenerator().next(a, 80, b, 5555, 0);
    // Equal only with probability 2^-32.
    expect(x).not.toBe(y);
  });

  it('copies the secret', () => {
    const key = Uint8Array.from(secret);
    const g = new IsnGenerator(key);
    const before = g.next(a, 80, b, 5555, 0);
    key.fill(0);
    expect(g.next(a, 80, b, 5555, 0)).toBe(before);
  });
});

describe('the ISN', () => {
  it('is M + F, F the low 32 bits of SipHash-2-4 over the little-endian 4-tuple', () => {
    const msg = new Uint8Array(12);
    const v = new DataView(msg.buffer);
    v.setUint32(0, a, true);
    v.setUint16(4, 80, true);
    v.setUint16(6, 5555, true);
    v.setUint32(8, b, true);
    const f = sipHash24(secret, msg)[0];
    expect(new IsnGenerator(secret).next(a, 80, b, 5555, 2)).toBe((f + 500) >>> 0);
  });
});
