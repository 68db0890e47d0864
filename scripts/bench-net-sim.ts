/**
 * Bulk transfer between two stacks over a SimLink in virtual time, through the node:net-shaped
 * API: how many MB/s the whole path (Socket → core → IP → link → IP → demux → core → Socket, both
 * ends on one core) moves when the CPU is the only limit.
 *
 *   npx tsx scripts/bench-net-sim.ts [MB=50]
 */

import { createStack } from '../src/api/index.ts';
import { SimLink } from '../src/link/sim.ts';
import { VirtualClock } from '../src/stack/clock.ts';

const MB = Number(process.argv[2] ?? 50);
const clock = new VirtualClock();
const [la, lb] = SimLink.pair(clock, { delayMs: 1, bandwidthBps: 10e9 });
const client = createStack({ link: la, address: '10.0.0.1', clock });
const server = createStack({ link: lb, address: '10.0.0.2', clock });

let received = 0;
let ended = false;
server.net
  .createServer((s) => {
    s.on('data', (d: Buffer) => {
      received += d.length;
    });
    s.on('end', () => {
      ended = true;
    });
  })
  .listen(5001);

const c = client.net.connect(5001, '10.0.0.2');
const chunk = Buffer.alloc(64 * 1024, 0x5a);
const total = MB * 1024 * 1024;
let sent = 0;
function pump(): void {
  while (sent < total) {
    sent += chunk.length;
    if (!c.write(chunk)) {
      c.once('drain', pump);
      return;
    }
  }
  c.end();
}
pump();

const t0 = performance.now();
for (let step = 0; !ended && step < 10_000_000; step++) {
  await new Promise((r) => setImmediate(r)); // stream events and the stacks' flushes
  const next = clock.nextTimerAt();
  if (next === null) continue;
  clock.advance(next - clock.now());
}
const ms = performance.now() - t0;
if (received !== total) throw new Error(`received ${received} of ${total} bytes`);
console.log(
  `${MB} MB in ${ms.toFixed(0)} ms real (${((MB * 1000) / ms).toFixed(1)} MB/s, both stacks on one ` +
    `thread), ${clock.now().toFixed(1)} ms virtual; segments sent ${client.stats.tcp.txSegments} / ` +
    `${server.stats.tcp.txSegments}`,
);
await client.close();
await server.close();
