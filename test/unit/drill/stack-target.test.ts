import { describe, expect, it } from 'vitest';
import { runSource } from '../../../src/drill/run.ts';
import { StackTarget } from '../../../src/drill/stack-target.ts';
import { seg } from './scripted-target.ts';

const SCRIPT = `0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0 bind(3, ..., ...) = 0
+0 listen(3, 1) = 0
+.1 < S 0:0(0) win 65535 <mss 1000,sackOK,TS val 100 ecr 0,nop,wscale 2>
+0 > S. 0:0(0) ack 1 <mss 1460,sackOK,TS val 100 ecr 100,nop,wscale 3>
`;

describe('StackTarget', () => {
  it('plays a script through IP and the wire codec: the SYN-ACK is parsed from bytes', async () => {
    const r = await runSource(SCRIPT, new StackTarget());
    expect(r.failure).toBeNull();
  });

  it('answers a segment for a closed port with a RST parsed from the bytes it wrote', async () => {
    const t = new StackTarget();
    t.inject(seg({ srcPort: 40000, dstPort: 9, seq: 7, control: 'syn' }), 5);
    const out = t.takeOutbound();
    expect(out.map((o) => [o.at, o.seg.control, o.seg.seq, o.seg.ack])).toEqual([[5, 'rst', 0, 8]]);
    expect(t.takeProblems()).toEqual([]);
  });

  it('settings apply until the stack exists, then report no equivalent', async () => {
    const t = new StackTarget();
    expect(t.setting('tcp_sack', '0')).toBe(true);
    expect(t.stack.tcp.options.conn).toMatchObject({ sack: false }); // the stack was made with it
    expect(t.setting('tcp_timestamps', '0')).toBe(false);
  });

  it('per-socket options reach the wire: TCP_MAXSEG on the listener sets the SYN-ACK MSS', async () => {
    const script = SCRIPT.replace(
      '+0 bind',
      '+0 setsockopt(3, SOL_TCP, TCP_MAXSEG, [1100], 4) = 0\n+0 bind',
    );
    const ok = await runSource(script.replace('<mss 1460,', '<mss 1100,'), new StackTarget());
    expect(ok.failure).toBeNull();
    const ignored = await runSource(script, new StackTarget());
    expect(ignored.failure?.message).toMatch(/mss/);
  });
});
