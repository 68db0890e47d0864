/**
 * The path-MTU table (src/stack/pmtu.ts): lowered only, clamped at the families' minimums,
 * expired back to the link's MTU, bounded with the oldest entry out.
 */
import { describe, expect, it } from 'vitest';
import { IPV4_MIN_PMTU, PathMtuTable, pmtuKey6 } from '../../../src/stack/pmtu.ts';
import { parseIpv6 } from '../../../src/wire/ipv6.ts';

const A = 0x0a000001;
const B = 0x0a000003;
const V6 = parseIpv6('fd00::1');
const V6B = parseIpv6('fd00::7');

describe('PathMtuTable', () => {
  it("answers the link's MTU for a destination it knows nothing of", () => {
    const t = new PathMtuTable(1500);
    expect(t.get4(A, 0)).toBe(1500);
    expect(t.get6(V6, 0)).toBe(1500);
    expect(t.size).toBe(0);
  });

  it('lowers a destination on a report, and only that destination', () => {
    const t = new PathMtuTable(1500);
    expect(t.report4(A, 1300, 0)).toBe(1300);
    expect(t.get4(A, 1)).toBe(1300);
    expect(t.get4(B, 1)).toBe(1500);
    expect(t.report6(V6, 1400, 0)).toBe(1400);
    expect(t.get6(V6, 1)).toBe(1400);
    expect(t.get6(V6B, 1)).toBe(1500);
    expect(t.stats).toMatchObject({ lowered: 2, entries: 2 });
  });

  it('is never raised by a report: equal, higher or above the link are ignored', () => {
    const t = new PathMtuTable(1500);
    t.report4(A, 1300, 0);
    expect(t.report4(A, 1300, 1)).toBeNull();
    expect(t.report4(A, 1400, 1)).toBeNull();
    expect(t.report4(B, 9000, 1)).toBeNull();
    expect(t.report6(V6, 1500, 1)).toBeNull();
    expect(t.get4(A, 2)).toBe(1300);
    expect(t.get4(B, 2)).toBe(1500);
    expect(t.stats.notLower).toBe(4);
    expect(t.report4(A, 1200, 2)).toBe(1200);
  });

  it('clamps IPv4 below 552 (and an old router’s 0) and IPv6 below 1280, counted', () => {
    const t = new PathMtuTable(1500);
    expect(t.report4(A, 68, 0)).toBe(IPV4_MIN_PMTU);
    expect(t.report4(B, 0, 0)).toBe(552);
    expect(t.report6(V6, 1000, 0)).toBe(1280);
    expect(t.get6(V6, 0)).toBe(1280);
    expect(t.stats).toMatchObject({ clampedV4: 2, clampedV6: 1, lowered: 3 });
    // Clamped to what is held already: nothing lower.
    expect(t.report6(V6, 600, 1)).toBeNull();
  });

  it('expires an entry after expiryMs: the destination is back at the link’s MTU', () => {
    const t = new PathMtuTable(1500, undefined, { expiryMs: 1000 });
    t.report4(A, 1300, 0);
    t.report6(V6, 1400, 500);
    expect(t.nextExpiry()).toBe(1000);
    const gone: (number | string)[] = [];
    expect(t.expire(999, (k) => gone.push(k))).toBe(1000);
    expect(gone).toEqual([]);
    expect(t.expire(1000, (k) => gone.push(k))).toBe(1500);
    expect(gone).toEqual([A]);
    expect(t.get4(A, 1000)).toBe(1500);
    // A lookup past the expiry forgets it too.
    expect(t.get6(V6, 1500)).toBe(1500);
    expect(t.stats).toMatchObject({ expired: 2, entries: 0 });
    expect(t.nextExpiry()).toBeNull();
  });

  it('a lower report renews the entry’s time and moves it to the end of the expiry order', () => {
    const t = new PathMtuTable(1500, undefined, { expiryMs: 1000 });
    t.report4(A, 1400, 0);
    t.report4(B, 1400, 100);
    t.report4(A, 1300, 200);
    const gone: (number | string)[] = [];
    t.expire(1100, (k) => gone.push(k));
    expect(gone).toEqual([B]);
    expect(t.get4(A, 1100)).toBe(1300);
  });

  it('holds at most maxEntries: the oldest goes, counted', () => {
    const t = new PathMtuTable(1500, undefined, { maxEntries: 2 });
    t.report4(A, 1300, 0);
    t.report4(B, 1300, 1);
    t.report6(V6, 1300, 2);
    expect(t.size).toBe(2);
    expect(t.get4(A, 3)).toBe(1500);
    expect(t.get4(B, 3)).toBe(1300);
    expect(t.get6(V6, 3)).toBe(1300);
    expect(t.stats.evicted).toBe(1);
  });

  it('refuses bounds that cannot work', () => {
    expect(() => new PathMtuTable(1500, undefined, { maxEntries: 0 })).toThrow(/maxEntries/);
    expect(() => new PathMtuTable(1500, undefined, { expiryMs: 0 })).toThrow(/expiryMs/);
  });

  it('keys an IPv6 address by its bytes, wherever they sit', () => {
    const p = new Uint8Array(40);
    p.set(V6, 24);
    expect(pmtuKey6(p, 24)).toBe(pmtuKey6(V6));
    expect(pmtuKey6(V6)).not.toBe(pmtuKey6(V6B));
  });
});
