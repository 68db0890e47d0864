/**
 * Port 8080: the demo page itself, and the page's controls.
 *
 *   GET /                the page (page.html, with every style's port filled in)
 *   GET /stats           per style: TCP totals (meter.ts), the hub's last id, the counters
 *   POST /publish        publish the body (at most MAX_PUBLISH_BYTES) to every style
 *   POST /drop?style=S   reset every connection of style S, as a lost connection would end
 */
import { readFileSync } from 'node:fs';
import {
  json,
  method,
  readBody,
  STYLES,
  type Style,
  type StyleContext,
  type StyleHandler,
  send,
} from './common.ts';
import { MAX_PUBLISH_BYTES } from './events.ts';
import type { StyleMeter } from './meter.ts';

const PAGE_TEMPLATE = readFileSync(new URL('./page.html', import.meta.url), 'utf8');

export function pageHandler(
  ctx: StyleContext,
  ports: Readonly<Record<Style, number>>,
  meter: StyleMeter<Style>,
  drop: (style: Style) => number,
): StyleHandler {
  const { hub, stats, limits } = ctx;
  const page = PAGE_TEMPLATE.replace('/*PORTS*/ {}', JSON.stringify(ports));
  return (req, res, url) => {
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
          keepAlive: { timeoutMs: limits.keepAliveTimeoutMs, max: limits.keepAliveMax },
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
  };
}
