/** SipHash-2-4 (src/tcp/siphash.ts), the PRF of our ISNs and SYN cookies. */
import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../../../src/stack/rng.ts';
import { sipHash24 } from '../../../src/tcp/siphash.ts';
import { sipHash4u32 } from '../../../src/tcp/syncookie.ts';

const hex64 = ([lo, hi]: [number, number]) =>
  hi.toString(16).padStart(8, '0') + lo.toString(16).padStart(8, '0');

describe('SipHash-2-4', () => {
  const key = Uint8Array.from({ length: 16 }, (_, i) => i);
  // The reference implementation's vectors (vectors.h): key 00 01 .. 0f, message 00 01 .. n-1;
  // 16 bytes also checked with `openssl mac SIPHASH`.
  const vectors: [number, string][] = [
    [0, '726fdb47dd0e0e31'],
    [1, '74f839c593dc67fd'],
    [7, 'ab0200f58b01d137'],
    [8, '93f5f5799a932462'],
    [12, '751e8fbc860ee5fb'],
    [15, 'a129ca6149be45e5'],
    [16, '3f2acc7f57c29bdb'],
  ];
  for (const [n, hex] of vectors) {
    it(`matches the reference for a ${n}-byte message`, () => {
      expect(
        hex64(
          sipHash24(
            key,
            Uint8Array.from({ length: n }, (_, i) => i),
          ),
        ),
      ).toBe(hex);
    });
  }

  it('hashes four words as the 16 little-endian bytes they stand for (the cookie hash)', () => {
    expect(sipHash4u32(key, 0x03020100, 0x07060504, 0x0b0a0908, 0x0f0e0d0c)).toBe(0x57c29bdb);
    const random = mulberry32(7);
    const next = () => Math.floor(random() * 2 ** 32);
    for (let i = 0; i < 50; i++) {
      const w = [next(), next(), next(), next()];
      const bytes = new Uint8Array(16);
      const d = new DataView(bytes.buffer);
      for (let j = 0; j < 4; j++) d.setUint32(4 * j, w[j], true);
      expect(sipHash4u32(key, w[0], w[1], w[2], w[3])).toBe(sipHash24(key, bytes)[0]);
    }
  });
});
