import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { startUdpEcho } from '../../src/apps/udp-echo.ts';
import { IpInput } from '../../src/ip/input.ts';
import { IpOutput } from '../../src/ip/output.ts';
import { createIpStats } from '../../src/ip/stats.ts';
import type { FaultLink } from '../../src/link/fault.ts';
import { checksumAdjust } from '../../src/wire/checksum.ts';
import { emitIcmp, IcmpView, icmpLen, UnreachCode } from '../../src/wire/icmp.ts';
import { Ipv4View } from '../../src/wire/ipv4.ts';
import { emitTcp } from '../../src/wire/tcp.ts';
import { NO_OPTIONS } from '../../src/wire/tcp-repr.ts';
import { emitUdp } from '../../src/wire/udp.ts';
import {
  CLIENT_ADDR,
  ipPacket,
  netPair,
  pattern,
  rawHost,
  SERVER,
  SERVER_ADDR,
  settle,
} from './fixture.ts';

function echoRequest(ident: number, seqNo: number, data: Uint8Array): Uint8Array {
  const msg = new Uint8Array(icmpLen({ kind: 'echo-request', ident, seqNo, data }));
  emitIcmp(msg, { kind: 'echo-request', ident, seqNo, data });
  return msg;
}

/** A bare SYN from the host's port 5555 to the stack's port 80. */
function synSegment(): Uint8Array {
  const seg = new Uint8Array(20);
  emitTcp(
    seg,
    {
      srcPort: 5555,
      dstPort: 80,
      control: 'syn',
      psh: false,
      urg: false,
      ece: false,
      cwr: false,
      seq: 1,
      ack: null,
      window: 1000,
      urgentPointer: 0,
      options: NO_OPTIONS,
      payload: new Uint8Array(0),
    },
    CLIENT_ADDR,
    SERVER_ADDR,
  );
  return seg;
}

function udpDatagram(srcPort: number, dstPort: number, payload: Uint8Array): Uint8Array {
  const u = new Uint8Array(8 + payload.length);
  emitUdp(u, { srcPort, dstPort, payload }, CLIENT_ADDR, SERVER_ADDR);
  return u;
}

describe('UDP between two stacks over a simulated link', () => {
  it('echoes a datagram through startUdpEcho', async () => {
    const { clock, client: a, server: b } = netPair({ sim: { delayMs: 5 } });
    const echo = await startUdpEcho(b);
    const client = a.dgram.createSocket('udp4');
    const got: [string, object][] = [];
    client.on('message', (msg, rinfo) => got.push([msg.toString(), rinfo]));
    client.send('hello', 7, SERVER);
    await settle(clock);
    expect(got).toEqual([['hello', { address: SERVER, family: 'IPv4', port: 7, size: 5 }]]);
    expect(clock.now()).toBe(10); // one round trip of 2 × 5 ms
    expect(echo.echoed).toBe(1);
    expect(a.stats.udp).toMatchObject({ txDatagrams: 1, rxDelivered: 1 });
    expect(b.stats.udp).toMatchObject({ txDatagrams: 1, rxDelivered: 1 });
    expect(a.stats.link.txPackets).toBe(1);
    await a.close();
    await b.close();
  });

  it('startUdpEcho ignores a datagram from source port 0 (found by npm run fuzz, seed 120)', async () => {
    const { clock, stack, received, send } = rawHost();
    const echo = await startUdpEcho(stack);
    const thrown: unknown[] = [];
    const onUncaught = (err: unknown) => thrown.push(err);
    process.on('uncaughtException', onUncaught);
    try {
      send(ipPacket(udpDatagram(0, 7, pattern(10))));
      await settle(clock);
    } finally {
      process.off('uncaughtException', onUncaught);
    }
    expect(thrown).toEqual([]);
    expect(stack.stats.udp.listenerErrors).toBe(0);
    expect(received.length).toBe(0);
    expect(echo.echoed).toBe(0);
    send(ipPacket(udpDatagram(40_000, 7, pattern(10))));
    await settle(clock);
    expect(echo.echoed).toBe(1);
  });

  it('carries a 20 000-byte datagram fragmented both ways', async () => {
    const { clock, client: a, server: b } = netPair();
    await startUdpEcho(b, 9000);
    const client = a.dgram.createSocket('udp4');
    const big = Buffer.from(pattern(20_000));
    const got: Buffer[] = [];
    client.on('message', (msg) => got.push(msg));
    client.send(big, 9000, SERVER);
    await settle(clock);
    expect(got.length).toBe(1);
    expect(got[0].equals(big)).toBe(true);
    expect(b.stats.ip.reassembled).toBe(1);
    expect(b.stats.ip.txFragmented).toBe(1);
    expect(a.stats.ip.reassembled).toBe(1);
  });

  it('pings from one stack to the other, 8000 bytes fragmented both ways', async () => {
    const { clock, client: a, server: b } = netPair();
    const replies: [number, number, number, number][] = [];
    a.icmp.onEchoReply = (src, ident, seqNo, data) =>
      replies.push([src, ident, seqNo, data.length]);
    a.sendEchoRequest(SERVER, 77, 1, pattern(8000));
    a.sendEchoRequest(SERVER, 77, 2, pattern(56));
    await settle(clock);
    expect(replies).toEqual([
      [SERVER_ADDR, 77, 1, 8000],
      [SERVER_ADDR, 77, 2, 56],
    ]);
    expect(b.stats.icmp).toMatchObject({ rxEchoRequests: 2, txEchoReplies: 2 });
    expect(b.stats.ip.rxFragments).toBe(6);
  });
});

