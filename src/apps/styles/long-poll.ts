/**
 * Port 8083, long polling: GET /longpoll?after=ID answers at once if there are events after ID,
 * else holds the request until the next event or `longPollMs`, whichever comes first. At most
 * `maxClients` are held (then 503); a held poll whose client goes is forgotten.
 */
import type { ServerResponse } from 'node:http';
import {
  cursor,
  json,
  method,
  refuse,
  type StyleContext,
  type StyleHandler,
  send,
} from './common.ts';

interface Waiter {
  res: ServerResponse;
  finish: () => void;
}

export class LongPolls {
  readonly #ctx: StyleContext;
  readonly #held = new Set<Waiter>();

  constructor(ctx: StyleContext) {
    this.#ctx = ctx;
  }

  /** Held requests now. */
  get size(): number {
    return this.#held.size;
  }

  readonly handle: StyleHandler = (req, res, url) => {
    const { stack, hub, stats, limits } = this.#ctx;
    if (url.pathname !== '/longpoll') return void send(res, 404, 'not found\n');
    if (!method(req, res, 'GET')) return;
    hub.touch();
    const after = cursor(url, hub.lastId);
    const now = hub.since(after);
    if (now.events.length > 0 || now.missed) {
      json(res, 200, { ...now, lastId: hub.lastId });
      return;
    }
    if (this.#held.size >= limits.maxClients) return void refuse(res, stats);
    // Held: answered by the next event, or empty after longPollMs; forgotten if the client goes.
    const waiter: Waiter = {
      res,
      finish: () => {
        this.#held.delete(waiter);
        timer.cancel();
        if (!res.writableEnded && !res.destroyed)
          json(res, 200, { ...hub.since(after), lastId: hub.lastId });
      },
    };
    const timer = stack.timers.create(() => waiter.finish());
    timer.schedule(stack.now() + limits.longPollMs);
    this.#held.add(waiter);
    res.once('close', () => {
      this.#held.delete(waiter);
      timer.cancel();
    });
  };

  /** An event came: answer every held poll. */
  onEvent(): void {
    for (const w of [...this.#held]) w.finish();
  }

  /** Answer every held poll now (the demo is closing). */
  close(): void {
    this.onEvent();
  }
}
