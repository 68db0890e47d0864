/**
 * The styles demo in a real browser: Debian's chromium, driven by playwright-core, runs inside
 * the test's namespace (its wrapper is `ip netns exec NS /usr/bin/chromium "$@"`, so every
 * packet it sends goes to the stack at 10.0.0.2 over the TUN device and nowhere else).
 *
 * It loads the page and checks that every style receives the ticker's events and a published
 * one; that after the stack resets the SSE connection the EventSource reconnects with
 * Last-Event-ID and the stream resumes with no event lost or repeated; that the WebSocket
 * echoes; that sequential keep-alive requests share one connection; and that the stack counted
 * TCP connections, segments and bytes for each style. A screenshot goes to test-output/.
 */
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { expect, it } from 'vitest';
import { type StylesHandle, startStyles } from '../../src/apps/styles/index.ts';
import { hasCommand, inCI, kernelDescribe, STACK_ADDR, waitFor, withStack } from './harness.ts';
import { expectAllClosed } from './tcp-peers.ts';

const CHROMIUM = '/usr/bin/chromium';
const SCREENSHOT = 'test-output/styles-browser.png';
const STYLES = ['short', 'long', 'sse', 'ws'] as const;

/** What the page keeps in `window.demo` (src/apps/styles/page.html). */
interface PageDemo {
  ready: boolean;
  per: Record<string, { count: number; gaps: number; dups: number; last: number; latSum: number }>;
  received: Record<string, number[]>;
  sse: { opens: number; errors: number; resumes: { from: number; replayed: number }[] };
  ws: {
    opens: number;
    echoes: { text: string; rtt: number }[];
    closes: { code: number; reason: string; clean: boolean }[];
  };
  ka: { remote: string; n: number }[];
  wsEcho(text: string): Promise<number>;
  kaRun(n: number): Promise<void>;
}
declare const demo: PageDemo;

if (!hasCommand('chromium') && !inCI()) {
  console.log('[kernel] the browser test needs chromium (apt-get install -y chromium)');
}

kernelDescribe('styles demo in chromium', () => {
  it('every style delivers; SSE resumes after a reset; WebSocket echoes; counted by the stack', async () => {
    await withStack(async (fx) => {
      const app = await startStyles(fx.stack);
      const dir = await mkdtemp(join(tmpdir(), 'tunstack-browser-'));
      try {
        // playwright starts "the browser" with its own flags and a pipe on fds 3 and 4;
        // ip netns exec keeps both and moves chromium into the test's namespace.
        const wrapper = join(dir, 'chromium-in-netns');
        await writeFile(wrapper, `#!/bin/sh\nexec ip netns exec ${fx.ns} ${CHROMIUM} "$@"\n`);
        await chmod(wrapper, 0o755);
        const context = await chromium.launchPersistentContext(join(dir, 'profile'), {
          executablePath: wrapper,
          headless: true,
          timeout: 30_000,
          viewport: { width: 1280, height: 1000 },
          args: [
            '--headless',
            '--no-sandbox',
            '--disable-gpu',
            '--disable-quic',
            '--no-first-run',
            '--disable-background-networking',
            '--disable-component-update',
            '--disable-sync',
          ],
        });
        try {
          await runPage(context, app);
        } catch (err) {
          // What the page and the stack saw, and the page itself, to tell why.
          const page = context.pages()[0];
          const state = await page?.evaluate(() => JSON.stringify(demo)).catch(() => '?');
          console.log(`[browser] failed; page: ${state}`);
          console.log(`[browser] totals: ${JSON.stringify(app.totals())}`);
          await mkdir('test-output', { recursive: true });
          await page?.screenshot({ path: SCREENSHOT, fullPage: true }).catch(() => {});
          throw err;
        } finally {
          await context.close();
        }
      } finally {
        await app.close();
        await rm(dir, { recursive: true, force: true });
      }
      await expectAllClosed(fx.ns, fx.stack);
    });
  }, 60_000);
}, ['chromium']);

type Context = Awaited<ReturnType<typeof chromium.launchPersistentContext>>;

