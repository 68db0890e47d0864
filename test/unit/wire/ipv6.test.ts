import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  emitFragmentHeader,
  formatIpv6,
  headerChainIncomplete,
  IPV6_WALK_DEFAULTS,
  type Ipv6Repr,
  Ipv6View,
  ipv6Equal,
  isIpv4Mapped,
  isIpv6Loopback,
  isIpv6Multicast,
  isIpv6Unspecified,
  newIpv6Chain,
  parseIpv6,
  readFragmentHeader,
  tryParseIpv6,
  walkIpv6Chain,
} from '../../../src/wire/ipv6.ts';
import { ParseError } from '../../../src/wire/parse-error.ts';
import { chained, frag, opts, routing } from './chain6.ts';
import { a5 } from './known-packets.ts';
import { LOOPBACK6, PING6 } from './known-packets6.ts';

function view(b: Uint8Array): Ipv6View {
  const v = Ipv6View.check(b);
  if (v instanceof ParseError) throw new Error(`unexpected ${v.reason}`);
  return v;
}

function reason(b: Uint8Array): string | null {
  const v = Ipv6View.check(b);
  return v instanceof ParseError ? v.reason : null;
}

describe('Ipv6View: known bytes', () => {
  it('reads every field of a Linux ping -6', () => {
    const v = view(PING6);
    expect(v.version).toBe(6);
    expect(v.trafficClass).toBe(0);
    expect(v.flowLabel).toBe(0x82411);
    expect(v.payloadLength).toBe(24);
    expect(v.nextHeader).toBe(58);
    expect(v.hopLimit).toBe(64);
    expect([...v.src]).toEqual([...LOOPBACK6]);
    expect([...v.dst]).toEqual([...LOOPBACK6]);
    expect(v.payload.length).toBe(24);
    expect(v.payload[0]).toBe(0x80);
  });

  it('reads a traffic class that straddles the first two bytes', () => {
    const b = PING6.slice();
    b[0] = 0x6a; // traffic class 0xab: high nibble in byte 0, low in byte 1
    b[1] = 0xb8;
    expect(view(b).trafficClass).toBe(0xab);
    expect(view(b).flowLabel).toBe(0x82411);
  });

  it('cuts link padding past the payload length', () => {
    const padded = new Uint8Array(PING6.length + 5);
    padded.set(PING6);
    const v = view(padded);
    expect(v.bytes.length).toBe(64);
    expect(v.payload.length).toBe(24);
  });
});

describe('Ipv6View: bad bytes', () => {
  it('refuses fewer than 40 bytes, another version, a payload length past the buffer', () => {
    expect(reason(PING6.subarray(0, 39))).toBe('truncated');
    const v4 = PING6.slice();
    v4[0] = 0x45;
    expect(reason(v4)).toBe('bad-version');
    expect(reason(PING6.subarray(0, 63))).toBe('bad-length');
    const long = PING6.slice();
    long[5] = 25;
    expect(reason(long)).toBe('bad-length');
  });

  it('never throws on any bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 120 }), (b) => {
        const v = Ipv6View.check(b);
        if (!(v instanceof ParseError)) expect(v.bytes.length).toBe(40 + v.payloadLength);
      }),
    );
  });
});

describe('Ipv6View: emit', () => {
  it('writes the fixed header of the known ping byte for byte, every field', () => {
    const out = a5(64);
    out.set(PING6.subarray(40), 40);
    const n = Ipv6View.emit(out, {
      src: LOOPBACK6,
      dst: LOOPBACK6,
      nextHeader: 58,
      hopLimit: 64,
      flowLabel: 0x82411,
      payloadLength: 24,
    });
    expect(n).toBe(40);
    expect(Buffer.from(out).equals(Buffer.from(PING6))).toBe(true);
  });

  it('round-trips any header through emit and check', () => {
    const addr = fc.uint8Array({ minLength: 16, maxLength: 16 });
    fc.assert(
      fc.property(
        fc.record({
          src: addr,
          dst: addr,
          nextHeader: fc.nat(255),
          hopLimit: fc.nat(255),
          trafficClass: fc.nat(255),
          flowLabel: fc.nat(0xfffff),
          payloadLength: fc.nat(300),
        }),
        (repr: Ipv6Repr) => {
          const buf = a5(40 + repr.payloadLength);
          Ipv6View.emit(buf, repr);
          const back = view(buf).toRepr();
          expect({ ...back, src: [...back.src], dst: [...back.dst] }).toEqual({
            ...repr,
            src: [...repr.src],
            dst: [...repr.dst],
          });
        },
      ),
    );
  });
});

