/**
 * TCP discard (RFC 863): read and drop everything; close when the peer closes. Closing only
 * then lets a sender time a transfer up to our FIN, knowing every byte was read.
 */
import { type NetLike, type StreamAppHandle, serveStreams } from './serve.ts';

export const DISCARD_PORT = 9;

export function startDiscard(
  net: NetLike,
  port: number = DISCARD_PORT,
  host?: string,
): Promise<StreamAppHandle> {
  return serveStreams(net, { port, host, allowHalfOpen: true }, (socket, stats) => {
    socket.on('data', (chunk: Buffer) => {
      stats.bytesIn += chunk.length;
    });
    socket.on('end', () => socket.end());
  });
}
