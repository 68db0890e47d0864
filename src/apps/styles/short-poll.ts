/**
 * Port 8082, short polling: GET /poll?after=ID answers at once with the events after ID (none,
 * often); the client asks again on its own timer.
 */
import { cursor, json, method, type StyleContext, type StyleHandler, send } from './common.ts';

export function shortPollHandler(ctx: StyleContext): StyleHandler {
  const { hub } = ctx;
  return (req, res, url) => {
    if (url.pathname !== '/poll') return void send(res, 404, 'not found\n');
    if (!method(req, res, 'GET')) return;
    hub.touch();
    const after = cursor(url, hub.lastId);
    json(res, 200, { ...hub.since(after), lastId: hub.lastId });
  };
}