describe('IPv6 addresses', () => {
  it('parses and formats the canonical forms of RFC 5952', () => {
    const cases: [string, string][] = [
      ['fd00::2', 'fd00::2'],
      ['::', '::'],
      ['::1', '::1'],
      ['2001:DB8:0:0:1:0:0:1', '2001:db8::1:0:0:1'], // the first of two equal runs
      ['2001:db8:0:0:0:0:2:1', '2001:db8::2:1'],
      ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'], // one zero group stays
      ['2001:0db8::0001', '2001:db8::1'],
      ['::ffff:10.0.0.1', '::ffff:a00:1'],
      ['fe80::1:2:3:4:5', 'fe80::1:2:3:4:5'],
      ['1:2:3:4:5:6:7::', '1:2:3:4:5:6:7:0'],
    ];
    for (const [text, canonical] of cases) expect(formatIpv6(parseIpv6(text))).toBe(canonical);
  });

  it('refuses what is not an address', () => {
    for (const bad of [
      '',
      ':',
      '1::2::3',
      '12345::',
      '1:2:3:4:5:6:7:8:9',
      '1:2:3:4:5:6:7',
      '1:2:3:4:5:6:7::8',
      'g::1',
      '::1.2.3.256',
      '::01.2.3.4',
      'fd00::2%eth0',
      '10.0.0.1',
    ]) {
      expect(tryParseIpv6(bad), bad).toBeNull();
    }
    expect(() => parseIpv6('nope')).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_IP_ADDRESS' }),
    );
  });

  it('formats then parses back any 16 bytes', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 16, maxLength: 16 }),
        fc.nat(15),
        fc.nat(16),
        (a, from, n) => {
          a.fill(0, from, from + n); // runs of zeros of every length and place
          const back = parseIpv6(formatIpv6(a));
          expect(ipv6Equal(back, a)).toBe(true);
        },
      ),
    );
  });

  it('classifies multicast, unspecified, loopback, IPv4-mapped', () => {
    expect(isIpv6Multicast(parseIpv6('ff02::16'))).toBe(true);
    expect(isIpv6Multicast(parseIpv6('fd00::2'))).toBe(false);
    expect(isIpv6Unspecified(parseIpv6('::'))).toBe(true);
    expect(isIpv6Unspecified(parseIpv6('::1'))).toBe(false);
    expect(isIpv6Loopback(parseIpv6('::1'))).toBe(true);
    expect(isIpv6Loopback(parseIpv6('::101'))).toBe(false);
    expect(isIpv4Mapped(parseIpv6('::ffff:1.2.3.4'))).toBe(true);
    expect(isIpv4Mapped(parseIpv6('::fffe:1.2.3.4'))).toBe(false);
  });
});

describe('the Fragment header', () => {
  it('writes and reads every field', () => {
    const b = a5(12);
    expect(
      emitFragmentHeader(b, 2, { nextHeader: 58, offset: 1448, more: true, id: 0xdeadbeef }),
    ).toBe(8);
    expect([...b.subarray(2, 10)]).toEqual([58, 0, 0x05, 0xa9, 0xde, 0xad, 0xbe, 0xef]);
    expect(b[0]).toBe(0xa5);
    expect(b[10]).toBe(0xa5);
    expect(readFragmentHeader(b, 2)).toEqual({
      nextHeader: 58,
      offset: 1448,
      more: true,
      id: 0xdeadbeef,
    });
  });

  it('round-trips any fields', () => {
    fc.assert(
      fc.property(
        fc.nat(255),
        fc.nat(8191),
        fc.boolean(),
        fc.nat({ max: 0xffffffff }),
        (nh, units, more, id) => {
          const b = new Uint8Array(8);
          const f = { nextHeader: nh, offset: units * 8, more, id };
          emitFragmentHeader(b, 0, f);
          expect(readFragmentHeader(b, 0)).toEqual(f);
        },
      ),
    );
  });
});

// ---------------------------------------------------------------------------------------------
// The extension-header chain
// ---------------------------------------------------------------------------------------------

function walk(pkt: Uint8Array, multicast = false, limits = IPV6_WALK_DEFAULTS) {
  const out = newIpv6Chain();
  const result = walkIpv6Chain(pkt, multicast, limits, out);
  return { result, ...out, problem: { ...out.problem } };
}

