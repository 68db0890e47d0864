/**
 * The connection-styles demo: one event source (events.ts) delivered to a browser by short
 * polling, long polling, Server-Sent Events and WebSocket side by side, plus HTTP keep-alive on
 * its own, each measured in TCP connections, segments and bytes by the stack's own counters
 * (meter.ts). This file wires them; each style is its own module.
 *
 * Every style has its own port, so that the browser keeps one connection pool per style and
 * every TCP connection belongs to exactly one style:
 *
 *   8080 page       GET / (the demo page), GET /stats, POST /publish, POST /drop?style=S
 *   8081 keepalive  GET /ka: which connection served this request, and its number on it
 *   8082 short      GET /poll?after=ID: the events after ID, at once
 *   8083 long       GET /longpoll?after=ID: held until an event comes or `longPollMs` passes
 *   8084 sse        GET /sse: text/event-stream with id: and retry:; Last-Event-ID resumes
 *   8085 ws         GET /ws upgraded (RFC 6455): events, echo, publish; ping/pong; close
 *
 * in page.ts, keep-alive.ts, short-poll.ts, long-poll.ts, sse.ts and websocket.ts.
 *
 * All of it is Node's own http.Server and `ws` on stack sockets (src/api/http.ts). Every server
 * keeps a connection alive for KEEP_ALIVE_TIMEOUT_MS and at most KEEP_ALIVE_MAX requests
 * (RFC 9112 §9.3; Node sends `Keep-Alive: timeout=5, max=100` and `Connection: close` on the
 * last one). The other pages are cross-origin to the page's port: they answer with
 * `Access-Control-Allow-Origin: *` and a CORS preflight (an EventSource reconnecting with
 * Last-Event-ID sends a non-safelisted header).
 *
 * Bounds: held long polls, SSE streams and WebSocket clients each at most `maxClients`; a
 * client whose unsent bytes pass `maxBuffered` (it stopped reading: the TCP window closed and
 * the stack's send buffer filled) is reset and counted, so no slow reader holds memory.
 */
import type { Duplex } from 'node:stream';
import { type HttpService, serveHttp } from '../../api/http.ts';
import type { NetStack } from '../../api/index.ts';
import type { Socket } from '../../api/net.ts';
import type { TimerHandle } from '../../stack/clock.ts';
import type { Timer } from '../../stack/timers.ts';
import {
  CORS,
  newStats,
  parseTarget,
  resolveLimits,
  STYLES,
  STYLES_PORT,
  type Style,
  type StyleContext,
  type StyleHandler,
  type StylesOptions,
  type StylesStats,
  send,
} from './common.ts';
import { EventHub } from './events.ts';
import { keepAliveHandler } from './keep-alive.ts';
import { LongPolls } from './long-poll.ts';
import { StyleMeter, type StyleTotals } from './meter.ts';
import { pageHandler } from './page.ts';
import { shortPollHandler } from './short-poll.ts';
import { SseStreams } from './sse.ts';
import { WsClients } from './websocket.ts';

export {
  KEEP_ALIVE_MAX,
  KEEP_ALIVE_TIMEOUT_MS,
  STYLES,
  STYLES_PORT,
  type Style,
  type StylesOptions,
  type StylesStats,
} from './common.ts';

export interface StylesHandle {
  readonly ports: Readonly<Record<Style, number>>;
  readonly hub: EventHub;
  readonly stats: Readonly<StylesStats>;
  /** Per style: connections, segments and bytes each way from the stack's counters. */
  totals(): Record<Style, StyleTotals>;
  /** Reset (RST) every connection of a style, as a lost connection would end; returns how many. */
  drop(style: Style): number;
  close(): Promise<void>;
}

