/**
 * The styles demo (src/apps/styles) in virtual time: a client stack speaks raw HTTP and
 * WebSocket bytes to the demo on a server stack over the simulated link. Covers what a browser
 * cannot show exactly: the event hub's ring, long-poll holding and timing out, SSE resume from
 * Last-Event-ID, keep-alive limits on the stack's clock, WebSocket close codes for bad frames,
 * a reader that stops reading being dropped (bounded), and the per-style TCP totals equal to
 * the client's own counts of the same connection.
 */
import { describe, expect, it } from 'vitest';
import type { Socket } from '../../src/api/net.ts';
import { MAX_PUBLISH_BYTES } from '../../src/apps/styles/events.ts';
import { type StylesHandle, type StylesOptions, startStyles } from '../../src/apps/styles/index.ts';
import { type AppFixture, advance, runUntil, SERVER, servedApps } from './fixture.ts';

type Fixture = AppFixture<StylesHandle>;
const serveApp = servedApps<StylesHandle>();

async function demo(options: StylesOptions = {}): Promise<Fixture> {
  return serveApp((server) => startStyles(server, { tickMs: 0, ...options }));
}

/** A raw client connection: what arrived, and how it ended. */
function connect(f: Fixture, port: number) {
  const socket = f.client.net.connect(port, SERVER);
  const got = { bytes: Buffer.alloc(0), ended: false, closed: false, error: null as string | null };
  socket.on('data', (d: Buffer) => {
    got.bytes = Buffer.concat([got.bytes, d]);
  });
  socket.on('end', () => {
    got.ended = true;
  });
  socket.on('error', (e: NodeJS.ErrnoException) => {
    got.error = e.code ?? 'error';
  });
  socket.on('close', () => {
    got.closed = true;
  });
  const text = () => got.bytes.toString('latin1');
  return { socket, got, text };
}

const get = (path: string, headers = '') => `GET ${path} HTTP/1.1\r\nHost: demo\r\n${headers}\r\n`;

/** The JSON bodies of complete HTTP responses in `text`, in order. */
function bodies(text: string): unknown[] {
  const out: unknown[] = [];
  for (const part of text.split('HTTP/1.1 ').slice(1)) {
    const body = part.slice(part.indexOf('\r\n\r\n') + 4).trim();
    if (body.startsWith('{')) out.push(JSON.parse(body));
  }
  return out;
}

/**
 * Stop reading on `socket` and publish 1 KB events until the app drops the client. The events
 * it took are bounded by the client's receive buffer + our send buffer + maxBuffered (256 + 256
 * + 16 KiB here) and some slack, not by the number published.
 */
async function stallUntilDropped(f: Fixture, socket: Socket): Promise<void> {
  socket.pause(); // from here on the client's window fills and closes
  const kb = 'x'.repeat(1000);
  let published = 0;
  while (f.app.stats.slowDropped === 0 && published < 5_000) {
    f.app.hub.publish(kb);
    published++;
    if (published % 16 === 0) await advance(f.clock, 10);
  }
  expect(f.app.stats.slowDropped).toBe(1);
  expect(published * 1_060).toBeLessThan((256 + 256 + 16 + 64) * 1024);
}

