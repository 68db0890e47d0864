/**
 * IPv6 in the stack (issue 12, phase 1), over a simulated wire with a scripted raw host at
 * fd00::1: echo, fragments both ways, the extension-header chain's refusals and the Parameter
 * Problems they earn, reassembly's bounds and timeout, ND/MLD ignored, ICMPv6 error rate
 * limiting, and IPv4 beside it unchanged.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { startUdpEcho } from '../../src/apps/udp-echo.ts';
import { Ip6Input } from '../../src/ip/ipv6-input.ts';
import { IP6_HEADER_ROOM, Ip6Output } from '../../src/ip/ipv6-output.ts';
import { createIp6Stats } from '../../src/ip/stats6.ts';
import type { StackOptions } from '../../src/stack/stack.ts';
import { emitIcmp, IcmpView, icmpLen } from '../../src/wire/icmp.ts';
import { emitIcmpv6, type Icmpv6Repr, Icmpv6View, icmpv6Len } from '../../src/wire/icmpv6.ts';
import {
  emitFragmentHeader,
  Ipv6View,
  ipv6Equal,
  parseIpv6,
  readFragmentHeader,
} from '../../src/wire/ipv6.ts';
import { ParseError } from '../../src/wire/parse-error.ts';
import { emitUdp, emitUdp6, UdpView } from '../../src/wire/udp.ts';
import { advance, ipPacket, pattern, rawHost } from './fixture.ts';

const HOST6 = parseIpv6('fd00::1');
const US6 = parseIpv6('fd00::2');

function v6Host(stack: Partial<StackOptions> = {}) {
  return rawHost({ stack: { address6: 'fd00::2', ip6: { initialId: 1000 }, ...stack } });
}

/** An ICMPv6 message from HOST6 to `dst`. */
function icmp6(repr: Icmpv6Repr, dst = US6, src = HOST6): Uint8Array {
  const m = new Uint8Array(icmpv6Len(repr));
  emitIcmpv6(m, repr, src, dst);
  return m;
}

function echo6(seqNo: number, data: Uint8Array, dst = US6): Uint8Array {
  return icmp6({ kind: 'echo-request', ident: 77, seqNo, data }, dst);
}

/**
 * A packet from `src` to `dst`: the fixed header, `exts` (each a header body with its Next
 * Header byte left for this function to fill in: [type, bytes]), then `upper` as protocol `next`.
 */
function pkt6(
  next: number,
  upper: Uint8Array,
  o: { exts?: [number, number[]][]; src?: Uint8Array; dst?: Uint8Array; hopLimit?: number } = {},
): Uint8Array {
  const exts = o.exts ?? [];
  const types = [...exts.map(([t]) => t), next];
  const extBytes = exts.flatMap(([, b], i) => [types[i + 1], ...b.slice(1)]);
  const out = new Uint8Array(40 + extBytes.length + upper.length);
  Ipv6View.emit(out, {
    src: o.src ?? HOST6,
    dst: o.dst ?? US6,
    nextHeader: types[0],
    hopLimit: o.hopLimit ?? 64,
    payloadLength: extBytes.length + upper.length,
  });
  out.set(extBytes, 40);
  out.set(upper, 40 + extBytes.length);
  return out;
}

/** Destination options (60) holding `tlvs`, padded to 8 bytes (the caller's TLVs fit in 6). */
function destOpts(tlvs: number[], type = 60): [number, number[]] {
  const body = [0, 0, ...tlvs];
  while (body.length % 8 !== 0) body.push(0); // Pad1s
  body[1] = body.length / 8 - 1;
  return [type, body];
}

/** The host's IPv6 output: cuts a big packet into fragments as Linux would. */
function fragmenter(mtu = 1500) {
  const out: Uint8Array[] = [];
  const ip = new Ip6Output(
    { address: HOST6, mtu, initialId: 0xabcd },
    { send: (p) => out.push(p) },
    createIp6Stats(),
  );
  return {
    fragments(next: number, upper: Uint8Array): Uint8Array[] {
      out.length = 0;
      const p = ip.allocPacket(upper.length);
      p.set(upper, IP6_HEADER_ROOM);
      ip.send(p, next, US6);
      return [...out];
    },
  };
}

