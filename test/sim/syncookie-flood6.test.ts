/**
 * A SYN flood over IPv6 from spoofed sources against a stack whose IPv6 peer table is small
 * (tcp.maxIpv6Peers 16): every embryonic connection holds a peer id, so without a reserve the
 * flood would fill the table and a new client's SYN would be dropped (ipv6PeersFull). With the
 * headroom (tcp.ipv6PeerHeadroom, a quarter by default) SYNs from new peers get cookie SYN-ACKs
 * once 12 peers are held, and take no id; a real client's cookie ACK takes one of the 4 kept, its
 * connection is made and data flows, during the flood. With cookies off the old behaviour stays:
 * the table fills and the client is kept out.
 */
import { describe, expect, it } from 'vitest';
import type { SynCookieMode } from '../../src/tcp/syncookie.ts';
import { parseIpv6 } from '../../src/wire/ipv6.ts';
import { emitTcpPacket6 } from '../../src/wire/tcp-packet.ts';
import { advance, netPair, randomBytes, SERVER6, sha256 } from './fixture.ts';
import { floodSyn, hashServer, transferDuringFlood } from './syn-flood.ts';

const PORT = 80;
const MAX_PEERS = 16;
/** Peers held at which new peers' SYNs get cookies: 16 − floor(16 · 0.25). */
const COOKIE_AT = 12;
/** The server's address, 16 bytes. */
const SERVER6_ADDR = parseIpv6(SERVER6);

/** The i-th spoofed source, fd00::5eXX:XXXX (never the client's fd00::1). */
function spoofed(i: number): Uint8Array {
  const a = parseIpv6('fd00::5e00:0');
  a[13] = (i >>> 16) & 0xff;
  a[14] = (i >>> 8) & 0xff;
  a[15] = i & 0xff;
  return a;
}

/** A SYN from the i-th spoofed source to `port` (no options, as hping3 sends them). */
function spoofedSyn(i: number, port = PORT): Uint8Array {
  const seg = floodSyn(1024 + (i % 60_000), port, Math.imul(i + 1, 0x9e37_79b1) >>> 0);
  return emitTcpPacket6(seg, spoofed(i), SERVER6_ADDR);
}

function setup(synCookies: SynCookieMode) {
  const { clock, client, server, la } = netPair({
    ipv6: true,
    sim: { delayMs: 1, bandwidthBps: 50_000_000 },
    serverTcp: { synCookies, maxIpv6Peers: MAX_PEERS },
  });
  const accepted = hashServer(server, PORT);
  let next = 0;
  /** `n` SYNs from new spoofed sources onto the wire towards the server, as one burst. */
  const flood = (n: number, port = PORT) => {
    for (let i = 0; i < n; i++) la.send(spoofedSyn(next++, port));
    la.flush();
  };
  return { clock, client, server, la, flood, accepted };
}

describe('SYN flood over IPv6 against a small IPv6 peer table (tcp.maxIpv6Peers 16)', () => {
  it('with cookies: new peers past 12 held get cookies and no id; a new client connects and transfers during the flood', async () => {
    const { clock, client, server, la, flood, accepted } = setup(1);
    const layer = server.tcp.stats;
    flood(200);
    await advance(clock, 10);
    // The first 12 took ids (embryonic connections, the SYN queue far from full); 188 did not.
    expect(server.tcp.ipv6Peers).toBe(COOKIE_AT);
    expect(layer.passiveOpens).toBe(COOKIE_AT);
    expect(layer.ipv6PeersHeadroom).toBe(200 - COOKIE_AT);
    expect(layer.SyncookiesSent).toBe(200 - COOKIE_AT);
    expect(layer.ipv6PeersFull).toBe(0);
    const halfOpen = () => server.connections().filter((r) => r.state === 'SYN_RECEIVED').length;
    expect(halfOpen()).toBe(COOKIE_AT);

    // The real client, new to the server, while 50 more spoofed SYNs arrive every 5 ms.
    const body = randomBytes(300_000, 6);
    let maxHeld = 0;
    const { reply, bursts } = await transferDuringFlood(
      clock,
      client,
      SERVER6,
      PORT,
      body,
      () => flood(50),
      400,
      () => {
        maxHeld = Math.max(maxHeld, server.tcp.ipv6Peers);
      },
    );

    expect(reply).toBe(sha256(body));
    expect(accepted).toHaveLength(1);
    expect(accepted[0].remoteAddress).toBe('fd00::1');
    expect(bursts).toBeGreaterThan(5); // the flood went on during the whole transfer
    // The client came in through a cookie, and its ACK took an id from the headroom.
    expect(layer.SyncookiesRecv).toBe(1);
    expect(layer.SyncookiesFailed).toBe(0);
    expect(layer.ipv6PeersFull).toBe(0);
    expect(maxHeld).toBeGreaterThan(COOKIE_AT); // the client's id, from the headroom
    expect(maxHeld).toBeLessThanOrEqual(MAX_PEERS);
    // Every spoofed SYN after the first 12 took no id: cookies, counted, none of them kept.
    await advance(clock, 100);
    expect(la.stats.drops).toBe(0);
    const syns = 200 + bursts * 50;
    expect(layer.passiveOpens).toBe(COOKIE_AT + 1);
    // The client's own SYN took no id and got a cookie too (it was new, the table at 12).
    expect(layer.ipv6PeersHeadroom).toBe(syns - COOKIE_AT + 1);
    expect(layer.SyncookiesSent).toBe(syns - COOKIE_AT + 1);
    expect(halfOpen()).toBe(COOKIE_AT);
  });

  it('with cookies: a SYN from a new peer to a closed port at the headroom is reset without an id', async () => {
    const { clock, server, flood } = setup(1);
    const layer = server.tcp.stats;
    flood(COOKIE_AT);
    await advance(clock, 10);
    expect(server.tcp.ipv6Peers).toBe(COOKIE_AT);
    flood(3, 81);
    await advance(clock, 10);
    expect(layer.noPort).toBe(3);
    expect(layer.resetsSent).toBe(3);
    expect(layer.ipv6PeersHeadroom).toBe(3);
    expect(server.tcp.ipv6Peers).toBe(COOKIE_AT);
  });

  it('with cookies off (mode 0): no headroom, the table fills to 16 and the new client is kept out', async () => {
    const { clock, client, server, flood, accepted } = setup(0);
    const layer = server.tcp.stats;
    flood(200);
    await advance(clock, 10);
    expect(server.tcp.ipv6Peers).toBe(MAX_PEERS);
    expect(layer.ipv6PeersFull).toBe(200 - MAX_PEERS);
    expect(layer.ipv6PeersHeadroom).toBe(0);
    expect(layer.SyncookiesSent).toBe(0);
    const c = client.net.connect(PORT, 'fd00::2');
    let connected = false;
    c.on('connect', () => {
      connected = true;
    });
    c.on('error', () => {});
    // Ten seconds: the half-open connections still hold every id; the client's SYNs are dropped.
    await advance(clock, 10_000);
    expect(connected).toBe(false);
    expect(accepted).toHaveLength(0);
    expect(layer.ipv6PeersFull).toBeGreaterThan(200 - MAX_PEERS);
    expect(server.tcp.ipv6Peers).toBe(MAX_PEERS);
    c.destroy();
  });
});
