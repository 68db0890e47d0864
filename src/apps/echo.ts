/**
 * TCP echo (RFC 862): every byte received is sent back. After the peer's FIN we send what is
 * still pending and then our own FIN (half-close, so allowHalfOpen): `printf x | nc -N` gets its
 * x back and then EOF.
 */
import { type NetLike, type StreamAppHandle, serveStreams } from './serve.ts';

export const ECHO_PORT = 7;

export function startEcho(
  net: NetLike,
  port: number = ECHO_PORT,
  host?: string,
): Promise<StreamAppHandle> {
  return serveStreams(net, { port, host, allowHalfOpen: true }, (socket, stats) => {
    socket.on('data', (chunk: Buffer) => {
      stats.bytesIn += chunk.length;
      stats.bytesOut += chunk.length;
    });
    // pipe() pauses reading while the write side is full, and end()s the socket after the
    // readable side has ended and everything read has been written.
    socket.pipe(socket);
  });
}
