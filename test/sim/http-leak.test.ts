/**
 * No leak on the short-HTTP-connection path (issue 9): thousands of `Connection: close` requests
 * to Node's http.Server on the stack, the way `wrk -H 'Connection: close'` makes them. The server
 * closes first, so every connection ends in TIME_WAIT on the stack's side, and the client reuses
 * its few ports while those 4-tuples are still in TIME_WAIT, so the table keeps dropping TIME_WAIT
 * connections long before their 2·MSL deadline (and evicts the oldest when it is full).
 *
 * A connection that left the table must be unreachable at once: before the fix, the timer queue's
 * heap entry for the cancelled 60 s TIME_WAIT deadline held the TcpHandle (and its connection)
 * until that deadline came, so a real server held a minute's worth of connections: hundreds of MB.
 *
 * Reachability is checked with WeakRefs after a full GC (V8's GC is precise: a WeakRef is cleared
 * exactly when nothing strong refers to its target), never with heap sizes or timings.
 */

import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { serveHttp } from '../../src/api/http.ts';
import type { Socket } from '../../src/api/net.ts';
import type { TcpHandle, TcpOwner } from '../../src/stack/tcp.ts';
import { advance, netPair, runFor, runUntil, SERVER } from './fixture.ts';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** A full GC in a fresh macrotask (a WeakRef's target is kept until the job that made it ends). */
async function collect(): Promise<void> {
  await new Promise((r) => setImmediate(r));
  gc();
  await new Promise((r) => setImmediate(r));
  gc();
}

const REQUEST = 'GET /bytes/100 HTTP/1.1\r\nHost: 10.0.0.2\r\nConnection: close\r\n\r\n';

/**
 * `total` short HTTP requests, `parallel` at a time, from a client stack with `ports` ephemeral
 * ports, to a server stack whose table holds `maxConnections`.
 */
async function shortRequests(
  total: number,
  parallel: number,
  ports: number,
  maxConnections: number,
) {
  const { clock, client, server } = netPair({
    stack: { tcp: { ephemeralLow: 40_000, ephemeralHigh: 40_000 + ports - 1 } },
    serverTcp: { maxConnections },
  });
  const svc = serveHttp(server, 80, (_req, res) => res.end('x'.repeat(100)));
  await runFor(clock, svc.ready);

  // Every server-side connection and socket, weakly: the test must not keep them alive itself.
  const handles: WeakRef<TcpHandle>[] = [];
  const sockets: WeakRef<Socket>[] = [];
  const accept = svc.server.accept.bind(svc.server);
  svc.server.accept = (h: TcpHandle): TcpOwner | null => {
    handles.push(new WeakRef(h));
    return accept(h);
  };
  svc.server.on('connection', (s: Socket) => sockets.push(new WeakRef(s)));

  let started = 0;
  let done = 0;
  let answered = 0;
  const errors: string[] = [];
  const one = (): void => {
    if (started >= total) return;
    started++;
    const s = client.net.connect(80, SERVER);
    let text = '';
    s.on('connect', () => s.write(REQUEST));
    s.on('data', (d: Buffer) => {
      text += d.toString('latin1');
    });
    s.on('end', () => {
      if (text.startsWith('HTTP/1.1 200') && text.endsWith('x'.repeat(100))) answered++;
    });
    s.on('error', (e: NodeJS.ErrnoException) => errors.push(e.code ?? e.message));
    s.on('close', () => {
      done++;
      one();
    });
  };
  for (let i = 0; i < parallel; i++) one();
  await runUntil(clock, () => done === total, 600_000, `${total} requests`);
  return { clock, client, server, svc, handles, sockets, answered, errors };
}

/** Server-side connections no longer in the table (TIME_WAIT ones are, until 2·MSL). */
function goneFromTable(handles: WeakRef<TcpHandle>[]): number {
  return handles.filter((r) => r.deref()?.inTable === false).length;
}

describe('short HTTP connections (Connection: close) leave nothing behind', () => {
  it('a connection dropped from TIME_WAIT (4-tuple reused, or evicted) is unreachable at once', async () => {
    const total = 3_000;
    const r = await shortRequests(total, 50, 200, 150);
    expect(r.errors).toEqual([]);
    expect(r.answered).toBe(total);
    expect(r.handles).toHaveLength(total); // every request had its own connection
    // Well within 2·MSL: most connections already left the table early.
    expect(r.clock.now()).toBeLessThan(60_000);
    expect(r.server.tcp.size).toBeLessThanOrEqual(150);
    const s = r.server.stats.tcp.layer as { timeWaitEvicted: number };
    expect(s.timeWaitEvicted).toBeGreaterThan(0);

    await collect();
    // Nothing keeps a connection that left the table: not the timer queue, not the socket layer,
    // not node:http. (Before the fix 1 349 of them were still reachable here.)
    expect(goneFromTable(r.handles)).toBe(0);
    const reachable = r.handles.filter((h) => h.deref() !== undefined).length;
    // Only connections kept whole are: a TIME_WAIT one became a compact entry (timeWaitSlim).
    expect(r.server.tcp.timeWaitEntries).toBeGreaterThan(0);
    expect(reachable).toBe(r.server.tcp.size - r.server.tcp.timeWaitEntries);
    // A socket is done with once its connection is over: none of the 3 000 stays.
    expect(r.sockets.filter((x) => x.deref() !== undefined)).toHaveLength(0);

    // After 2·MSL the tables and the timer queue are empty, and every connection is gone.
    await advance(r.clock, 61_000);
    expect(r.server.tcp.size).toBe(0);
    expect(r.client.tcp.size).toBe(0);
    expect(r.server.timers.liveEntries).toBe(0);
    expect(r.client.timers.liveEntries).toBe(0);
    const count = await new Promise<number>((res) =>
      r.svc.server.getConnections((_e, n) => res(n)),
    );
    expect(count).toBe(0);
    await collect();
    expect(r.handles.filter((h) => h.deref() !== undefined)).toHaveLength(0);
    await runFor(r.clock, r.svc.close());
  });
});
