/**
 * The HTTP app's handler on Node's own http server over `stack.net` (serveHttp), with Node's http
 * client on another stack (StackAgent), over the simulated link in virtual time; and the byte pump
 * it streams with, on a sink whose writes complete only when the test says so. Every wait is for
 * an event; "nothing more happened" is an exact check after the clock (or the sink) moved on.
 */
import { createHash } from 'node:crypto';
import http from 'node:http';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { type HttpService, StackAgent, serveHttp } from '../../../src/api/http.ts';
import {
  createHttpHandler,
  type HttpAppOptions,
  parseCount,
  startHttp,
} from '../../../src/apps/http.ts';
import { countingChunk, pumpRepeated } from '../../../src/apps/pump.ts';
import type { VirtualClock } from '../../../src/stack/clock.ts';
import type { Stack } from '../../../src/stack/stack.ts';
import {
  advance,
  CLIENT,
  drainTasks,
  netPair,
  randomBytes,
  runFor,
  runUntil,
  SERVER,
} from '../../sim/fixture.ts';

interface Fixture {
  clock: VirtualClock;
  client: Stack;
  server: Stack;
  svc: HttpService;
  port: number;
  /** Node's http client, its connections made on the client stack (no keep-alive). */
  agent: StackAgent;
}

let current: Fixture | null = null;

async function serve(options: HttpAppOptions = {}): Promise<Fixture> {
  const { clock, client, server } = netPair();
  const svc = serveHttp(server, 0, createHttpHandler(options));
  await runFor(clock, svc.ready);
  const port = svc.address()?.port ?? 0;
  current = { clock, client, server, svc, port, agent: new StackAgent(client) };
  return current;
}

afterEach(async () => {
  const f = current;
  current = null;
  if (f === null) return;
  f.agent.destroy();
  await runFor(f.clock, f.svc.close());
  await f.client.close();
  await f.server.close();
});

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** One request through the client stack; resolves with the whole response. */
function request(f: Fixture, method: string, path: string, body?: Uint8Array[]): Promise<Reply> {
  const done = new Promise<Reply>((resolve, reject) => {
    const req = http.request(
      { host: SERVER, port: f.port, method, path, agent: f.agent },
      (res) => {
        const parts: Buffer[] = [];
        res.on('data', (d: Buffer) => parts.push(d));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(parts),
          }),
        );
      },
    );
    req.on('error', reject);
    for (const b of body ?? []) req.write(b);
    req.end();
  });
  return runFor(f.clock, done, 60_000);
}

