/** Big-endian loads and stores on a Uint8Array: network byte order, at any byteOffset. */

export function get16(buf: Uint8Array, at: number): number {
  return (buf[at] << 8) | buf[at + 1];
}

/** Unsigned. */
export function get32(buf: Uint8Array, at: number): number {
  return ((buf[at] << 24) | (buf[at + 1] << 16) | (buf[at + 2] << 8) | buf[at + 3]) >>> 0;
}

export function put16(buf: Uint8Array, at: number, v: number): void {
  buf[at] = v >>> 8;
  buf[at + 1] = v;
}

export function put32(buf: Uint8Array, at: number, v: number): void {
  buf[at] = v >>> 24;
  buf[at + 1] = v >>> 16;
  buf[at + 2] = v >>> 8;
  buf[at + 3] = v;
}

/** Copy `src` to `dst[at …]`, unless it already sits there (a payload built in place). */
export function copyInto(dst: Uint8Array, at: number, src: Uint8Array): void {
  if (src.buffer === dst.buffer && src.byteOffset === dst.byteOffset + at) return;
  dst.set(src, at);
}
