/**
 * Port 8085, WebSocket (RFC 6455): GET /ws upgraded by `ws`. The server sends `hello` with the
 * hub's last id, then every event; it echoes every message, and `{"op":"publish","data":...}`
 * publishes to every style. A ping every heartbeat; a client that did not pong since the last one
 * is terminated. At most `maxClients` (then 503); a client whose unsent bytes pass `maxBuffered`
 * is terminated; a message over `maxMessage` closes with 1009. Plain HTTP on the port gets 426.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';
import { parseTarget, type StyleContext, type StyleHandler, send } from './common.ts';
import type { DemoEvent } from './events.ts';

export class WsClients {
  readonly #ctx: StyleContext;
  readonly #wss: WebSocketServer;
  /** Answered the last ping (RFC 6455 §5.5.2). */
  readonly #alive = new WeakMap<WebSocket, boolean>();

  constructor(ctx: StyleContext) {
    this.#ctx = ctx;
    this.#wss = new WebSocketServer({
      noServer: true,
      maxPayload: ctx.limits.maxMessage,
      clientTracking: true,
    });
  }

  /** Connected clients now. */
  get size(): number {
    return this.#wss.clients.size;
  }

  /** A plain HTTP request on the WebSocket port. */
  readonly handle: StyleHandler = (_req, res) => {
    send(res, 426, 'this port speaks WebSocket: GET /ws with Upgrade: websocket\n', undefined, {
      Upgrade: 'websocket',
    });
  };

  /** The HTTP server's 'upgrade' event. */
  readonly upgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const { hub, stats, limits } = this.#ctx;
    stats.requests.ws++;
    if (parseTarget(req)?.pathname !== '/ws') {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    if (this.#wss.clients.size >= limits.maxClients) {
      stats.refused++;
      socket.end(
        'HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n',
      );
      return;
    }
    // ws answers a malformed handshake itself (400, or 426 for a wrong version).
    this.#wss.handleUpgrade(req, socket, head, (ws) => {
      hub.touch();
      this.#alive.set(ws, true);
      ws.on('pong', () => this.#alive.set(ws, true));
      ws.on('message', (data, isBinary) => this.#onMessage(ws, data, isBinary));
      ws.on('close', (code) => {
        stats.wsCloseCodes[code] = (stats.wsCloseCodes[code] ?? 0) + 1;
      });
      // Protocol errors (1002), bad UTF-8 (1007), too big (1009): ws closes with the code.
      ws.on('error', () => {});
      ws.send(JSON.stringify({ type: 'hello', lastId: hub.lastId }));
    });
  };

  onEvent(e: DemoEvent): void {
    const text = JSON.stringify({ type: 'event', event: e });
    for (const ws of this.#wss.clients) {
      if (ws.readyState !== WebSocket.OPEN) continue;
      ws.send(text);
      if (ws.bufferedAmount > this.#ctx.limits.maxBuffered) {
        this.#ctx.stats.slowDropped++;
        ws.terminate();
      }
    }
  }

  /** Ping everyone; terminate whoever did not answer the last ping. */
  heartbeat(): void {
    for (const ws of this.#wss.clients) {
      if (this.#alive.get(ws) === false) {
        this.#ctx.stats.wsPingTimeouts++;
        ws.terminate();
        continue;
      }
      this.#alive.set(ws, false);
      ws.ping();
    }
  }

  /** Close every client with 1001 (the demo is closing). */
  close(): void {
    for (const ws of this.#wss.clients) ws.close(1001, 'server going away');
  }

  /** Drop every client at once (those that did not close in time). */
  terminate(): void {
    for (const ws of this.#wss.clients) ws.terminate();
  }

  /** Let go of the WebSocket server, once every client is gone. */
  dispose(): void {
    this.#wss.close();
  }

  /** Echo every message; `{"op":"publish","data":...}` also publishes to every style. */
  #onMessage(ws: WebSocket, data: WebSocket.RawData, isBinary: boolean): void {
    const { hub } = this.#ctx;
    hub.touch();
    if (isBinary) {
      ws.send(data as Buffer, { binary: true });
      return;
    }
    const text = String(data);
    let msg: { op?: unknown; data?: unknown } | null = null;
    try {
      msg = JSON.parse(text);
    } catch {}
    if (msg !== null && typeof msg === 'object' && msg.op === 'publish') {
      hub.publish(String(msg.data ?? ''));
      return;
    }
    ws.send(JSON.stringify({ type: 'echo', data: text, t: Date.now() }));
  }
}
