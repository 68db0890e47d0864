import { describe, expect, it } from 'vitest';
import { FaultLink, type Impairment, parseImpair } from '../../../src/link/fault.ts';
import { SimLink } from '../../../src/link/sim.ts';
import { VirtualClock } from '../../../src/stack/clock.ts';
import { internetChecksum } from '../../../src/wire/checksum.ts';
import { IpEcn, IpProtocol, Ipv4View } from '../../../src/wire/ipv4.ts';
import { ParseError } from '../../../src/wire/parse-error.ts';

describe('parseImpair', () => {
  it('reads the --impair syntax', () => {
    expect(parseImpair('loss=5%,reorder=25%,dup=1%,delay=1ms,corrupt=0.1%,seed=42')).toEqual({
      loss: 0.05,
      reorder: 0.25,
      dup: 0.01,
      delay: 1,
      corrupt: 0.001,
      seed: 42,
    });
    expect(parseImpair('loss=0.5, delay=250us, jitter=0.01s')).toEqual({
      loss: 0.5,
      delay: 0.25,
      jitter: 10,
    });
    expect(parseImpair('')).toEqual({});
  });

  it('refuses what it cannot read', () => {
    for (const s of [
      'loss',
      'loss=5',
      'loss=150%',
      'delay=fast',
      'seed=-1',
      'bogus=1',
      'loss=5%%',
    ]) {
      expect(() => parseImpair(s), s).toThrow(
        expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }),
      );
    }
  });
});

/** A FaultLink on one end of a SimLink pair, and what arrives at each side. */
function setup(imp: Impairment) {
  const clock = new VirtualClock();
  const [a, b] = SimLink.pair(clock);
  const fault = new FaultLink(a, imp, clock);
  const atB: number[] = [];
  const atFault: number[] = [];
  b.attach({ packet: (p) => atB.push(p[0] | (p[1] << 8)) });
  fault.attach({ packet: (p) => atFault.push(p[0] | (p[1] << 8)) });
  const sendOut = (n: number) => {
    for (let i = 0; i < n; i++) fault.send(new Uint8Array([i & 0xff, i >> 8, 0, 0]));
    fault.flush();
    clock.runUntilIdle();
  };
  const sendIn = (n: number) => {
    for (let i = 0; i < n; i++) b.send(new Uint8Array([i & 0xff, i >> 8, 0, 0]));
    b.flush();
    clock.runUntilIdle();
  };
  return { clock, fault, atB, atFault, sendOut, sendIn };
}

describe('FaultLink', () => {
  it('passes everything untouched with no faults', () => {
    const { atB, atFault, sendOut, sendIn } = setup({});
    sendOut(100);
    sendIn(100);
    expect(atB).toEqual([...Array(100).keys()]);
    expect(atFault).toEqual([...Array(100).keys()]);
  });

  it('loses about the given fraction, both ways, counted', () => {
    const { fault, atB, atFault, sendOut, sendIn } = setup({ loss: 0.2, seed: 7 });
    sendOut(2000);
    sendIn(2000);
    expect(fault.stats.tx.lost).toBe(2000 - atB.length);
    expect(fault.stats.rx.lost).toBe(2000 - atFault.length);
    for (const lost of [fault.stats.tx.lost, fault.stats.rx.lost]) {
      expect(lost).toBeGreaterThan(320);
      expect(lost).toBeLessThan(480);
    }
  });

  it('duplicates and reorders, counted', () => {
    const { fault, atB, sendOut } = setup({ dup: 0.1, reorder: 0.3, delay: 1, seed: 3 });
    sendOut(1000);
    expect(atB.length).toBe(1000 + fault.stats.tx.duplicated);
    expect(fault.stats.tx.duplicated).toBeGreaterThan(50);
    expect(fault.stats.tx.reordered).toBeGreaterThan(200);
    // Packets overtaken by a later one: each reordered packet (and its duplicates) at least.
    let overtaken = 0;
    let highest = -1;
    for (const n of atB) {
      if (n < highest) overtaken++;
      highest = Math.max(highest, n);
    }
    expect(overtaken).toBeGreaterThanOrEqual(fault.stats.tx.reordered * 0.9);
    expect(new Set(atB).size).toBe(1000);
  });

  it("corrupts one bit of a copy, never the sender's buffer", () => {
    const clock = new VirtualClock();
    const [a, b] = SimLink.pair(clock);
    const fault = new FaultLink(b, { corrupt: 1, seed: 5 }, clock);
    const got: Uint8Array[] = [];
    fault.attach({ packet: (p) => got.push(p.slice()) });
    const sent = new Uint8Array(64);
    a.send(sent);
    a.flush();
    clock.runUntilIdle();
    expect(sent.every((x) => x === 0)).toBe(true);
    const bits = got[0].reduce((n, x) => n + x.toString(2).split('1').length - 1, 0);
    expect(bits).toBe(1);
    expect(fault.stats.rx.corrupted).toBe(1);
  });

  it('corrupts a duplicate independently of its original: one flipped bit at most each', () => {
    const clock = new VirtualClock();
    const [a, b] = SimLink.pair(clock);
    const fault = new FaultLink(a, { dup: 1, corrupt: 0.5, seed: 9 }, clock);
    const flipped: number[] = [];
    b.attach({
      packet: (p) => flipped.push(p.reduce((n, x) => n + x.toString(2).split('1').length - 1, 0)),
    });
    for (let i = 0; i < 200; i++) fault.send(new Uint8Array(32));
    fault.flush();
    clock.runUntilIdle();
    expect(flipped.length).toBe(400);
    expect(Math.max(...flipped)).toBe(1);
    expect(flipped.filter((n) => n === 1).length).toBe(fault.stats.tx.corrupted);
  });

  it('delays by the given time', () => {
    const { clock, fault } = setup({ delay: 5 });
    const start = clock.now();
    fault.send(new Uint8Array(4));
    fault.flush();
    clock.runUntilIdle();
    expect(clock.now() - start).toBe(5);
    expect(fault.stats.tx.delayed).toBe(1);
  });

  it('holds at most `limit` packets a direction, dropping and counting the rest', () => {
    expect(parseImpair('delay=5ms,limit=3')).toEqual({ delay: 5, limit: 3 });
    const { atB, fault, sendOut } = setup({ delay: 5, limit: 3 });
    sendOut(10);
    expect(atB).toEqual([0, 1, 2]);
    expect(fault.stats.tx).toMatchObject({ delayed: 3, overflow: 7 });
  });

  it('is the same run for the same seed, and another for another', () => {
    const run = (seed: number) => {
      const { atB, sendOut } = setup({ loss: 0.1, dup: 0.1, reorder: 0.2, delay: 1, seed });
      sendOut(500);
      return atB.join(',');
    };
    expect(run(11)).toBe(run(11));
    expect(run(11)).not.toBe(run(12));
  });
});

