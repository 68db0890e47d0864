/**
 * Port 8081, HTTP keep-alive on its own (RFC 9112 §9.3): GET /ka answers which connection served
 * the request and the request's number on it, so the page shows requests sharing one connection
 * until `keepAliveMax` or the idle timeout ends it.
 */
import type { Duplex } from 'node:stream';
import { rowEndpoint } from '../http-index.ts';
import { json, method, type StyleContext, type StyleHandler, send } from './common.ts';

/** `requestsOn`: requests seen per connection, counted by the server for every style. */
export function keepAliveHandler(
  ctx: StyleContext,
  requestsOn: WeakMap<Duplex, number>,
): StyleHandler {
  const max = ctx.limits.keepAliveMax;
  return (req, res, url) => {
    if (url.pathname !== '/ka') return void send(res, 404, 'not found\n');
    if (!method(req, res, 'GET')) return;
    const s = req.socket;
    const n = requestsOn.get(s) ?? 1;
    json(res, 200, {
      // As the HTTP app and ss write them: '10.0.0.1:port' (also for an IPv4 peer of the
      // dual-stack listener), '[fd00::1]:port'.
      local: rowEndpoint(s.localAddress, s.localPort),
      remote: rowEndpoint(s.remoteAddress, s.remotePort),
      n,
      max,
      last: n >= max,
    });
  };
}
