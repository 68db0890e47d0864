import { describe, expect, it } from 'vitest';
import { IpInput } from '../../../src/ip/input.ts';
import { createIpStats } from '../../../src/ip/stats.ts';
import { onesSum } from '../../../src/wire/checksum.ts';
import { fragment, PEER, packet, pattern, US } from './helpers.ts';

function setup() {
  const stats = createIpStats();
  const input = new IpInput({ address: US }, stats);
  return { stats, input };
}

function refix(b: Uint8Array): Uint8Array {
  const hlen = (b[0] & 0xf) * 4;
  b[10] = 0;
  b[11] = 0;
  const c = ~onesSum(b, 0, hlen) & 0xffff;
  b[10] = c >>> 8;
  b[11] = c & 0xff;
  return b;
}

/** Count of every non-zero drop reason. */
function drops(stats: ReturnType<typeof createIpStats>): Record<string, number> {
  return Object.fromEntries(Object.entries(stats.drops).filter(([, n]) => n > 0));
}

describe('IpInput', () => {
  it('delivers a valid datagram with its fields', () => {
    const { stats, input } = setup();
    const d = input.receive(packet(pattern(30), { protocol: 6, ttl: 9 }), 0);
    expect(d).toMatchObject({
      src: PEER,
      dst: US,
      protocol: 6,
      ttl: 9,
      broadcast: false,
      reassembled: false,
    });
    expect(d!.payload).toEqual(pattern(30));
    expect(d!.header.length).toBe(20);
    expect(stats.rxPackets).toBe(1);
    expect(stats.rxDelivered).toBe(1);
    expect(drops(stats)).toEqual({});
  });

  it('counts each malformed header by reason', () => {
    const { stats, input } = setup();
    const good = packet(pattern(12));
    input.receive(good.subarray(0, 10), 0); // truncated
    const v6 = good.slice();
    v6[0] = 0x65;
    input.receive(refix(v6), 0); // bad-version
    const ihl = good.slice();
    ihl[0] = 0x44;
    input.receive(ihl, 0); // bad-ihl
    const long = good.slice();
    long[3] += 1;
    input.receive(refix(long), 0); // bad-length (total length beyond buffer)
    const sum = good.slice();
    sum[8] ^= 0x10;
    input.receive(sum, 0); // bad-checksum
    expect(drops(stats)).toEqual({
      truncated: 1,
      'bad-version': 1,
      'bad-ihl': 1,
      'bad-length': 1,
      'bad-checksum': 1,
    });
    expect(stats.rxPackets).toBe(5);
    expect(stats.rxDelivered).toBe(0);
  });

  it('drops datagrams for other addresses, and from impossible sources', () => {
    const { stats, input } = setup();
    expect(input.receive(packet(pattern(4), { dst: US + 1 }), 0)).toBe(null);
    expect(input.receive(packet(pattern(4), { dst: 0xe0000001 }), 0)).toBe(null);
    expect(input.receive(packet(pattern(4), { src: 0x7f000001 }), 0)).toBe(null);
    expect(input.receive(packet(pattern(4), { src: 0xffffffff }), 0)).toBe(null);
    expect(drops(stats)).toEqual({
      'not-our-address': 2,
      'martian-loopback': 1,
      'martian-broadcast': 1,
    });
  });

  it('drops martian sources, each under its own reason, as Linux input routing does', () => {
    const { stats, input } = setup();
    const cases: [number, string][] = [
      [US, 'martian-own-address'], // LAND: a packet from the wire claiming to be from us
      [0x7f000001, 'martian-loopback'],
      [0x00000000, 'martian-this-network'],
      [0x00a0b0c0, 'martian-this-network'],
      [0xe0000001, 'martian-multicast'],
      [0xefffffff, 'martian-multicast'],
      [0xf0000001, 'martian-class-e'],
      [0xfffffffe, 'martian-class-e'],
      [0xffffffff, 'martian-broadcast'],
    ];
    for (const [src, reason] of cases) {
      const before = stats.drops[reason as keyof typeof stats.drops];
      expect(input.receive(packet(pattern(4), { src }), 0)).toBe(null);
      expect(stats.drops[reason as keyof typeof stats.drops]).toBe(before + 1);
    }
    expect(stats.rxDelivered).toBe(0);
    // The edges of the ranges are ordinary sources.
    for (const src of [0x01000000, 0x7effffff, 0x80000000, 0xdfffffff]) {
      expect(input.receive(packet(pattern(4), { src }), 0)).not.toBe(null);
    }
  });

  it('takes our own address as the source of a looped-back datagram', () => {
    const { stats, input } = setup();
    expect(input.receive(packet(pattern(4), { src: US }), 0, false, true)).not.toBe(null);
    expect(stats.drops['martian-own-address']).toBe(0);
  });

  it('delivers limited broadcast, marked as such', () => {
    const { input } = setup();
    expect(input.receive(packet(pattern(4), { dst: 0xffffffff }), 0)?.broadcast).toBe(true);
  });

  it('skips header options by IHL and counts them', () => {
    const { stats, input } = setup();
    const plain = packet(pattern(8));
    const withOpts = new Uint8Array(plain.length + 8);
    withOpts.set(plain.subarray(0, 20));
    withOpts.set([0x94, 4, 0, 0, 1, 1, 1, 0], 20); // Router Alert, NOPs, EOL
    withOpts.set(plain.subarray(20), 28);
    withOpts[0] = 0x47;
    withOpts[3] = withOpts.length;
    const d = input.receive(refix(withOpts), 0);
    expect(d!.payload).toEqual(pattern(8));
    expect(d!.header.length).toBe(28);
    expect(stats.rxOptionsSkipped).toBe(1);
  });

  it('reassembles fragments arriving in any order into one datagram', () => {
    const { stats, input } = setup();
    const whole = pattern(3000);
    const frags = [
      fragment(whole, 1480, 1480, true),
      fragment(whole, 2960, 40, false),
      fragment(whole, 0, 1480, true),
    ];
    expect(input.receive(frags[0], 0)).toBe(null);
    expect(input.receive(frags[1], 1)).toBe(null);
    const d = input.receive(frags[2], 2);
    expect(d!.reassembled).toBe(true);
    expect(d!.payload).toEqual(whole);
    expect(d!.header[6] & 0x3f).toBe(0); // MF and offset cleared in the rebuilt header
    expect((d!.header[2] << 8) | d!.header[3]).toBe(3020);
    expect(stats.rxFragments).toBe(3);
    expect(stats.reassembled).toBe(1);
    expect(stats.rxDelivered).toBe(1);
    expect(input.reassembler.datagramsInProgress).toBe(0);
    expect(input.reassembler.bytesInUse).toBe(0);
  });
});
