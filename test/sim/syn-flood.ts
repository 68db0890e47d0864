/**
 * What the SYN-flood tests share (syncookie-flood.test.ts over IPv4, syncookie-flood6.test.ts over
 * IPv6): the spoofed SYN as hping3 -S sends it, and the server that answers each connection with
 * the sha256 of what it received.
 */
import type { NetStack } from '../../src/api/index.ts';
import type { Socket } from '../../src/api/net.ts';
import type { VirtualClock } from '../../src/stack/clock.ts';
import { NO_OPTIONS, type TcpRepr } from '../../src/wire/tcp-repr.ts';
import { runUntil, sha256 } from './fixture.ts';

/** A bare SYN (no options, window 512), as hping3 -S sends them. */
export function floodSyn(srcPort: number, dstPort: number, seq: number): TcpRepr {
  return {
    srcPort,
    dstPort,
    control: 'syn',
    psh: false,
    urg: false,
    ece: false,
    cwr: false,
    seq,
    ack: null,
    window: 512,
    urgentPointer: 0,
    options: NO_OPTIONS,
    payload: new Uint8Array(0),
  };
}

/**
 * A server on `port` that answers each connection with the sha256 of everything it received;
 * returns the sockets it accepted.
 */
export function hashServer(stack: NetStack, port: number): Socket[] {
  const accepted: Socket[] = [];
  stack.net
    .createServer((s) => {
      accepted.push(s);
      const chunks: Buffer[] = [];
      s.on('data', (d: Buffer) => chunks.push(d));
      s.on('end', () => s.end(sha256(Buffer.concat(chunks))));
      s.on('error', () => {});
    })
    .listen(port);
  return accepted;
}

export interface FloodedTransfer {
  /** What the server answered: the sha256 of what it received, if all went well. */
  reply: string;
  /** Bursts of the flood sent while the transfer ran. */
  bursts: number;
}

/**
 * A real client sends `body` to `host`:`port` and half-closes, while `burst()` puts a burst of the
 * flood on the wire every 5 ms (at most `maxBursts` times), until the connection closes.
 * `onTick` runs at each 5 ms tick, before the closed check (to sample the server's state).
 */
export async function transferDuringFlood(
  clock: VirtualClock,
  client: NetStack,
  host: string,
  port: number,
  body: Buffer,
  burst: () => void,
  maxBursts: number,
  onTick?: () => void,
): Promise<FloodedTransfer> {
  const c = client.net.connect(port, host);
  const reply: Buffer[] = [];
  let closed = false;
  c.on('data', (d: Buffer) => reply.push(d));
  c.on('close', () => {
    closed = true;
  });
  c.on('error', () => {});
  c.end(body);
  let bursts = 0;
  const floodTimer = () => {
    onTick?.();
    if (closed || bursts >= maxBursts) return;
    bursts++;
    burst();
    clock.setTimer(clock.now() + 5, floodTimer);
  };
  floodTimer();
  await runUntil(clock, () => closed, 30_000, 'transfer during the flood');
  return { reply: Buffer.concat(reply).toString(), bursts };
}
