/**
 * TCP_CORK and MSG_MORE (src/tcp/push.ts Corking), and Linux's PSH flags (option psh 'linux':
 * the send buffer's write marks and LinuxPsh's pairs), on a connection in virtual time.
 */
import { describe, expect, it } from 'vitest';
import { LinuxPsh } from '../../../src/tcp/push.ts';
import { bytesToSend } from '../../../src/tcp/send.ts';
import { SendBuffer } from '../../../src/tcp/sendbuf.ts';
import { drain, established, expectOut, feed, l, r } from './helpers.ts';

const bytes = (n: number) => new Uint8Array(n);
/** The segments out at `at` as `seq:len` relative to the ISN, with a P for PSH. */
const out = (c: ReturnType<typeof established>, at: number) =>
  drain(c, at).map((s) => `${s.seq - l(0)}:${s.payload.length}${s.psh ? 'P' : ''}`);
const ack = (c: ReturnType<typeof established>, at: number, n: number) =>
  feed(c, at, { control: 'none', seq: r(1), ack: l(n), window: 64000 });

describe('SendBuffer push marks', () => {
  it('marks a write end, keeps it until acknowledged, and drops it then', () => {
    const b = new SendBuffer(10_000);
    b.push(bytes(3000));
    b.markWrite(0, 3000, false, 0);
    expect(b.markedAt(3000)).toBe(true);
    expect(b.markedAt(2000)).toBe(false);
    b.consume(1000);
    expect(b.markedAt(2000)).toBe(true); // offsets follow SND.UNA
    b.consume(2000);
    expect(b.markedAt(0)).toBe(false);
  });

  it('MSG_MORE leaves no mark; a write appended to an unsent one takes its mark away', () => {
    const b = new SendBuffer(10_000);
    b.push(bytes(100));
    b.markWrite(0, 100, true, 0);
    expect(b.markedAt(100)).toBe(false);
    b.push(bytes(100));
    b.markWrite(100, 100, false, 0);
    b.push(bytes(100));
    b.markWrite(200, 100, false, 0); // nothing sent: the write before is appended to
    expect(b.markedAt(200)).toBe(false);
    expect(b.markedAt(300)).toBe(true);
    b.push(bytes(100));
    b.markWrite(300, 100, false, 300); // all of it sent: a new skb, the mark stays
    expect(b.markedAt(300)).toBe(true);
    expect(b.markedAt(400)).toBe(true);
  });

  it('holds no more marks than bytes, and none once empty', () => {
    const b = new SendBuffer(1000);
    for (let i = 0; i < 1000; i++) {
      b.push(bytes(1));
      b.markWrite(i, 1, false, i + 1);
    }
    expect(b.markedAt(1000)).toBe(true);
    b.consume(1000);
    b.push(bytes(5));
    expect(b.markedAt(5)).toBe(false);
  });
});

describe('LinuxPsh', () => {
  it('flags the second of each pair sent together, and a lone segment only at a write end', () => {
    const p = new LinuxPsh();
    const flags = [0, 1000, 2000, 3000, 4000].map((s) => p.newData(5, s, s + 1000, false, false));
    expect(flags).toEqual([false, true, false, true, false]);
    // Later: a lone segment, then one that starts a pair but ends a write.
    expect(p.newData(6, 5000, 6000, false, false)).toBe(false);
    expect(p.newData(7, 6000, 7000, false, true)).toBe(true);
    // No pair across a write's end.
    expect(p.newData(7, 7000, 8000, true, false)).toBe(false);
  });
});

describe('LinuxPsh retransmissions', () => {
  it('flags both segments of an original pair resent together, not half of one', () => {
    const p = new LinuxPsh();
    // [2000, 4000) was a pair: resent whole it is flagged; resent from its middle it is not.
    expect(p.retransmission(9, 2000, 3000, false, false, true, false)).toBe(false);
    expect(p.retransmission(9, 3000, 4000, false, false, false, true)).toBe(true);
    expect(p.retransmission(10, 3000, 4000, false, false, false, true)).toBe(false);
    // After an ACK (a new burst), the second half alone is a packet of one.
    p.retransmission(11, 2000, 3000, false, false, true, false);
    p.newBurst();
    expect(p.retransmission(11, 3000, 4000, false, false, false, true)).toBe(false);
    // A write's end still flags.
    expect(p.retransmission(12, 4000, 4500, false, true, true, false)).toBe(true);
  });
});

