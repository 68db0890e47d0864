import { describe, expect, it } from 'vitest';
import { createStack } from '../../../src/api/index.ts';
import { VirtualClock } from '../../../src/stack/clock.ts';
import { Ipv4View } from '../../../src/wire/ipv4.ts';
import { packet, pattern } from '../ip/helpers.ts';
import { RecordingLink } from './recording-link.ts';

function setup(mtu?: number) {
  const link = new RecordingLink(mtu);
  const clock = new VirtualClock();
  const stack = createStack({ link, address: '10.0.0.2', clock, mtu: 9000 });
  return { link, clock, stack };
}

const tick = () => new Promise((r) => setImmediate(r));

describe('Stack', () => {
  it("takes its address and an MTU no larger than the link's", () => {
    const { stack } = setup(1280);
    expect(stack.address).toBe('10.0.0.2');
    expect(stack.addr).toBe(0x0a000002);
    expect(stack.mtu).toBe(1280);
    expect(() => createStack({ link: new RecordingLink(), address: '10.0.0' })).toThrow(TypeError);
  });

  it('flushes once at the end of a received batch', () => {
    const { link } = setup();
    const closedPort = (id: number) => {
      const u = new Uint8Array(8);
      u.set([0x13, 0x88, 0, 9, 0, 8, 0, 0]); // 5000 → 9, no checksum
      return packet(u, { id });
    };
    link.deliver(closedPort(1), closedPort(2), closedPort(3));
    expect(link.flushes).toEqual([3]); // three port unreachables, one flush
  });

  it('flushes user sends once per burst, after the current task', async () => {
    const { link, stack } = setup();
    const s = stack.dgram.createSocket('udp4');
    for (let i = 0; i < 4; i++) s.send('x', 9, '10.0.0.1');
    expect(link.sent.length).toBe(4);
    expect(link.flushes).toEqual([]);
    await tick();
    expect(link.flushes).toEqual([4]);
  });

  it('hands other protocols to a registered handler; refuses to replace ICMP and UDP', () => {
    const { link, stack } = setup();
    const got: number[] = [];
    stack.registerProtocol(99, { input: (d) => got.push(d.payload.length) });
    link.deliver(packet(pattern(7), { protocol: 99 }));
    expect(got).toEqual([7]);
    expect(link.sent.length).toBe(0);
    expect(() => stack.registerProtocol(1, { input() {} })).toThrow();
    expect(() => stack.registerProtocol(17, { input() {} })).toThrow();
  });

  it('never lets an exception reach the link: it is counted', () => {
    const { link, stack } = setup();
    stack.registerProtocol(99, {
      input() {
        throw new Error('handler bug');
      },
    });
    expect(() => link.deliver(packet(pattern(1), { protocol: 99 }))).not.toThrow();
    expect(stack.stats.link.rxErrors).toBe(1);
  });

  it('counts link traffic in bytes and packets', () => {
    const { link, stack } = setup();
    const p = packet(pattern(30), { protocol: 99 });
    link.deliver(p);
    expect(stack.stats.link).toMatchObject({ rxPackets: 1, rxBytes: 50, txPackets: 1 });
    expect(stack.stats.link.txBytes).toBe(link.sent[0].length);
    const icmp = Ipv4View.check(link.sent[0]) as Ipv4View;
    expect(icmp.protocol).toBe(1);
  });

  it('loops datagrams to its own address back without touching the link', async () => {
    const { link, stack } = setup();
    const a = stack.dgram.createSocket('udp4');
    a.bind(5000);
    const got: [string, string, number][] = [];
    a.on('message', (msg, rinfo) => got.push([msg.toString(), rinfo.address, rinfo.port]));
    const b = stack.dgram.createSocket('udp4');
    b.bind(6000);
    b.send('to myself', 5000, '10.0.0.2');
    b.send('to localhost', 5000); // Node's default address: here, the stack itself
    b.send('big', 5000, '127.0.0.1');
    b.send(Buffer.alloc(4000), 5000, '10.0.0.2'); // fragmented and reassembled on the way
    await tick();
    expect(got.slice(0, 3)).toEqual([
      ['to myself', '10.0.0.2', 6000],
      ['to localhost', '10.0.0.2', 6000],
      ['big', '10.0.0.2', 6000],
    ]);
    expect(got[3][0].length).toBe(4000);
    expect(link.sent.length).toBe(0);
    expect(stack.stats.link.loopbackPackets).toBe(3 + 3);
    expect(stack.stats.link).toMatchObject({ rxPackets: 0, txPackets: 0 });
  });

  it('close closes the link, cancels timers and ignores later packets', async () => {
    const { link, clock, stack } = setup();
    link.deliver(packet(pattern(16), { id: 3, moreFrags: true })); // arms the reassembly timer
    expect(clock.pendingTimers).toBe(1);
    await stack.close();
    expect(link.closed).toBe(true);
    expect(clock.pendingTimers).toBe(0);
    link.deliver(packet(pattern(4), { protocol: 99 }));
    expect(stack.stats.link.rxPackets).toBe(1);
    expect(stack.close()).toBe(stack.close()); // idempotent
  });
});
