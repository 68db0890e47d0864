import { describe, expect, it } from 'vitest';
import { IpInput } from '../../../src/ip/input.ts';
import { IP_HEADER_ROOM, IpOutput } from '../../../src/ip/output.ts';
import { createIpStats } from '../../../src/ip/stats.ts';
import { Ipv4View } from '../../../src/wire/ipv4.ts';
import { PEER, pattern, US } from './helpers.ts';

function setup(mtu = 1500) {
  const sent: Uint8Array[] = [];
  const stats = createIpStats();
  const out = new IpOutput(
    { address: US, mtu, initialId: 0xfffe },
    { send: (p) => sent.push(p) },
    stats,
  );
  return { sent, stats, out };
}

function datagram(out: IpOutput, payload: Uint8Array): Uint8Array {
  const pkt = out.allocPacket(payload.length);
  pkt.set(payload, IP_HEADER_ROOM);
  return pkt;
}

describe('IpOutput', () => {
  it('writes the header in place: TTL 64, DF as asked, ids counting and wrapping', () => {
    const { sent, out } = setup();
    out.send(datagram(out, pattern(10)), 6, PEER, true);
    out.send(datagram(out, pattern(10)), 17, PEER, false);
    out.send(datagram(out, pattern(10)), 17, PEER, false);
    const v = sent.map((p) => Ipv4View.check(p) as Ipv4View);
    expect(v.map((x) => x.id)).toEqual([0xfffe, 0xffff, 0]);
    expect(v[0]).toMatchObject({
      src: US,
      dst: PEER,
      protocol: 6,
      ttl: 64,
      dontFrag: true,
      isFragment: false,
    });
    expect(v[1].dontFrag).toBe(false);
    expect(v[0].payload).toEqual(pattern(10));
  });

  it('fragments a datagram larger than the MTU on 8-byte boundaries', () => {
    const { sent, stats, out } = setup(1500);
    const payload = pattern(8008);
    expect(out.send(datagram(out, payload), 1, PEER, false)).toBe(true);
    expect(sent.length).toBe(6);
    const views = sent.map((p) => Ipv4View.check(p) as Ipv4View);
    for (const v of views) {
      expect(v.totalLength).toBeLessThanOrEqual(1500);
      expect(v.id).toBe(views[0].id);
      expect(v.dontFrag).toBe(false);
    }
    expect(views.map((v) => v.fragOffset)).toEqual([0, 1480, 2960, 4440, 5920, 7400]);
    expect(views.map((v) => v.moreFrags)).toEqual([true, true, true, true, true, false]);
    expect(stats.txFragmented).toBe(1);
    expect(stats.txPackets).toBe(6);

    // And our own input puts them back together.
    const input = new IpInput({ address: PEER }, createIpStats());
    let whole = null;
    for (const p of sent.reverse()) whole = input.receive(p, 0) ?? whole;
    expect(whole!.payload).toEqual(payload);
  });

  it('refuses DF datagrams over the MTU, and anything over 65 535', () => {
    const { sent, stats, out } = setup(576);
    expect(out.send(datagram(out, pattern(600)), 6, PEER, true)).toBe(false);
    expect(out.send(datagram(out, pattern(65_516)), 17, PEER, false)).toBe(false);
    expect(sent.length).toBe(0);
    expect(stats.drops['tx-too-big']).toBe(2);
  });

  it('refuses an MTU below 68', () => {
    expect(() => new IpOutput({ address: US, mtu: 60 }, { send() {} }, createIpStats())).toThrow(
      RangeError,
    );
  });
});