/** Parse what the stack sent as IPv6 + ICMPv6 (reassembling fragments with a host-side input). */
function received6(packets: Uint8Array[]) {
  const input = new Ip6Input({ address: HOST6 }, createIp6Stats());
  const msgs: { ip: Ipv6View; icmp: Icmpv6View; packet: Uint8Array }[] = [];
  for (const p of packets) {
    if (p[0] >>> 4 !== 6) continue;
    const d = input.receive(p, 0);
    if (d === null || d.protocol !== 58) continue;
    const ip = Ipv6View.check(d.packet);
    if (ip instanceof ParseError) throw new Error(ip.reason);
    const icmp = Icmpv6View.check(d.payload, d.src, d.dst);
    if (icmp instanceof ParseError) throw new Error(`ICMPv6 ${icmp.reason}`);
    msgs.push({ ip, icmp, packet: d.packet.slice() });
  }
  return msgs;
}

describe('IPv6: echo', () => {
  it('answers an echo request with the same identifier, sequence and data, checksum right', async () => {
    const { clock, stack, received, send } = v6Host();
    const data = pattern(56);
    send(pkt6(58, echo6(1, data)));
    await advance(clock, 10);
    const [r] = received6(received);
    expect(received).toHaveLength(1);
    expect(ipv6Equal(r.ip.src, US6) && ipv6Equal(r.ip.dst, HOST6)).toBe(true);
    expect(r.ip.hopLimit).toBe(64);
    expect(r.icmp.toRepr()).toEqual({ kind: 'echo-reply', ident: 77, seqNo: 1, data });
    expect(stack.stats.icmp6).toMatchObject({ rxEchoRequests: 1, txEchoReplies: 1 });
    expect(stack.stats.ip6).toMatchObject({ rxPackets: 1, rxDelivered: 1, txPackets: 1 });
    await stack.close();
  });

  it('reassembles an 8000-byte request and fragments the reply (ping -6 -s 8000)', async () => {
    const { clock, stack, received, send } = v6Host();
    const data = pattern(8000, 3);
    const frags = fragmenter().fragments(58, echo6(9, data));
    expect(frags).toHaveLength(6);
    send(...frags.reverse()); // any order
    await advance(clock, 10);
    expect(stack.stats.ip6).toMatchObject({ rxFragments: 6, reassembled: 1, txFragmented: 1 });
    expect(received).toHaveLength(6);
    for (const f of received) {
      expect(f.length).toBeLessThanOrEqual(1500);
      expect(f[6]).toBe(44); // a Fragment header
      expect(readFragmentHeader(f, 40).id).toBe(1000); // our first identification
    }
    const [r] = received6(received);
    expect(r.icmp.toRepr()).toEqual({ kind: 'echo-reply', ident: 77, seqNo: 9, data });
    await stack.close();
  });

  it('takes an atomic fragment as an unfragmented packet (RFC 6946)', async () => {
    const { clock, stack, received, send } = v6Host();
    const fh = new Uint8Array(8);
    emitFragmentHeader(fh, 0, { nextHeader: 0, offset: 0, more: false, id: 5 });
    send(pkt6(58, echo6(2, pattern(8)), { exts: [[44, [...fh]]] }));
    await advance(clock, 10);
    expect(received6(received)[0].icmp.type).toBe(129);
    expect(stack.stats.ip6).toMatchObject({ rxAtomicFragments: 1, rxFragments: 0, reassembled: 0 });
    await stack.close();
  });

  it('pings out and hears the reply; pings itself through loopback', async () => {
    const { clock, stack, received, send } = v6Host();
    const replies: number[] = [];
    stack.icmp6!.onEchoReply = (_src, _id, seq) => replies.push(seq);
    expect(stack.sendEchoRequest6('fd00::1', 5, 1, pattern(4))).toBe(true);
    await advance(clock, 10);
    const [req] = received6(received);
    expect(req.icmp.toRepr()).toMatchObject({ kind: 'echo-request', ident: 5, seqNo: 1 });
    send(pkt6(58, icmp6({ kind: 'echo-reply', ident: 5, seqNo: 1, data: pattern(4) })));
    stack.sendEchoRequest6('fd00::2', 5, 2, pattern(4));
    await advance(clock, 10);
    expect(replies).toEqual([1, 2]);
    expect(stack.stats.link.loopbackPackets).toBe(2); // our request and our reply
    await stack.close();
  });

  it('answers IPv4 beside IPv6 on the same link', async () => {
    const { clock, stack, received, send } = v6Host();
    const msg = new Uint8Array(
      icmpLen({ kind: 'echo-request', ident: 1, seqNo: 1, data: pattern(8) }),
    );
    emitIcmp(msg, { kind: 'echo-request', ident: 1, seqNo: 1, data: pattern(8) });
    send(ipPacket(msg, { protocol: 1 }), pkt6(58, echo6(1, pattern(8))));
    await advance(clock, 10);
    expect(received).toHaveLength(2);
    const v4 = Ipv4OrThrow(received[0]);
    expect(v4.type).toBe(0);
    expect(received6(received)[0].icmp.type).toBe(129);
    expect(stack.stats.icmp.txEchoReplies).toBe(1);
    expect(stack.stats.icmp6.txEchoReplies).toBe(1);
    await stack.close();
  });

  it('drops IPv6 as a bad version when the stack has no IPv6 address', async () => {
    const { clock, stack, received, send } = rawHost();
    send(pkt6(58, echo6(1, pattern(8))));
    await advance(clock, 10);
    expect(received).toHaveLength(0);
    expect(stack.stats.ip.drops['bad-version']).toBe(1);
    expect(stack.ip6).toBeNull();
    await stack.close();
  });
});

