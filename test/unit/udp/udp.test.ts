import { describe, expect, it } from 'vitest';
import { IpInput } from '../../../src/ip/input.ts';
import { IpOutput } from '../../../src/ip/output.ts';
import { createIpStats } from '../../../src/ip/stats.ts';
import {
  createUdpStats,
  UDP_MAX_PAYLOAD,
  type UdpEndpoint,
  UdpLayer,
} from '../../../src/udp/udp.ts';
import { Ipv4View } from '../../../src/wire/ipv4.ts';
import { emitUdp, UdpView } from '../../../src/wire/udp.ts';
import { PEER, packet, pattern, US } from '../ip/helpers.ts';

function setup(options = {}) {
  const sent: Uint8Array[] = [];
  const stats = createUdpStats();
  const out = new IpOutput(
    { address: US, mtu: 1500 },
    { send: (p) => sent.push(p) },
    createIpStats(),
  );
  const udp = new UdpLayer(out, stats, options);
  const input = new IpInput({ address: US }, createIpStats());
  const feed = (p: Uint8Array) => udp.input(input.receive(p, 0)!);
  return { sent, stats, udp, feed };
}

function recorder() {
  const got: [number[], number, number][] = [];
  const ep: UdpEndpoint = {
    deliver: (payload, addr, port) => got.push([Array.from(payload), addr, port]),
  };
  return { got, ep };
}

function datagram(dstPort: number, payload: Uint8Array, zeroChecksum = false): Uint8Array {
  const u = new Uint8Array(8 + payload.length);
  emitUdp(u, { srcPort: 4000, dstPort, payload }, PEER, US);
  if (zeroChecksum) u.fill(0, 6, 8);
  return packet(u);
}

describe('UdpLayer', () => {
  it('delivers to the bound port with the sender address and port', () => {
    const { udp, feed, stats } = setup();
    const { got, ep } = recorder();
    expect(udp.bind(7, ep)).toBe(true);
    expect(feed(datagram(7, pattern(5)))).toBe('delivered');
    expect(feed(datagram(7, pattern(3), true))).toBe('delivered'); // zero checksum: none
    expect(got).toEqual([
      [[0, 1, 2, 3, 4], PEER, 4000],
      [[0, 1, 2], PEER, 4000],
    ]);
    expect(stats).toMatchObject({ rxDatagrams: 2, rxDelivered: 2, rxBytes: 8 });
  });

  it('says no-port for unbound ports and counts bad datagrams', () => {
    const { udp, feed, stats } = setup();
    const { ep } = recorder();
    udp.bind(7, ep);
    expect(feed(datagram(8, pattern(1)))).toBe('no-port');
    const bad = datagram(7, pattern(4));
    bad[30] ^= 1;
    expect(feed(bad)).toBe('dropped');
    expect(feed(packet(pattern(5)))).toBe('dropped');
    const long = datagram(7, pattern(4));
    long[25] = 99;
    expect(feed(long)).toBe('dropped');
    expect(stats.drops).toMatchObject({
      'no-port': 1,
      'bad-checksum': 1,
      truncated: 1,
      'bad-length': 1,
    });
  });

  it('refuses a taken port, hands out ephemeral ports in range, and unbinds', () => {
    const { udp } = setup({ ephemeralLow: 50_000, ephemeralHigh: 50_002 });
    const a = recorder().ep;
    const b = recorder().ep;
    expect(udp.bind(50_001, a)).toBe(true);
    expect(udp.bind(50_001, b)).toBe(false);
    expect(udp.bindEphemeral(b)).toBe(50_000);
    expect(udp.bindEphemeral(b)).toBe(50_002);
    expect(udp.bindEphemeral(b)).toBe(null);
    udp.unbind(50_001, b); // not b's: no effect
    expect(udp.bind(50_001, b)).toBe(false);
    udp.unbind(50_001, a);
    expect(udp.bindEphemeral(b)).toBe(50_001);
  });

  it('sends a checksummed datagram, and refuses one too big for IP', () => {
    const { udp, sent, stats } = setup();
    expect(udp.send(1234, PEER, 53, pattern(10))).toBe(true);
    const ip = Ipv4View.check(sent[0]) as Ipv4View;
    expect(ip).toMatchObject({ src: US, dst: PEER, protocol: 17, dontFrag: false });
    const u = UdpView.check(ip.payload, US, PEER) as UdpView;
    expect(u.toRepr()).toEqual({ srcPort: 1234, dstPort: 53, payload: pattern(10) });
    expect(u.checksum).not.toBe(0);
    expect(udp.send(1234, PEER, 53, new Uint8Array(UDP_MAX_PAYLOAD + 1))).toBe(false);
    expect(stats.drops['tx-too-big']).toBe(1);
    expect(udp.send(1234, PEER, 53, new Uint8Array(UDP_MAX_PAYLOAD))).toBe(true); // fragmented
    expect(sent.length).toBe(1 + 45);
  });
});
