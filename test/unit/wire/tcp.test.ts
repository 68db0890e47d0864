import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ParseError } from '../../../src/wire/parse-error.ts';
import {
  emitTcp,
  parseTcp,
  sackBlocksThatFit,
  TcpFlag,
  TcpView,
  tcpHeaderLen,
} from '../../../src/wire/tcp.ts';
import { NO_OPTIONS, type TcpOptions, type TcpRepr } from '../../../src/wire/tcp-repr.ts';
import { A, a5, B, SYN } from './known-packets.ts';

const SEG = SYN.subarray(20);

function view(b: Uint8Array, src = A, dst = B): TcpView {
  const v = TcpView.check(b, src, dst);
  if (v instanceof ParseError) throw new Error(`unexpected ${v.reason}`);
  return v;
}

function repr(b: Uint8Array): TcpRepr {
  const r = parseTcp(view(b));
  if (r instanceof ParseError) throw new Error(`unexpected ${r.reason}`);
  return r;
}

/** A segment with the given flags and options bytes, checksummed for A → B. */
function segment(flags: number, options: number[] = [], payload: number[] = []): Uint8Array {
  const hlen = 20 + options.length;
  const out = new Uint8Array(hlen + payload.length);
  out.set(SEG.subarray(0, 20));
  out[12] = (hlen / 4) << 4;
  out[13] = flags;
  out.set(options, 20);
  out.set(payload, hlen);
  out[16] = 0;
  out[17] = 0;
  // Recompute through emit's own checksum path would be circular; do it by hand here.
  let sum = 0x0a00 + 0x0001 + 0x0a00 + 0x0002 + 6 + out.length;
  for (let i = 0; i < out.length; i += 2) sum += (out[i] << 8) | (out[i + 1] ?? 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  out[16] = (~sum >>> 8) & 0xff;
  out[17] = ~sum & 0xff;
  return out;
}

const linuxSyn: TcpRepr = {
  srcPort: 41460,
  dstPort: 80,
  control: 'syn',
  psh: false,
  urg: false,
  ece: false,
  cwr: false,
  seq: 0xf1e2d3c4,
  ack: null,
  window: 64240,
  urgentPointer: 0,
  options: {
    mss: 1460,
    windowScale: 7,
    sackPermitted: true,
    sackBlocks: [],
    timestamp: { tsVal: 0x9a3b2c1d, tsEcr: 0 },
  },
  payload: new Uint8Array(0),
};

describe('TcpView: known bytes', () => {
  it('reads every field of a Linux SYN', () => {
    const v = view(SEG);
    expect(v.srcPort).toBe(41460);
    expect(v.dstPort).toBe(80);
    expect(v.seq).toBe(0xf1e2d3c4);
    expect(v.ackNumber).toBe(0);
    expect(v.headerLen).toBe(40);
    expect(v.flags).toBe(TcpFlag.SYN);
    expect(v.window).toBe(64240);
    expect(v.checksum).toBe(0x0ac8);
    expect(v.urgentPointer).toBe(0);
    expect(v.options.length).toBe(20);
    expect(v.payload.length).toBe(0);
  });

  it('parses the SYN into a TcpRepr: mss 1460, sackOK, TS, nop, wscale 7', () => {
    expect(repr(SEG)).toEqual(linuxSyn);
  });

  it('reads ACK, PSH, URG, ECE, CWR', () => {
    const r = repr(segment(0xff & ~(TcpFlag.SYN | TcpFlag.RST), [], [1, 2, 3]));
    expect(r).toMatchObject({ control: 'fin', psh: true, urg: true, ece: true, cwr: true, ack: 0 });
    expect(Array.from(r.payload)).toEqual([1, 2, 3]);
    expect(r.options).toEqual(NO_OPTIONS);
  });

  it('reads SACK blocks after NOP NOP, and stops at EOL', () => {
    const opts = [
      1, 1, 5, 18, 0, 0, 0, 1, 0, 0, 0, 2, 0xff, 0xff, 0xff, 0xf0, 0, 0, 0, 5, 0, 9, 9, 9,
    ];
    const r = repr(segment(TcpFlag.ACK, opts));
    expect(r.options.sackBlocks).toEqual([
      { left: 1, right: 2 },
      { left: 0xfffffff0, right: 5 },
    ]);
  });

  it('skips unknown options by length and clamps a window scale above 14', () => {
    const opts = [0xfe, 6, 1, 2, 3, 4, 3, 3, 20, 1, 0, 0];
    expect(repr(segment(TcpFlag.SYN, opts)).options.windowScale).toBe(14);
  });
});

describe('TcpView: emit', () => {
  it('writes the Linux SYN byte for byte', () => {
    expect(tcpHeaderLen(linuxSyn)).toBe(40);
    const out = a5(40);
    expect(emitTcp(out, linuxSyn, A, B)).toBe(40);
    expect(Buffer.from(out).toString('hex')).toBe(Buffer.from(SEG).toString('hex'));
  });

  it('lays out a data segment as nop,nop,TS and SACK as nop,nop,SACK', () => {
    const seg: TcpRepr = {
      ...linuxSyn,
      control: 'none',
      ack: 1,
      psh: true,
      options: {
        ...NO_OPTIONS,
        timestamp: { tsVal: 1, tsEcr: 2 },
        sackBlocks: [{ left: 10, right: 20 }],
      },
      payload: new Uint8Array([9, 8, 7]),
    };
    const hlen = tcpHeaderLen(seg);
    expect(hlen).toBe(20 + 12 + 12);
    const out = a5(hlen + 3);
    emitTcp(out, seg, A, B);
    expect(Array.from(out.subarray(20, 24))).toEqual([1, 1, 8, 10]);
    expect(Array.from(out.subarray(32, 36))).toEqual([1, 1, 5, 10]);
    expect(out[13]).toBe(TcpFlag.ACK | TcpFlag.PSH);
    expect(Array.from(out.subarray(hlen))).toEqual([9, 8, 7]);
  });

  it('pads SACK-permitted alone as nop,nop,sackOK and wscale as nop,wscale', () => {
    const seg: TcpRepr = {
      ...linuxSyn,
      options: { ...NO_OPTIONS, sackPermitted: true, windowScale: 2 },
    };
    const out = a5(tcpHeaderLen(seg));
    emitTcp(out, seg, A, B);
    expect(Array.from(out.subarray(20))).toEqual([1, 1, 4, 2, 1, 3, 3, 2]);
  });

  it('sends only the SACK blocks that fit in 40 bytes', () => {
    const blocks = [1, 2, 3, 4, 5].map((n) => ({ left: n, right: n + 1 }));
    const withTs: TcpOptions = {
      ...NO_OPTIONS,
      timestamp: { tsVal: 0, tsEcr: 0 },
      sackBlocks: blocks,
    };
    expect(sackBlocksThatFit(withTs)).toBe(3);
    expect(sackBlocksThatFit({ ...NO_OPTIONS, sackBlocks: blocks })).toBe(4);
    const seg: TcpRepr = { ...linuxSyn, control: 'none', ack: 5, options: withTs };
    expect(tcpHeaderLen(seg)).toBe(60);
    const out = a5(60);
    emitTcp(out, seg, A, B);
    expect(repr(out).options.sackBlocks).toEqual(blocks.slice(0, 3));
  });
});

describe('TcpView: bad input', () => {
  const bad = (b: Uint8Array, src = A, dst = B) =>
    (TcpView.check(b, src, dst) as ParseError).reason;

  it('rejects fewer than 20 bytes', () => {
    for (let n = 0; n < 20; n++) expect(bad(SEG.subarray(0, n))).toBe('truncated');
  });

  it('rejects a data offset below 5 or beyond the buffer', () => {
    const b = SEG.slice();
    b[12] = 0x40;
    expect(bad(b)).toBe('bad-offset');
    b[12] = 0xf0; // 60 > 40
    expect(bad(b)).toBe('bad-offset');
  });

  it('rejects a bad checksum, or the right bytes for other addresses', () => {
    const b = SEG.slice();
    b[30] ^= 4;
    expect(bad(b)).toBe('bad-checksum');
    expect(bad(SEG, B, A + 1)).toBe('bad-checksum');
  });

  it('refuses impossible flag combinations as bad-flags', () => {
    const { SYN, FIN, RST, ACK, PSH, URG } = TcpFlag;
    for (const f of [SYN | FIN, SYN | RST, FIN | RST, SYN | FIN | ACK]) {
      expect((parseTcp(view(segment(f))) as ParseError).reason).toBe('bad-flags');
    }
    // Scanner probes without ACK parse (a closed port answers them with a RST).
    for (const f of [
      SYN,
      SYN | ACK,
      RST,
      RST | ACK,
      ACK,
      FIN | ACK,
      PSH | ACK,
      0,
      FIN,
      PSH,
      FIN | PSH | URG,
    ]) {
      expect(parseTcp(view(segment(f)))).not.toBeInstanceOf(ParseError);
    }
  });

  it('refuses option lengths that run past the header or fit no kind', () => {
    const cases = [
      [1, 2, 4, 5], // MSS running past the header
      [2, 3, 5, 0], // MSS with length 3
      [3, 4, 7, 0], // window scale with length 4
      [4, 3, 0, 0], // SACK-permitted with length 3
      [8, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], // timestamp with length 9
      [5, 11, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], // SACK with a partial block
      [0xfe, 1, 0, 0], // length below 2
      [0xfe, 0, 0, 0], // length zero: would loop forever
      [1, 1, 1, 0xfe], // a kind with no room for its length byte
      [0xfe, 9, 0, 0], // unknown option past the end
    ];
    for (const opts of cases) {
      const padded = [...opts, ...new Array((4 - (opts.length % 4)) % 4).fill(0)];
      expect((parseTcp(view(segment(TcpFlag.ACK, padded))) as ParseError).reason).toBe(
        'bad-options',
      );
    }
  });

  it('never throws on random options', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 40 }).map((o) => o.subarray(0, o.length & ~3)),
        (opts) => {
          const r = parseTcp(view(segment(TcpFlag.ACK, Array.from(opts))));
          if (r instanceof ParseError) expect(r.reason).toBe('bad-options');
        },
      ),
    );
  });
});

