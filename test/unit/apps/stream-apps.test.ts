/**
 * The TCP stream apps (echo, discard, chargen) on `stack.net`, as `tunstack up` runs them: the app
 * on a server stack, the test's client on another, over the simulated link in virtual time. Every
 * wait is for an event or a state; a "nothing happened" check is an exact check of the state after
 * the virtual clock has moved on, so a slow bug cannot hide behind a short sleep.
 */
import { describe, expect, it } from 'vitest';
import type { NetStack } from '../../../src/api/index.ts';
import type { Socket } from '../../../src/api/net.ts';
import { chargenChunk, startChargen } from '../../../src/apps/chargen.ts';
import { startDiscard } from '../../../src/apps/discard.ts';
import { startEcho } from '../../../src/apps/echo.ts';
import type { StreamAppHandle } from '../../../src/apps/serve.ts';
import {
  type AppFixture,
  advance,
  randomBytes,
  runFor,
  runUntil,
  SERVER,
  servedApps,
} from '../../sim/fixture.ts';

type Fixture = AppFixture<StreamAppHandle>;
const serveApp = servedApps<StreamAppHandle>();

/** Start an app (echo, discard, chargen) on a server stack, with a client stack beside it. */
async function start(
  startApp: (net: NetStack['net'], port: number) => Promise<StreamAppHandle>,
): Promise<Fixture> {
  return serveApp((server) => startApp(server.net, 0));
}

/** A client connection to the app: resolves once connected. */
function connect(f: Fixture, port = f.app.port): Promise<Socket> {
  return runFor(
    f.clock,
    new Promise<Socket>((resolve, reject) => {
      const s = f.client.net.connect({ port, host: SERVER, allowHalfOpen: true }, () => {
        s.off('error', reject);
        resolve(s);
      });
      s.once('error', reject);
    }),
  );
}

/** Everything the socket delivers until its 'end'. */
function readAll(s: Socket): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    s.on('data', (d: Buffer) => parts.push(d));
    s.once('end', () => resolve(Buffer.concat(parts)));
    s.once('error', reject);
  });
}

/** The state of the connection from `local` to `remote` in `stack`'s table, or 'gone'. */
function stateOf(stack: NetStack, local: string, remote: string): string {
  return stack.connections().find((r) => r.local === local && r.remote === remote)?.state ?? 'gone';
}