function Ipv4OrThrow(p: Uint8Array): IcmpView {
  expect(p[0]).toBe(0x45);
  const v = IcmpView.check(p.subarray(20));
  if (v instanceof ParseError) throw new Error(v.reason);
  return v;
}

describe('IPv6: what input refuses, and the Parameter Problems it sends', () => {
  it('answers an unknown Next Header with code 1 pointing at the field that named it', async () => {
    const { clock, stack, received, send } = v6Host();
    const bad = pkt6(253, pattern(16));
    const behindOpts = pkt6(253, pattern(16), { exts: [destOpts([])] });
    send(bad, behindOpts);
    await advance(clock, 10);
    const msgs = received6(received);
    expect(msgs.map((m) => m.icmp.toRepr())).toEqual([
      { kind: 'parameter-problem', code: 1, pointer: 6, data: bad },
      { kind: 'parameter-problem', code: 1, pointer: 40, data: behindOpts },
    ]);
    expect(stack.stats.ip6.drops['unknown-next-header']).toBe(2);
    expect(stack.stats.icmp6.txParameterProblem).toBe(2);
    await stack.close();
  });

  it('refuses a type 0 Routing header with segments left (RFC 5095): code 0 at the type', async () => {
    const { clock, stack, received, send } = v6Host();
    const rh0 = pkt6(58, echo6(1, pattern(8)), {
      exts: [[43, [0, 2, 0, 1, 0, 0, 0, 0, ...new Array(16).fill(0)]]],
    });
    send(rh0);
    await advance(clock, 10);
    expect(received6(received).map((m) => m.icmp.toRepr())).toEqual([
      { kind: 'parameter-problem', code: 0, pointer: 42, data: rh0 },
    ]);
    expect(stack.stats.ip6.drops['routing-type0']).toBe(1);
    expect(stack.stats.icmp6.rxEchoRequests).toBe(0);
    await stack.close();
  });

  it('acts on unrecognised options by their action bits, multicast or not', async () => {
    const { clock, stack, received, send } = v6Host();
    const all = parseIpv6('ff02::1');
    const skip = pkt6(58, echo6(1, pattern(8)), { exts: [destOpts([0x1e, 0])] });
    const discard = pkt6(58, echo6(2, pattern(8)), { exts: [destOpts([0x5e, 0])] });
    const answer = pkt6(58, echo6(3, pattern(8)), { exts: [destOpts([0x9e, 0])] });
    const answerMc = pkt6(58, echo6(4, pattern(8), all), { exts: [destOpts([0x9e, 0])], dst: all });
    const unicastOnly = pkt6(58, echo6(5, pattern(8)), { exts: [destOpts([0xde, 0])] });
    const unicastOnlyMc = pkt6(58, echo6(6, pattern(8), all), {
      exts: [destOpts([0xde, 0])],
      dst: all,
    });
    send(skip, discard, answer, answerMc, unicastOnly, unicastOnlyMc);
    await advance(clock, 10);
    const msgs = received6(received).map((m) => m.icmp.toRepr());
    expect(msgs).toEqual([
      { kind: 'echo-reply', ident: 77, seqNo: 1, data: pattern(8) },
      { kind: 'parameter-problem', code: 2, pointer: 42, data: answer },
      { kind: 'parameter-problem', code: 2, pointer: 42, data: answerMc },
      { kind: 'parameter-problem', code: 2, pointer: 42, data: unicastOnly },
    ]);
    expect(stack.stats.ip6.drops).toMatchObject({ 'option-discard': 2, 'option-unrecognised': 3 });
    await stack.close();
  });

  it('drops martian sources, other destinations and bad lengths without a word', async () => {
    const { clock, stack, received, send } = v6Host();
    const e = echo6(1, pattern(8));
    const truncated = pkt6(58, e).subarray(0, 50);
    send(
      pkt6(58, e, { src: parseIpv6('ff02::1') }),
      pkt6(58, e, { src: US6 }),
      pkt6(58, e, { src: parseIpv6('::1') }),
      pkt6(58, e, { src: parseIpv6('::ffff:10.0.0.1') }),
      pkt6(58, e, { dst: parseIpv6('fd00::3') }),
      truncated,
      pkt6(58, e).subarray(0, 39),
    );
    await advance(clock, 10);
    expect(received).toHaveLength(0);
    expect(stack.stats.ip6.drops).toMatchObject({
      'martian-multicast': 1,
      'martian-own-address': 1,
      'martian-loopback': 1,
      'martian-v4mapped': 1,
      'not-our-address': 1,
      'bad-length': 1,
      truncated: 1,
    });
    await stack.close();
  });

  it('answers nothing to :: (RFC 4291 §2.5.2): only ND and MLD may come from it (the fuzzer found replies to ::)', async () => {
    const { clock, stack, received, send } = v6Host();
    const any = parseIpv6('::');
    const ns = icmp6({ kind: 'other', type: 135, code: 0, rest: 0, data: US6 }, US6, any);
    send(
      pkt6(58, echo6(1, pattern(8)), { src: any }),
      pkt6(17, pattern(16), { src: any }),
      pkt6(6, pattern(20), { src: any }),
      pkt6(58, ns, { src: any, hopLimit: 255 }), // duplicate address detection's solicitation
    );
    await advance(clock, 10);
    expect(received).toHaveLength(0);
    expect(stack.stats.ip6.drops['martian-unspecified']).toBe(3);
    expect(stack.stats.icmp6).toMatchObject({ rxNdIgnored: 1, rxEchoRequests: 0 });
    await stack.close();
  });

  it('sends no Parameter Problem about an ICMPv6 error message (RFC 4443 §2.4 (e.1)), however deep in the chain (the fuzzer found one)', async () => {
    const { clock, stack, received, send } = v6Host();
    const unreach = icmp6({ kind: 'other', type: 1, code: 4, rest: 0, data: pattern(48) });
    const echo = echo6(1, pattern(8));
    // An option whose action bits ask for a Parameter Problem, before an error and an echo.
    const behindOption = pkt6(58, unreach, { exts: [destOpts([0x9e, 0])] });
    const echoBehindOption = pkt6(58, echo, { exts: [destOpts([0x9e, 0])] });
    // Hop-by-Hop out of place (code 1), then ten more headers, then the error.
    const deep = pkt6(58, unreach, {
      exts: [destOpts([]), destOpts([], 0), ...Array.from({ length: 10 }, () => destOpts([]))],
    });
    send(behindOption, echoBehindOption, deep);
    await advance(clock, 10);
    expect(received6(received).map((m) => m.icmp.toRepr())).toEqual([
      { kind: 'parameter-problem', code: 2, pointer: 42, data: echoBehindOption },
    ]);
    expect(stack.stats.icmp6.txSuppressed).toBe(2);
    expect(stack.stats.ip6.drops).toMatchObject({ 'option-unrecognised': 2, 'hbh-not-first': 1 });
    await stack.close();
  });

  it('ignores the kernel’s MLD reports and router solicitations, with a counter each', async () => {
    const { clock, stack, received, send } = v6Host();
    const mldDst = parseIpv6('ff02::16');
    const rsDst = parseIpv6('ff02::2');
    const ll = parseIpv6('fe80::1');
    const report = icmp6(
      { kind: 'other', type: 143, code: 0, rest: 1, data: pattern(20) },
      mldDst,
      ll,
    );
    const rs = icmp6(
      { kind: 'other', type: 133, code: 0, rest: 0, data: new Uint8Array(0) },
      rsDst,
      ll,
    );
    // MLD as Linux sends it: Hop-by-Hop with Router Alert (RFC 3810 §5), hop limit 1.
    send(
      pkt6(58, report, { exts: [destOpts([5, 2, 0, 0], 0)], src: ll, dst: mldDst, hopLimit: 1 }),
      pkt6(58, rs, { src: ll, dst: rsDst, hopLimit: 255 }),
      pkt6(17, pattern(16), { src: ll, dst: mldDst }), // UDP to a group we never joined
    );
    await advance(clock, 10);
    expect(received).toHaveLength(0);
    expect(stack.stats.icmp6).toMatchObject({ rxMldIgnored: 1, rxNdIgnored: 1, txMessages: 0 });
    expect(stack.stats.ip6).toMatchObject({ rxMulticast: 3 });
    expect(stack.stats.ip6.drops['multicast-not-joined']).toBe(1);
    await stack.close();
  });

  it('hands TCP over IPv6 to TCP, which drops a bad checksum with a counter (test/sim/tcp6)', async () => {
    const { clock, stack, received, send } = v6Host();
    send(pkt6(6, pattern(20)));
    await advance(clock, 10);
    expect(received).toHaveLength(0);
    expect(stack.stats.tcp.drops['bad-checksum']).toBe(1);
    await stack.close();
  });

  it('rate-limits ICMPv6 errors with a token bucket (RFC 4443 §2.4 (f))', async () => {
    const { clock, stack, received, send } = v6Host({
      icmp: { errorBurst: 10, errorRatePerSec: 100 },
    });
    const bad = pkt6(253, pattern(8));
    send(...new Array(25).fill(bad));
    await advance(clock, 10);
    expect(received).toHaveLength(10);
    expect(stack.stats.icmp6.txRateLimited).toBe(15);
    await advance(clock, 100); // 10 more tokens
    received.length = 0;
    send(...new Array(25).fill(bad));
    await advance(clock, 1);
    expect(received).toHaveLength(10);
    await stack.close();
  });
});

