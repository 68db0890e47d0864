import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SendBuffer } from '../../../src/tcp/sendbuf.ts';

const bytes = (from: number, to: number) =>
  Uint8Array.from({ length: to - from }, (_, i) => (from + i) & 0xff);

describe('SendBuffer', () => {
  it('accepts up to its limit and reports free space', () => {
    const b = new SendBuffer(100);
    expect(b.push(bytes(0, 60))).toBe(60);
    expect(b.length).toBe(60);
    expect(b.free).toBe(40);
    expect(b.push(bytes(60, 120))).toBe(40);
    expect(b.free).toBe(0);
    expect(b.push(bytes(0, 1))).toBe(0);
    expect(b.view(0, 100)).toEqual(bytes(0, 100));
  });

  it('copies pushed bytes', () => {
    const b = new SendBuffer(100);
    const src = bytes(0, 10);
    b.push(src);
    src.fill(0);
    expect(b.view(0, 10)).toEqual(bytes(0, 10));
  });

  it('reads across blocks, and returns zero-copy views within one block', () => {
    const b = new SendBuffer(1000, 8);
    b.push(bytes(0, 30));
    const out = new Uint8Array(20).fill(0xa5);
    b.copyOut(5, 12, out, 4);
    expect(out.subarray(4, 16)).toEqual(bytes(5, 17));
    expect(out[3]).toBe(0xa5);
    expect(out[16]).toBe(0xa5);
    const inBlock = b.view(9, 6);
    expect(inBlock).toEqual(bytes(9, 15));
    expect(inBlock.byteLength).toBeLessThan(inBlock.buffer.byteLength); // a view
    const across = b.view(6, 6);
    expect(across).toEqual(bytes(6, 12));
    expect(across.buffer.byteLength).toBe(6); // a copy
  });

  it('consumes from the front, offsets following SND.UNA', () => {
    const b = new SendBuffer(1000, 8);
    b.push(bytes(0, 30));
    b.consume(11);
    expect(b.length).toBe(19);
    expect(b.view(0, 19)).toEqual(bytes(11, 30));
    b.consume(100);
    expect(b.length).toBe(0);
    expect(b.free).toBe(1000);
    b.push(bytes(40, 50));
    expect(b.view(0, 10)).toEqual(bytes(40, 50));
  });

  it('rejects reads outside what it holds', () => {
    const b = new SendBuffer(100);
    b.push(bytes(0, 10));
    expect(() => b.view(5, 6)).toThrow(RangeError);
    expect(() => b.copyOut(-1, 2, new Uint8Array(2), 0)).toThrow(RangeError);
    expect(b.view(10, 0)).toEqual(new Uint8Array(0));
  });

  it('behaves like a byte array under any sequence of operations', () => {
    const op = fc.oneof(
      fc.record({ push: fc.integer({ min: 0, max: 70 }) }),
      fc.record({ consume: fc.integer({ min: 0, max: 80 }) }),
      fc.record({ read: fc.nat(200), len: fc.nat(90) }),
    );
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 200 }),
        fc.integer({ min: 1, max: 40 }),
        fc.array(op, { maxLength: 100 }),
        (limit, blockSize, ops) => {
          const b = new SendBuffer(limit, blockSize);
          let model: number[] = [];
          let next = 0;
          for (const o of ops) {
            if ('push' in o) {
              const data = Uint8Array.from({ length: o.push }, (_, i) => (next + i) & 0xff);
              const took = b.push(data);
              expect(took).toBe(Math.min(o.push, limit - model.length));
              model = model.concat(Array.from(data.subarray(0, took)));
              next += took;
            } else if ('consume' in o) {
              b.consume(o.consume);
              model = model.slice(Math.min(o.consume, model.length));
            } else if (model.length > 0) {
              const offset = o.read % model.length;
              const len = Math.min(o.len, model.length - offset);
              const want = Uint8Array.from(model.slice(offset, offset + len));
              expect(b.view(offset, len)).toEqual(want);
              const out = new Uint8Array(len + 2);
              b.copyOut(offset, len, out, 1);
              expect(out.subarray(1, len + 1)).toEqual(want);
            }
            expect(b.length).toBe(model.length);
            expect(b.free).toBe(limit - model.length);
          }
        },
      ),
    );
  });
});
