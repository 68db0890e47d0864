/**
 * The control socket of a running `tunstack up`: a UNIX stream socket at
 * /run/tunstack/<netns>.sock (root-only directory), through which other local commands ask the
 * stack questions — `tunstack ss` asks for the connection table. Nothing here touches the
 * network: a UNIX socket is a file on this machine.
 *
 * Protocol, one question per connection: the client sends a command name and '\n'; the server
 * answers one line of JSON — `{"ok":true,"result":...}` or `{"ok":false,"error":"..."}` — and
 * closes. Bounded: a request longer than MAX_REQUEST bytes or slower than REQUEST_TIMEOUT_MS is
 * dropped.
 *
 * A socket file left by a crashed stack is stale: connecting to it is refused, so startup removes
 * it. One that answers belongs to a live stack for the same namespace; we leave it alone and run
 * without a control socket (a warning says so).
 */
import { mkdir, unlink } from 'node:fs/promises';
import * as net from 'node:net';
import { checkNetnsName } from '../link/netns.ts';
import type { Logger } from './logger.ts';

export const CONTROL_DIR = '/run/tunstack';
const MAX_REQUEST = 256;
const REQUEST_TIMEOUT_MS = 2_000;
/** The largest answer a client accepts (the table of 16 384 connections is about 3 MB). */
const MAX_ANSWER = 64 * 1024 * 1024;

/** Commands the server answers: name → the JSON-serialisable answer. */
export type ControlHandlers = Readonly<Record<string, () => unknown>>;

export interface ControlServer {
  readonly path: string;
  close(): Promise<void>;
}

/** The socket path for namespace `netns` (a plain name, as `ip netns` takes: no '/', no '..'). */
export function controlPath(netns: string, dir: string = CONTROL_DIR): string {
  checkNetnsName(netns);
  return `${dir}/${netns}.sock`;
}

/**
 * Listen on `path` and answer `handlers`. Resolves null (after a warning) when a live stack
 * already answers there; otherwise the server, whose close() also removes the file.
 */
export async function serveControl(
  path: string,
  handlers: ControlHandlers,
  logger: Logger,
): Promise<ControlServer | null> {
  await mkdir(path.slice(0, path.lastIndexOf('/')), { recursive: true, mode: 0o700 });
  if (await answers(path)) {
    logger.warn({ path }, 'another tunstack answers on this control socket; running without one');
    return null;
  }
  await unlink(path).catch(() => {}); // stale, or absent
  const server = net.createServer((socket) => answer(socket, handlers, logger));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (err) => logger.warn({ err, path }, 'control socket'));
  return {
    path,
    close: async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await unlink(path).catch(() => {});
    },
  };
}

function answer(socket: net.Socket, handlers: ControlHandlers, logger: Logger): void {
  let request = '';
  socket.setEncoding('utf8');
  socket.setTimeout(REQUEST_TIMEOUT_MS, () => socket.destroy());
  socket.on('error', () => {}); // a client that went away
  socket.on('data', (text: string) => {
    request += text;
    const nl = request.indexOf('\n');
    if (nl < 0) {
      if (request.length > MAX_REQUEST) socket.destroy();
      return;
    }
    socket.removeAllListeners('data');
    const cmd = request.slice(0, nl).trim();
    let reply: unknown;
    if (!Object.hasOwn(handlers, cmd)) {
      reply = { ok: false, error: `unknown command ${JSON.stringify(cmd.slice(0, 40))}` };
    } else {
      try {
        reply = { ok: true, result: handlers[cmd]() };
      } catch (err) {
        logger.warn({ err, cmd }, 'control command failed');
        reply = { ok: false, error: (err as Error).message };
      }
    }
    socket.end(`${JSON.stringify(reply)}\n`);
  });
}

/** Does something accept connections on `path`? */
function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(path, () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', () => resolve(false));
  });
}

/**
 * Ask the stack listening on `path`: send `cmd`, return the result. Errors are Node-shaped:
 * ENOENT / ECONNREFUSED (no stack running there, with a message saying so), ETIMEDOUT.
 */
export function queryControl(path: string, cmd: string, timeoutMs = 5_000): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let size = 0;
    const s = net.connect(path, () => s.end(`${cmd}\n`));
    s.setTimeout(timeoutMs, () => {
      s.destroy();
      reject(
        Object.assign(new Error(`${path}: no answer in ${timeoutMs} ms`), { code: 'ETIMEDOUT' }),
      );
    });
    s.on('data', (d: Buffer) => {
      size += d.length;
      if (size > MAX_ANSWER) {
        s.destroy();
        reject(new Error(`${path}: answer larger than ${MAX_ANSWER} bytes`));
        return;
      }
      parts.push(d);
    });
    s.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED') {
        err.message = `no tunstack is running there (${path}: ${err.code})`;
      }
      reject(err);
    });
    s.on('end', () => {
      let reply: { ok?: boolean; result?: unknown; error?: string };
      try {
        reply = JSON.parse(Buffer.concat(parts).toString('utf8'));
      } catch {
        reject(new Error(`${path}: malformed answer`));
        return;
      }
      if (reply.ok === true) resolve(reply.result);
      else reject(new Error(`${path}: ${reply.error ?? 'failed'}`));
    });
  });
}