describe('walkIpv6Chain', () => {
  it('no extension headers: the upper layer right after the fixed header', () => {
    const w = walk(PING6);
    expect(w).toMatchObject({
      result: 'ok',
      protocol: 58,
      protocolFieldAt: 6,
      payloadAt: 40,
      headers: 0,
    });
  });

  it('walks Hop-by-Hop (Router Alert, PadN), Destination Options and Routing with Segments Left 0', () => {
    const pkt = chained([opts(0, [5, 2, 0, 0]), opts(60, [1, 4, 0, 0, 0, 0]), routing(4, 0)]);
    const w = walk(pkt);
    expect(w).toMatchObject({ result: 'ok', protocol: 58, headers: 3 });
    expect(w.payloadAt).toBe(40 + 8 + 8 + 24);
    expect(w.protocolFieldAt).toBe(40 + 8 + 8);
  });

  it('refuses Hop-by-Hop anywhere but first: Parameter Problem code 1 at the field naming it', () => {
    const w = walk(chained([opts(60, []), opts(0, [])]));
    expect(w.result).toBe('hbh-not-first');
    expect(w.problem).toEqual({ code: 1, pointer: 40, multicastToo: false });
  });

  it('acts on an unrecognised option by its two high bits (RFC 8200 §4.2)', () => {
    // 00: skip it
    expect(walk(chained([opts(60, [0x1e, 1, 0])])).result).toBe('ok');
    // 01: discard, say nothing
    const w01 = walk(chained([opts(60, [0x5e, 0])]));
    expect(w01.result).toBe('option-discard');
    expect(w01.problem.code).toBe(-1);
    // 10: discard and answer code 2 pointing at the option type, multicast or not
    const w10 = walk(chained([opts(60, [1, 0, 0x9e, 0])]), true);
    expect(w10.result).toBe('option-unrecognised');
    expect(w10.problem).toEqual({ code: 2, pointer: 40 + 4, multicastToo: true });
    // 11: answer only when not to multicast
    const w11 = walk(chained([opts(0, [0xde, 0])]));
    expect(w11.problem).toEqual({ code: 2, pointer: 42, multicastToo: false });
    expect(walk(chained([opts(0, [0xde, 0])]), true).result).toBe('option-discard');
  });

  it('drops option TLVs that run past their header, and more options than the bound', () => {
    const past = chained([opts(60, [])]);
    past[42] = 1; // PadN claiming 200 bytes
    past[43] = 200;
    expect(walk(past).result).toBe('bad-options');
    const lastByte = chained([opts(60, [0, 0, 0, 0, 0, 1])]);
    expect(walk(lastByte).result).toBe('bad-options'); // a type with no length byte
    const many = chained([opts(60, new Array(9).fill([0x1e, 0]).flat())]);
    expect(walk(many).result).toBe('too-many-options');
    expect(walk(many, false, { ...IPV6_WALK_DEFAULTS, maxOptions: 9 }).result).toBe('ok');
  });

  it('refuses a Routing header with segments left: type 0 as RFC 5095 says, code 0 at the type', () => {
    const w0 = walk(chained([routing(0, 1)]));
    expect(w0.result).toBe('routing-type0');
    expect(w0.problem).toEqual({ code: 0, pointer: 42, multicastToo: false });
    expect(walk(chained([routing(4, 2)])).result).toBe('routing-unsupported');
    expect(walk(chained([routing(0, 0)])).result).toBe('ok');
  });

  it('bounds the number of extension headers', () => {
    const nine = chained(new Array(9).fill(0).map(() => opts(60, [])));
    expect(walk(nine).result).toBe('ext-too-many');
    expect(walk(nine, false, { ...IPV6_WALK_DEFAULTS, maxExtensionHeaders: 9 }).result).toBe('ok');
  });

  it('drops a header that runs past the packet', () => {
    const pkt = chained([opts(60, [])]);
    pkt[41] = 3; // 32 bytes claimed, 16 there
    expect(walk(pkt).result).toBe('ext-truncated');
    const short = chained([], 60).subarray(0, 44);
    short[5] = 4;
    expect(walk(short).result).toBe('ext-truncated');
  });

  it('walks past an atomic fragment (RFC 6946) and stops at a real one', () => {
    const atomic = walk(chained([frag(0, false)]));
    expect(atomic).toMatchObject({
      result: 'ok',
      protocol: 58,
      atomicFragment: true,
      payloadAt: 48,
    });
    const first = walk(chained([opts(60, []), frag(0, true)]));
    expect(first).toMatchObject({ result: 'ok', protocol: 44, protocolFieldAt: 40, payloadAt: 48 });
    expect(walk(chained([frag(8, false)])).protocol).toBe(44);
  });

  it('tells a first fragment that lacks part of the header chain (RFC 7112)', () => {
    // After the Fragment header: Destination Options (8 bytes), then 8 bytes of ICMPv6.
    const pkt = chained([frag(0, true), opts(60, [])]);
    expect(headerChainIncomplete(pkt, 48, 60, 8)).toBe(false);
    expect(headerChainIncomplete(pkt.subarray(0, pkt.length - 1), 48, 60, 8)).toBe(true);
    expect(headerChainIncomplete(pkt.subarray(0, 56), 48, 60, 8)).toBe(true);
    expect(headerChainIncomplete(pkt.subarray(0, 49), 48, 60, 8)).toBe(true);
    const tcp = chained([frag(0, true)], 6); // 8 bytes where TCP needs 20
    expect(headerChainIncomplete(tcp, 48, 6, 8)).toBe(true);
  });

  it('never reads out of bounds on any chain of bytes', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 0, maxLength: 120 }),
        fc.constantFrom(0, 43, 44, 60),
        fc.boolean(),
        (body, first, mc) => {
          const pkt = new Uint8Array(40 + body.length);
          Ipv6View.emit(pkt, {
            src: LOOPBACK6,
            dst: LOOPBACK6,
            nextHeader: first,
            hopLimit: 1,
            payloadLength: body.length,
          });
          pkt.set(body, 40);
          const w = walk(pkt, mc);
          if (w.result === 'ok') expect(w.payloadAt).toBeLessThanOrEqual(pkt.length);
        },
      ),
    );
  });
});
