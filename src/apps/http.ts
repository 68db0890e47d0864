/**
 * The HTTP app: a node:http request handler, so that the same code runs on Node's own server
 * and on the stack (src/api/http.ts runs node:http over stack sockets; so do the unit tests).
 *
 *   GET  /            the stack, and the connection the request came on: a short text page,
 *                     or an HTML one with links for a browser (http-index.ts)
 *   GET  /bytes/N     N bytes (0 <= N <= maxBytes), byte k of the body = k mod 256, streamed
 *                     from one reused chunk with backpressure (never allocated whole)
 *   POST /upload      the body's length and SHA-256, hashed as it streams in (never stored)
 *   anything else     404 (405 for a known path with the wrong method)
 */
import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { serveHttp } from '../api/http.ts';
import type { NetStack } from '../api/index.ts';
import type { TimerHandle } from '../stack/clock.ts';
import { htmlIndexPage, prefersHtml, rowEndpoint, textIndexPage } from './http-index.ts';
import { countingChunk, pumpRepeated } from './pump.ts';
import type { StreamSocket } from './serve.ts';

export const HTTP_PORT = 80;

/**
 * Largest N for /bytes/N by default: 1 TiB. Nothing is allocated per byte, and a benchmark
 * client reads a long response for a fixed time and then hangs up, so the bound only keeps N a
 * safe integer with room to spare; pass `maxBytes` for a tighter one.
 */
export const DEFAULT_MAX_BYTES = 2 ** 40;

export interface HttpAppOptions {
  /** Named on the `/` page (default 'tunstack'). */
  name?: string;
  /** Largest N accepted by /bytes/N (default DEFAULT_MAX_BYTES). */
  maxBytes?: number;
  /** Size of the reused /bytes chunk, a multiple of 256 (default 64 KiB). */
  chunkSize?: number;
  /**
   * The connection's state and counters for the `/` page (e.g. its row of stack.connections()),
   * or undefined when unknown (on Node's own sockets).
   */
  describeConnection?: (socket: StreamSocket) => Readonly<Record<string, unknown>> | undefined;
}

export type HttpHandler = (req: IncomingMessage, res: ServerResponse) => void;

export function createHttpHandler(options: HttpAppOptions = {}): HttpHandler {
  const name = options.name ?? 'tunstack';
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
  const chunk = countingChunk(options.chunkSize ?? 64 * 1024);

  return (req, res) => {
    const path = (req.url ?? '/').split('?', 1)[0];
    if (path === '/') {
      if (!allow(req, res, 'GET, HEAD')) return;
      const socket = req.socket as StreamSocket;
      const row = options.describeConnection?.(socket);
      // One URL, two representations: caches must key on Accept (RFC 9110 §12.5.5).
      res.setHeader('Vary', 'Accept');
      if (prefersHtml(req.headers.accept))
        reply(res, 200, htmlIndexPage(name, socket, row), 'text/html');
      else reply(res, 200, textIndexPage(name, socket, row));
      return;
    }
    if (path.startsWith('/bytes/')) {
      if (!allow(req, res, 'GET, HEAD')) return;
      const n = parseCount(path.slice('/bytes/'.length), maxBytes);
      if (n === null) {
        reply(res, 400, `bad byte count: expected /bytes/N with N an integer 0..${maxBytes}\n`);
        return;
      }
      res.writeHead(200, {
        'Content-Type': 'application/octet-stream',
        'Content-Length': String(n),
      });
      if (req.method === 'HEAD') res.end();
      else pumpRepeated(res, chunk, n, () => res.end());
      return;
    }
    if (path === '/upload') {
      if (!allow(req, res, 'POST, PUT')) return;
      const hash = createHash('sha256');
      let length = 0;
      req.on('data', (data: Buffer) => {
        hash.update(data);
        length += data.length;
      });
      req.on('end', () => {
        const body = `${JSON.stringify({ length, sha256: hash.digest('hex') })}\n`;
        reply(res, 200, body, 'application/json');
      });
      // A client that goes away mid-body: the socket is gone, nothing to answer.
      req.on('error', () => {});
      return;
    }
    reply(res, 404, `not found: ${path}\n`);
  };
}

/** Is the method one of `methods`? If not, answer 405 with Allow (RFC 9110 §15.5.6). */
function allow(req: IncomingMessage, res: ServerResponse, methods: string): boolean {
  if (methods.split(', ').includes(req.method ?? '')) return true;
  res.setHeader('Allow', methods);
  reply(res, 405, `method ${req.method} not allowed here; allowed: ${methods}\n`);
  return false;
}

function reply(res: ServerResponse, status: number, body: string, type = 'text/plain'): void {
  res.writeHead(status, {
    'Content-Type': `${type}; charset=utf-8`,
    'Content-Length': String(Buffer.byteLength(body)),
  });
  res.end(body);
}

/** A decimal integer 0..max without sign, exponent or leading junk; null otherwise. */
export function parseCount(text: string, max: number): number | null {
  if (!/^\d{1,16}$/.test(text)) return null;
  const n = Number(text);
  return Number.isSafeInteger(n) && n <= max ? n : null;
}

export interface HttpAppHandle {
  readonly port: number;
  /** Requests answered so far. */
  readonly requests: number;
  /**
   * Stop listening; end idle connections, let busy ones finish for up to `graceMs`, then
   * destroy them (a /bytes/N of a terabyte would otherwise keep close() waiting for hours).
   */
  close(graceMs?: number): Promise<void>;
}

/** Serve the HTTP app on the stack's `port` (node:http over stack.net, src/api/http.ts). */
export async function startHttp(
  stack: NetStack,
  port: number = HTTP_PORT,
  options: HttpAppOptions = {},
): Promise<HttpAppHandle> {
  const handler = createHttpHandler({
    describeConnection: (socket) => connectionRow(stack, socket),
    ...options,
  });
  let requests = 0;
  const service = serveHttp(stack, port, (req, res) => {
    requests++;
    handler(req, res);
  });
  await service.ready;
  const sockets = new Set<StreamSocket>();
  service.http.on('connection', (s: StreamSocket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  return {
    port: service.address()?.port ?? port,
    get requests() {
      return requests;
    },
    close: async (graceMs = 1_000) => {
      const closed = service.close();
      // On the stack's clock, as every other timer of the stack and its apps.
      let timer: TimerHandle | undefined;
      const late = new Promise<void>((resolve) => {
        timer = stack.clock.setTimer(stack.clock.now() + graceMs, () => {
          for (const s of sockets) s.destroy();
          resolve();
        });
      });
      await Promise.race([closed, late]);
      timer?.cancel();
      await closed;
    },
  };
}

/** The row of stack.connections() for this socket's 4-tuple, if any. */
function connectionRow(
  stack: NetStack,
  socket: StreamSocket,
): Readonly<Record<string, unknown>> | undefined {
  const local = rowEndpoint(socket.localAddress, socket.localPort);
  const remote = rowEndpoint(socket.remoteAddress, socket.remotePort);
  const row = stack.connections().find((r) => r.local === local && r.remote === remote);
  return row === undefined ? undefined : { ...row };
}