describe('FaultLink ce (RFC 3168 §5 marks)', () => {
  it('parses ce=2%', () => {
    expect(parseImpair('ce=2%,seed=3')).toEqual({ ce: 0.02, seed: 3 });
  });

  /** An IPv4 packet (8 payload bytes) with the given ECN field and a valid header checksum. */
  const packet = (ecn: number, i: number): Uint8Array => {
    const p = new Uint8Array(28);
    Ipv4View.emit(p, {
      src: 0x0a000001,
      dst: 0x0a000002,
      protocol: IpProtocol.Udp,
      ttl: 64,
      id: i,
      dontFrag: true,
      moreFrags: false,
      fragOffset: 0,
      tos: 0xb8 | ecn, // a DSCP (EF) that must survive the mark
      payloadLength: 8,
    });
    return p;
  };

  it('marks only ECT packets CE, both ways, keeps the DSCP and a valid header checksum', () => {
    const clock = new VirtualClock();
    const [a, b] = SimLink.pair(clock);
    const fault = new FaultLink(a, { ce: 0.3, seed: 5 }, clock);
    const atB: Uint8Array[] = [];
    const atFault: Uint8Array[] = [];
    b.attach({ packet: (p) => atB.push(p.slice()) });
    fault.attach({ packet: (p) => atFault.push(p.slice()) });
    const kinds = [IpEcn.NotEct, IpEcn.Ect0, IpEcn.Ect1];
    for (let i = 0; i < 600; i++) fault.send(packet(kinds[i % 3], i));
    fault.flush();
    for (let i = 0; i < 600; i++) b.send(packet(kinds[i % 3], i));
    b.flush();
    clock.runUntilIdle();
    for (const [got, marked] of [
      [atB, fault.stats.tx.ceMarked],
      [atFault, fault.stats.rx.ceMarked],
    ] as const) {
      expect(got).toHaveLength(600);
      let ce = 0;
      for (const p of got) {
        const v = Ipv4View.check(p); // checks the header checksum
        expect(v).not.toBeInstanceOf(ParseError);
        expect(internetChecksum(p, 0, 20)).toBe(0);
        expect(p[1] >> 2).toBe(0xb8 >> 2);
        const sent = kinds[(p[4] * 256 + p[5]) % 3];
        const now = p[1] & 3;
        if (sent === IpEcn.NotEct) expect(now).toBe(IpEcn.NotEct);
        else if (now === IpEcn.Ce) ce++;
        else expect(now).toBe(sent);
      }
      expect(ce).toBe(marked);
      // About 30 % of the 400 ECT packets.
      expect(ce).toBeGreaterThan(80);
      expect(ce).toBeLessThan(160);
    }
  });
});
