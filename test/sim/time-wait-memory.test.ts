/**
 * A connection in TIME_WAIT costs a compact entry, not a whole connection (issue 9, a million
 * connections): once the server has closed and the peer has answered, nothing may keep the
 * server's TcpConnection or TcpHandle, while the 4-tuple stays in TIME_WAIT for 2·MSL.
 *
 * Reachability is checked with WeakRefs after a full GC, as http-leak.test.ts does; the bytes per
 * entry are measured by `node --expose-gc --import tsx scripts/mem-per-conn.ts --time-wait`.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { createStack } from '../../src/api/index.ts';
import { SimLink } from '../../src/link/sim.ts';
import { VirtualClock } from '../../src/stack/clock.ts';
import type { TcpHandle } from '../../src/stack/tcp.ts';
import type { TcpConnection } from '../../src/tcp/conn.ts';
import { parseIpv4 } from '../../src/wire/ipv4.ts';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

async function collect(): Promise<void> {
  await new Promise((r) => setImmediate(r));
  gc();
  await new Promise((r) => setImmediate(r));
  gc();
}

async function settle(clock: VirtualClock): Promise<void> {
  for (let i = 0; i < 20; i++) {
    await new Promise((r) => setImmediate(r));
    clock.advance(10);
  }
}

function closeAll(handles: TcpHandle[]): void {
  for (const h of handles) h.close();
}

describe('TIME_WAIT memory', () => {
  it('nothing keeps a server-closed connection once it is a TIME_WAIT entry', async () => {
    const COUNT = 600;
    const PORT = 9;
    const clock = new VirtualClock();
    const [la, lb] = SimLink.pair(clock, { delayMs: 1 });
    const tcp = { isnSecret: new Uint8Array(16).fill(3), maxConnections: 4 * COUNT };
    const client = createStack({ link: la, address: '10.0.0.1', clock, tcp });
    const server = createStack({ link: lb, address: '10.0.0.2', clock, tcp });
    const handles: WeakRef<TcpHandle>[] = [];
    const conns: WeakRef<TcpConnection>[] = [];
    const toClose: TcpHandle[] = [];
    server.tcp.listen(PORT, {
      accept: (h) => {
        handles.push(new WeakRef(h));
        conns.push(new WeakRef(h.conn));
        toClose.push(h);
        return { tcpEvent() {} };
      },
    });
    for (let i = 0; i < COUNT; i++) {
      let handle: TcpHandle | null = null;
      const h = client.tcp.connect(parseIpv4('10.0.0.2'), PORT, {
        tcpEvent(_h, e) {
          if (e.type === 'fin') handle?.close();
        },
      });
      if (typeof h === 'string') throw new Error(`connect: ${h}`);
      handle = h;
    }
    await settle(clock);
    closeAll(toClose.splice(0)); // not in this async function: its suspended frame keeps locals
    await settle(clock);

    expect(handles).toHaveLength(COUNT);
    const rows = server.connections().filter((r) => r.state === 'TIME_WAIT');
    expect(rows).toHaveLength(COUNT);
    expect(server.tcp.timeWaitEntries).toBe(COUNT);
    expect(server.tcp.stats.timeWaitSlim).toBe(COUNT);
    expect(client.tcp.size).toBe(0);
    await collect();
    expect(handles.filter((r) => r.deref() !== undefined)).toHaveLength(0);
    expect(conns.filter((r) => r.deref() !== undefined)).toHaveLength(0);
    // One timer for the whole TIME_WAIT queue, none per connection.
    expect(server.timers.liveEntries).toBe(1);

    // 2·MSL later every entry is gone, and so is the queue's timer.
    clock.advance(60_000);
    expect(server.tcp.size).toBe(0);
    expect(server.timers.liveEntries).toBe(0);
    await client.close();
    await server.close();
  });
});