describe('styles demo: polling and SSE', () => {
  it('the hub keeps a bounded ring; since() says when a client fell behind', async () => {
    const f = await demo({ ringSize: 4 });
    for (let i = 1; i <= 6; i++) f.app.hub.publish(`m${i}`);
    expect(f.app.hub.since(4).events.map((e) => e.id)).toEqual([5, 6]);
    expect(f.app.hub.since(4).missed).toBe(false);
    expect(f.app.hub.since(1)).toMatchObject({ missed: true });
    expect(f.app.hub.since(1).events.map((e) => e.id)).toEqual([3, 4, 5, 6]);
    expect(f.app.hub.since(6)).toEqual({ events: [], missed: false });
    // Cut to MAX_PUBLISH_BYTES of UTF-8 on a character boundary: 'a' then 2-byte characters,
    // so the limit falls inside one and the whole character goes.
    const long = f.app.hub.publish(`a${'é'.repeat(MAX_PUBLISH_BYTES)}`);
    expect(Buffer.byteLength(long.data)).toBe(MAX_PUBLISH_BYTES - 1);
    expect(long.data).toBe(`a${'é'.repeat(MAX_PUBLISH_BYTES / 2 - 1)}`);
  });

  it('the ticker runs only while someone asks, on the stack clock', async () => {
    const f = await demo({ tickMs: 500, idleMs: 2_000 });
    await advance(f.clock, 3_000);
    expect(f.app.hub.lastId).toBe(0); // nobody asked yet
    const c = connect(f, f.app.ports.short);
    c.socket.write(get('/poll'));
    await advance(f.clock, 1_100);
    expect(f.app.hub.lastId).toBe(2); // ticks 500 and 1000 ms after the request arrived
    await advance(f.clock, 5_000);
    const last = f.app.hub.lastId;
    expect(last).toBeLessThanOrEqual(5); // stopped 2 s after the request
    await advance(f.clock, 5_000);
    expect(f.app.hub.lastId).toBe(last);
  });

  it('the ticker goes on while an SSE stream is connected, and stops when it goes', async () => {
    const f = await demo({ tickMs: 500, idleMs: 2_000 });
    const c = connect(f, f.app.ports.sse);
    c.socket.write(get('/sse'));
    await advance(f.clock, 10_000);
    expect(f.app.hub.lastId).toBeGreaterThanOrEqual(19);
    expect(c.text().match(/^id: /gm)?.length).toBe(f.app.hub.lastId);
    c.socket.destroy();
    await advance(f.clock, 3_000);
    const last = f.app.hub.lastId;
    await advance(f.clock, 5_000);
    expect(f.app.hub.lastId).toBe(last);
  });

  it('a long poll is held until the next event, and answered empty after longPollMs', async () => {
    const f = await demo({ longPollMs: 3_000 });
    const c = connect(f, f.app.ports.long);
    c.socket.write(get('/longpoll?after=0'));
    await advance(f.clock, 1_000);
    expect(c.text()).toBe(''); // held
    f.app.hub.publish('news');
    await runUntil(f.clock, () => bodies(c.text()).length === 1);
    expect(bodies(c.text())[0]).toMatchObject({ events: [{ id: 1, data: 'news' }], lastId: 1 });

    const started = f.clock.now();
    c.socket.write(get('/longpoll?after=1'));
    await runUntil(f.clock, () => bodies(c.text()).length === 2);
    expect(f.clock.now() - started).toBeGreaterThanOrEqual(3_000);
    expect(f.clock.now() - started).toBeLessThan(3_100);
    expect(bodies(c.text())[1]).toMatchObject({ events: [], lastId: 1 });
    // A client that asks for events already there gets them at once.
    f.app.hub.publish('later');
    c.socket.write(get('/longpoll?after=0'));
    await runUntil(f.clock, () => bodies(c.text()).length === 3);
    expect(bodies(c.text())[2]).toMatchObject({ events: [{ id: 1 }, { id: 2 }] });
  });

  it('SSE: retry:, id: per event, and Last-Event-ID replays what was missed', async () => {
    const f = await demo({ sseRetryMs: 750 });
    for (let i = 1; i <= 5; i++) f.app.hub.publish(`e${i}`);
    const c = connect(f, f.app.ports.sse);
    c.socket.write(get('/sse', 'Last-Event-ID: 2\r\n'));
    await runUntil(f.clock, () => c.text().includes('id: 5\n'));
    f.app.hub.publish('live');
    await runUntil(f.clock, () => c.text().includes('id: 6\n'));
    const t = c.text();
    expect(t).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(t).toMatch(/\r\nContent-Type: text\/event-stream; charset=utf-8\r\n/);
    expect(t).toContain('retry: 750\n');
    expect(t).toContain('event: resume\ndata: {"from":2,"replayed":3,"missed":false}\n\n');
    expect([...t.matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1]))).toEqual([3, 4, 5, 6]);
    expect(f.app.stats).toMatchObject({ sseResumes: 1, sseLastResumeFrom: 2, sseReplayed: 3 });
  });

  it('a reader that stops reading is reset once maxBuffered bytes wait, and nothing is left', async () => {
    const f = await demo({ maxBuffered: 16 * 1024 });
    const c = connect(f, f.app.ports.sse);
    c.socket.write(get('/sse'));
    await runUntil(f.clock, () => c.text().includes('retry:'));
    await stallUntilDropped(f, c.socket);
    await runUntil(f.clock, () => c.got.closed, 10_000, 'client closed');
    expect(c.got.error).toBe('ECONNRESET');
    const left = f.server.connections().filter((r) => r.local.endsWith(`:${f.app.ports.sse}`));
    expect(left.map((r) => r.state)).toEqual(['LISTEN']);
  });
});

