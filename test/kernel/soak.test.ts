/**
 * A short soak (issue 9): 40 000 `Connection: close` HTTP requests (wrk) and 40 000 raw
 * connect/echo/close cycles (tcpcrr) through `tunstack up` over TUN, the stack under a 64 MB heap
 * cap, its heap sampled after a full GC every 8 000 connections (scripts/soak.ts; the million-
 * connection run is `node --import tsx scripts/soak.ts`). After warm-up (the first half of each
 * kind: the connection table fills with the HTTP side's TIME_WAIT connections, up to its bound of
 * 16 384) the heap must stay within 8 MB of its first post-warm-up sample, and the stack must
 * still be running at the end and stop cleanly. A leak of the size issue 9 found (~2.7 KB per
 * request) would grow the heap by ~100 MB over the run, past the cap.
 *
 * 64 MB since TIME_WAIT connections became compact entries (src/tcp/time-wait.ts, ~500 B each
 * where a whole connection was ~2.7 KB): a full table of them is ~8 MB on top of ~10 MB at rest
 * (it was ~44 MB, and the cap 96 MB).
 */
import { expect, it } from 'vitest';
import { formatSoak, runSoak } from '../../scripts/soak.ts';
import { kernelDescribe } from './harness.ts';

const HEAP_MB = 64;

kernelDescribe('soak: short connections leave the heap flat', () => {
  it('40 000 HTTP and 40 000 raw connections under a 64 MB heap cap', async () => {
    const lines: string[] = [];
    const r = await runSoak({
      count: 40_000,
      sample: 8_000,
      heapMb: HEAP_MB,
      parallel: 50,
      kinds: ['http', 'raw'],
      seconds: 85,
      warmup: 0.5,
      slackMb: 8,
      log: (l) => lines.push(l),
    });
    const report = `${lines.join('\n')}\n${formatSoak(r)}`;
    expect(r.stackDied, report).toBeNull();
    expect(r.survived, report).toBe(true);
    expect(r.timedOut, report).toBe(false);
    expect(r.kinds.map((k) => k.kind)).toEqual(['http', 'raw']);
    for (const k of r.kinds) {
      expect(k.connections, report).toBeGreaterThanOrEqual(40_000);
      expect(k.errors, report).toBeLessThan(k.connections / 100);
      expect(k.flat, report).toBe(true);
      // The table's bound holds the rest: what a connection leaves once gone is nothing.
      expect(k.heapMax, report).toBeLessThan(HEAP_MB * 2 ** 20);
    }
  }, 120_000);
}, ['wrk', 'cc']);
