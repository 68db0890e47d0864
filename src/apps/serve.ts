/**
 * The shape the TCP apps are written against: just enough of node:net that both Node's own `net`
 * and `stack.net` (the stack; the unit tests run the apps on it in virtual time) satisfy it, plus
 * `serveStreams`, which every stream app uses to listen, count and close.
 *
 * Closing an app closes its server AND destroys the connections it still has, so that close()
 * resolves promptly (a net.Server's close callback otherwise waits for every client to leave).
 */
import type { Duplex } from 'node:stream';

/** A connected stream socket: a Duplex with net.Socket's address fields. */
export interface StreamSocket extends Duplex {
  readonly remoteAddress?: string;
  readonly remotePort?: number;
  readonly localAddress?: string;
  readonly localPort?: number;
}

/** The part of net.Server an app uses. */
export interface StreamServer {
  listen(port: number, host: string, listeningListener: () => void): unknown;
  listen(port: number, listeningListener: () => void): unknown;
  close(callback?: (err?: Error) => void): unknown;
  address(): unknown;
  once(event: 'error', listener: (err: Error) => void): unknown;
  off(event: 'error', listener: (err: Error) => void): unknown;
  on(event: 'error', listener: (err: Error) => void): unknown;
}

/** `{ createServer }` as node:net and stack.net both have it. */
export interface NetLike {
  createServer(
    options: { allowHalfOpen?: boolean },
    connectionListener: (socket: StreamSocket) => void,
  ): StreamServer;
}

export interface ServeOptions {
  /** Port to listen on; 0 picks a free one (read it back from `handle.port`). */
  port: number;
  /** Address to bind; default: the implementation's default (all addresses). */
  host?: string;
  /**
   * Keep our side open after the peer's FIN until the app ends it itself (node:net's
   * allowHalfOpen; RFC 9293 §3.6 half-close). Echo needs it to send back the tail of the data.
   */
  allowHalfOpen?: boolean;
}

/** Counters every stream app keeps. */
export interface StreamAppStats {
  /** Connections accepted. */
  connections: number;
  /** Connections open now. */
  open: number;
  /** Bytes received from peers. */
  bytesIn: number;
  /** Bytes written to peers (handed to the socket). */
  bytesOut: number;
  /** Sockets that ended with an error (ECONNRESET, ...). */
  errors: number;
}

export interface StreamAppHandle {
  /** The port actually bound (useful after listening on port 0). */
  readonly port: number;
  readonly stats: Readonly<StreamAppStats>;
  /** Stop listening and destroy the connections still open. */
  close(): Promise<void>;
}

/**
 * Listen on `options.port` and hand every connection to `onSocket` (after wiring the counters
 * and error handling). Resolves once listening; rejects with the listen error (EADDRINUSE, ...).
 */
export function serveStreams(
  net: NetLike,
  options: ServeOptions,
  onSocket: (socket: StreamSocket, stats: StreamAppStats) => void,
): Promise<StreamAppHandle> {
  const stats: StreamAppStats = { connections: 0, open: 0, bytesIn: 0, bytesOut: 0, errors: 0 };
  const sockets = new Set<StreamSocket>();
  // One pair of listeners for every socket (`this` is the socket), not two closures each: with
  // 10 000 idle connections that is ~150 B of heap per connection saved.
  function onError(): void {
    stats.errors++;
  }
  function onClose(this: StreamSocket): void {
    stats.open--;
    sockets.delete(this);
  }
  const server = net.createServer({ allowHalfOpen: options.allowHalfOpen ?? false }, (socket) => {
    stats.connections++;
    stats.open++;
    sockets.add(socket);
    // An error (a reset peer) ends this connection only; Duplex destroys itself after 'error'.
    socket.on('error', onError);
    socket.on('close', onClose);
    onSocket(socket, stats);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    const listening = () => {
      server.off('error', reject);
      // Later server errors (none expected once listening) must not crash the process.
      server.on('error', () => {});
      resolve({
        port: boundPort(server.address(), options.port),
        stats,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            for (const s of sockets) s.destroy();
          }),
      });
    };
    if (options.host === undefined) server.listen(options.port, listening);
    else server.listen(options.port, options.host, listening);
  });
}

/** The port from `server.address()` ({ port } for TCP), or the one asked for. */
function boundPort(address: unknown, asked: number): number {
  if (address !== null && typeof address === 'object' && 'port' in address) {
    const port = (address as { port: unknown }).port;
    if (typeof port === 'number') return port;
  }
  return asked;
}
