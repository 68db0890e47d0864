/**
 * Full duplex, shown by the stack itself (the seed's question: what do full and half duplex
 * mean?). Two runs on the lessons harness (src/apps/lessons/sim.ts), captured at the server:
 *
 * - `echoDuplex`: a client writes a chunk every few milliseconds while reading the echo service's
 *   answers. Both byte streams flow at the same time on one connection, and each data segment
 *   carries the ACK for the other direction's data (piggybacking: every segment after the SYN
 *   carries the ACK field, RFC 9293 §3.10.7.4), so few pure ACKs are needed.
 * - `httpExchange`: one HTTP/1.1 request and its response on the HTTP app (node:http over the
 *   stack). TCP is just as full-duplex here, but the protocol takes turns: the client talks, then
 *   the server; the data changes direction once.
 *
 * `duplexStats` counts what to look for in the two captures.
 */

import type { Socket } from '../../api/net.ts';
import { seqGt } from '../../tcp/seq.ts';
import { startEcho } from '../echo.ts';
import { startHttp } from '../http.ts';
import { type CapturedSegment, Lesson, type LessonOptions, SERVER_ADDR } from './sim.ts';

export const ECHO_LESSON_PORT = 7;
export const HTTP_LESSON_PORT = 80;

export interface DuplexStats {
  /** Segments with payload: to the server ('in') and from it ('out'). */
  dataIn: number;
  dataOut: number;
  /** Data segments that also acknowledged new data from the other side (piggybacked ACKs). */
  piggybackedIn: number;
  piggybackedOut: number;
  /** Segments with no payload, no SYN/FIN/RST: acknowledgments alone. */
  pureAcksIn: number;
  pureAcksOut: number;
  /** How often the direction of data changed, from one data segment to the next. */
  turns: number;
  bytesIn: number;
  bytesOut: number;
}

/** Count data, piggybacked ACKs, pure ACKs and turns among one connection's segments. */
export function duplexStats(segs: readonly CapturedSegment[]): DuplexStats {
  const s: DuplexStats = {
    dataIn: 0,
    dataOut: 0,
    piggybackedIn: 0,
    piggybackedOut: 0,
    pureAcksIn: 0,
    pureAcksOut: 0,
    turns: 0,
    bytesIn: 0,
    bytesOut: 0,
  };
  // The highest ACK each side has sent so far: a segment whose ACK is above it acknowledges new data.
  const lastAck: Record<'in' | 'out', number | null> = { in: null, out: null };
  let lastDataDir: 'in' | 'out' | null = null;
  for (const seg of segs) {
    const t = seg.tcp;
    const prev = lastAck[seg.dir];
    const newAck = t.ack !== null && prev !== null && seqGt(t.ack, prev);
    if (t.ack !== null && (prev === null || seqGt(t.ack, prev))) lastAck[seg.dir] = t.ack;
    if (t.payload.length > 0) {
      if (seg.dir === 'in') {
        s.dataIn++;
        s.bytesIn += t.payload.length;
        if (newAck) s.piggybackedIn++;
      } else {
        s.dataOut++;
        s.bytesOut += t.payload.length;
        if (newAck) s.piggybackedOut++;
      }
      if (lastDataDir !== null && lastDataDir !== seg.dir) s.turns++;
      lastDataDir = seg.dir;
    } else if (t.control === 'none' && t.ack !== null) {
      if (seg.dir === 'in') s.pureAcksIn++;
      else s.pureAcksOut++;
    }
  }
  return s;
}

export interface DuplexRun {
  segments: CapturedSegment[];
  stats: DuplexStats;
  /** Bytes the client wrote, and got back (echo) or received (HTTP). */
  sent: number;
  received: number;
}

/** Count what a client socket reads, and note when it closes. */
function watch(sock: Socket): { received: number; closed: boolean } {
  const seen = { received: 0, closed: false };
  sock.on('data', (d: Buffer) => {
    seen.received += d.length;
  });
  sock.on('close', () => {
    seen.closed = true;
  });
  return seen;
}

export interface EchoDuplexOptions extends LessonOptions {
  /** Chunks the client writes (default 12), `chunkBytes` each (default 600), every `everyMs` (2). */
  chunks?: number;
  chunkBytes?: number;
  everyMs?: number;
}

/** The client streams to the echo service while reading what comes back. */
export async function echoDuplex(o: EchoDuplexOptions = {}): Promise<DuplexRun> {
  const lesson = new Lesson({ delayMs: 5, ...o });
  const chunks = o.chunks ?? 12;
  const chunkBytes = o.chunkBytes ?? 600;
  const everyMs = o.everyMs ?? 2;
  const echo = await startEcho(lesson.server.net, ECHO_LESSON_PORT);
  const sock = lesson.client.net.connect({ port: ECHO_LESSON_PORT, host: SERVER_ADDR });
  sock.setNoDelay(true); // each write its own segment, as an interactive client's would be
  const seen = watch(sock);
  let connected = false;
  sock.on('connect', () => {
    connected = true;
  });
  await lesson.until(() => connected, 10_000, 'echo connect');
  // Write on the virtual clock: chunk k at k × everyMs after the handshake.
  let written = 0;
  const start = lesson.clock.now();
  for (let k = 0; k < chunks; k++) {
    lesson.clock.setTimer(start + k * everyMs, () => {
      sock.write(Buffer.alloc(chunkBytes, 0x61 + (k % 26)));
      written += chunkBytes;
      if (k === chunks - 1) sock.end();
    });
  }
  await lesson.until(() => seen.closed, 60_000, 'echo close');
  await lesson.advance(2 * (o.delayMs ?? 5));
  const segments = lesson.segments();
  await echo.close();
  await lesson.close();
  return { segments, stats: duplexStats(segments), sent: written, received: seen.received };
}

export interface HttpExchangeOptions extends LessonOptions {
  /** The response body's size: GET /bytes/N (default 4000). */
  bodyBytes?: number;
}

/** One request and its response on the stack's HTTP app, `Connection: close`. */
export async function httpExchange(o: HttpExchangeOptions = {}): Promise<DuplexRun> {
  const lesson = new Lesson({ delayMs: 5, ...o });
  const body = o.bodyBytes ?? 4000;
  const http = await startHttp(lesson.server, HTTP_LESSON_PORT);
  const sock = lesson.client.net.connect({ port: HTTP_LESSON_PORT, host: SERVER_ADDR });
  const request = `GET /bytes/${body} HTTP/1.1\r\nHost: ${SERVER_ADDR}\r\nConnection: close\r\n\r\n`;
  const seen = watch(sock);
  sock.write(request);
  await lesson.until(() => seen.closed, 60_000, 'http exchange');
  await lesson.advance(2 * (o.delayMs ?? 5));
  const segments = lesson.segments();
  await http.close(0);
  await lesson.close();
  return { segments, stats: duplexStats(segments), sent: request.length, received: seen.received };
}