describe('IPv6: reassembly', () => {
  it('sends Time Exceeded code 1 after 60 s when only the first fragment came, quoting it', async () => {
    const { clock, stack, received, send } = v6Host();
    const frags = fragmenter().fragments(58, echo6(1, pattern(3000)));
    send(frags[0], frags[2]);
    await advance(clock, 59_999);
    expect(received).toHaveLength(0);
    await advance(clock, 2);
    const msgs = received6(received);
    expect(msgs.map((m) => m.icmp.toRepr())).toEqual([
      { kind: 'time-exceeded', code: 1, data: frags[0].subarray(0, 1232) },
    ]);
    expect(stack.stats.ip6.drops['frag-timeout']).toBe(1);
    // Without the first fragment: dropped as quietly.
    received.length = 0;
    send(frags[1]);
    await advance(clock, 60_001);
    expect(received).toHaveLength(0);
    expect(stack.stats.ip6.drops['frag-timeout']).toBe(2);
    await stack.close();
  });

  it('sends no Time Exceeded when the datagram that timed out is an ICMPv6 error (RFC 4443 §2.4 (e.1); the fuzzer found one)', async () => {
    const { clock, stack, received, send } = v6Host();
    const unreach = icmp6({ kind: 'other', type: 1, code: 4, rest: 0, data: pattern(3000) });
    const frags = fragmenter().fragments(58, unreach);
    send(frags[0], frags[2]);
    await advance(clock, 60_001);
    expect(received).toHaveLength(0);
    expect(stack.stats.ip6.drops['frag-timeout']).toBe(1);
    expect(stack.stats.icmp6).toMatchObject({ txTimeExceeded: 0, txSuppressed: 1 });
    await stack.close();
  });

  it('drops the whole datagram on overlapping fragments (RFC 5722), keeps exact duplicates', async () => {
    const { clock, stack, received, send } = v6Host();
    const data = pattern(3000);
    const frags = fragmenter().fragments(58, echo6(1, data));
    send(frags[0], frags[0], frags[1], frags[2]); // a duplicate: still answered
    await advance(clock, 10);
    expect(received6(received)).toHaveLength(1);
    expect(stack.stats.ip6.drops['frag-duplicate']).toBe(1);
    // A fragment inside bytes already received, at other bounds: an overlap.
    received.length = 0;
    const f = fragmenter();
    const [a, b, c] = f.fragments(58, echo6(2, data));
    const inner = a.slice(0, 40 + 8 + 16);
    inner[4] = 0;
    inner[5] = 8 + 16; // payload length: the Fragment header and 16 bytes
    inner[40 + 3] = (8 & 0xf8) | 1; // offset 8, M set
    send(a, inner, b, c);
    await advance(clock, 10);
    expect(received).toHaveLength(0);
    expect(stack.stats.ip6.drops['frag-overlap']).toBe(1);
    await stack.close();
  });

  it('answers a non-final fragment that is not a multiple of 8 with code 0 at Payload Length', async () => {
    const { clock, stack, received, send } = v6Host();
    const [a] = fragmenter().fragments(58, echo6(1, pattern(3000)));
    const odd = a.subarray(0, a.length - 3).slice();
    odd[4] = (odd.length - 40) >> 8;
    odd[5] = (odd.length - 40) & 0xff;
    send(odd);
    await advance(clock, 10);
    expect(received6(received).map((m) => m.icmp.toRepr())).toEqual([
      { kind: 'parameter-problem', code: 0, pointer: 4, data: odd.subarray(0, 1232) },
    ]);
    expect(stack.stats.ip6.drops['bad-fragment']).toBe(1);
    await stack.close();
  });

  it('refuses a first fragment without the whole header chain: code 3 (RFC 7112)', async () => {
    const { clock, stack, received, send } = v6Host();
    const fh = (offset: number, more: boolean) => {
      const b = new Uint8Array(8);
      emitFragmentHeader(b, 0, { nextHeader: 0, offset, more, id: 99 });
      return [...b];
    };
    const opts = destOpts([])[1];
    opts[0] = 58; // the ICMPv6 header follows, in the next fragment only
    const first = pkt6(60, new Uint8Array(opts), { exts: [[44, fh(0, true)]] });
    const second = pkt6(58, echo6(1, pattern(16)), { exts: [[44, fh(8, false)]] });
    send(first, second);
    await advance(clock, 10);
    expect(received6(received).map((m) => m.icmp.toRepr())).toEqual([
      { kind: 'parameter-problem', code: 3, pointer: 0, data: first },
    ]);
    expect(stack.stats.ip6.drops['frag-incomplete-chain']).toBe(1);
    expect(stack.stats.ip6.reassembled).toBe(0);
    await stack.close();
  });

  it('bounds the memory of datagrams in progress, counting what it refuses', async () => {
    const { clock, stack, received, send } = v6Host({
      ip6: { reassembly: { maxBytes: 8_000 } },
    });
    const f = fragmenter();
    const firsts = [];
    for (let i = 0; i < 10; i++) firsts.push(f.fragments(58, echo6(i, pattern(3000)))[0]);
    send(...firsts);
    await advance(clock, 10);
    expect(received).toHaveLength(0);
    expect(stack.ip6!.input.reassembler.bytesInUse).toBeLessThanOrEqual(8_000);
    expect(stack.stats.ip6.drops['frag-memory']).toBeGreaterThan(0);
    await stack.close();
  });
});

