/**
 * Property: a segment line printed by formatSpec parses back to the same segment, for any flags,
 * sequence numbers (wrapping), lengths, windows and option lists the language allows.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatSpec } from '../../../src/drill/format.ts';
import {
  type OptionSpec,
  optionBytes,
  parseScript,
  type SegmentSpec,
} from '../../../src/drill/parse.ts';

const u32 = fc.integer({ min: 0, max: 0xffffffff });
const u16 = fc.integer({ min: 0, max: 0xffff });

const option: fc.Arbitrary<OptionSpec> = fc.oneof(
  fc.constant<OptionSpec>({ kind: 'nop' }),
  u16.map<OptionSpec>((value) => ({ kind: 'mss', value })),
  fc.integer({ min: 0, max: 14 }).map<OptionSpec>((value) => ({ kind: 'wscale', value })),
  fc.constant<OptionSpec>({ kind: 'sackOK' }),
  fc
    .array(fc.record({ left: u32, right: u32 }), { minLength: 1, maxLength: 3 })
    .map<OptionSpec>((blocks) => ({ kind: 'sack', blocks })),
  fc.record({ val: u32, ecr: u32 }).map<OptionSpec>((t) => ({ kind: 'ts', ...t })),
);

/** Options padded with NOPs to a multiple of 4 bytes, within the 40 the header allows. */
const options = fc.array(option, { maxLength: 4 }).map((list) => {
  const out: OptionSpec[] = [];
  let bytes = 0;
  for (const o of list) {
    if (bytes + optionBytes(o) > 36) break;
    out.push(o);
    bytes += optionBytes(o);
  }
  while (bytes % 4 !== 0) {
    out.push({ kind: 'nop' });
    bytes++;
  }
  return out;
});

const flagText = fc
  .subarray(['S', 'F', 'R', 'P', 'U', 'E', 'W'])
  .chain((letters) => fc.boolean().map((ack) => letters.join('') + (ack ? '.' : '')))
  .filter((t) => t !== '');

const segment: fc.Arbitrary<Omit<SegmentSpec, 'flags'>> = fc.record({
  direction: fc.constantFrom<'in' | 'out'>('in', 'out'),
  ecn: fc.constantFrom(null, 'noecn' as const, 'ect0' as const, 'ect1' as const, 'ce' as const),
  ports: fc.option(fc.record({ src: u16, dst: u16 }), { nil: null }),
  flagText,
  seq: u32,
  len: u16,
  ack: u32,
  win: u16,
  urg: fc.constant(0),
  options,
});

describe('printer and parser', () => {
  it('formatSpec output parses back to the same segment', () => {
    fc.assert(
      fc.property(segment, (s) => {
        const e = parseScript(`0 ${formatSpec({ ...s, flags: parseFlagsLoose(s.flagText) })}`)
          .events[0];
        expect(e.type).toBe('packet');
        if (e.type !== 'packet') return;
        const { flags: _f, ...got } = e.segment;
        expect(got).toEqual(s);
      }),
      { numRuns: 500 },
    );
  });
});

/** formatSpec prints `ack` when the ACK flag is set or the value is non-zero; flags are unused. */
function parseFlagsLoose(text: string): SegmentSpec['flags'] {
  return {
    syn: text.includes('S'),
    fin: text.includes('F'),
    rst: text.includes('R'),
    psh: text.includes('P'),
    ack: text.includes('.'),
    urg: text.includes('U'),
    ece: text.includes('E'),
    cwr: text.includes('W'),
  };
}
