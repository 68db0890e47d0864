/**
 * Packets that would make the stack talk to itself (issue 9): the LAND attack from the link, and
 * a conversation between two of our own ends over the loopback path. Neither may stop the event
 * loop: timers must still fire while it goes on, and it must end by itself.
 */
import { describe, expect, it } from 'vitest';
import { createStack } from '../../../src/api/index.ts';
import { VirtualClock } from '../../../src/stack/clock.ts';
import { NO_OPTIONS, type TcpRepr } from '../../../src/wire/tcp-repr.ts';
import { US } from '../ip/helpers.ts';
import { RecordingLink } from './recording-link.ts';
import { tcpPacket, tcpSeg } from './tcp-packets.ts';

const tick = () => new Promise((r) => setImmediate(r));

function syn(srcPort: number, dstPort: number, seq: number): TcpRepr {
  return tcpSeg({ srcPort, dstPort, control: 'syn', seq, options: { ...NO_OPTIONS, mss: 1460 } });
}

function setup() {
  const link = new RecordingLink();
  const clock = new VirtualClock();
  const stack = createStack({ link, address: '10.0.0.2', clock });
  const server = stack.net.createServer(() => {});
  server.listen(80);
  return { link, clock, stack };
}

describe('a stack never talks itself to a standstill', () => {
  it('drops a LAND SYN (source = destination = us) from the link as a martian, answering nothing', async () => {
    const { link, stack } = setup();
    link.deliver(tcpPacket(syn(80, 80, 1000), US, US));
    await tick();
    await tick();
    expect(stack.stats.ip.drops['martian-own-address']).toBe(1);
    expect(stack.stats.tcp.rxSegments).toBe(0);
    expect(link.sent.length).toBe(0);
    expect(stack.stats.link.loopbackPackets).toBe(0);
    expect(stack.tcp.size).toBe(0);
  });

  it('lets the event loop turn while a self-addressed SYN plays out over loopback, and it ends', async () => {
    const { stack } = setup();
    // The same packet made by the stack itself (a local raw sender): it goes round the loopback
    // path, where the martian filter does not apply, so only the structure keeps it bounded.
    stack.sendTcp(syn(80, 80, 1000), US);
    let timerFired = false;
    setTimeout(() => {
      timerFired = true;
    }, 0);
    for (let turn = 0; turn < 50; turn++) await tick();
    expect(timerFired).toBe(true);
    // However the exchange went, it is over within a few turns, not one packet per turn for ever
    // (the connection's ACKs for its own unacceptable ACKs are rate-limited: invalid-ack.test.ts).
    const settled = stack.stats.link.loopbackPackets;
    for (let i = 0; i < 20; i++) await tick();
    expect(stack.stats.link.loopbackPackets).toBe(settled);
    expect(stack.stats.link.loopbackPackets).toBeLessThan(100);
  });
});
