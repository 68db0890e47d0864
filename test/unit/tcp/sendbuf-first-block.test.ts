/**
 * SendBuffer's short first block (sized to the first write, replaced by a full block when
 * outgrown): the bytes read back are the bytes written, whatever the order of pushes, reads and
 * acknowledgments, and views taken before the block grew keep their bytes.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SendBuffer } from '../../../src/tcp/sendbuf.ts';

const pattern = (from: number, n: number) =>
  Uint8Array.from({ length: n }, (_, i) => (from + i) & 0xff);

describe('SendBuffer first block', () => {
  it('a short write and its growth past the first block read back whole', () => {
    const b = new SendBuffer(256 * 1024);
    expect(b.push(pattern(0, 32))).toBe(32);
    const early = b.view(0, 32);
    expect(b.push(pattern(32, 40_000))).toBe(40_000);
    expect(early).toEqual(pattern(0, 32)); // a view from before the growth is still right
    expect(b.view(0, 1448)).toEqual(pattern(0, 1448));
    const out = new Uint8Array(40_032);
    b.copyOut(0, 40_032, out, 0);
    expect(out).toEqual(pattern(0, 40_032));
  });

  it('matches a plain array under random pushes, reads and consumes (default block size)', () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant('push' as const), n: fc.integer({ min: 1, max: 20_000 }) }),
      fc.record({ kind: fc.constant('consume' as const), n: fc.integer({ min: 1, max: 30_000 }) }),
      fc.record({ kind: fc.constant('read' as const), n: fc.integer({ min: 0, max: 5_000 }) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        const b = new SendBuffer(100_000);
        let written = 0; // absolute position of the next byte pushed
        let acked = 0; // absolute position of offset 0
        for (const o of ops) {
          if (o.kind === 'push') {
            const took = b.push(pattern(written, o.n));
            expect(took).toBe(Math.min(o.n, 100_000 - (written - acked)));
            written += took;
          } else if (o.kind === 'consume') {
            b.consume(o.n);
            acked = Math.min(written, acked + o.n);
          } else {
            const len = Math.min(o.n, written - acked);
            expect(b.view(0, len)).toEqual(pattern(acked, len));
            const tail = Math.min(len, written - acked);
            expect(b.view(written - acked - tail, tail)).toEqual(pattern(written - tail, tail));
          }
          expect(b.length).toBe(written - acked);
        }
      }),
      { seed: 4, numRuns: 200 },
    );
  });
});
