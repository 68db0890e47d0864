/**
 * UDP echo (RFC 862): every datagram to the port goes back to its sender, unchanged, over IPv4
 * or IPv6.
 */
import type { Socket } from '../api/dgram.ts';
import type { NetStack } from '../api/index.ts';

export interface UdpEchoHandle {
  readonly socket: Socket;
  /** Datagrams echoed so far. */
  readonly echoed: number;
  close(): Promise<void>;
}

/** Start echoing on `port` (default 7). Resolves once bound; rejects with the bind error. */
export function startUdpEcho(stack: NetStack, port = 7): Promise<UdpEchoHandle> {
  // Both families where the stack has IPv6: a udp6 socket on '::' takes IPv4 too (docs/ipv6.md).
  const socket = stack.dgram.createSocket(stack.address6 === null ? 'udp4' : 'udp6');
  let echoed = 0;
  socket.on('message', (msg, rinfo) => {
    // Source port 0 (RFC 768: "no port"): there is nobody to answer, and send() throws for port
    // 0 as node:dgram does, which from a 'message' listener would end the process.
    if (rinfo.port === 0) return;
    echoed++;
    socket.send(msg, rinfo.port, rinfo.address);
  });
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(port, () => {
      socket.off('error', reject);
      // A failed reply (too big, stack closing) is logged, never thrown at the event loop.
      socket.on('error', (err) => stack.logger.warn({ err, port }, 'udp echo: send failed'));
      resolve({
        socket,
        get echoed() {
          return echoed;
        },
        close: () =>
          new Promise<void>((done) => {
            try {
              socket.close(done);
            } catch {
              done(); // already closed (the stack closed it)
            }
          }),
      });
    });
  });
}
