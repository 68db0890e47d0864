import { describe, expect, it } from 'vitest';
import {
  seqAdd,
  seqDiff,
  seqGeq,
  seqGt,
  seqInRange,
  seqLeq,
  seqLt,
  seqMax,
} from '../../../src/tcp/seq.ts';

describe('sequence arithmetic', () => {
  const top = 0xffff_fff0;

  it('adds with wraparound', () => {
    expect(seqAdd(top, 0x20)).toBe(0x10);
    expect(seqAdd(5, -10)).toBe(0xffff_fffb);
  });

  it('compares across the wrap', () => {
    expect(seqLt(top, 0x10)).toBe(true);
    expect(seqGt(0x10, top)).toBe(true);
    expect(seqLeq(7, 7)).toBe(true);
    expect(seqGeq(0, 0xffff_ffff)).toBe(true);
    expect(seqDiff(0x10, top)).toBe(0x20);
    expect(seqDiff(top, 0x10)).toBe(-0x20);
    expect(seqMax(top, 0x10)).toBe(0x10);
  });

  it('tests half-open ranges across the wrap', () => {
    expect(seqInRange(0xffff_ffff, top, 0x10)).toBe(true);
    expect(seqInRange(0x10, top, 0x10)).toBe(false);
    expect(seqInRange(5, 5, 5)).toBe(false);
  });
});
