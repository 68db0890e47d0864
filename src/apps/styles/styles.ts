/**
 * The connection-styles demo: one event source (events.ts) delivered to a browser by short
 * polling, long polling, Server-Sent Events and WebSocket side by side, plus HTTP keep-alive on
 * its own, each measured in TCP connections, segments and bytes by the stack's own counters.
 *
 * Every style has its own port, so that the browser keeps one connection pool per style and
 * every TCP connection belongs to exactly one style (meter.ts):
 *
 *   8080 page     GET / (the demo page), GET /stats, POST /publish, POST /drop?style=S
 *   8081 keepalive GET /ka: which connection served this request, and its number on it
 *   8082 short    GET /poll?after=ID: the events after ID, at once
 *   8083 long     GET /longpoll?after=ID: held until an event comes or `longPollMs` passes
 *   8084 sse      GET /sse: text/event-stream with id: and retry:; Last-Event-ID resumes
 *   8085 ws       GET /ws upgraded (RFC 6455): events, echo, publish; ping/pong; close
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
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';
import { type HttpService, serveHttp } from '../../api/http.ts';
import type { Socket } from '../../api/net.ts';
import type { Stack } from '../../stack/stack.ts';
import type { Timer } from '../../stack/timers.ts';
import { type DemoEvent, EventHub, type EventHubOptions, MAX_PUBLISH_BYTES } from './events.ts';
import { StyleMeter, type StyleTotals } from './meter.ts';

export const STYLES_PORT = 8080;
export const STYLES = ['page', 'keepalive', 'short', 'long', 'sse', 'ws'] as const;
export type Style = (typeof STYLES)[number];

/** Keep-Alive: timeout=5, max=100. */
export const KEEP_ALIVE_TIMEOUT_MS = 5_000;
export const KEEP_ALIVE_MAX = 100;

export interface StylesOptions extends EventHubOptions {
  /** The page's port; the styles take the next five (default 8080: 8080..8085). */
  basePort?: number;
  /** How long a long poll is held without events, ms (default 20 000). */
  longPollMs?: number;
  /** SSE `retry:`, ms: how long an EventSource waits before reconnecting (default 1000). */
  sseRetryMs?: number;
  /** WebSocket ping and SSE comment period, ms (default 15 000); a client silent for two is gone. */
  heartbeatMs?: number;
  /** Held long polls, SSE streams, WebSocket clients: at most this many each (default 256). */
  maxClients?: number;
  /** Unsent bytes after which a streaming client is dropped (default 64 KiB). */
  maxBuffered?: number;
  /** Largest WebSocket message accepted (default 64 KiB; larger: close 1009). */
  maxMessage?: number;
  keepAliveTimeoutMs?: number;
  keepAliveMax?: number;
}

/** Counters the page and the tests read beside the TCP totals. */
export interface StylesStats {
  requests: Record<Style, number>;
  /** SSE requests that carried Last-Event-ID, the last id they named, events replayed. */
  sseResumes: number;
  sseLastResumeFrom: number | null;
  sseReplayed: number;
  /** Clients reset because they stopped reading. */
  slowDropped: number;
  /** Requests refused because a style had maxClients already (503). */
  refused: number;
  /** WebSocket clients closed for not answering a ping. */
  wsPingTimeouts: number;
  /** WebSocket closes by code we sent or received (1000, 1002, 1007, 1009, ...). */
  wsCloseCodes: Record<string, number>;
  /** Connections reset by drop() / POST /drop. */
  dropped: number;
}

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

const CORS = {
  'Access-Control-Allow-Origin': '*',
  'Access-Control-Allow-Methods': 'GET, POST, OPTIONS',
  'Access-Control-Allow-Headers': 'Content-Type, Last-Event-ID',
  'Access-Control-Max-Age': '600',
};

const PAGE_TEMPLATE = readFileSync(new URL('./page.html', import.meta.url), 'utf8');

