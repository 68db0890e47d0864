/**
 * TCP character generator (RFC 864): send lines of printable ASCII until the peer closes;
 * anything received is discarded. Each line is 72 characters from the 95 printable ones,
 * starting one further along than the line before, then CR LF.
 */
import { pumpRepeated } from './pump.ts';
import { type NetLike, type StreamAppHandle, serveStreams } from './serve.ts';

export const CHARGEN_PORT = 19;

const PRINTABLE = 95; // ' ' (32) .. '~' (126)
const LINE = 72;

/**
 * One full cycle of the RFC 864 pattern (95 lines of 74 bytes), repeated to about 64 KiB so that
 * consecutive writes of the chunk continue the pattern without a seam.
 */
export function chargenChunk(cycles = 9): Buffer {
  const cycle = Buffer.allocUnsafe(PRINTABLE * (LINE + 2));
  let at = 0;
  for (let line = 0; line < PRINTABLE; line++) {
    for (let i = 0; i < LINE; i++) cycle[at++] = 32 + ((line + i) % PRINTABLE);
    cycle[at++] = 13;
    cycle[at++] = 10;
  }
  return Buffer.concat(Array.from({ length: cycles }, () => cycle));
}

export function startChargen(
  net: NetLike,
  port: number = CHARGEN_PORT,
  host?: string,
): Promise<StreamAppHandle> {
  const chunk = chargenChunk();
  return serveStreams(net, { port, host, allowHalfOpen: true }, (socket, stats) => {
    socket.on('data', (data: Buffer) => {
      stats.bytesIn += data.length;
    });
    // The peer closed its side: we finish too (RFC 864: "until the calling user terminates").
    socket.on('end', () => socket.end());
    pumpRepeated(
      socket,
      chunk,
      Number.POSITIVE_INFINITY,
      () => {},
      (n) => {
        stats.bytesOut += n;
      },
    );
  });
}
