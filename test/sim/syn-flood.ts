/**
 * What the SYN-flood tests share (syncookie-flood.test.ts over IPv4, syncookie-flood6.test.ts over
 * IPv6): the spoofed SYN as hping3 -S sends it, and the server that answers each connection with
 * the sha256 of what it received.
 */
import type { NetStack } from '../../src/api/index.ts';
import type { Socket } from '../../src/api/net.ts';
import { NO_OPTIONS, type TcpRepr } from '../../src/wire/tcp-repr.ts';
import { sha256 } from './fixture.ts';

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
