/**
 * Hostile input, part 1: the catalogue of malformed packets (test/kernel/hostile/catalogue.ts),
 * each written onto the kernel's side of the TUN device unchanged through an AF_PACKET socket,
 * and a fragment flood with one IP ID. For every case: exactly the named counters of stack.stats
 * grew by exactly the named amounts, and the stack sent exactly the named replies (none, a RST,
 * an ICMP error, a SYN-ACK, an echo reply). After each group the stack must still serve: ping
 * answered within 100 ms and curl http://10.0.0.2/ gets 200. Issue 9, item 5.
 *
 * One namespace and stack per group (a case's own packets are told apart from the others' by
 * the barrier, see hostile/inject.ts), so that ~70 cases cost seconds, not minutes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kernelDescribe, STACK_ADDR } from './harness.ts';
import { CATALOGUE, type HostileCase, PEER } from './hostile/catalogue.ts';
import {
  expectReplies,
  expectStillServes,
  grewByCase,
  type HostileFixture,
  hostileGroup,
} from './hostile/inject.ts';
import {
  describeReply,
  get16,
  ipv4,
  type ParsedReply,
  PROTO_ICMP,
  PROTO_TCP,
} from './hostile/packets.ts';

/** Source ports of the case's TCP packets (first fragments and whole packets). */
function tcpSourcePorts(packets: readonly Uint8Array[]): Set<number> {
  const ports = new Set<number>();
  for (const p of packets) {
    if (p.length < 22 || p[9] !== PROTO_TCP || p[0] >>> 4 !== 4) continue;
    const hlen = (p[0] & 0x0f) * 4;
    if ((get16(p, 6) & 0x1fff) !== 0 || p.length < hlen + 2) continue;
    ports.add(get16(p, hlen));
  }
  return ports;
}

/**
 * The replies that answer this case: TCP segments to one of its source ports, and everything
 * that is not TCP. (An earlier case's half-open connection retransmits its SYN-ACK to its own
 * port, which is not ours.)
 */
function repliesFor(c: HostileCase, replies: readonly ParsedReply[]): ParsedReply[] {
  const ports = tcpSourcePorts(c.packets);
  return replies.filter((r) => r.protocol !== PROTO_TCP || ports.has(r.dport ?? -1));
}

async function runCase(fx: HostileFixture, c: HostileCase): Promise<void> {
  const before = fx.snapshot();
  const all = await fx.inject(c.packets);
  const after = fx.snapshot();
  const paths = Object.keys(c.counts);
  expect(grewByCase(before, after, paths), 'counters').toEqual(c.counts);
  const replies = repliesFor(c, all);
  expectReplies(replies, c.replies, describeReply);
  // Nothing the stack sent in answer went anywhere but back to the sender of the case.
  for (const r of replies) expect(r.dst, describeReply(r)).toBe(0x0a000063);
}

kernelDescribe('hostile input: malformed packets written raw onto tun0', () => {
  for (const [group, cases] of Object.entries(CATALOGUE)) {
    describe(group, () => {
      const g = hostileGroup();
      beforeAll(() => g.open());
      afterAll(() => g.close());
      for (const c of cases) {
        it(`${c.name}: ${c.must}`, () => runCase(g.fx, c));
      }
      it('afterwards the stack still serves (3 pings within 100 ms, curl 200)', () =>
        expectStillServes(g.fx));
    });
  }

  describe('fragment flood with one IP ID', () => {
    const g = hostileGroup();
    beforeAll(() => g.open());
    afterAll(() => g.close());

    it('1 000 distinct 8-byte fragments of one datagram: bounded at 256 per datagram, counted, memory bounded, a real fragmented ping still answered', async () => {
      const fx = g.fx;
      const offsets = Array.from({ length: 1000 }, (_, i) => i * 8);
      // Shuffled, seeded: the order a flood arrives in does not matter to the bound.
      let seed = 12345;
      for (let i = offsets.length - 1; i > 0; i--) {
        seed = (seed * 1103515245 + 12345) & 0x7fffffff;
        const j = seed % (i + 1);
        [offsets[i], offsets[j]] = [offsets[j], offsets[i]];
      }
      const packets = offsets.map((off) =>
        ipv4({
          src: PEER,
          dst: STACK_ADDR,
          protocol: PROTO_ICMP,
          payload: new Uint8Array(8).fill(off & 0xff),
          id: 0x4444,
          fragOffset: off,
          mf: true,
        }),
      );
      const before = fx.snapshot();
      const devBefore = await fx.devCounters();
      const replies = await fx.inject(packets, { pauseEvery: 100 });
      const devAfter = await fx.devCounters();
      // If the device's queue had dropped some, the exact counts below could not be expected.
      expect(devAfter.txDropped - devBefore.txDropped, 'tun0 tx drops').toBe(0);
      const after = fx.snapshot();
      // The datagram is dropped when its 257th fragment comes (maxFragmentsPerDatagram 256):
      // at the 257th, 514th and 771st; the 229 after those wait in one datagram.
      expect(
        grewByCase(before, after, [
          'ip.rxFragments',
          'ip.drops.bad-fragment',
          'ip.drops.frag-memory',
          'ip.reassembled',
        ]),
      ).toEqual({
        'ip.rxFragments': 1000,
        'ip.drops.bad-fragment': 3,
        'ip.drops.frag-memory': 0,
        'ip.reassembled': 0,
      });
      const r = fx.stack.ip.input.reassembler;
      expect(r.datagramsInProgress).toBe(1);
      expect(r.bytesInUse).toBeLessThanOrEqual(256 * (8 + 64) + 256);
      expect(replies.map(describeReply)).toEqual([]);
      // An 8 000-byte ping (6 fragments each way) from the kernel still goes through.
      const p = await fx.exec([
        'ping',
        '-n',
        '-c',
        '2',
        '-i',
        '0.2',
        '-W',
        '2',
        '-s',
        '8000',
        STACK_ADDR,
      ]);
      expect(p.stdout, p.stderr).toMatch(/2 packets transmitted, 2 received/);
      await expectStillServes(fx);
    });
  });
}, ['python3', 'ping', 'curl']);
