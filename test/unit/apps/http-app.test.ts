/**
 * The HTTP app's handler on Node's own http server over 127.0.0.1, and the byte pump it streams
 * with.
 */
import { createHash, randomBytes } from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { createHttpHandler, type HttpAppOptions, parseCount } from '../../../src/apps/http.ts';
import { countingChunk, pumpRepeated } from '../../../src/apps/pump.ts';

const servers: http.Server[] = [];

afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

async function serve(options: HttpAppOptions = {}): Promise<number> {
  const server = http.createServer(createHttpHandler(options));
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as AddressInfo).port;
}

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

function request(port: number, method: string, path: string, body?: Uint8Array[]): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path, agent: false }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (d: Buffer) => parts.push(d));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts) }),
      );
    });
    req.on('error', reject);
    for (const b of body ?? []) req.write(b);
    req.end();
  });
}

describe('http app', () => {
  it('GET / names the stack and the connection, with its counters when known', async () => {
    const port = await serve({
      name: 'teststack',
      describeConnection: (s) => ({
        state: 'ESTABLISHED',
        local: `${s.localAddress}:${s.localPort}`,
        cwnd: 14480,
        srtt: null,
      }),
    });
    const r = await request(port, 'GET', '/');
    expect(r.status).toBe(200);
    const text = r.body.toString();
    expect(text).toMatch(/^teststack: /);
    expect(text).toMatch(
      new RegExp(`you are 127\\.0\\.0\\.1:\\d+, this is 127\\.0\\.0\\.1:${port}`),
    );
    expect(text).toContain('connection: state=ESTABLISHED cwnd=14480\n');
    expect(r.headers['content-length']).toBe(String(r.body.length));
  });

  it('GET / without connection details leaves that line out', async () => {
    const port = await serve();
    const r = await request(port, 'GET', '/?x=1');
    expect(r.status).toBe(200);
    expect(r.body.toString()).not.toContain('connection:');
  });

  it('GET /bytes/N streams N bytes, byte k = k mod 256, across chunk boundaries', async () => {
    const port = await serve({ chunkSize: 1024 });
    for (const n of [0, 1, 255, 1024, 1025, 3 * 1024 * 1024 + 7]) {
      const r = await request(port, 'GET', `/bytes/${n}`);
      expect(r.status).toBe(200);
      expect(r.headers['content-length']).toBe(String(n));
      expect(r.body.length).toBe(n);
      let bad = -1;
      for (let k = 0; k < n && bad < 0; k++) if (r.body[k] !== (k & 0xff)) bad = k;
      expect(bad).toBe(-1);
    }
  });

  it('HEAD /bytes/N: the length, no body', async () => {
    const port = await serve();
    const r = await request(port, 'HEAD', '/bytes/1000000');
    expect(r.status).toBe(200);
    expect(r.headers['content-length']).toBe('1000000');
    expect(r.body.length).toBe(0);
  });

  it('bad N: 400', async () => {
    const port = await serve({ maxBytes: 1 << 30 });
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
      const r = await request(port, 'GET', `/bytes/${encodeURIComponent(bad)}`);
      expect(r.status, bad).toBe(400);
    }
    const max = await request(port, 'HEAD', `/bytes/${2 ** 30}`); // the bound itself is fine
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
    const port = await serve();
    const got = await new Promise<number>((resolve, reject) => {
      const req = http.get({ host: '127.0.0.1', port, path: `/bytes/${2 ** 40}`, agent: false });
      req.on('response', (res) => {
        let n = 0;
        res.on('data', (d: Buffer) => {
          n += d.length;
          if (n >= 4 * 1024 * 1024) {
            req.destroy();
            resolve(n);
          }
        });
      });
      req.on('error', (e) => {
        if ((e as NodeJS.ErrnoException).code !== 'ECONNRESET') reject(e);
      });
    });
    expect(got).toBeGreaterThanOrEqual(4 * 1024 * 1024);
    // The server is still fine afterwards.
    expect((await request(port, 'GET', '/bytes/10')).body.length).toBe(10);
  });

  it('POST /upload: length and SHA-256 of the body, streamed', async () => {
    const port = await serve();
    const parts = Array.from({ length: 40 }, (_, i) => randomBytes(64 * 1024 + i));
    const r = await request(port, 'POST', '/upload', parts);
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toMatch(/^application\/json/);
    const want = createHash('sha256');
    for (const p of parts) want.update(p);
    expect(JSON.parse(r.body.toString())).toEqual({
      length: parts.reduce((a, p) => a + p.length, 0),
      sha256: want.digest('hex'),
    });
    const empty = await request(port, 'POST', '/upload');
    expect(JSON.parse(empty.body.toString())).toEqual({
      length: 0,
      sha256: createHash('sha256').digest('hex'),
    });
  });

  it('404 for unknown paths, 405 with Allow for a known path and wrong method', async () => {
    const port = await serve();
    expect((await request(port, 'GET', '/nope')).status).toBe(404);
    expect((await request(port, 'GET', '/bytes')).status).toBe(404);
    const r = await request(port, 'GET', '/upload');
    expect(r.status).toBe(405);
    expect(r.headers.allow).toBe('POST, PUT');
    expect((await request(port, 'DELETE', '/')).headers.allow).toBe('GET, HEAD');
  });
});

/** A Writable that accepts `capacity` bytes per "tick" and records what it got. */
class SlowSink extends Writable {
  readonly writes: number[] = [];
  constructor() {
    super({ highWaterMark: 4096 });
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error) => void): void {
    this.writes.push(chunk.length);
    setImmediate(cb);
  }
}

describe('pumpRepeated', () => {
  it('writes exactly total bytes from the reused chunk, waiting for drain', async () => {
    const sink = new SlowSink();
    const chunk = countingChunk(1024);
    await new Promise<void>((done) => pumpRepeated(sink, chunk, 10 * 1024 + 5, done));
    await new Promise((r) => sink.end(r));
    expect(sink.writes.reduce((a, b) => a + b, 0)).toBe(10 * 1024 + 5);
    expect(sink.writes.at(-1)).toBe(5);
  });

  it('stops when the stream is destroyed, and calls nothing after', async () => {
    const sink = new SlowSink();
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
    await new Promise((r) => setTimeout(r, 10));
    sink.destroy();
    const at = written;
    await new Promise((r) => setTimeout(r, 20));
    expect(written).toBe(at);
    expect(done).toBe(false);
    expect(sink.listenerCount('drain')).toBe(0);
  });
});