describe('http app', () => {
  it('GET / names the stack and the connection, with its counters when known', async () => {
    const f = await serve({
      name: 'teststack',
      describeConnection: (s) => ({
        state: 'ESTABLISHED',
        local: `${s.localAddress}:${s.localPort}`,
        cwnd: 14480,
        srtt: null,
      }),
    });
    const r = await request(f, 'GET', '/');
    expect(r.status).toBe(200);
    const text = r.body.toString();
    expect(text).toMatch(/^teststack: /);
    expect(text).toMatch(new RegExp(`you are ${CLIENT}:\\d+, this is ${SERVER}:${f.port}\n`));
    expect(text).toContain('connection: state=ESTABLISHED cwnd=14480\n');
    expect(r.headers['content-length']).toBe(String(r.body.length));
  });

  it('GET / without connection details leaves that line out', async () => {
    const f = await serve();
    const r = await request(f, 'GET', '/?x=1');
    expect(r.status).toBe(200);
    expect(r.body.toString()).toMatch(/^tunstack: /);
    expect(r.body.toString()).not.toContain('connection:');
  });

  it('GET /bytes/N streams N bytes, byte k = k mod 256, across chunk boundaries', async () => {
    const f = await serve({ chunkSize: 1024 });
    for (const n of [0, 1, 255, 1024, 1025, 3 * 1024 * 1024 + 7]) {
      const r = await request(f, 'GET', `/bytes/${n}`);
      expect(r.status).toBe(200);
      expect(r.headers['content-length']).toBe(String(n));
      expect(r.body.length).toBe(n);
      let bad = -1;
      for (let k = 0; k < n && bad < 0; k++) if (r.body[k] !== (k & 0xff)) bad = k;
      expect(bad).toBe(-1);
    }
  });

  it('HEAD /bytes/N: the length, no body', async () => {
    const f = await serve();
    const r = await request(f, 'HEAD', '/bytes/1000000');
    expect(r.status).toBe(200);
    expect(r.headers['content-length']).toBe('1000000');
    expect(r.body.length).toBe(0);
  });

  it('bad N: 400', async () => {
    const f = await serve({ maxBytes: 1 << 30 });
    for (const bad of [
      '',
      '-1',
      'abc',
      '1e3',
      '0x10',
      '1.5',
      ' 1',
      String(2 ** 30 + 1),
      '9'.repeat(17),
    ]) {
      const r = await request(f, 'GET', `/bytes/${encodeURIComponent(bad)}`);
      expect(r.status, bad).toBe(400);
    }
    const max = await request(f, 'HEAD', `/bytes/${2 ** 30}`); // the bound itself is fine
    expect(max.status).toBe(200);
    expect(max.headers['content-length']).toBe(String(2 ** 30));
  });

  it('parseCount accepts exactly the decimal integers 0..max', () => {
    expect(parseCount('0', 10)).toBe(0);
    expect(parseCount('10', 10)).toBe(10);
    expect(parseCount('11', 10)).toBeNull();
    expect(parseCount('007', 10)).toBe(7);
    expect(parseCount(String(2 ** 40), 2 ** 40)).toBe(2 ** 40);
    for (const bad of ['', '+1', '-0', '1 ', '1_000', 'Infinity', 'NaN']) {
      expect(parseCount(bad, 1e9), bad).toBeNull();
    }
  });

  it('a client that hangs up mid-body stops the stream', async () => {
    const f = await serve();
    let got = 0;
    let hungUp = false;
    const req = http.get({ host: SERVER, port: f.port, path: `/bytes/${2 ** 40}`, agent: f.agent });
    req.on('response', (res) => {
      res.on('data', (d: Buffer) => {
        got += d.length;
        if (got >= 4 * 1024 * 1024 && !hungUp) {
          hungUp = true;
          req.destroy();
        }
      });
    });
    const errors: string[] = [];
    req.on('error', (e: NodeJS.ErrnoException) => errors.push(e.code ?? e.message));
    await runUntil(f.clock, () => hungUp, 60_000, '4 MiB of the body');
    expect(got).toBeGreaterThanOrEqual(4 * 1024 * 1024);
    // The server side lets go of the connection ...
    const connections = () =>
      new Promise<number>((r) => f.svc.server.getConnections((_e, n) => r(n)));
    await runUntil(
      f.clock,
      () => f.server.connections().length === 1,
      10_000,
      'the server to let go',
    );
    expect(f.server.connections().map((c) => c.state)).toEqual(['LISTEN']);
    expect(await connections()).toBe(0);
    // ... and sends nothing more, however long we wait.
    const sent = f.server.stats.link.txPackets;
    await advance(f.clock, 60_000);
    expect(f.server.stats.link.txPackets).toBe(sent);
    expect(errors.every((e) => e === 'ECONNRESET')).toBe(true);
    // The server is still fine afterwards.
    expect((await request(f, 'GET', '/bytes/10')).body.length).toBe(10);
  });

  it('POST /upload: length and SHA-256 of the body, streamed', async () => {
    const f = await serve();
    const parts = Array.from({ length: 40 }, (_, i) => randomBytes(64 * 1024 + i, i));
    const r = await request(f, 'POST', '/upload', parts);
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toMatch(/^application\/json/);
    const want = createHash('sha256');
    for (const p of parts) want.update(p);
    expect(JSON.parse(r.body.toString())).toEqual({
      length: parts.reduce((a, p) => a + p.length, 0),
      sha256: want.digest('hex'),
    });
    const empty = await request(f, 'POST', '/upload');
    expect(JSON.parse(empty.body.toString())).toEqual({
      length: 0,
      sha256: createHash('sha256').digest('hex'),
    });
  });

  it('404 for unknown paths, 405 with Allow for a known path and wrong method', async () => {
    const f = await serve();
    expect((await request(f, 'GET', '/nope')).status).toBe(404);
    expect((await request(f, 'GET', '/bytes')).status).toBe(404);
    const r = await request(f, 'GET', '/upload');
    expect(r.status).toBe(405);
    expect(r.headers.allow).toBe('POST, PUT');
    expect((await request(f, 'DELETE', '/')).headers.allow).toBe('GET, HEAD');
  });
});