describe('bytesToSend with a cork', () => {
  const base = {
    queued: 500,
    usable: 10_000,
    mss: 1000,
    maxSndWnd: 64_000,
    idle: true,
    noDelay: true,
    closing: false,
    force: false,
  };
  it('holds a partial segment, not a full one, a closing one or a forced one', () => {
    expect(bytesToSend({ ...base, cork: true })).toBe(0);
    expect(bytesToSend({ ...base, queued: 1500, cork: true })).toBe(1000);
    expect(bytesToSend({ ...base, cork: true, closing: true })).toBe(500);
    expect(bytesToSend({ ...base, cork: true, force: true })).toBe(500);
    expect(bytesToSend(base)).toBe(500);
  });
});

describe('TCP_CORK', () => {
  it('holds partial segments until uncorked, then sends them as one', () => {
    const c = established();
    c.setCork(true);
    c.send(bytes(300));
    expect(out(c, 20)).toEqual([]);
    c.send(bytes(300));
    expect(out(c, 30)).toEqual([]);
    c.setCork(false);
    expect(out(c, 40)).toEqual(['1:600P']);
  });

  it('lets full segments go and holds the tail', () => {
    const c = established({ psh: 'linux' });
    c.setCork(true);
    c.send(bytes(2500));
    expect(out(c, 20)).toEqual(['1:1000', '1001:1000P']);
    ack(c, 30, 2001);
    expect(out(c, 30)).toEqual([]);
  });

  it('TCP_NODELAY pushes the held bytes out while still corked', () => {
    const c = established();
    c.setCork(true);
    c.send(bytes(200));
    expect(out(c, 20)).toEqual([]);
    c.setNoDelay(true);
    expect(out(c, 20)).toEqual(['1:200P']);
  });

  it('the FIN takes the held tail with it', () => {
    const c = established();
    c.setCork(true);
    c.send(bytes(200));
    expect(out(c, 20)).toEqual([]);
    c.shutdown();
    const segs = expectOut(c, 20, [{ seq: l(1), control: 'fin' }]);
    expect(segs[0].payload.length).toBe(200);
  });

  it('with nothing in flight, the persist timer sends the held bytes after the RTO', () => {
    const c = established();
    c.setCork(true);
    c.send(bytes(200));
    expect(out(c, 20)).toEqual([]);
    const at = c.pollAt();
    expect(at).not.toBeNull();
    expect(out(c, at!)).toEqual(['1:200P']);
  });
});

describe('MSG_MORE', () => {
  it('holds the partial tail for its own call; the next ACK sends by the usual rules', () => {
    const c = established({ noDelay: true, psh: 'linux' });
    c.send(bytes(2300), true);
    expect(out(c, 20)).toEqual(['1:1000', '1001:1000P']);
    c.send(bytes(100), true);
    expect(out(c, 21)).toEqual([]);
    ack(c, 30, 1001);
    expect(out(c, 30)).toEqual(['2001:400']); // no write end: no PSH
  });

  it('a send without MSG_MORE releases and marks the held bytes', () => {
    const c = established({ noDelay: true });
    c.send(bytes(100), true);
    expect(out(c, 20)).toEqual([]);
    c.send(bytes(50));
    expect(out(c, 21)).toEqual(['1:150P']);
  });
});

describe("psh 'linux' against 'queue'", () => {
  it("'queue' flags the segment that empties the buffer; 'linux' each pair and each write end", () => {
    const q = established();
    q.send(bytes(2500));
    q.send(bytes(1500));
    expect(out(q, 20)).toEqual(['1:1000', '1001:1000', '2001:1000', '3001:1000P']);
    const x = established({ psh: 'linux' });
    x.send(bytes(2500));
    x.send(bytes(1500));
    // Nothing of the first write went before the second: Linux appends, and its mark goes.
    expect(out(x, 20)).toEqual(['1:1000', '1001:1000P', '2001:1000', '3001:1000P']);
    const y = established({ psh: 'linux', noDelay: true });
    y.send(bytes(2500));
    expect(out(y, 20)).toEqual(['1:1000', '1001:1000P', '2001:500P']);
  });

  it("'linux': a retransmission of one segment of a pair carries no PSH", () => {
    const c = established({ psh: 'linux' });
    c.send(bytes(3000));
    expect(out(c, 20)).toEqual(['1:1000', '1001:1000P', '2001:1000P']);
    const at = c.pollAt()!;
    expect(out(c, at)).toEqual(['1:1000']);
  });

  it("'linux': each write starts pairs anew, MSG_MORE or not", () => {
    const c = established({ psh: 'linux', noDelay: true });
    c.send(bytes(1000));
    expect(out(c, 20)).toEqual(['1:1000P']);
    c.send(bytes(4000), true);
    expect(out(c, 20)).toEqual(['1001:1000', '2001:1000P', '3001:1000', '4001:1000P']);
  });
});
