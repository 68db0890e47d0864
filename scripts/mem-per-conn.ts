/**
 * JS heap per idle TCP connection, split by layer, in one process over a simulated link (no TUN,
 * no root): how the bench's `idle` figure (10 000 idle connections to discard) breaks down.
 *
 *   node --expose-gc --import tsx scripts/mem-per-conn.ts [COUNT]
 *   node --expose-gc --import tsx scripts/mem-per-conn.ts --time-wait [COUNT]
 *
 * Two stacks on a SimLink in virtual time. Two runs:
 *  - raw:  both ends are bare TcpHandles with a do-nothing owner: core + handle + timer, twice.
 *  - app:  the server runs the discard app (stack.net Socket, a Duplex, and the app's listeners);
 *          the client end is raw as before.
 * "app − raw/2" is then what one server-side connection costs with its socket, which is what the
 * bench measures (its client is the kernel).
 *
 * --time-wait: COUNT connections that the server closes first (raw handles; the client closes on
 * the FIN), measured once they are all over: every one is then in TIME_WAIT on the server and
 * gone from the client, so the heap growth per connection is what one TIME_WAIT costs (a compact
 * entry since the TCP layer makes one, src/tcp/time-wait.ts).
 */

import { createStack } from '../src/api/index.ts';
import { startDiscard } from '../src/apps/discard.ts';
import { SimLink } from '../src/link/sim.ts';
import { VirtualClock } from '../src/stack/clock.ts';
import type { TcpHandle, TcpOwner } from '../src/stack/tcp.ts';
import { parseIpv4 } from '../src/wire/ipv4.ts';

const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) {
  console.error('run with node --expose-gc --import tsx scripts/mem-per-conn.ts');
  process.exit(2);
}

const timeWaitMode = process.argv.includes('--time-wait');
const COUNT = Number(process.argv.filter((a) => !a.startsWith('--'))[2] ?? 5000);
const PORT = 9;

const quiet: TcpOwner = { tcpEvent() {} };

function heap(): number {
  gc?.();
  gc?.();
  return process.memoryUsage().heapUsed;
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

async function settle(clock: VirtualClock): Promise<void> {
  // Handshakes take a few simulated milliseconds; delayed ACKs 40 ms.
  for (let i = 0; i < 20; i++) {
    await tick();
    clock.advance(10);
  }
  await tick();
}

async function measure(mode: 'raw' | 'app'): Promise<number> {
  const clock = new VirtualClock();
  const [la, lb] = SimLink.pair(clock, { delayMs: 1 });
  const secret = new Uint8Array(16).fill(7);
  const tcp = { isnSecret: secret, maxConnections: 4 * COUNT, synBacklog: COUNT };
  const client = createStack({ link: la, address: '10.0.0.1', clock, tcp });
  const server = createStack({ link: lb, address: '10.0.0.2', clock, tcp });
  let app: { close(): Promise<void> } | null = null;
  if (mode === 'app') app = await startDiscard(server.net, PORT);
  else server.tcp.listen(PORT, { accept: () => quiet }, COUNT);
  await settle(clock);
  const before = heap();
  const handles: TcpHandle[] = [];
  for (let i = 0; i < COUNT; i++) {
    const h = client.tcp.connect(parseIpv4('10.0.0.2'), PORT, quiet);
    if (typeof h === 'string') throw new Error(`connect: ${h}`);
    handles.push(h);
    if (i % 256 === 255) await settle(clock);
  }
  await settle(clock);
  const after = heap();
  const established = client.connections().filter((r) => r.state === 'ESTABLISHED').length;
  if (established !== COUNT) throw new Error(`${established} of ${COUNT} established`);
  await app?.close();
  await client.close();
  await server.close();
  return (after - before) / COUNT;
}

/** Heap per server-side TIME_WAIT connection, after `COUNT` server-closed connections. */
async function measureTimeWait(): Promise<{ perConn: number; timeWait: number; slim: number }> {
  const clock = new VirtualClock();
  const [la, lb] = SimLink.pair(clock, { delayMs: 1 });
  const secret = new Uint8Array(16).fill(7);
  const tcp = { isnSecret: secret, maxConnections: 4 * COUNT, synBacklog: COUNT };
  const client = createStack({ link: la, address: '10.0.0.1', clock, tcp });
  const server = createStack({ link: lb, address: '10.0.0.2', clock, tcp });
  // The server closes each connection as soon as it is accepted; the client closes on the FIN.
  let accepted: TcpHandle[] = [];
  server.tcp.listen(
    PORT,
    {
      accept: (h) => {
        accepted.push(h);
        return quiet;
      },
    },
    COUNT,
  );
  await settle(clock);
  const before = heap();
  for (let i = 0; i < COUNT; i++) {
    let handle: TcpHandle | null = null;
    const h = client.tcp.connect(parseIpv4('10.0.0.2'), PORT, {
      tcpEvent(_h, e) {
        if (e.type === 'fin') handle?.close();
      },
    });
    if (typeof h === 'string') throw new Error(`connect: ${h}`);
    handle = h;
    if (i % 256 === 255) {
      await settle(clock);
      for (const a of accepted) a.close();
      accepted = [];
    }
  }
  await settle(clock);
  for (const a of accepted) a.close();
  accepted = [];
  await settle(clock);
  const after = heap();
  const timeWait = server.connections().filter((r) => r.state === 'TIME_WAIT').length;
  const clientLeft = client.tcp.size;
  if (timeWait !== COUNT || clientLeft !== 0) {
    throw new Error(`${timeWait} of ${COUNT} in TIME_WAIT, ${clientLeft} left on the client`);
  }
  const slim = (server.tcp.stats as { timeWaitSlim?: number }).timeWaitSlim ?? 0;
  await client.close();
  await server.close();
  return { perConn: (after - before) / COUNT, timeWait, slim };
}

if (timeWaitMode) {
  const r = await measureTimeWait();
  console.log(`${COUNT} connections closed by the server, all in TIME_WAIT there:`);
  console.log(`  JS heap per TIME_WAIT connection: ${r.perConn.toFixed(0)} B`);
  console.log(`  compact entries (timeWaitSlim):   ${r.slim}`);
  process.exit(0);
}

const raw = await measure('raw');
const app = await measure('app');
console.log(`${COUNT} idle connections, JS heap per connection:`);
console.log(`  core + handle, one end:             ${(raw / 2).toFixed(0)} B`);
console.log(
  `  server end with Socket and discard: ${(app - raw / 2).toFixed(0)} B  (the bench's figure)`,
);
console.log(`  of which Socket + app:              ${(app - raw).toFixed(0)} B`);