/** A UDP datagram from HOST6:`srcPort` to US6:`dstPort`, checksum over the IPv6 pseudo-header. */
function udp6(srcPort: number, dstPort: number, payload: Uint8Array): Uint8Array {
  const u = new Uint8Array(8 + payload.length);
  emitUdp6(u, { srcPort, dstPort, payload }, HOST6, US6);
  return u;
}

/** The UDP datagrams the stack sent over IPv6, checked as the host would. */
function udpReceived(packets: Uint8Array[]) {
  const input = new Ip6Input({ address: HOST6 }, createIp6Stats());
  const out: { srcPort: number; dstPort: number; payload: number[] }[] = [];
  for (const p of packets) {
    if (p[0] >>> 4 !== 6) continue;
    const d = input.receive(p, 0);
    if (d === null || d.protocol !== 17) continue;
    const u = UdpView.check6(d.payload, d.src, d.dst);
    if (u instanceof ParseError) throw new Error(`UDP ${u.reason}`);
    out.push({ srcPort: u.srcPort, dstPort: u.dstPort, payload: [...u.payload] });
  }
  return out;
}

describe('UDP over IPv6', () => {
  it('the udp-echo app answers both families from one udp6 socket', async () => {
    const { clock, stack, received, send } = v6Host();
    const echo = await startUdpEcho(stack);
    expect(echo.socket.address()).toEqual({ address: '::', family: 'IPv6', port: 7 });
    const u4 = new Uint8Array(8 + 5);
    emitUdp(u4, { srcPort: 4000, dstPort: 7, payload: pattern(5) }, 0x0a000001, 0x0a000002);
    send(pkt6(17, udp6(5000, 7, pattern(20))), ipPacket(u4, { protocol: 17 }));
    await advance(clock, 10);
    expect(udpReceived(received)).toEqual([
      { srcPort: 7, dstPort: 5000, payload: [...pattern(20)] },
    ]);
    const v4 = received.find((p) => p[0] === 0x45)!;
    expect(v4).toBeDefined();
    expect([...v4.subarray(28)]).toEqual([...pattern(5)]);
    expect(echo.echoed).toBe(2);
    await echo.close();
    await stack.close();
  });

  it('echoes an 8000-byte datagram: reassembled in, fragmented out', async () => {
    const { clock, stack, received, send } = v6Host();
    const echo = await startUdpEcho(stack);
    send(...fragmenter().fragments(17, udp6(5000, 7, pattern(8000, 1))));
    await advance(clock, 10);
    expect(stack.stats.ip6).toMatchObject({ reassembled: 1, txFragmented: 1 });
    expect(udpReceived(received)).toEqual([
      { srcPort: 7, dstPort: 5000, payload: [...pattern(8000, 1)] },
    ]);
    await echo.close();
    await stack.close();
  });

  it('answers a closed port with Destination Unreachable code 4; a udp4 socket’s port too', async () => {
    const { clock, stack, received, send } = v6Host();
    const s4 = stack.dgram.createSocket('udp4');
    s4.bind(9999);
    await advance(clock, 1);
    const closed = pkt6(17, udp6(5000, 4242, pattern(4)));
    const v4only = pkt6(17, udp6(5000, 9999, pattern(4)));
    send(closed, v4only);
    await advance(clock, 10);
    expect(received6(received).map((m) => m.icmp.toRepr())).toEqual([
      { kind: 'dest-unreachable', code: 4, data: closed },
      { kind: 'dest-unreachable', code: 4, data: v4only },
    ]);
    expect(stack.stats.udp.drops['no-port']).toBe(2);
    s4.close();
    await stack.close();
  });

  it('drops a zero or wrong checksum (RFC 8200 §8.1), answering nothing', async () => {
    const { clock, stack, received, send } = v6Host();
    const echo = await startUdpEcho(stack);
    const zero = udp6(5000, 7, pattern(8));
    zero[6] = 0;
    zero[7] = 0;
    const wrong = udp6(5000, 7, pattern(8));
    wrong[9] ^= 1;
    send(pkt6(17, zero), pkt6(17, wrong));
    await advance(clock, 10);
    expect(received).toHaveLength(0);
    expect(stack.stats.udp.drops['bad-checksum']).toBe(2);
    await echo.close();
    await stack.close();
  });

  it('a udp6 socket sends to an IPv6 peer and tells IPv6 senders by address', async () => {
    const { clock, stack, received, send } = v6Host();
    const s = stack.dgram.createSocket('udp6');
    const got: [string, object][] = [];
    s.on('message', (m, rinfo) => got.push([m.toString(), rinfo]));
    s.bind(5353);
    await advance(clock, 1);
    s.send('hi', 6000, 'fd00::1');
    await advance(clock, 10);
    expect(udpReceived(received)).toEqual([
      { srcPort: 5353, dstPort: 6000, payload: [...Buffer.from('hi')] },
    ]);
    send(pkt6(17, udp6(6000, 5353, Buffer.from('yo'))));
    await advance(clock, 10);
    expect(got).toEqual([['yo', { address: 'fd00::1', family: 'IPv6', port: 6000, size: 2 }]]);
    s.close();
    await stack.close();
  });
});

