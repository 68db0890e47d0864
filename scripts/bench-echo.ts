/**
 * Per-packet cost of the stack's receive-and-answer path, IPv4 against IPv6: an ICMP echo
 * request (64 bytes of ICMP) handed to a dual-stack Stack by a null link, answered, the reply
 * dropped. ns per echo, the best of `--rounds` rounds of `--n` packets each. No I/O, no TUN.
 *
 *   npx tsx scripts/bench-echo.ts [--n 1000000] [--rounds 3]
 */
import { parseArgs } from 'node:util';
import { createStack } from '../src/api/index.ts';
import type { Link, LinkReceiver } from '../src/stack/link.ts';
import { emitIcmp } from '../src/wire/icmp.ts';
import { emitIcmpv6 } from '../src/wire/icmpv6.ts';
import { Ipv4View } from '../src/wire/ipv4.ts';
import { Ipv6View, parseIpv6 } from '../src/wire/ipv6.ts';

const { values } = parseArgs({
  options: { n: { type: 'string', default: '1000000' }, rounds: { type: 'string', default: '3' } },
});
const n = Math.min(Math.max(Number(values.n) || 1_000_000, 1000), 20_000_000);
const rounds = Math.min(Math.max(Number(values.rounds) || 3, 1), 20);

let rx: LinkReceiver | undefined;
let sent = 0;
const link: Link = {
  mtu: 1500,
  attach: (r) => {
    rx = r;
  },
  send: () => {
    sent++;
  },
  flush: () => {},
  close: async () => {},
};
const stack = createStack({ link, address: '10.0.0.2', address6: 'fd00::2' });
const data = new Uint8Array(56);

const v4 = new Uint8Array(20 + 64);
emitIcmp(v4.subarray(20), { kind: 'echo-request', ident: 1, seqNo: 1, data });
Ipv4View.emit(v4, {
  src: 0x0a000001,
  dst: 0x0a000002,
  protocol: 1,
  ttl: 64,
  id: 1,
  dontFrag: true,
  moreFrags: false,
  fragOffset: 0,
  payloadLength: 64,
});
const host6 = parseIpv6('fd00::1');
const us6 = parseIpv6('fd00::2');
const v6 = new Uint8Array(40 + 64);
emitIcmpv6(v6.subarray(40), { kind: 'echo-request', ident: 1, seqNo: 1, data }, host6, us6);
Ipv6View.emit(v6, { src: host6, dst: us6, nextHeader: 58, hopLimit: 64, payloadLength: 64 });

const best = { v4: Number.POSITIVE_INFINITY, v6: Number.POSITIVE_INFINITY };
for (let r = 0; r < rounds; r++) {
  for (const [name, pkt] of [
    ['v4', v4],
    ['v6', v6],
  ] as const) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) rx!.packet(pkt);
    best[name] = Math.min(best[name], Number(process.hrtime.bigint() - t0) / n);
  }
}
const replies = stack.stats.icmp.txEchoReplies + stack.stats.icmp6.txEchoReplies;
if (replies !== 2 * n * rounds || sent !== replies) throw new Error('not every echo was answered');
console.log(
  `echo, ns per packet (best of ${rounds} x ${n}): IPv4 ${best.v4.toFixed(0)}, IPv6 ${best.v6.toFixed(0)} (IPv6/IPv4 ${(best.v6 / best.v4).toFixed(2)})`,
);
await stack.close();
