/**
 * The socket layer put together with a Stack: `createStack(options)` is a Stack with
 * `stack.net` (node:net-shaped TCP) and `stack.dgram` (node:dgram-shaped UDP) on it.
 *
 * The Stack (src/stack) knows nothing of sockets: the socket layer composes it, from above, and
 * closes its sockets through `stack.onClose` before the tables below are torn down.
 */
import { Stack, type StackOptions } from '../stack/stack.ts';
import { DgramApi } from './dgram.ts';
import { NetApi } from './net.ts';

/** A Stack with its node:net- and node:dgram-shaped APIs. */
export type NetStack = Stack & {
  /** node:net-shaped TCP: `stack.net.createServer()`, `stack.net.connect(port, host)`. */
  readonly net: NetApi;
  /** node:dgram-shaped sockets: `stack.dgram.createSocket('udp4')`. */
  readonly dgram: DgramApi;
};

/** A Stack on `options.link`, with `net` and `dgram`. */
export function createStack(options: StackOptions): NetStack {
  return withSockets(new Stack(options));
}

/** Give an existing Stack its `net` and `dgram` (once). */
export function withSockets(stack: Stack): NetStack {
  if ('net' in stack) return stack as NetStack;
  const net = new NetApi(stack);
  const dgram = new DgramApi(stack);
  stack.onClose(() => {
    dgram.closeAll();
    net.closeAll();
  });
  return Object.assign(stack, { net, dgram });
}