/** Start the demo's six servers on the stack. */
export async function startStyles(
  stack: NetStack,
  options: StylesOptions = {},
): Promise<StylesHandle> {
  const base = options.basePort ?? STYLES_PORT;
  const ports = Object.fromEntries(STYLES.map((s, i) => [s, base + i])) as Record<Style, number>;
  const limits = resolveLimits(options);
  const meter = new StyleMeter(stack, ports);
  const stats = newStats();
  const sockets = Object.fromEntries(STYLES.map((s) => [s, new Set<Socket>()])) as Record<
    Style,
    Set<Socket>
  >;
  /** Requests per connection: /ka's answer, and the close after the last one. */
  const requestsOn = new WeakMap<Duplex, number>();

  // Streams keep the ticker going while connected; polls keep it going by asking.
  const streams: { readonly size: number }[] = [];
  const hub = new EventHub(stack, {
    ...options,
    watched: () => streams.some((s) => s.size > 0),
  });
  const ctx: StyleContext = { stack, hub, stats, limits };
  const longPolls = new LongPolls(ctx);
  const sse = new SseStreams(ctx);
  const ws = new WsClients(ctx);
  streams.push(sse, ws);

  const handlers: Record<Style, StyleHandler> = {
    page: pageHandler(ctx, ports, meter, drop),
    keepalive: keepAliveHandler(ctx, requestsOn),
    short: shortPollHandler(ctx),
    long: longPolls.handle,
    sse: sse.handle,
    ws: ws.handle,
  };

  const unsubscribe = hub.subscribe((e) => {
    sse.onEvent(e);
    longPolls.onEvent();
    ws.onEvent(e);
  });

  // One heartbeat for everyone: an SSE comment and a WebSocket ping.
  const heartbeat: Timer = stack.timers.create((now) => {
    sse.heartbeat();
    ws.heartbeat();
    heartbeat.schedule(now + limits.heartbeatMs);
  });
  heartbeat.schedule(stack.now() + limits.heartbeatMs);

  function drop(style: Style): number {
    let n = 0;
    for (const s of [...sockets[style]]) {
      n++;
      s.resetAndDestroy();
    }
    stats.dropped += n;
    return n;
  }

  // ---------------------------------------------------------------------------------------------
  // The servers

  const services: HttpService[] = [];
  const startOne = async (style: Style): Promise<void> => {
    const service = serveHttp(stack, ports[style], (req, res) => {
      stats.requests[style]++;
      requestsOn.set(req.socket, (requestsOn.get(req.socket) ?? 0) + 1);
      // Node answers the max-th request with `Connection: close` but then keeps the socket
      // until the keep-alive timer fires; close it when that answer is out (RFC 9112 §9.6).
      const nth = requestsOn.get(req.socket) ?? 0;
      res.once('finish', () => {
        if (nth >= limits.keepAliveMax && req.socket.writable) req.socket.end();
      });
      if (style !== 'page') for (const [k, v] of Object.entries(CORS)) res.setHeader(k, v);
      if (req.method === 'OPTIONS') return void send(res, 204, '');
      const url = parseTarget(req);
      if (url === null) return void send(res, 400, 'bad request target\n');
      handlers[style](req, res, url);
    });
    services.push(service);
    const http = service.http;
    http.keepAliveTimeout = limits.keepAliveTimeoutMs;
    http.maxRequestsPerSocket = limits.keepAliveMax;
    http.on('connection', (s: Socket) => {
      sockets[style].add(s);
      s.once('close', () => sockets[style].delete(s));
    });
    // Node destroys a socket whose keep-alive timer ran out; on stack sockets destroy() is an
    // abort (RST). Close it as the kernel would after close(2) instead: our FIN, then the peer's.
    // If the peer has not closed its side by the next timeout, let go (no RST after our FIN).
    http.on('timeout', (s: Socket) => {
      if (s.writableEnded) s.destroy();
      else s.end();
    });
    if (style === 'ws') http.on('upgrade', ws.upgrade);
    await service.ready;
  };

  try {
    for (const style of STYLES) await startOne(style);
  } catch (err) {
    await closeAll();
    throw err;
  }

  async function closeAll(): Promise<void> {
    unsubscribe();
    hub.close();
    heartbeat.cancel();
    longPolls.close();
    sse.close();
    ws.close();
    const closed = Promise.all(services.map((s) => s.close()));
    // Streams and sockets that do not finish within a second (of the stack's clock, as every
    // other timer of the stack and its apps) are destroyed.
    let timer: TimerHandle | undefined;
    const late = new Promise<void>((resolve) => {
      timer = stack.clock.setTimer(stack.clock.now() + 1_000, () => {
        for (const set of Object.values(sockets)) for (const s of set) s.destroy();
        ws.terminate();
        resolve();
      });
    });
    await Promise.race([closed, late]);
    timer?.cancel();
    await closed;
    ws.dispose();
    meter.close();
  }

  return {
    ports,
    hub,
    stats,
    totals: () => meter.totals(),
    drop,
    close: closeAll,
  };
}
