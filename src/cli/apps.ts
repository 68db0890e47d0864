/**
 * Apps that `tunstack up --apps a,b` can start on the stack. Each entry starts one app and
 * returns something to close; adding an app (http, discard, ...) is one import and one entry.
 */

import type { NetStack } from '../api/index.ts';
import { CHARGEN_PORT, startChargen } from '../apps/chargen.ts';
import { DISCARD_PORT, startDiscard } from '../apps/discard.ts';
import { ECHO_PORT, startEcho } from '../apps/echo.ts';
import { HTTP_PORT, startHttp } from '../apps/http.ts';
import { STYLES_PORT, startStyles } from '../apps/styles/index.ts';
import { startUdpEcho } from '../apps/udp-echo.ts';
import type { Logger } from './logger.ts';

export interface AppHandle {
  close(): Promise<void>;
}

export interface AppEntry {
  /** One line for --help. */
  readonly description: string;
  /** Started when --apps is not given. */
  readonly byDefault: boolean;
  start(stack: NetStack, logger: Logger): Promise<AppHandle>;
}

export const APPS: Readonly<Record<string, AppEntry>> = {
  echo: {
    description: `TCP echo on port ${ECHO_PORT} (RFC 862)`,
    byDefault: true,
    start: (stack) => startEcho(stack.net, ECHO_PORT),
  },
  discard: {
    description: `TCP discard on port ${DISCARD_PORT} (RFC 863)`,
    byDefault: true,
    start: (stack) => startDiscard(stack.net, DISCARD_PORT),
  },
  http: {
    description: `HTTP on port ${HTTP_PORT}: /, GET /bytes/N, POST /upload`,
    byDefault: true,
    start: (stack) => startHttp(stack, HTTP_PORT),
  },
  chargen: {
    description: `TCP character generator on port ${CHARGEN_PORT} (RFC 864)`,
    byDefault: true,
    start: (stack) => startChargen(stack.net, CHARGEN_PORT),
  },
  styles: {
    description: `connection-styles demo page on port ${STYLES_PORT} (styles on ${STYLES_PORT + 1}-${STYLES_PORT + 5})`,
    byDefault: true,
    start: (stack) => startStyles(stack),
  },
  'udp-echo': {
    description: 'UDP echo on port 7 (RFC 862)',
    byDefault: true,
    start: (stack) => startUdpEcho(stack, 7),
  },
};

export const DEFAULT_APPS: readonly string[] = Object.keys(APPS).filter((n) => APPS[n].byDefault);

/** Start the named apps in order; if one fails, close those already started and rethrow. */
export async function startApps(
  names: readonly string[],
  stack: NetStack,
  logger: Logger,
): Promise<AppHandle[]> {
  const unknown = names.filter((n) => !Object.hasOwn(APPS, n));
  if (unknown.length > 0) {
    throw Object.assign(
      new Error(`unknown app(s) ${unknown.join(', ')}; known: ${Object.keys(APPS).join(', ')}`),
      { code: 'ERR_INVALID_ARG_VALUE' },
    );
  }
  const started: AppHandle[] = [];
  try {
    for (const name of names) {
      started.push(await APPS[name].start(stack, logger.child({ app: name })));
      logger.info({ app: name }, 'app started');
    }
  } catch (err) {
    for (const a of started.reverse()) await a.close().catch(() => {});
    throw err;
  }
  return started;
}