/** Start the demo's six servers on the stack. */
export async function startStyles(
  stack: Stack,
  options: StylesOptions = {},
): Promise<StylesHandle> {
  const base = options.basePort ?? STYLES_PORT;
  const ports = Object.fromEntries(STYLES.map((s, i) => [s, base + i])) as Record<Style, number>;
  const o = {
    longPollMs: options.longPollMs ?? 20_000,
    sseRetryMs: options.sseRetryMs ?? 1_000,
    heartbeatMs: options.heartbeatMs ?? 15_000,
    maxClients: options.maxClients ?? 256,
    maxBuffered: options.maxBuffered ?? 64 * 1024,
    maxMessage: options.maxMessage ?? 64 * 1024,
    keepAliveTimeoutMs: options.keepAliveTimeoutMs ?? KEEP_ALIVE_TIMEOUT_MS,
    keepAliveMax: options.keepAliveMax ?? KEEP_ALIVE_MAX,
  };
  const meter = new StyleMeter(stack, ports);
  const stats: StylesStats = {
    requests: Object.fromEntries(STYLES.map((s) => [s, 0])) as Record<Style, number>,
    sseResumes: 0,
    sseLastResumeFrom: null,
    sseReplayed: 0,
    slowDropped: 0,
    refused: 0,
    wsPingTimeouts: 0,
    wsCloseCodes: {},
    dropped: 0,
  };
  const sockets = Object.fromEntries(STYLES.map((s) => [s, new Set<Socket>()])) as Record<
    Style,
    Set<Socket>
  >;
  /** Requests per connection, for /ka's answer. */
  const requestsOn = new WeakMap<Duplex, number>();
  const page = PAGE_TEMPLATE.replace('/*PORTS*/ {}', JSON.stringify(ports));

  // ---------------------------------------------------------------------------------------------
  // Streaming clients: held long polls, SSE streams, WebSocket clients

  const longPolls = new Set<{ res: ServerResponse; finish: () => void }>();
  const sseClients = new Set<{ res: ServerResponse }>();
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: o.maxMessage,
    clientTracking: true,
  });
  const wsAlive = new WeakMap<WebSocket, boolean>();
  // Streams keep the ticker going while connected; polls keep it going by asking.
  const hub = new EventHub(stack, {
    ...options,
    watched: () => sseClients.size > 0 || wss.clients.size > 0,
  });

  /** Write to a stream; a client that stopped reading is reset rather than buffered for. */
  const sseWrite = (res: ServerResponse, text: string): void => {
    if (res.destroyed) return;
    res.write(text);
    const socket = res.socket as Socket | null;
    if (socket !== null && socket.writableLength > o.maxBuffered) {
      stats.slowDropped++;
      socket.resetAndDestroy();
    }
  };

  const unsubscribe = hub.subscribe((e) => {
    for (const c of sseClients) sseWrite(c.res, sseEvent(e));
    for (const lp of [...longPolls]) lp.finish();
    const text = JSON.stringify({ type: 'event', event: e });
    for (const ws of wss.clients) {
      if (ws.readyState !== WebSocket.OPEN) continue;
      ws.send(text);
      if (ws.bufferedAmount > o.maxBuffered) {
        stats.slowDropped++;
        ws.terminate();
      }
    }
  });

  // One heartbeat for everyone: an SSE comment (a dead peer then shows as a reset) and a
  // WebSocket ping (RFC 6455 §5.5.2); a client that did not pong since the last one is gone.
  const heartbeat: Timer = stack.timers.create((now) => {
    for (const c of sseClients) sseWrite(c.res, ': heartbeat\n\n');
    for (const ws of wss.clients) {
      if (wsAlive.get(ws) === false) {
        stats.wsPingTimeouts++;
        ws.terminate();
        continue;
      }
      wsAlive.set(ws, false);
      ws.ping();
    }
    heartbeat.schedule(now + o.heartbeatMs);
  });
  heartbeat.schedule(stack.now() + o.heartbeatMs);

  // ---------------------------------------------------------------------------------------------
  // Handlers

  const handlers: Record<Style, (req: IncomingMessage, res: ServerResponse, url: URL) => void> = {
    page(req, res, url) {
      switch (url.pathname) {
        case '/':
          if (method(req, res, 'GET')) send(res, 200, page, 'text/html');
          return;
        case '/stats':
          if (!method(req, res, 'GET')) return;
          json(res, 200, {
            styles: meter.totals(),
            lastId: hub.lastId,
            stats,
            keepAlive: { timeoutMs: o.keepAliveTimeoutMs, max: o.keepAliveMax },
          });
          return;
        case '/publish':
          if (!method(req, res, 'POST')) return;
          readBody(req, MAX_PUBLISH_BYTES, (body) => {
            if (body === null) send(res, 413, `at most ${MAX_PUBLISH_BYTES} bytes\n`);
            else json(res, 200, hub.publish(body));
          });
          return;
        case '/drop': {
          if (!method(req, res, 'POST')) return;
          const style = url.searchParams.get('style') as Style;
          if (!STYLES.includes(style) || style === 'page') send(res, 400, 'bad style\n');
          else json(res, 200, { dropped: drop(style) });
          return;
        }
        default:
          send(res, 404, 'not found\n');
      }
    },

    keepalive(req, res, url) {
      if (url.pathname !== '/ka') return void send(res, 404, 'not found\n');
      if (!method(req, res, 'GET')) return;
      const s = req.socket;
      const n = requestsOn.get(s) ?? 1;
      json(res, 200, {
        local: `${s.localAddress}:${s.localPort}`,
        remote: `${s.remoteAddress}:${s.remotePort}`,
        n,
        max: o.keepAliveMax,
        last: n >= o.keepAliveMax,
      });
    },

    short(req, res, url) {
      if (url.pathname !== '/poll') return void send(res, 404, 'not found\n');
      if (!method(req, res, 'GET')) return;
      hub.touch();
      const after = cursor(url, hub.lastId);
      json(res, 200, { ...hub.since(after), lastId: hub.lastId });
    },

    long(req, res, url) {
      if (url.pathname !== '/longpoll') return void send(res, 404, 'not found\n');
      if (!method(req, res, 'GET')) return;
      hub.touch();
      const after = cursor(url, hub.lastId);
      const now = hub.since(after);
      if (now.events.length > 0 || now.missed) {
        json(res, 200, { ...now, lastId: hub.lastId });
        return;
      }
      if (longPolls.size >= o.maxClients) return void refuse(res, stats);
      // Held: answered by the next event, or empty after longPollMs; forgotten if the client goes.
      const waiter = {
        res,
        finish: () => {
          longPolls.delete(waiter);
          timer.cancel();
          if (!res.writableEnded && !res.destroyed)
            json(res, 200, { ...hub.since(after), lastId: hub.lastId });
        },
      };
      const timer = stack.timers.create(() => waiter.finish());
      timer.schedule(stack.now() + o.longPollMs);
      longPolls.add(waiter);
      res.once('close', () => {
        longPolls.delete(waiter);
        timer.cancel();
      });
    },

    sse(req, res, url) {
      if (url.pathname !== '/sse') return void send(res, 404, 'not found\n');
      if (!method(req, res, 'GET')) return;
      if (sseClients.size >= o.maxClients) return void refuse(res, stats);
      hub.touch();
      // An EventSource reconnecting sends the last id it saw (WHATWG HTML §9.2 "Last-Event-ID").
      const header = req.headers['last-event-id'];
      const resumeFrom = typeof header === 'string' ? parseId(header) : null;
      res.writeHead(200, {
        ...CORS,
        'Content-Type': 'text/event-stream; charset=utf-8',
        'Cache-Control': 'no-store',
      });
      const client = { res };
      sseClients.add(client);
      res.once('close', () => sseClients.delete(client));
      let hello = `retry: ${o.sseRetryMs}\n`;
      let replay = '';
      if (resumeFrom !== null) {
        const { events, missed } = hub.since(resumeFrom);
        stats.sseResumes++;
        stats.sseLastResumeFrom = resumeFrom;
        stats.sseReplayed += events.length;
        replay = events.map(sseEvent).join('');
        // No id: field, so the browser's last event ID stays that of the last real event.
        hello += `event: resume\ndata: ${JSON.stringify({ from: resumeFrom, replayed: events.length, missed })}\n`;
      }
      sseWrite(res, `${hello}\n${replay}`);
    },

    ws(_req, res) {
      send(res, 426, 'this port speaks WebSocket: GET /ws with Upgrade: websocket\n', undefined, {
        Upgrade: 'websocket',
      });
    },
  };

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
        if (nth >= o.keepAliveMax && req.socket.writable) req.socket.end();
      });
      if (style !== 'page') for (const [k, v] of Object.entries(CORS)) res.setHeader(k, v);
      if (req.method === 'OPTIONS') return void send(res, 204, '');
      const url = parseTarget(req);
      if (url === null) return void send(res, 400, 'bad request target\n');
      handlers[style](req, res, url);
    });
    services.push(service);
    const http = service.http;
    http.keepAliveTimeout = o.keepAliveTimeoutMs;
    http.maxRequestsPerSocket = o.keepAliveMax;
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
    if (style === 'ws') http.on('upgrade', upgrade);
    await service.ready;
  };

  function upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    stats.requests.ws++;
    if (parseTarget(req)?.pathname !== '/ws') {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    if (wss.clients.size >= o.maxClients) {
      stats.refused++;
      socket.end(
        'HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n',
      );
      return;
    }
    // ws answers a malformed handshake itself (400, or 426 for a wrong version).
    wss.handleUpgrade(req, socket, head, (ws) => {
      hub.touch();
      wsAlive.set(ws, true);
      ws.on('pong', () => wsAlive.set(ws, true));
      ws.on('message', (data, isBinary) => onWsMessage(ws, data, isBinary));
      ws.on('close', (code) => {
        stats.wsCloseCodes[code] = (stats.wsCloseCodes[code] ?? 0) + 1;
      });
      // Protocol errors (1002), bad UTF-8 (1007), too big (1009): ws closes with the code.
      ws.on('error', () => {});
      ws.send(JSON.stringify({ type: 'hello', lastId: hub.lastId }));
    });
  }

  /** Echo every message; `{"op":"publish","data":...}` also publishes to every style. */
  function onWsMessage(ws: WebSocket, data: WebSocket.RawData, isBinary: boolean): void {
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
    for (const lp of [...longPolls]) lp.finish();
    for (const c of sseClients) c.res.end();
    for (const ws of wss.clients) ws.close(1001, 'server going away');
    const closed = Promise.all(services.map((s) => s.close()));
    // Streams and sockets that do not finish within a second are destroyed.
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        for (const set of Object.values(sockets)) for (const s of set) s.destroy();
        for (const ws of wss.clients) ws.terminate();
        resolve();
      }, 1_000);
    });
    await Promise.race([closed, late]);
    clearTimeout(timer);
    await closed;
    wss.close();
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