async function runPage(context: Context, app: StylesHandle): Promise<void> {
  const page = context.pages()[0] ?? (await context.newPage());
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(`http://${STACK_ADDR}:8080/`, { timeout: 15_000 });
  await page.waitForFunction(() => demo.ready, null, { timeout: 10_000 });

  // 1. The ticker's events arrive by all four styles.
  await page.waitForFunction((styles) => styles.every((s) => demo.per[s].count >= 3), STYLES, {
    timeout: 15_000,
  });

  // 2. A published event reaches every style.
  const published: number = await page.evaluate(async () => {
    const res = await fetch('/publish', { method: 'POST', body: 'from the test' });
    return ((await res.json()) as { id: number }).id;
  });
  await page.waitForFunction(
    ({ styles, id }: { styles: readonly string[]; id: number }) =>
      styles.every((s) => demo.received[s].includes(id)),
    { styles: STYLES, id: published },
    { timeout: 10_000 },
  );

  // 3. The WebSocket echoes.
  const rtt = await page.evaluate(() => demo.wsEcho('echo from the test'));
  expect(rtt).toBeGreaterThanOrEqual(0);

  // 4. The stack resets the SSE connection: the EventSource reconnects with Last-Event-ID and
  //    the stream goes on from where it stopped, nothing lost, nothing repeated.
  const before = await page.evaluate(() => demo.per.sse.last);
  expect(app.drop('sse')).toBe(1);
  await page.waitForFunction(
    (after) => demo.sse.resumes.length >= 1 && demo.per.sse.last >= after + 3,
    before,
    { timeout: 10_000 },
  );
  const sse = await page.evaluate(() => ({
    per: demo.per.sse,
    resumes: demo.sse.resumes,
    errors: demo.sse.errors,
    ids: demo.received.sse,
  }));
  expect(sse.errors).toBeGreaterThanOrEqual(1);
  expect(sse.resumes[0].from).toBeGreaterThanOrEqual(before);
  expect(app.stats.sseResumes).toBe(1);
  expect(app.stats.sseLastResumeFrom).toBe(sse.resumes[0].from);
  expect(sse.per.gaps).toBe(0);
  expect(sse.per.dups).toBe(0);
  const ids = sse.ids;
  expect(ids.every((id, i) => i === 0 || id === ids[i - 1] + 1)).toBe(true);

  // 5. Keep-alive: requests one after another share one connection.
  await page.evaluate(() => demo.kaRun(5));
  const ka = await page.evaluate(() => demo.ka);
  expect(ka.map((r) => r.n)).toEqual([1, 2, 3, 4, 5]);
  expect(new Set(ka.map((r) => r.remote)).size).toBe(1);

  // 6. The stack's counters, per style; the page shows them too.
  await page.waitForTimeout(1_200); // one more /stats round for the page
  const totals = app.totals();
  for (const s of [...STYLES, 'keepalive', 'page'] as const) {
    expect(totals[s].connections, s).toBeGreaterThanOrEqual(1);
    expect(totals[s].segsIn, s).toBeGreaterThan(0);
    expect(totals[s].segsOut, s).toBeGreaterThan(0);
    expect(totals[s].bytesOut, s).toBeGreaterThan(0);
  }
  expect(totals.sse.connections).toBeGreaterThanOrEqual(2); // the reset one and its successor
  expect(totals.ws.connections).toBe(1);
  // (Not keepalive.connections === 1: Chrome may open a spare connection to a busy origin.)
  expect(await page.locator('#kv-sse').textContent()).toContain('TCP connections');
  expect(errors).toEqual([]);

  const per = await page.evaluate(() => demo.per);
  console.log(
    `[browser] ${STYLES.map(
      (s) =>
        `${s}: ${per[s].count} events, mean ${Math.round(per[s].latSum / per[s].count)} ms, ` +
        `${totals[s].connections} conn, ${totals[s].segsIn}/${totals[s].segsOut} segs, ` +
        `${totals[s].bytesIn}/${totals[s].bytesOut} B`,
    ).join(' | ')}`,
  );
  await mkdir('test-output', { recursive: true });
  await page.screenshot({ path: SCREENSHOT, fullPage: true });

  // 7. The page's close button: the close handshake (RFC 6455 §7), 1000 both ways, clean.
  await page.click('#wsclose');
  await page.waitForFunction(() => demo.ws.closes.length === 1, null, { timeout: 5_000 });
  const closes = await page.evaluate(() => demo.ws.closes);
  expect(closes).toEqual([{ code: 1000, reason: 'bye', clean: true }]);
  await waitFor(() => app.stats.wsCloseCodes[1000] === 1, 10_000, "the server's ws 'close'");
  expect(app.stats.wsCloseCodes).toEqual({ 1000: 1 });
}
