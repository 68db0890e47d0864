/**
 * A SYN flood from spoofed sources (hping3 -S --flood --rand-source, in virtual time) against a
 * server stack, while a real client connects and transfers data. With SYN cookies (Linux's
 * default mode 1) the flood fills the SYN queue and then costs the server no state: the client's
 * SYN gets a cookie, its ACK makes the connection, and the transfer completes during the flood.
 * Without cookies (mode 0) the same client cannot get in until the half-open entries time out.
 */
import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../../src/stack/rng.ts';
import type { SynCookieMode } from '../../src/tcp/syncookie.ts';
import { parseIpv4 } from '../../src/wire/ipv4.ts';
import { emitTcpPacket } from '../../src/wire/tcp-packet.ts';
import { advance, netPair, randomBytes, SERVER, sha256 } from './fixture.ts';
import { floodSyn, hashServer, transferDuringFlood } from './syn-flood.ts';

const PORT = 80;
const SYN_BACKLOG = 128;
const SEED = 0x5eed_c00c;

/** A spoofed SYN from a random unicast source (11.0.0.0-99.255.255.255, never a martian). */
function spoofedSyn(random: () => number, dst: number): Uint8Array {
  const src = (((11 + Math.floor(random() * 89)) << 24) | Math.floor(random() * 0x100_0000)) >>> 0;
  const srcPort = 1024 + Math.floor(random() * 60_000);
  const seq = Math.floor(random() * 0x1_0000_0000) >>> 0;
  return emitTcpPacket(floodSyn(srcPort, PORT, seq), src, dst);
}

function setup(synCookies: SynCookieMode) {
  const pair = netPair({
    // 50 Mbit/s each way: the transfer takes a few hundred ms, the flood shares the wire.
    sim: { delayMs: 1, bandwidthBps: 50_000_000 },
    serverTcp: { synCookies, synBacklog: SYN_BACKLOG },
  });
  const random = mulberry32(SEED);
  const dst = parseIpv4(SERVER) as number;
  /** `n` spoofed SYNs onto the wire towards the server, as one burst. */
  const flood = (n: number) => {
    for (let i = 0; i < n; i++) pair.la.send(spoofedSyn(random, dst));
    pair.la.flush();
  };
  return { ...pair, flood, accepted: hashServer(pair.server, PORT) };
}

describe('SYN flood from spoofed sources', () => {
  it('with cookies (mode 1): the queue fills, then no state; a real client connects and transfers during the flood', async () => {
    const { clock, client, server, la, flood, accepted } = setup(1);
    // 1 000 spoofed SYNs: the first 128 fill the SYN queue, the rest get cookies.
    flood(1000);
    await advance(clock, 10);
    const layer = server.tcp.stats;
    expect(layer.SyncookiesSent).toBe(1000 - SYN_BACKLOG);
    const halfOpen = () => server.connections().filter((r) => r.state === 'SYN_RECEIVED').length;
    expect(halfOpen()).toBe(SYN_BACKLOG);

    // The real client, while the flood goes on: 200 more spoofed SYNs every 5 ms (~13 Mbit/s).
    const body = randomBytes(1_000_000, SEED);
    const { reply, bursts } = await transferDuringFlood(
      clock,
      client,
      SERVER,
      PORT,
      body,
      () => flood(200),
      300,
    );

    expect(reply).toBe(sha256(body));
    expect(accepted).toHaveLength(1);
    expect(bursts).toBeGreaterThan(20); // the flood went on during the whole transfer
    // The client's connection came from a cookie; the spoofed ones never completed.
    expect(layer.SyncookiesRecv).toBe(1);
    expect(layer.SyncookiesFailed).toBe(0);
    // Every spoofed SYN beyond the first 128 got a cookie, once the last burst is off the wire.
    await advance(clock, 1000);
    expect(la.stats.drops).toBe(0);
    expect(layer.SyncookiesSent).toBe(1000 + bursts * 200 - SYN_BACKLOG + 1);
    // No state for any of them: the SYN queue never grew past its bound.
    expect(halfOpen()).toBeLessThanOrEqual(SYN_BACKLOG);
    expect(server.tcp.stats.listenerDrops['syn-queue-full'] ?? 0).toBe(0);
  });

  it('without cookies (mode 0): the same flood keeps the client out', async () => {
    const { clock, client, server, flood, accepted } = setup(0);
    flood(1000);
    await advance(clock, 10);
    const c = client.net.connect(PORT, SERVER);
    let connected = false;
    c.on('connect', () => {
      connected = true;
    });
    c.on('error', () => {});
    // Ten seconds of flood: every SYN finds the queue full, the client's retransmissions too.
    for (let i = 0; i < 100; i++) {
      flood(20);
      await advance(clock, 100);
    }
    expect(connected).toBe(false);
    expect(accepted).toHaveLength(0);
    const layer = server.tcp.stats;
    expect(layer.SyncookiesSent).toBe(0);
    expect(layer.listenerDrops['syn-queue-full']).toBeGreaterThanOrEqual(1000 - SYN_BACKLOG);
    c.destroy();
  });
});
