/**
 * Fixtures for UDP/ICMP simulations: two stacks, or a stack and a scripted "raw host", over a
 * SimLink (optionally through a FaultLink), all on one VirtualClock.
 */
import { FaultLink, type Impairment } from '../../src/link/fault.ts';
import type { Link, LinkReceiver } from '../../src/link/link.ts';
import { SimLink, type SimLinkOptions } from '../../src/link/sim.ts';
import { VirtualClock } from '../../src/stack/clock.ts';
import { Stack, type StackOptions } from '../../src/stack/stack.ts';
import type { Ipv4Repr } from '../../src/wire/ipv4.ts';
import { packet } from '../unit/ip/helpers.ts';

export const HOST = '10.0.0.1';
export const STACK = '10.0.0.2';
export const HOST_ADDR = 0x0a000001;
export const STACK_ADDR = 0x0a000002;

/**
 * Let everything settle: run Node's queues (nextTick, microtasks: dgram events and the stack's
 * flush) and the virtual clock's timers in turns, until neither has work or `limitMs` of virtual
 * time has passed.
 */
export async function settle(clock: VirtualClock, limitMs = 60_000): Promise<void> {
  const end = clock.now() + limitMs;
  const drain = () => new Promise((r) => setImmediate(r));
  for (let i = 0; i < 100_000; i++) {
    await drain();
    const next = clock.nextTimerAt();
    if (next === null || next > end) return;
    clock.runUntilIdle(end - clock.now());
  }
  throw new Error('settle: still busy after 100 000 rounds');
}

/** Two stacks, 10.0.0.1 and 10.0.0.2, on one wire; optionally impaired at the second. */
export function twoStacks(
  opts: { sim?: SimLinkOptions; impair?: Impairment; stack?: Partial<StackOptions> } = {},
) {
  const clock = new VirtualClock();
  const [la, lb] = SimLink.pair(clock, opts.sim);
  const linkB: Link = opts.impair ? new FaultLink(lb, opts.impair, clock) : lb;
  const a = new Stack({ link: la, address: HOST, clock, initialIpId: 100, ...opts.stack });
  const b = new Stack({ link: linkB, address: STACK, clock, initialIpId: 5000, ...opts.stack });
  return { clock, a, b, la, lb, linkB };
}

/** A stack at 10.0.0.2 and a raw host at 10.0.0.1 that sends bytes the test builds. */
export function rawHost(opts: { sim?: SimLinkOptions; stack?: Partial<StackOptions> } = {}) {
  const clock = new VirtualClock();
  const [host, lb] = SimLink.pair(clock, opts.sim);
  const stack = new Stack({ link: lb, address: STACK, clock, ...opts.stack });
  const received: Uint8Array[] = [];
  const rx: LinkReceiver = { packet: (p) => received.push(p.slice()) };
  host.attach(rx);
  const send = (...packets: Uint8Array[]) => {
    for (const p of packets) host.send(p);
    host.flush();
  };
  return { clock, stack, host, received, send };
}

/** An IPv4 packet from the raw host to the stack (UDP, id 42, unless `repr` says otherwise). */
export function ipPacket(payload: Uint8Array, repr: Partial<Ipv4Repr> = {}): Uint8Array {
  return packet(payload, { id: 42, ...repr });
}

export function pattern(n: number, seed = 0): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 7 + seed) & 0xff;
  return b;
}