describe('styles demo: keep-alive limits on the stack clock', () => {
  it('max requests: the last answer says Connection: close and the server sends FIN at once', async () => {
    const f = await demo({ keepAliveMax: 3 });
    const c = connect(f, f.app.ports.keepalive);
    for (let i = 0; i < 3; i++) {
      c.socket.write(get('/ka'));
      await runUntil(f.clock, () => bodies(c.text()).length === i + 1);
    }
    const started = f.clock.now();
    await runUntil(f.clock, () => c.got.ended, 10_000, 'server FIN');
    expect(f.clock.now() - started).toBeLessThan(100);
    expect(bodies(c.text()).map((b) => (b as { n: number }).n)).toEqual([1, 2, 3]);
    expect(c.text().match(/Keep-Alive: timeout=5, max=3\r\n/g)).toHaveLength(2);
    expect(c.text().match(/Connection: close\r\n/g)).toHaveLength(1);
    expect(c.got.error).toBeNull();
  });

  it('idle timeout: the server ends an idle connection (FIN, no RST) after keepAliveTimeout', async () => {
    const f = await demo();
    const c = connect(f, f.app.ports.keepalive);
    c.socket.write(get('/ka'));
    await runUntil(f.clock, () => bodies(c.text()).length === 1);
    const answered = f.clock.now();
    await runUntil(f.clock, () => c.got.ended, 20_000, 'server FIN');
    const idle = f.clock.now() - answered;
    // Node arms its timer for keepAliveTimeout plus a grace second (keepAliveTimeoutBuffer).
    expect(idle).toBeGreaterThanOrEqual(5_000);
    expect(idle).toBeLessThanOrEqual(6_100);
    expect(c.got.error).toBeNull();
    // We closed first: our end goes to TIME_WAIT once the peer's FIN and ACK are in.
    const ours = () =>
      f.server.connections().find((r) => r.local.endsWith(':8081') && r.state !== 'LISTEN');
    await runUntil(f.clock, () => ours()?.state === 'TIME_WAIT', 5_000, 'TIME_WAIT');
  });
});

describe('styles demo: WebSocket', () => {
  const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
  const upgrade = `GET /ws HTTP/1.1\r\nHost: demo\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${KEY}\r\n\r\n`;

  /** A masked client frame (RFC 6455 §5.2): FIN + opcode, the mask, the masked payload. */
  function frame(opcode: number, payload: Uint8Array, lengthOverride?: number): Buffer {
    const len = lengthOverride ?? payload.length;
    const mask = [1, 2, 3, 4];
    const head =
      len < 126 ? [0x80 | opcode, 0x80 | len] : [0x80 | opcode, 0x80 | 126, len >> 8, len & 0xff];
    const body = Buffer.from(payload.map((b, i) => b ^ mask[i % 4]));
    return Buffer.concat([Buffer.from(head), Buffer.from(mask), body]);
  }

  /** The server's frames after the 101 response: opcode and payload. */
  function serverFrames(bytes: Buffer): { opcode: number; payload: Buffer }[] {
    let at = bytes.indexOf('\r\n\r\n') + 4;
    const out: { opcode: number; payload: Buffer }[] = [];
    while (at + 2 <= bytes.length) {
      let len = bytes[at + 1] & 0x7f;
      let off = at + 2;
      if (len === 126) {
        len = bytes.readUInt16BE(at + 2);
        off += 2;
      }
      if (off + len > bytes.length) break;
      out.push({ opcode: bytes[at] & 0x0f, payload: bytes.subarray(off, off + len) });
      at = off + len;
    }
    return out;
  }

  async function opened(f: Fixture) {
    const c = connect(f, f.app.ports.ws);
    c.socket.write(upgrade);
    await runUntil(f.clock, () => serverFrames(c.got.bytes).length >= 1, 10_000, 'hello');
    expect(c.text()).toMatch(/^HTTP\/1\.1 101 Switching Protocols\r\n/);
    // RFC 6455 §1.3's own example key and accept value.
    expect(c.text()).toContain('Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n');
    return c;
  }

  /** The close code the server sent, once the TCP connection is over. */
  async function closeCode(f: Fixture, c: Awaited<ReturnType<typeof opened>>): Promise<number> {
    await runUntil(f.clock, () => c.got.closed, 10_000, 'connection closed');
    const close = serverFrames(c.got.bytes).find((x) => x.opcode === 8);
    expect(close, 'a close frame').toBeDefined();
    return close!.payload.readUInt16BE(0);
  }

  it('echoes, publishes to everyone, and closes cleanly with 1000', async () => {
    const f = await demo();
    const c = await opened(f);
    c.socket.write(frame(1, Buffer.from('{"text":"hi"}')));
    f.app.hub.publish('to all');
    c.socket.write(frame(1, Buffer.from('{"op":"publish","data":"from ws"}')));
    await runUntil(f.clock, () => serverFrames(c.got.bytes).length >= 4);
    const texts = serverFrames(c.got.bytes).map((x) => JSON.parse(String(x.payload)));
    expect(texts[0]).toMatchObject({ type: 'hello', lastId: 0 });
    // The published event goes out at once; the echo waits for the client's frame to arrive.
    expect(texts.slice(1)).toMatchObject([
      { type: 'event', event: { id: 1, data: 'to all' } },
      { type: 'echo', data: '{"text":"hi"}' },
      { type: 'event', event: { id: 2, data: 'from ws' } },
    ]);
    c.socket.write(frame(8, Buffer.from([0x03, 0xe8])));
    expect(await closeCode(f, c)).toBe(1000);
    expect(c.got.error).toBeNull();
    await runUntil(f.clock, () => f.app.stats.wsCloseCodes[1000] === 1, 1_000, "ws 'close'");
    expect(f.app.stats.wsCloseCodes).toEqual({ 1000: 1 });
  });

  it('an unmasked client frame: close 1002 (RFC 6455 §5.1)', async () => {
    const f = await demo();
    const c = await opened(f);
    c.socket.write(Buffer.from([0x81, 0x02, 0x68, 0x69]));
    expect(await closeCode(f, c)).toBe(1002);
  });

  it('text that is not UTF-8: close 1007 (RFC 6455 §8.1)', async () => {
    const f = await demo();
    const c = await opened(f);
    c.socket.write(frame(1, Buffer.from([0xff, 0xfe, 0xfd])));
    expect(await closeCode(f, c)).toBe(1007);
  });

  it('a message over maxMessage: close 1009', async () => {
    const f = await demo({ maxMessage: 1024 });
    const c = await opened(f);
    c.socket.write(frame(1, Buffer.alloc(2000, 0x61)));
    expect(await closeCode(f, c)).toBe(1009);
  });

  it('a client that stops reading is terminated once maxBuffered bytes wait', async () => {
    const f = await demo({ maxBuffered: 16 * 1024 });
    const c = await opened(f);
    await stallUntilDropped(f, c.socket);
    await runUntil(f.clock, () => c.got.closed, 10_000, 'client closed');
    const left = f.server.connections().filter((r) => r.local.endsWith(`:${f.app.ports.ws}`));
    expect(left.map((r) => r.state)).toEqual(['LISTEN']);
  });

  it('a client that never answers pings is dropped after two heartbeats', async () => {
    const f = await demo({ heartbeatMs: 1_000 });
    const c = await opened(f);
    await runUntil(f.clock, () => c.got.closed, 5_000, 'dropped');
    expect(f.app.stats.wsPingTimeouts).toBe(1);
    expect(serverFrames(c.got.bytes).filter((x) => x.opcode === 9).length).toBeGreaterThanOrEqual(
      1,
    );
  });
});

