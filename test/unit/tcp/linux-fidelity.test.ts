/**
 * Choices the linux profile makes where Linux and the RFCs part: the RTO formula (linuxRto) and
 * slow start's growth per ACK (slowStartLimit); and the quick-ACK mode's ACK of a FIN after ours.
 */
import { describe, expect, it } from 'vitest';
import { Reno } from '../../../src/tcp/congestion/reno.ts';
import { RttEstimator } from '../../../src/tcp/rtt.ts';
import { drain, established, feed, l, r } from './helpers.ts';

describe('linuxRto', () => {
  const o = { initialRto: 1000, minRto: 200, maxRto: 120_000 };
  it('RFC 6298 clamps the sum to the minimum; Linux adds the minimum-bounded variance to SRTT', () => {
    const rfc = new RttEstimator(o);
    const linux = new RttEstimator({ ...o, linuxRto: true });
    rfc.sample(10);
    linux.sample(10);
    expect(rfc.rto).toBe(200); // max(10 + 4*5, 200)
    expect(linux.rto).toBe(210); // 10 + max(4*5, 200)
    // A long path: the variance term is above the minimum, and both agree.
    const a = new RttEstimator(o);
    const b = new RttEstimator({ ...o, linuxRto: true });
    a.sample(300);
    b.sample(300);
    expect(a.rto).toBe(900);
    expect(b.rto).toBe(900);
  });
});

describe('slowStartLimit', () => {
  it('1 grows cwnd by one SMSS per ACK; 0 by all it covers, up to ssthresh', () => {
    const rfc = new Reno({ mss: 1000, initialWindow: 10 });
    const linux = new Reno({ mss: 1000, initialWindow: 10, slowStartLimit: 0 });
    rfc.onAck(2000, 0, 10_000);
    linux.onAck(2000, 0, 10_000);
    expect(rfc.cwnd).toBe(11_000);
    expect(linux.cwnd).toBe(12_000);
    linux.ssthresh = 13_000;
    linux.onAck(3000, 1, 12_000);
    expect(linux.cwnd).toBe(13_000);
    const two = new Reno({ mss: 1000, initialWindow: 10, slowStartLimit: 2 });
    two.onAck(5000, 0, 10_000);
    expect(two.cwnd).toBe(12_000);
  });
});

describe("quickAck: the peer's FIN after ours", () => {
  it('is ACKed at once in FIN_WAIT_2, even after data (Linux tcp_fin)', () => {
    const c = established({ quickAck: true });
    c.shutdown();
    drain(c, 20);
    feed(c, 20, { control: 'none', seq: r(1), ack: l(2), window: 64000 });
    feed(c, 30, {
      control: 'none',
      seq: r(1),
      ack: l(2),
      window: 64000,
      payload: new Uint8Array(100),
    });
    drain(c, 30);
    c.close();
    feed(c, 40, { control: 'fin', seq: r(101), ack: l(2), window: 64000 });
    expect(c.state).toBe('TIME_WAIT');
    const out = drain(c, 40);
    expect(out.map((s) => [s.control, s.ack])).toEqual([['none', r(102)]]);
  });
});

describe('a send buffer bound changed on an open connection (SO_SNDBUF)', () => {
  it('applies at once, after bytes were written too', () => {
    const c = established({ sndBuf: 3000 });
    expect(c.send(new Uint8Array(5000))).toBe(3000);
    c.options.sndBuf = 6000;
    expect(c.sendRoom).toBe(3000);
    expect(c.send(new Uint8Array(5000))).toBe(3000);
    c.options.sndBuf = 1000;
    expect(c.sendRoom).toBe(0);
    expect(c.send(new Uint8Array(10))).toBe(0);
  });
});