// -----------------------------------------------------------------------------------------------
// Small helpers

/** One SSE event (WHATWG HTML §9.2.6): id, then the data as one JSON line. */
function sseEvent(e: DemoEvent): string {
  return `id: ${e.id}\ndata: ${JSON.stringify(e)}\n\n`;
}

/** The request target as a URL (origin-form, RFC 9112 §3.2.1), or null if it is not one. */
function parseTarget(req: IncomingMessage): URL | null {
  try {
    return new URL(req.url ?? '/', 'http://demo');
  } catch {
    return null;
  }
}

/** `after=N` from the query, or `dflt` when absent or not a non-negative integer. */
function cursor(url: URL, dflt: number): number {
  const v = url.searchParams.get('after');
  return v === null ? dflt : (parseId(v) ?? dflt);
}

function parseId(s: string): number | null {
  if (!/^\d{1,15}$/.test(s.trim())) return null;
  return Number(s.trim());
}

function method(req: IncomingMessage, res: ServerResponse, allowed: string): boolean {
  if (req.method === allowed || (allowed === 'GET' && req.method === 'HEAD')) return true;
  send(res, 405, `use ${allowed}\n`, undefined, { Allow: allowed });
  return false;
}

function refuse(res: ServerResponse, stats: StylesStats): void {
  stats.refused++;
  send(res, 503, 'too many clients of this style; try again\n', undefined, { 'Retry-After': '5' });
}

function send(
  res: ServerResponse,
  status: number,
  body: string,
  type = 'text/plain',
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, {
    ...headers,
    'Content-Type': `${type}; charset=utf-8`,
    'Content-Length': String(Buffer.byteLength(body)),
    'Cache-Control': 'no-store',
  });
  res.end(body);
}

function json(res: ServerResponse, status: number, body: unknown): void {
  send(res, status, `${JSON.stringify(body)}\n`, 'application/json');
}

/** The body as text if it fits in `max` bytes, else null (and the rest is discarded). */
function readBody(req: IncomingMessage, max: number, done: (body: string | null) => void): void {
  const chunks: Buffer[] = [];
  let size = 0;
  req.on('data', (c: Buffer) => {
    size += c.length;
    if (size <= max) chunks.push(c);
  });
  req.on('end', () => done(size <= max ? Buffer.concat(chunks).toString('utf8') : null));
  req.on('error', () => {});
}