describe('styles demo: per-style TCP totals', () => {
  /** One short poll on its own connection, closed by the client; both ends' final rows. */
  async function onePoll(f: Fixture) {
    const c = connect(f, f.app.ports.short);
    c.socket.write(get('/poll?after=0'));
    await runUntil(f.clock, () => bodies(c.text()).length === 1);
    c.socket.end();
    // Our side: CLOSE_WAIT, LAST_ACK, then gone from the table: only its final row counts.
    await runUntil(
      f.clock,
      () => f.app.totals().short.open === 0 && c.got.closed,
      10_000,
      'connection gone',
    );
    const mine = f.client.connections().find((r) => r.remote === `${SERVER}:${f.app.ports.short}`);
    expect(mine?.state).toBe('TIME_WAIT');
    return { mine: mine!, totals: f.app.totals().short };
  }

  it("equal the client's own counts of the same connection, after it has closed", async () => {
    const f = await demo();
    const { mine, totals } = await onePoll(f);
    expect(totals).toMatchObject({
      connections: 1,
      open: 0,
      segsOut: mine.segsReceived,
      bytesIn: mine.bytesSent,
      bytesOut: mine.bytesReceived,
      retransmits: 0,
    });
    expect(totals.gone).toEqual([
      { remote: mine.local, state: 'CLOSED', segsIn: totals.segsIn, segsOut: mine.segsReceived },
    ]);
    expect(f.app.totals().long.connections).toBe(0);
  });

  it('segments in: counts the SYN of a passive open too', async () => {
    const f = await demo();
    const { mine, totals } = await onePoll(f);
    expect(totals.segsIn).toBe(mine.segsSent);
  });

  it('drop(style) resets that style only', async () => {
    const f = await demo();
    const a = connect(f, f.app.ports.sse);
    const b = connect(f, f.app.ports.long);
    a.socket.write(get('/sse'));
    b.socket.write(get('/longpoll'));
    await runUntil(f.clock, () => a.text().includes('retry:'));
    expect(f.app.drop('sse')).toBe(1);
    await runUntil(f.clock, () => a.got.closed);
    expect(a.got.error).toBe('ECONNRESET');
    expect(b.got.closed).toBe(false);
    (b.socket as Socket).destroy();
  });
});
