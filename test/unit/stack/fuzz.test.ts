/**
 * Hostile input: mutated and random packets fed straight into a Stack. Whatever arrives, the
 * stack must not throw (rxErrors counts what it caught), must keep its memory bounds, and must
 * send only well-formed IPv4 packets.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createStack } from '../../../src/api/index.ts';
import { VirtualClock } from '../../../src/stack/clock.ts';
import { emitIcmp } from '../../../src/wire/icmp.ts';
import { Ipv4View } from '../../../src/wire/ipv4.ts';
import { ParseError } from '../../../src/wire/parse-error.ts';
import { emitTcp } from '../../../src/wire/tcp.ts';
import { NO_OPTIONS } from '../../../src/wire/tcp-repr.ts';
import { emitUdp } from '../../../src/wire/udp.ts';
import { PEER, packet, pattern, US } from '../ip/helpers.ts';
import { RecordingLink } from './recording-link.ts';

/** Valid packets of every kind the stack handles, to mutate. */
function seeds(): Uint8Array[] {
  const udp = new Uint8Array(8 + 20);
  emitUdp(udp, { srcPort: 1000, dstPort: 7, payload: pattern(20) }, PEER, US);
  const icmp = new Uint8Array(8 + 32);
  emitIcmp(icmp, { kind: 'echo-request', ident: 1, seqNo: 1, data: pattern(32) });
  const tcp = new Uint8Array(40);
  emitTcp(
    tcp,
    {
      srcPort: 1000,
      dstPort: 80,
      control: 'syn',
      psh: false,
      urg: false,
      ece: false,
      cwr: false,
      seq: 5,
      ack: null,
      window: 100,
      urgentPointer: 0,
      options: {
        ...NO_OPTIONS,
        mss: 1460,
        windowScale: 7,
        sackPermitted: true,
        timestamp: { tsVal: 1, tsEcr: 0 },
      },
      payload: new Uint8Array(0),
    },
    PEER,
    US,
  );
  return [
    packet(udp, { protocol: 17 }),
    packet(icmp, { protocol: 1 }),
    packet(tcp, { protocol: 6 }),
    packet(pattern(64), { protocol: 17, id: 9, moreFrags: true }),
    packet(pattern(24), { protocol: 17, id: 9, fragOffset: 64 }),
  ];
}

const mutation = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.nat(7) }),
  fc.record({ kind: fc.constant('byte' as const), at: fc.nat(), value: fc.nat(255) }),
  fc.record({ kind: fc.constant('cut' as const), at: fc.nat() }),
);

describe('Stack under hostile input', () => {
  it('never throws, stays bounded, and sends only valid IPv4', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(4), fc.array(mutation, { maxLength: 4 }), fc.boolean()), {
          maxLength: 60,
        }),
        fc.array(fc.uint8Array({ maxLength: 80 }), { maxLength: 10 }),
        (cases, randoms) => {
          const link = new RecordingLink();
          const clock = new VirtualClock();
          const stack = createStack({
            link,
            address: '10.0.0.2',
            clock,
            reassembly: { maxBytes: 8192 },
          });
          const s = stack.dgram.createSocket('udp4');
          s.bind(7);
          const base = seeds();
          for (const [which, muts, keepChecksum] of cases) {
            let p = base[which].slice();
            for (const m of muts) {
              const at = m.at % p.length;
              if (m.kind === 'flip') p[at] ^= 1 << m.bit;
              else if (m.kind === 'byte') p[at] = m.value;
              else p = p.subarray(0, at);
            }
            if (keepChecksum && p.length >= 20) {
              // Re-checksum the header so mutations reach the layers above IP.
              const v = Ipv4View.check(p);
              if (v instanceof ParseError && v.reason === 'bad-checksum') {
                p[10] = 0;
                p[11] = 0;
                let sum = 0;
                const hl = (p[0] & 15) * 4;
                for (let i = 0; i < hl; i += 2) sum += (p[i] << 8) | p[i + 1];
                while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
                p[10] = (~sum >>> 8) & 0xff;
                p[11] = ~sum & 0xff;
              }
            }
            link.rx!.packet(p);
            link.rx!.batchEnd?.();
            clock.advance(1000);
          }
          for (const r of randoms) link.rx!.packet(r);
          expect(stack.stats.link.rxErrors).toBe(0);
          expect(stack.ip.input.reassembler.bytesInUse).toBeLessThanOrEqual(8192);
          for (const out of link.sent) {
            const v = Ipv4View.check(out);
            expect(v).toBeInstanceOf(Ipv4View);
            expect((v as Ipv4View).src).toBe(US);
          }
          clock.advance(60_000);
          expect(stack.ip.input.reassembler.datagramsInProgress).toBe(0);
          void stack.close();
        },
      ),
      { numRuns: 300 },
    );
  });
});
