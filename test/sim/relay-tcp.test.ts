/**
 * TcpRelay's flow table (src/relay/tcp.ts) over a simulated link, its dials real kernel sockets
 * on loopback: every SYN is redirected to a closed port of 127.0.0.1, refused there, answered
 * with a RST, and kept as a finished row, at most maxFinished of them, oldest forgotten first.
 */
import * as net from 'node:net';
import pino from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { TcpRelay } from '../../src/relay/tcp.ts';
import { parseIpv4 } from '../../src/wire/ipv4.ts';
import { ParseError } from '../../src/wire/parse-error.ts';
import { parseTcpPacket } from '../../src/wire/tcp-packet.ts';
import { tcpPacket, tcpSeg } from '../unit/stack/tcp-packets.ts';
import { CLIENT_ADDR, drainTasks, rawHost } from './fixture.ts';

const FAR = parseIpv4('192.0.2.7');

/** A port of 127.0.0.1 that nothing listens on (one that was listening a moment ago). */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

describe('TcpRelay: finished flows', () => {
  let relay: TcpRelay | null = null;
  afterEach(() => {
    relay?.close();
    relay = null;
  });

  it('keeps the newest maxFinished rows, in the order the flows ended', async () => {
    const h = rawHost();
    h.stack.acceptAnyDestination({ datagram: () => {} });
    const port = await closedPort();
    relay = new TcpRelay(h.stack, pino({ level: 'silent' }), {
      maxFinished: 3,
      idleTimeoutMs: 0,
      redirect: () => ({ host: '127.0.0.1', port }),
    });
    const r = relay;
    const resets = () =>
      h.received.filter((p) => {
        const d = parseTcpPacket(p);
        return !(d instanceof ParseError) && d.tcp.control === 'rst';
      }).length;
    for (let i = 0; i < 5; i++) {
      h.send(
        tcpPacket(
          tcpSeg({ control: 'syn', seq: 5000, srcPort: 40_000 + i, dstPort: 80 }),
          CLIENT_ADDR,
          FAR,
        ),
      );
      h.clock.advance(0);
      // One at a time, so that the order the flows end in is the order they were dialled.
      await vi.waitFor(
        async () => {
          await drainTasks();
          h.clock.advance(0);
          expect(r.stats.refused).toBe(i + 1);
        },
        { timeout: 10_000, interval: 5 },
      );
    }
    expect(r.stats.dials).toBe(5);
    expect(resets()).toBe(5);
    const rows = r.flows();
    expect(rows.map((x) => x.client)).toEqual([
      '10.0.0.1:40002',
      '10.0.0.1:40003',
      '10.0.0.1:40004',
    ]);
    expect(rows.every((x) => x.state === 'refused' && x.dst === '192.0.2.7:80')).toBe(true);
    expect(r.size).toBe(0);
  });
});