describe('TcpView: round trip', () => {
  const u32 = fc.nat({ max: 0xffffffff });
  const options: fc.Arbitrary<TcpOptions> = fc.record({
    mss: fc.option(fc.nat(0xffff)),
    windowScale: fc.option(fc.nat(14)),
    sackPermitted: fc.boolean(),
    sackBlocks: fc.array(fc.record({ left: u32, right: u32 }), { maxLength: 3 }),
    timestamp: fc.option(fc.record({ tsVal: u32, tsEcr: u32 })),
  });
  const seg: fc.Arbitrary<TcpRepr> = fc
    .record({
      srcPort: fc.nat(0xffff),
      dstPort: fc.nat(0xffff),
      control: fc.constantFrom('none' as const, 'syn' as const, 'fin' as const, 'rst' as const),
      psh: fc.boolean(),
      urg: fc.boolean(),
      ece: fc.boolean(),
      cwr: fc.boolean(),
      seq: u32,
      ack: fc.option(u32),
      window: fc.nat(0xffff),
      urgentPointer: fc.nat(0xffff),
      options,
      payload: fc.uint8Array({ maxLength: 64 }),
    })
    // Four blocks fit only without timestamps and the other options.
    .filter((r) => sackBlocksThatFit(r.options) === r.options.sackBlocks.length);

  it('emit then parse gives back the record', () => {
    fc.assert(
      fc.property(seg, u32, u32, (r, src, dst) => {
        const out = a5(tcpHeaderLen(r) + r.payload.length);
        emitTcp(out, r, src, dst);
        const v = TcpView.check(out, src, dst);
        expect(v).not.toBeInstanceOf(ParseError);
        expect(parseTcp(v as TcpView)).toEqual(r);
      }),
    );
  });
});
