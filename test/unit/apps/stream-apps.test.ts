/**
 * The TCP stream apps (echo, discard, chargen) over Node's own net on 127.0.0.1: the same code
 * the stack runs, checked against a known-good TCP.
 */
import { randomBytes } from 'node:crypto';
import * as net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { chargenChunk, startChargen } from '../../../src/apps/chargen.ts';
import { startDiscard } from '../../../src/apps/discard.ts';
import { startEcho } from '../../../src/apps/echo.ts';
import type { StreamAppHandle } from '../../../src/apps/serve.ts';

const LOCAL = '127.0.0.1';
const open: StreamAppHandle[] = [];

afterEach(async () => {
  for (const app of open.splice(0)) await app.close();
});

async function start(p: Promise<StreamAppHandle>): Promise<StreamAppHandle> {
  const app = await p;
  open.push(app);
  return app;
}

function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: LOCAL, allowHalfOpen: true }, () => resolve(s));
    s.once('error', reject);
  });
}

/** Everything the socket delivers until its 'end'. */
function readAll(s: net.Socket): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    s.on('data', (d: Buffer) => parts.push(d));
    s.once('end', () => resolve(Buffer.concat(parts)));
    s.once('error', reject);
  });
}

/** Poll every 5 ms for up to 10 s: generous, since it only bounds how long a failure takes. */
const waitUntil = async (pred: () => boolean, what: string): Promise<void> => {
  for (let i = 0; i < 2_000 && !pred(); i++) await new Promise((r) => setTimeout(r, 5));
  if (!pred()) throw new Error(`timed out waiting for ${what}`);
};

describe('echo (RFC 862)', () => {
  it('sends back every byte, then its FIN after ours (half-close)', async () => {
    const app = await start(startEcho(net, 0, LOCAL));
    const s = await connect(app.port);
    const data = randomBytes(3 * 1024 * 1024 + 17);
    const back = readAll(s);
    s.end(data); // our FIN goes with (after) the data; the tail must still come back
    expect((await back).equals(data)).toBe(true);
    await waitUntil(() => app.stats.open === 0, 'the server to close');
    expect(app.stats).toMatchObject({
      connections: 1,
      open: 0,
      bytesIn: data.length,
      bytesOut: data.length,
      errors: 0,
    });
  });

  it('serves many connections at once, each its own stream', async () => {
    const app = await start(startEcho(net, 0, LOCAL));
    const results = await Promise.all(
      Array.from({ length: 50 }, async (_, i) => {
        const s = await connect(app.port);
        const msg = Buffer.from(`connection ${i} `.repeat(100 + i));
        const back = readAll(s);
        s.end(msg);
        return (await back).equals(msg);
      }),
    );
    expect(results.every(Boolean)).toBe(true);
    expect(app.stats.connections).toBe(50);
  });

  it('counts a peer reset as an error and forgets the connection', async () => {
    const app = await start(startEcho(net, 0, LOCAL));
    const s = await connect(app.port);
    s.write('x');
    await waitUntil(() => app.stats.bytesIn === 1, 'the byte to arrive');
    s.resetAndDestroy();
    await waitUntil(() => app.stats.open === 0, 'the server side to close');
    expect(app.stats.errors).toBe(1);
  });

  it('close() destroys open connections and stops listening', async () => {
    const app = await startEcho(net, 0, LOCAL);
    const s = await connect(app.port);
    await waitUntil(() => app.stats.open === 1, 'the server to accept');
    const ended = new Promise((r) => s.once('end', r));
    s.on('error', () => {});
    s.resume();
    await app.close();
    await ended; // the server side is gone
    expect(app.stats.open).toBe(0);
    s.destroy();
    await expect(connect(app.port)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });

  it('rejects with EADDRINUSE when the port is taken', async () => {
    const app = await start(startEcho(net, 0, LOCAL));
    await expect(startEcho(net, app.port, LOCAL)).rejects.toMatchObject({ code: 'EADDRINUSE' });
  });
});

describe('discard (RFC 863)', () => {
  it('reads and drops everything, and closes only after the peer has', async () => {
    const app = await start(startDiscard(net, 0, LOCAL));
    const s = await connect(app.port);
    const size = 8 * 1024 * 1024;
    const received = readAll(s);
    let serverEnded = false;
    s.once('end', () => {
      serverEnded = true;
    });
    s.write(Buffer.alloc(size / 2, 1));
    await new Promise((r) => setTimeout(r, 20));
    expect(serverEnded).toBe(false); // still open while we are
    s.end(Buffer.alloc(size / 2, 2));
    expect((await received).length).toBe(0);
    expect(app.stats.bytesIn).toBe(size);
    expect(app.stats.bytesOut).toBe(0);
  });
});

describe('chargen (RFC 864)', () => {
  it('sends the rotating 72-character lines, continuous across chunks', () => {
    const chunk = chargenChunk(2);
    const lines = chunk.toString('latin1').split('\r\n');
    expect(lines[0]).toBe(
      ' !"#$%&\'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefg',
    );
    expect(lines[1]).toBe(`${lines[0].slice(1)}h`);
    expect(lines[94]).toBe(`~${lines[0].slice(0, 71)}`); // line 94 starts at the last char
    expect(lines[95]).toBe(lines[0]); // the second cycle starts again
    expect(lines.every((l, i) => i === lines.length - 1 || l.length === 72)).toBe(true);
  });

  it('streams until the peer closes, then stops', async () => {
    const app = await start(startChargen(net, 0, LOCAL));
    const s = await connect(app.port);
    let got = 0;
    const first: Buffer[] = [];
    await new Promise<void>((resolve) => {
      s.on('data', (d: Buffer) => {
        if (got < 200) first.push(d);
        got += d.length;
        if (got >= 1024 * 1024) {
          s.pause();
          resolve();
        }
      });
    });
    expect(Buffer.concat(first).subarray(0, 74).toString('latin1')).toBe(
      `${chargenChunk(1).subarray(0, 72).toString('latin1')}\r\n`,
    );
    s.end();
    s.resume();
    await waitUntil(() => app.stats.open === 0, 'chargen to stop');
    const sent = app.stats.bytesOut;
    await new Promise((r) => setTimeout(r, 30));
    expect(app.stats.bytesOut).toBe(sent); // nothing more after the close
  });
});
