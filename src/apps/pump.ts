/**
 * Streaming many bytes without holding them: one chunk, allocated once, written again and again
 * with backpressure (write() until it returns false, then wait for 'drain'). Memory stays at one
 * chunk plus the stream's high-water mark whatever the total (`/bytes/N` with N = 1 GiB, chargen
 * forever).
 */
import type { Writable } from 'node:stream';

/**
 * Write `total` bytes to `out` by repeating `chunk` (the last write is a prefix of it), then call
 * `onDone`. `total` may be Infinity. Stops quietly if `out` is destroyed or ended by someone else
 * (the peer went away); `onDone` is then not called. `onWrite` sees each write's length.
 */
export function pumpRepeated(
  out: Writable,
  chunk: Uint8Array,
  total: number,
  onDone: () => void,
  onWrite?: (bytes: number) => void,
): void {
  if (chunk.length === 0) throw new RangeError('pumpRepeated: empty chunk');
  let left = total;
  const pump = (): void => {
    while (left > 0) {
      if (out.destroyed || out.writableEnded) return;
      const n = Math.min(left, chunk.length);
      left -= n;
      onWrite?.(n);
      const more = out.write(n === chunk.length ? chunk : chunk.subarray(0, n));
      if (!more) {
        out.once('drain', pump);
        return;
      }
    }
    onDone();
  };
  // Once closed, 'drain' never comes: drop the listener so nothing lingers.
  out.once('close', () => out.off('drain', pump));
  pump();
}

/**
 * A chunk of `size` bytes where byte i is i mod 256; `size` must be a multiple of 256 so that
 * the pattern runs on across chunks: byte k of the whole stream is k mod 256.
 */
export function countingChunk(size = 64 * 1024): Buffer {
  if (size <= 0 || size % 256 !== 0) throw new RangeError('countingChunk: size must be k*256');
  const b = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i++) b[i] = i & 0xff;
  return b;
}