describe('startHttp', () => {
  it('close() ends idle connections and gives a busy one graceMs on the stack clock, then destroys it', async () => {
    const { clock, client, server } = netPair();
    const app = await runFor(clock, startHttp(server, 0));
    // Two agents, so that the two requests take two connections.
    const agents = [new StackAgent(client, { keepAlive: true }), new StackAgent(client)];
    const get = (agent: StackAgent, path: string) =>
      new Promise<http.IncomingMessage>((resolve, reject) =>
        http.get({ host: SERVER, port: app.port, path, agent }, resolve).on('error', reject),
      );
    // An idle keep-alive connection, and a busy one streaming a terabyte.
    const idle = await runFor(clock, get(agents[0], '/bytes/10'));
    idle.resume();
    await runFor(clock, new Promise((r) => idle.once('end', r)));
    const busy = await runFor(clock, get(agents[1], `/bytes/${2 ** 40}`));
    let got = 0;
    let aborted = false;
    busy.on('data', (d: Buffer) => {
      got += d.length;
    });
    busy.on('aborted', () => {
      aborted = true;
    });
    busy.on('error', () => {});
    await runUntil(clock, () => got >= 1024 * 1024, 60_000, 'a megabyte');
    expect(server.connections().filter((c) => c.state === 'ESTABLISHED')).toHaveLength(2);
    const t0 = clock.now();
    let closedAt = -1;
    const closing = app.close(200).then(() => {
      closedAt = clock.now();
    });
    // The idle one goes at once; the busy one keeps streaming until the grace time is up.
    await advance(clock, 199);
    expect(closedAt).toBe(-1);
    expect(server.connections().filter((c) => c.state === 'ESTABLISHED')).toHaveLength(1);
    const before = got;
    await runFor(clock, closing);
    expect(closedAt).toBe(t0 + 200);
    expect(got).toBeGreaterThan(before);
    await runUntil(clock, () => aborted, 10_000, 'the client to see the abort');
    // No listener, the busy connection reset; the idle one, which the server ended, in TIME_WAIT.
    expect(server.connections().map((c) => c.state)).toEqual(['TIME_WAIT']);
    for (const a of agents) a.destroy();
    await client.close();
    await server.close();
  });
});

/**
 * A Writable whose writes complete only when the test calls release(): what the pump does while
 * it waits, and after, is then exact rather than a matter of how long a test sleeps.
 */
class HeldSink extends Writable {
  readonly writes: number[] = [];
  readonly #held: ((err?: Error) => void)[] = [];
  constructor() {
    super({ highWaterMark: 4096 });
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error) => void): void {
    this.writes.push(chunk.length);
    this.#held.push(cb);
  }
  /** Complete the writes held so far, and let the stream's events ('drain') run. */
  async release(): Promise<void> {
    for (const cb of this.#held.splice(0)) cb();
    await drainTasks();
  }
}

describe('pumpRepeated', () => {
  it('writes exactly total bytes from the reused chunk, waiting for drain', async () => {
    const sink = new HeldSink();
    let done = false;
    pumpRepeated(sink, countingChunk(1024), 10 * 1024 + 5, () => {
      done = true;
    });
    // Up to the high-water mark (4 KiB), then it waits for 'drain', however long that takes.
    await drainTasks();
    expect(sink.writableLength).toBe(4096);
    expect(sink.listenerCount('drain')).toBe(1);
    expect(done).toBe(false);
    for (let i = 0; i < 100 && !done; i++) await sink.release();
    expect(done).toBe(true);
    const finished = new Promise((r) => sink.once('finish', r));
    sink.end();
    for (let i = 0; i < 100 && sink.writableLength > 0; i++) await sink.release();
    await finished;
    expect(sink.writes.reduce((a, b) => a + b, 0)).toBe(10 * 1024 + 5);
    expect(sink.writes.at(-1)).toBe(5);
    expect(sink.listenerCount('drain')).toBe(0);
  });

  it('stops when the stream is destroyed, and calls nothing after', async () => {
    const sink = new HeldSink();
    let done = false;
    let written = 0;
    pumpRepeated(
      sink,
      countingChunk(1024),
      Number.POSITIVE_INFINITY,
      () => {
        done = true;
      },
      (n) => {
        written += n;
      },
    );
    expect(written).toBe(4096);
    // Writes complete one by one; once all four have, 'drain' comes and the pump tops up.
    for (let i = 0; i < 4; i++) await sink.release();
    const at = written;
    expect(at).toBe(8192);
    sink.destroy();
    await sink.release(); // a write the sink still held completes after the destroy
    await drainTasks();
    expect(written).toBe(at);
    expect(done).toBe(false);
    expect(sink.listenerCount('drain')).toBe(0);
  });

  it('writes nothing to a stream already ended or destroyed, and never says done', async () => {
    for (const stop of ['end', 'destroy'] as const) {
      const sink = new HeldSink();
      sink[stop]();
      let done = false;
      let written = 0;
      pumpRepeated(
        sink,
        countingChunk(256),
        1024,
        () => {
          done = true;
        },
        (n) => {
          written += n;
        },
      );
      await drainTasks();
      expect({ stop, written, done, writes: sink.writes }).toEqual({
        stop,
        written: 0,
        done: false,
        writes: [],
      });
    }
  });
});
