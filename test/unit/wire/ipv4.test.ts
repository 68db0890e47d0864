import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { onesSum } from '../../../src/wire/checksum.ts';
import {
  formatIpv4,
  type Ipv4Repr,
  Ipv4View,
  parseIpv4,
  tryParseIpv4,
} from '../../../src/wire/ipv4.ts';
import { ParseError } from '../../../src/wire/parse-error.ts';
import { A, a5, B, hex, PING, SYN } from './known-packets.ts';

function view(b: Uint8Array): Ipv4View {
  const v = Ipv4View.check(b);
  if (v instanceof ParseError) throw new Error(`unexpected ${v.reason}`);
  return v;
}

function reason(b: Uint8Array): string | null {
  const v = Ipv4View.check(b);
  return v instanceof ParseError ? v.reason : null;
}

/** Fix the header checksum after a test edits a header field. */
function refix(b: Uint8Array): Uint8Array {
  const hlen = (b[0] & 0xf) * 4;
  b[10] = 0;
  b[11] = 0;
  const c = ~onesSum(b, 0, Math.min(hlen, b.length)) & 0xffff;
  b[10] = c >>> 8;
  b[11] = c & 0xff;
  return b;
}

describe('Ipv4View: known bytes', () => {
  it('reads every field of a Linux ping', () => {
    const v = view(PING);
    expect(v.version).toBe(4);
    expect(v.headerLen).toBe(20);
    expect(v.tos).toBe(0);
    expect(v.totalLength).toBe(84);
    expect(v.id).toBe(0x3a4f);
    expect(v.dontFrag).toBe(true);
    expect(v.moreFrags).toBe(false);
    expect(v.fragOffset).toBe(0);
    expect(v.isFragment).toBe(false);
    expect(v.ttl).toBe(64);
    expect(v.protocol).toBe(1);
    expect(v.checksum).toBe(0xec57);
    expect(v.src).toBe(A);
    expect(v.dst).toBe(B);
    expect(v.options.length).toBe(0);
    expect(v.payload.length).toBe(64);
    expect(v.payload[0]).toBe(8);
  });

  it('reads fragment fields: MF and an offset in bytes', () => {
    const b = PING.slice();
    b[6] = 0x20 | 0x01; // MF, offset 0x105 units
    b[7] = 0x05;
    const v = view(refix(b));
    expect(v.moreFrags).toBe(true);
    expect(v.dontFrag).toBe(false);
    expect(v.fragOffset).toBe(0x105 * 8);
    expect(v.isFragment).toBe(true);
  });

  it('cuts link padding past Total Length', () => {
    const padded = new Uint8Array(SYN.length + 6);
    padded.set(SYN);
    const v = view(padded);
    expect(v.bytes.length).toBe(60);
    expect(v.payload.length).toBe(40);
  });

  it('skips header options by IHL', () => {
    // IHL 6: one option word (NOP NOP NOP EOL) before the payload.
    const b = new Uint8Array(PING.length + 4);
    b.set(PING.subarray(0, 20));
    b.set([1, 1, 1, 0], 20);
    b.set(PING.subarray(20), 24);
    b[0] = 0x46;
    b[3] = 88;
    const v = view(refix(b));
    expect(v.headerLen).toBe(24);
    expect(Array.from(v.options)).toEqual([1, 1, 1, 0]);
    expect(v.payload[0]).toBe(8);
    expect(v.payload.length).toBe(64);
  });
});

describe('Ipv4View: option lists', () => {
  /** PING with `opts` (a multiple of 4 bytes) as its header options. */
  function withOptions(opts: number[]): Uint8Array {
    const b = new Uint8Array(PING.length + opts.length);
    b.set(PING.subarray(0, 20));
    b.set(opts, 20);
    b.set(PING.subarray(20), 20 + opts.length);
    b[0] = 0x45 + opts.length / 4;
    b[2] = b.length >> 8;
    b[3] = b.length & 0xff;
    return refix(b);
  }
  const reason = (b: Uint8Array) => (Ipv4View.check(b) as ParseError).reason;

  it('takes well-formed lists: NOPs, EOL then padding, Router Alert, a full 40 bytes', () => {
    for (const opts of [
      [1, 1, 1, 1],
      [0, 9, 9, 9], // after EOL, anything is padding
      [0x94, 4, 0, 0],
      [0x44, 40, ...new Array(38).fill(0)], // a timestamp option filling the header
    ]) {
      expect(Ipv4View.check(withOptions(opts))).toBeInstanceOf(Ipv4View);
    }
  });

  it('refuses lengths 0 and 1, a length past the header, and a kind with no length byte', () => {
    expect(reason(withOptions([0x44, 0, 0, 0]))).toBe('bad-options');
    expect(reason(withOptions([0x44, 1, 0, 0]))).toBe('bad-options');
    expect(reason(withOptions([0x44, 8, 0, 0]))).toBe('bad-options');
    expect(reason(withOptions([1, 1, 1, 0x44]))).toBe('bad-options');
  });
});

