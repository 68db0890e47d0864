/**
 * What the styles' modules share: the style names and ports, the resolved options, the counters
 * they all write, and the small HTTP helpers every handler answers with.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Stack } from '../../stack/stack.ts';
import type { DemoEvent, EventHub, EventHubOptions } from './events.ts';

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

/** StylesOptions with every default filled in. */
export type StyleLimits = Required<Omit<StylesOptions, 'basePort' | keyof EventHubOptions>>;

export function resolveLimits(options: StylesOptions): StyleLimits {
  return {
    longPollMs: options.longPollMs ?? 20_000,
    sseRetryMs: options.sseRetryMs ?? 1_000,
    heartbeatMs: options.heartbeatMs ?? 15_000,
    maxClients: options.maxClients ?? 256,
    maxBuffered: options.maxBuffered ?? 64 * 1024,
    maxMessage: options.maxMessage ?? 64 * 1024,
    keepAliveTimeoutMs: options.keepAliveTimeoutMs ?? KEEP_ALIVE_TIMEOUT_MS,
    keepAliveMax: options.keepAliveMax ?? KEEP_ALIVE_MAX,
  };
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

export function newStats(): StylesStats {
  return {
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
}

/** What every style's module is given. */
export interface StyleContext {
  readonly stack: Stack;
  readonly hub: EventHub;
  readonly stats: StylesStats;
  readonly limits: StyleLimits;
}

/** A request on a style's port, its target already parsed (OPTIONS and bad targets answered). */
export type StyleHandler = (req: IncomingMessage, res: ServerResponse, url: URL) => void;

export const CORS = {
  'Access-Control-Allow-Origin': '*',
  'Access-Control-Allow-Methods': 'GET, POST, OPTIONS',
  'Access-Control-Allow-Headers': 'Content-Type, Last-Event-ID',
  'Access-Control-Max-Age': '600',
};

/** One SSE event (WHATWG HTML §9.2.6): id, then the data as one JSON line. */
export function sseEvent(e: DemoEvent): string {
  return `id: ${e.id}\ndata: ${JSON.stringify(e)}\n\n`;
}

/** The request target as a URL (origin-form, RFC 9112 §3.2.1), or null if it is not one. */
export function parseTarget(req: IncomingMessage): URL | null {
  try {
    return new URL(req.url ?? '/', 'http://demo');
  } catch {
    return null;
  }
}

/** `after=N` from the query, or `dflt` when absent or not a non-negative integer. */
export function cursor(url: URL, dflt: number): number {
  const v = url.searchParams.get('after');
  return v === null ? dflt : (parseId(v) ?? dflt);
}

export function parseId(s: string): number | null {
  if (!/^\d{1,15}$/.test(s.trim())) return null;
  return Number(s.trim());
}

/** True if the request uses `allowed` (HEAD counts as GET); else answers 405. */
export function method(req: IncomingMessage, res: ServerResponse, allowed: string): boolean {
  if (req.method === allowed || (allowed === 'GET' && req.method === 'HEAD')) return true;
  send(res, 405, `use ${allowed}\n`, undefined, { Allow: allowed });
  return false;
}

/** 503: this style has maxClients already. */
export function refuse(res: ServerResponse, stats: StylesStats): void {
  stats.refused++;
  send(res, 503, 'too many clients of this style; try again\n', undefined, { 'Retry-After': '5' });
}

export function send(
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

export function json(res: ServerResponse, status: number, body: unknown): void {
  send(res, status, `${JSON.stringify(body)}\n`, 'application/json');
}

/** The body as text if it fits in `max` bytes, else null (and the rest is discarded). */
export function readBody(
  req: IncomingMessage,
  max: number,
  done: (body: string | null) => void,
): void {
  const chunks: Buffer[] = [];
  let size = 0;
  req.on('data', (c: Buffer) => {
    size += c.length;
    if (size <= max) chunks.push(c);
  });
  req.on('end', () => done(size <= max ? Buffer.concat(chunks).toString('utf8') : null));
  req.on('error', () => {});
}
