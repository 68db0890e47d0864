/**
 * TCP discard (RFC 863): read and drop everything; close when the peer closes. Closing only
 * then lets a sender time a transfer up to our FIN, knowing every byte was read.
 */
import {
  type NetLike,
  type StreamAppHandle,
  type StreamAppStats,
  type StreamSocket,
  serveStreams,
} from './serve.ts';

export const DISCARD_PORT = 9;

export function startDiscard(
  net: NetLike,
  port: number = DISCARD_PORT,
  host?: string,
): Promise<StreamAppHandle> {
  // Shared listeners rather than closures per socket (heap per idle connection).
  let counters: StreamAppStats | null = null;
  const onData = (chunk: Buffer): void => {
    if (counters !== null) counters.bytesIn += chunk.length;
  };
  return serveStreams(net, { port, host, allowHalfOpen: true }, (socket, stats) => {
    counters = stats;
    socket.on('data', onData);
    socket.on('end', endOwnSide);
  });
}

/** 'end' listener: the peer closed; close our side too. */
function endOwnSide(this: StreamSocket): void {
  this.end();
}