describe('IPv6: hostile bytes', () => {
  it('never throws, answers at most once per packet, and everything it sends checks', async () => {
    const { clock, stack, received, send } = v6Host({ icmp: { errorBurst: 1_000_000 } });
    const echo = await startUdpEcho(stack);
    const nextHeaders = fc.constantFrom(0, 6, 17, 43, 44, 58, 59, 60, 253);
    const ext = fc.tuple(nextHeaders, fc.array(fc.nat(255), { minLength: 8, maxLength: 40 }));
    let sentIn = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(ext, { maxLength: 4 }),
        nextHeaders,
        fc.uint8Array({ maxLength: 64 }),
        fc.boolean(),
        async (exts, upper, body, multicast) => {
          const p = pkt6(upper, body, multicast ? { exts, dst: parseIpv6('ff02::1') } : { exts });
          send(p);
          sentIn++;
          await advance(clock, 1);
        },
      ),
      { numRuns: 300, seed: 12 },
    );
    await advance(clock, 61_000); // reassembly timeouts too
    expect(stack.stats.link.rxErrors).toBe(0);
    expect(received.length).toBeLessThanOrEqual(sentIn);
    for (const p of received) {
      const ip = Ipv6View.check(p);
      expect(ip).toBeInstanceOf(Ipv6View);
      expect(ipv6Equal((ip as Ipv6View).src, US6)).toBe(true);
    }
    expect(received6(received).length).toBeGreaterThan(0); // some were answered (all checked)
    await echo.close();
    await stack.close();
  });
});

describe('UDP over IPv6: errors back to the socket', () => {
  it('a connected udp6 socket hears ECONNREFUSED from a port unreachable quoting its datagram', async () => {
    const { clock, stack, received, send } = v6Host();
    const s = stack.dgram.createSocket('udp6');
    const errors: string[] = [];
    s.on('error', (e) => errors.push(String(e.code)));
    s.bind(5353);
    s.connect(6000, 'fd00::1');
    await advance(clock, 1);
    s.send('hi');
    await advance(clock, 10);
    const [sent] = received;
    const quote = (code: number, pkt: Uint8Array) =>
      pkt6(58, icmp6({ kind: 'dest-unreachable', code, data: pkt }));
    // Not ours (another source in the quote), another port, then the real one.
    const forged = sent.slice();
    forged[23] ^= 1;
    const otherPort = sent.slice();
    otherPort[43] ^= 1;
    send(quote(4, forged), quote(4, otherPort), quote(4, sent));
    await advance(clock, 10);
    expect(errors).toEqual(['ECONNREFUSED']);
    expect(stack.stats.icmp6).toMatchObject({ rxDestUnreachable: 3, rxErrorsReported: 2 });
    s.close();
    await stack.close();
  });
});