describe('the stack against a scripted host', () => {
  it('answers an echo request built by the test, and an 8000-byte one fragmented both ways', async () => {
    const { clock, received, send } = rawHost();
    send(ipPacket(echoRequest(0x1c46, 1, pattern(56)), { protocol: 1 }));
    await settle(clock);
    expect(received.length).toBe(1);
    const ip = Ipv4View.check(received[0]) as Ipv4View;
    expect(ip).toMatchObject({ src: SERVER_ADDR, dst: CLIENT_ADDR, protocol: 1 });
    expect((IcmpView.check(ip.payload) as IcmpView).toRepr()).toEqual({
      kind: 'echo-reply',
      ident: 0x1c46,
      seqNo: 1,
      data: pattern(56),
    });

    // Fragment the request ourselves (as `ping -s 8000` on a 1500-byte MTU would be) ...
    received.length = 0;
    const frags: Uint8Array[] = [];
    const out = new IpOutput(
      { address: CLIENT_ADDR, mtu: 1500 },
      { send: (p) => frags.push(p) },
      createIpStats(),
    );
    const req = echoRequest(0x1c46, 2, pattern(8000));
    const pkt = out.allocPacket(req.length);
    pkt.set(req, 20);
    out.send(pkt, 1, SERVER_ADDR, false);
    expect(frags.length).toBe(6);
    send(...frags.reverse());
    await settle(clock);
    // ... and put the fragmented reply back together.
    expect(received.length).toBe(6);
    const input = new IpInput({ address: CLIENT_ADDR }, createIpStats());
    let whole = null;
    for (const p of received) whole = input.receive(p, 0) ?? whole;
    expect((IcmpView.check(whole!.payload) as IcmpView).toRepr()).toEqual({
      kind: 'echo-reply',
      ident: 0x1c46,
      seqNo: 2,
      data: pattern(8000),
    });
  });

  it('answers a closed UDP port with ICMP port unreachable quoting the datagram', async () => {
    const { clock, stack, received, send } = rawHost();
    const original = ipPacket(udpDatagram(40_000, 9, pattern(10)));
    send(original);
    await settle(clock);
    expect(received.length).toBe(1);
    const ip = Ipv4View.check(received[0]) as Ipv4View;
    const icmp = IcmpView.check(ip.payload) as IcmpView;
    expect([icmp.type, icmp.code]).toEqual([3, UnreachCode.Port]);
    expect(icmp.data).toEqual(original);
    expect(stack.stats.udp.drops['no-port']).toBe(1);
    expect(stack.stats.icmp.txDestUnreachable).toBe(1);
  });

  it('answers an unknown protocol with protocol unreachable; TCP with no handler, with nothing', async () => {
    const { clock, stack, received, send } = rawHost();
    stack.setTcpHandler(null); // as before the TCP layer registers itself
    send(ipPacket(pattern(12), { protocol: 99 }));
    const seg = synSegment();
    send(ipPacket(seg, { protocol: 6 }));
    await settle(clock);
    expect(received.length).toBe(1);
    const icmp = IcmpView.check((Ipv4View.check(received[0]) as Ipv4View).payload) as IcmpView;
    expect([icmp.type, icmp.code]).toEqual([3, UnreachCode.Protocol]);
    expect(stack.stats.unknownProtocol).toBe(1);
    expect(stack.stats.tcp).toMatchObject({ rxSegments: 1, rxUnhandled: 1, txSegments: 0 });
  });

  it('hands TCP segments to a registered handler, parsed', async () => {
    const { clock, stack, send } = rawHost();
    const segs: unknown[] = [];
    stack.setTcpHandler({
      segment: (seg, src, dst) => segs.push([seg.control, seg.dstPort, src, dst]),
    });
    const seg = synSegment();
    send(ipPacket(seg, { protocol: 6 }));
    // The same SYN with FIN also set, checksum kept valid (RFC 1624): refused as bad-flags.
    const bad = seg.slice();
    const oldWord = (bad[12] << 8) | bad[13];
    bad[13] |= 0x01;
    const sum = checksumAdjust((bad[16] << 8) | bad[17], oldWord, (bad[12] << 8) | bad[13]);
    bad[16] = sum >>> 8;
    bad[17] = sum & 0xff;
    send(ipPacket(bad, { protocol: 6 }));
    await settle(clock);
    expect(segs).toEqual([['syn', 80, CLIENT_ADDR, SERVER_ADDR]]);
    expect(stack.stats.tcp.drops).toMatchObject({ 'bad-checksum': 0, 'bad-flags': 1 });
  });

  it('counts every kind of bad packet and answers none of them', async () => {
    const { clock, stack, received, send } = rawHost();
    const good = ipPacket(udpDatagram(1, 9, pattern(4)));
    const badSum = good.slice();
    badSum[8] ^= 1;
    const badUdp = good.slice();
    badUdp[good.length - 1] ^= 1;
    send(good.subarray(0, 12), badSum, badUdp, ipPacket(pattern(4), { dst: SERVER_ADDR + 1 }));
    await settle(clock);
    expect(received.length).toBe(0);
    expect(stack.stats.ip.drops).toMatchObject({
      truncated: 1,
      'bad-checksum': 1,
      'not-our-address': 1,
    });
    expect(stack.stats.udp.drops['bad-checksum']).toBe(1);
  });

  it('times out a datagram whose fragments never all arrive, with ICMP time exceeded', async () => {
    const { clock, stack, received, send } = rawHost();
    const first = ipPacket(pattern(16), { id: 9, moreFrags: true });
    send(first, ipPacket(pattern(16), { id: 10, fragOffset: 16, moreFrags: true }));
    await settle(clock, 10_000);
    expect(stack.ip.input.reassembler.datagramsInProgress).toBe(2);
    expect(received.length).toBe(0);
    await settle(clock, 30_000);
    expect(stack.stats.ip.drops['frag-timeout']).toBe(2);
    expect(stack.ip.input.reassembler.bytesInUse).toBe(0);
    expect(clock.nextTimerAt()).toBe(null);
    // RFC 1122 §3.3.2: only the datagram whose fragment zero arrived is reported.
    expect(received.length).toBe(1);
    const icmp = IcmpView.check((Ipv4View.check(received[0]) as Ipv4View).payload) as IcmpView;
    expect([icmp.type, icmp.code]).toEqual([11, 1]);
    expect(icmp.data).toEqual(first);
    expect(stack.stats.icmp.txTimeExceeded).toBe(1);
  });
});