describe('Ipv4View: emit', () => {
  const repr: Ipv4Repr = {
    src: A,
    dst: B,
    protocol: 1,
    ttl: 64,
    id: 0x3a4f,
    dontFrag: true,
    moreFrags: false,
    fragOffset: 0,
    payloadLength: 64,
  };

  it('writes the ping header byte for byte into a 0xa5 buffer', () => {
    const out = a5(84);
    expect(Ipv4View.emit(out, repr)).toBe(20);
    expect(Ipv4View.headerLen(repr)).toBe(20);
    expect(Buffer.from(out.subarray(0, 20)).toString('hex')).toBe(
      Buffer.from(PING.subarray(0, 20)).toString('hex'),
    );
    // The payload is the caller's: emit left it alone.
    expect(out.subarray(20).every((x) => x === 0xa5)).toBe(true);
  });

  it('writes MF and the offset in 8-byte units', () => {
    const out = a5(40);
    Ipv4View.emit(out, {
      ...repr,
      dontFrag: false,
      moreFrags: true,
      fragOffset: 1480,
      payloadLength: 20,
    });
    expect(out[6]).toBe(0x20);
    expect(out[7]).toBe(185);
  });
});

describe('Ipv4View: bad input', () => {
  it('rejects short buffers as truncated', () => {
    for (let n = 0; n < 20; n++) expect(reason(PING.subarray(0, n))).toBe('truncated');
  });

  it('rejects version 6', () => {
    const b = PING.slice();
    b[0] = 0x65;
    expect(reason(refix(b))).toBe('bad-version');
  });

  it('rejects IHL below 5', () => {
    for (const ihl of [0, 1, 4]) {
      const b = PING.slice();
      b[0] = 0x40 | ihl;
      expect(reason(b)).toBe('bad-ihl');
    }
  });

  it('rejects an IHL past the buffer as truncated', () => {
    const b = PING.slice(0, 40);
    b[0] = 0x4f; // 60 bytes of header
    expect(reason(b)).toBe('truncated');
  });

  it('rejects Total Length beyond the buffer or below the header', () => {
    const long = PING.slice();
    long[3] = 85;
    expect(reason(refix(long))).toBe('bad-length');
    const short = PING.slice();
    short[2] = 0;
    short[3] = 19;
    expect(reason(refix(short))).toBe('bad-length');
  });

  it('rejects a corrupted header checksum, but not a corrupted payload', () => {
    const b = PING.slice();
    b[8] ^= 1; // TTL
    expect(reason(b)).toBe('bad-checksum');
    const p = PING.slice();
    p[40] ^= 0xff;
    expect(reason(p)).toBe(null);
  });

  it('never throws on random bytes, and views stay within the buffer', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 100 }), (b) => {
        const v = Ipv4View.check(b);
        if (v instanceof ParseError) return;
        expect(v.headerLen).toBeLessThanOrEqual(b.length);
        expect(v.payload.length + v.headerLen).toBe(v.totalLength);
      }),
    );
  });
});

describe('Ipv4View: round trip', () => {
  it('emit then check gives back the record', () => {
    const arb = fc.record({
      src: fc.nat({ max: 0xffffffff }),
      dst: fc.nat({ max: 0xffffffff }),
      protocol: fc.nat(255),
      ttl: fc.nat(255),
      id: fc.nat(0xffff),
      dontFrag: fc.boolean(),
      moreFrags: fc.boolean(),
      fragOffset: fc.nat(0x1fff).map((x) => x * 8),
      tos: fc.nat(255),
      payloadLength: fc.nat(200),
    });
    fc.assert(
      fc.property(arb, (repr) => {
        const out = a5(20 + repr.payloadLength);
        Ipv4View.emit(out, repr);
        expect(view(out).toRepr()).toEqual(repr);
      }),
    );
  });
});

describe('IPv4 address text', () => {
  it('parses and formats dotted quads', () => {
    expect(parseIpv4('10.0.0.2')).toBe(0x0a000002);
    expect(parseIpv4('255.255.255.255')).toBe(0xffffffff);
    expect(parseIpv4('0.0.0.0')).toBe(0);
    expect(formatIpv4(0xc0a80101)).toBe('192.168.1.1');
    expect(formatIpv4(0xffffffff)).toBe('255.255.255.255');
  });

  it('refuses anything but four decimal bytes', () => {
    for (const s of [
      '',
      '10.0.0',
      '10.0.0.256',
      '10.0.0.1.2',
      '010.0.0.1',
      'a.b.c.d',
      ' 10.0.0.1',
      '1e1.0.0.1',
    ]) {
      expect(tryParseIpv4(s)).toBe(null);
    }
    expect(() => parseIpv4('10.0.0.300')).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_IP_ADDRESS' }),
    );
  });

  it('round-trips every address', () => {
    fc.assert(
      fc.property(fc.nat({ max: 0xffffffff }), (n) => {
        expect(parseIpv4(formatIpv4(n))).toBe(n);
      }),
    );
  });
});

it('hex helper sanity', () => {
  expect(hex('0a 0b')).toEqual(new Uint8Array([10, 11]));
});