describe('echo (RFC 862)', () => {
  it('sends back every byte, then its FIN after ours (half-close)', async () => {
    const f = await start(startEcho);
    const s = await connect(f);
    // Well past both ends' send and receive buffers (256 KiB), so that pipe() must wait.
    const data = randomBytes(3 * 1024 * 1024 + 17, 1);
    const back = readAll(s);
    s.end(data); // our FIN goes with (after) the data; the tail must still come back
    expect((await runFor(f.clock, back)).equals(data)).toBe(true);
    await runUntil(f.clock, () => f.app.stats.open === 0, 10_000, 'the server to close');
    expect(f.app.stats).toEqual({
      connections: 1,
      open: 0,
      bytesIn: data.length,
      bytesOut: data.length,
      errors: 0,
    });
  });

  it('serves many connections at once, each its own stream', async () => {
    const f = await start(startEcho);
    const results = await runFor(
      f.clock,
      Promise.all(
        Array.from({ length: 50 }, async (_, i) => {
          const s = f.client.net.connect({ port: f.app.port, host: SERVER, allowHalfOpen: true });
          const msg = Buffer.from(`connection ${i} `.repeat(100 + i));
          const back = readAll(s);
          s.end(msg);
          return (await back).equals(msg);
        }),
      ),
    );
    expect(results.every(Boolean)).toBe(true);
    expect(f.app.stats.connections).toBe(50);
    await runUntil(f.clock, () => f.app.stats.open === 0, 10_000, 'every server side to close');
    expect(f.app.stats.errors).toBe(0);
  });

  it('counts a peer reset as an error and forgets the connection', async () => {
    const f = await start(startEcho);
    const s = await connect(f);
    s.on('data', () => {});
    s.write('x');
    await runUntil(f.clock, () => f.app.stats.bytesIn === 1, 10_000, 'the byte to arrive');
    s.resetAndDestroy();
    await runUntil(f.clock, () => f.app.stats.open === 0, 10_000, 'the server side to close');
    expect(f.app.stats).toEqual({ connections: 1, open: 0, bytesIn: 1, bytesOut: 1, errors: 1 });
    expect(f.server.connections().filter((r) => r.state !== 'LISTEN')).toEqual([]);
  });

  it('close() destroys open connections and stops listening', async () => {
    const f = await start(startEcho);
    const s = await connect(f);
    await runUntil(f.clock, () => f.app.stats.open === 1, 10_000, 'the server to accept');
    // How the client learns that its server side is gone is the socket layer's business (Node
    // over Linux sends a FIN; stack.net's destroy() resets an open connection): either will do.
    let outcome = 'open';
    s.once('end', () => {
      outcome = 'end';
    });
    s.on('error', (e: NodeJS.ErrnoException) => {
      outcome = e.code ?? e.message;
    });
    s.resume();
    await runFor(f.clock, f.app.close());
    await runUntil(f.clock, () => outcome !== 'open', 10_000, 'the server side to go');
    expect(outcome).toMatch(/^(end|ECONNRESET)$/);
    expect(f.app.stats.open).toBe(0);
    expect(f.server.connections()).toEqual([]); // no listener left either
    s.destroy();
    await expect(connect(f)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });

  it('rejects with EADDRINUSE when the port is taken', async () => {
    const f = await start(startEcho);
    await expect(runFor(f.clock, startEcho(f.server.net, f.app.port))).rejects.toMatchObject({
      code: 'EADDRINUSE',
    });
  });
});

describe('discard (RFC 863)', () => {
  it('reads and drops everything, and closes only after the peer has', async () => {
    const f = await start(startDiscard);
    const s = await connect(f);
    const local = `${s.localAddress}:${s.localPort}`;
    const remote = `${SERVER}:${f.app.port}`;
    const size = 8 * 1024 * 1024;
    const received = readAll(s);
    let serverEnded = false;
    s.once('end', () => {
      serverEnded = true;
    });
    s.write(Buffer.alloc(size / 2, 1));
    await runUntil(f.clock, () => f.app.stats.bytesIn === size / 2, 60_000, 'the first half');
    // Ten more seconds with our side open: the server must not have ended or closed its side.
    await advance(f.clock, 10_000);
    expect(serverEnded).toBe(false);
    expect(stateOf(f.client, local, remote)).toBe('ESTABLISHED');
    expect(stateOf(f.server, remote, local)).toBe('ESTABLISHED');
    expect(f.app.stats).toMatchObject({ open: 1, bytesIn: size / 2, bytesOut: 0 });
    s.end(Buffer.alloc(size / 2, 2));
    expect((await runFor(f.clock, received)).length).toBe(0);
    expect(serverEnded).toBe(true);
    expect(f.app.stats.bytesIn).toBe(size);
    expect(f.app.stats.bytesOut).toBe(0);
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
    const f = await start(startChargen);
    const s = await connect(f);
    let got = 0;
    let ended = false;
    let reading = true;
    const first: Buffer[] = [];
    s.on('data', (d: Buffer) => {
      if (got < 200) first.push(d);
      got += d.length;
      if (reading && got >= 1024 * 1024) {
        reading = false;
        s.pause();
      }
    });
    s.on('end', () => {
      ended = true;
    });
    await runUntil(f.clock, () => got >= 1024 * 1024, 60_000, 'a megabyte');
    expect(Buffer.concat(first).subarray(0, 74).toString('latin1')).toBe(
      `${chargenChunk(1).subarray(0, 72).toString('latin1')}\r\n`,
    );
    s.end();
    s.resume();
    await runUntil(f.clock, () => f.app.stats.open === 0 && ended, 10_000, 'chargen to stop');
    const sent = f.app.stats.bytesOut;
    // Nothing more after the close, however long we wait: every byte written arrived, no more.
    await advance(f.clock, 60_000);
    expect(f.app.stats.bytesOut).toBe(sent);
    expect(got).toBe(sent);
    expect(f.server.connections().filter((r) => r.state !== 'LISTEN')).toEqual([]);
  });
});
