/**
 * Node's own HTTP server on the stack's sockets: `serveHttp(stack, 80, handler)`.
 *
 * Nothing is reimplemented: an unmodified `http.Server` is given each accepted socket through
 * its 'connection' event, exactly as net.Server would hand it one, so keep-alive, pipelining,
 * chunked bodies, 'upgrade' (for ws) and every timeout of node:http work as in Node. Its timers
 * (keepAliveTimeout, the socket's setTimeout) run on the stack's clock through Socket.setTimeout.
 *
 * The http.Server itself never listens, so its real-time connection sweep (headersTimeout,
 * requestTimeout, started on 'listening') does not run: under a virtual clock that is what we
 * want, and over TUN keepAliveTimeout and the server's `timeout` still apply.
 */
import http from 'node:http';
import type { Duplex } from 'node:stream';
import type { NetStack } from './index.ts';
import type { AddressInfo, Server, Socket } from './net.ts';

export interface ServeHttpOptions extends http.ServerOptions {
  /** listen(2) backlog for the stack's listener. */
  backlog?: number;
}

export interface HttpService {
  /** Node's server: add 'upgrade' / 'request' listeners, set keepAliveTimeout, … */
  readonly http: http.Server;
  /** The stack's TCP server under it. */
  readonly server: Server;
  /** Resolves when listening; rejects with the listen error (EADDRINUSE). */
  readonly ready: Promise<void>;
  address(): AddressInfo | null;
  /**
   * Stop accepting, end idle keep-alive connections (and each busy one after its response), and
   * resolve once every connection has closed.
   */
  close(): Promise<void>;
}

/** Serve `handler` on `port` (0: an ephemeral port) of the stack with Node's http.Server. */
export function serveHttp(
  stack: NetStack,
  port: number,
  handler: http.RequestListener,
  options: ServeHttpOptions = {},
): HttpService {
  const { backlog, ...httpOptions } = options;
  const httpServer = http.createServer(httpOptions, handler);
  const sockets = new Set<Socket>();
  let closing = false;
  const server = stack.net.createServer({ noDelay: httpOptions.noDelay ?? true }, (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    httpServer.emit('connection', socket);
  });
  // After close(), a response on a kept-alive connection is its last one.
  httpServer.on('request', (_req, res) => {
    if (closing) res.shouldKeepAlive = false;
  });
  const ready = new Promise<void>((resolve, reject) => {
    server.once('listening', () => {
      server.removeListener('error', reject);
      resolve();
    });
    server.once('error', reject);
  });
  ready.catch(() => {}); // a caller that ignores `ready` still sees the error on `server`
  server.listen({ port, backlog });

  return {
    http: httpServer,
    server,
    ready,
    address: () => server.address(),
    close(): Promise<void> {
      closing = true;
      const done = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const s of sockets) {
        // Node's ServerResponse in progress, if any (http sets socket._httpMessage).
        const busy = (s as Socket & { _httpMessage?: unknown })._httpMessage != null;
        if (!busy) s.destroySoon();
      }
      httpServer.emit('close');
      return done;
    },
  };
}

/**
 * An http.Agent whose connections go through the stack: `http.get({ host, port, agent })` and
 * `http.request` then speak HTTP over our TCP, with the agent's keep-alive pooling as usual.
 * Hosts must be dotted quads (the stack does no DNS).
 */
export class StackAgent extends http.Agent {
  readonly #stack: NetStack;

  constructor(stack: NetStack, options?: http.AgentOptions) {
    super(options);
    this.#stack = stack;
  }

  /** Node's Agent uses the returned socket (errors arrive on it, as from net.connect). */
  override createConnection(options: {
    host?: string | null;
    port?: number | string | null;
  }): Duplex {
    return this.#stack.net.connect({
      port: Number(options.port ?? 80),
      host: options.host ?? 'localhost',
    });
  }
}