describe('UDP over a faulty link', () => {
  for (const seed of [1, 2, 3]) {
    it(`delivers only intact datagrams, each at most as often as duplicated (seed ${seed})`, async () => {
      const {
        clock,
        client: a,
        server: b,
        linkB,
      } = netPair({
        impairAt: 'server',
        impair: { seed, loss: 0.1, dup: 0.05, reorder: 0.25, corrupt: 0.05, delay: 1 },
      });
      const server = b.dgram.createSocket('udp4');
      const got: string[] = [];
      server.on('message', (msg) => got.push(msg.toString('hex')));
      server.bind(5000);
      const client = a.dgram.createSocket('udp4');
      const sent = new Set<string>();
      for (let i = 0; i < 300; i++) {
        const msg = Buffer.from(pattern(50 + (i % 200), i));
        sent.add(msg.toString('hex'));
        client.send(msg, 5000, SERVER);
        if (i % 10 === 9) await settle(clock);
      }
      await settle(clock);
      const fault = (linkB as FaultLink).stats.rx;
      for (const g of got)
        expect(sent.has(g), `seed ${seed}: corrupted datagram delivered`).toBe(true);
      // Every copy that survived loss and corruption arrives (dup is drawn only for survivors of
      // loss; each copy is corrupted independently) ...
      expect(got.length).toBe(fault.packets - fault.lost + fault.duplicated - fault.corrupted);
      // ... and every corrupted copy is dropped: a flipped bit in version, IHL or length fails
      // those checks first, any other is caught by a checksum (one flipped bit always is).
      const sum = (o: Record<string, number>) => Object.values(o).reduce((x, y) => x + y, 0);
      expect(sum(b.stats.ip.drops) + sum(b.stats.udp.drops)).toBe(fault.corrupted);
      expect(fault.corrupted).toBeGreaterThan(0);
      expect(fault.reordered).toBeGreaterThan(0);
    });
  }

  it('reassembles fragmented datagrams through faults: whole and intact, or not at all', async () => {
    await fc.assert(
      fc.asyncProperty(fc.nat({ max: 0xffffffff }), async (seed) => {
        const {
          clock,
          client: a,
          server: b,
        } = netPair({
          impairAt: 'server',
          impair: { seed, loss: 0.05, dup: 0.05, reorder: 0.3, corrupt: 0.02, delay: 2 },
        });
        const server = b.dgram.createSocket('udp4');
        const got: string[] = [];
        server.on('message', (msg) => got.push(msg.toString('hex')));
        server.bind(5000);
        const client = a.dgram.createSocket('udp4');
        const sent = new Set<string>();
        for (let i = 0; i < 40; i++) {
          const msg = Buffer.from(pattern(1000 + 97 * i, i)); // 1 to 4 fragments
          sent.add(msg.toString('hex'));
          client.send(msg, 5000, SERVER);
          await settle(clock, 5);
        }
        await settle(clock, 60_000); // past the reassembly timeout
        for (const g of got) expect(sent.has(g), `seed ${seed}`).toBe(true);
        expect(got.length, `seed ${seed}`).toBeGreaterThan(20);
        expect(b.ip.input.reassembler.bytesInUse, `seed ${seed}`).toBe(0);
        expect(b.stats.link.rxErrors).toBe(0);
      }),
      { numRuns: 10 },
    );
  });
});
