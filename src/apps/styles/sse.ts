/**
 * Port 8084, Server-Sent Events: GET /sse opens a text/event-stream with `retry:` and every
 * event's `id:`; an EventSource reconnecting with Last-Event-ID gets what it missed from the
 * hub's ring, after a `resume` event saying how many. At most `maxClients` streams (then 503);
 * a stream whose unsent bytes pass `maxBuffered` (the client stopped reading) is reset.
 */
import type { ServerResponse } from 'node:http';
import type { Socket } from '../../api/net.ts';
import {
  CORS,
  method,
  parseId,
  refuse,
  type StyleContext,
  type StyleHandler,
  send,
  sseEvent,
} from './common.ts';
import type { DemoEvent } from './events.ts';

export class SseStreams {
  readonly #ctx: StyleContext;
  readonly #clients = new Set<{ res: ServerResponse }>();

  constructor(ctx: StyleContext) {
    this.#ctx = ctx;
  }

  /** Open streams now. */
  get size(): number {
    return this.#clients.size;
  }

  readonly handle: StyleHandler = (req, res, url) => {
    const { hub, stats, limits } = this.#ctx;
    if (url.pathname !== '/sse') return void send(res, 404, 'not found\n');
    if (!method(req, res, 'GET')) return;
    if (this.#clients.size >= limits.maxClients) return void refuse(res, stats);
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
    this.#clients.add(client);
    res.once('close', () => this.#clients.delete(client));
    let hello = `retry: ${limits.sseRetryMs}\n`;
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
    this.#write(res, `${hello}\n${replay}`);
  };

  onEvent(e: DemoEvent): void {
    for (const c of this.#clients) this.#write(c.res, sseEvent(e));
  }

  /** A comment on every stream: a dead peer then shows as a reset. */
  heartbeat(): void {
    for (const c of this.#clients) this.#write(c.res, ': heartbeat\n\n');
  }

  /** End every stream (the demo is closing). */
  close(): void {
    for (const c of this.#clients) c.res.end();
  }

  /** Write to a stream; a client that stopped reading is reset rather than buffered for. */
  #write(res: ServerResponse, text: string): void {
    if (res.destroyed) return;
    res.write(text);
    const socket = res.socket as Socket | null;
    if (socket !== null && socket.writableLength > this.#ctx.limits.maxBuffered) {
      this.#ctx.stats.slowDropped++;
      socket.resetAndDestroy();
    }
  }
}
