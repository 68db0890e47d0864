/**
 * Floods and what a legitimate user sees during them: hping3 at its full rate for a bounded
 * time (`timeout -s INT S hping3 … --flood`: hping3 ignores -c in flood mode, so the time bounds
 * the count, and SIGINT makes it print how many it sent), aimed only at an address inside the
 * test's own namespace; meanwhile a curl every 0.5 s and a ping every 0.2 s from the same
 * namespace, each judged on its own (curl: 200 within its --max-time; ping: answered within
 * 100 ms).
 */
import * as netns from '../../../src/link/netns.ts';
import { spawnInNs } from '../tcp-peers.ts';

export interface FloodResult {
  /** Packets hping3 says it sent, and over how long. */
  sent: number;
  seconds: number;
  pps: number;
  output: string;
}

/**
 * hping3 `args` (target included) with --flood, for `seconds` seconds, inside `ns`, at the lowest
 * CPU priority (nice 19): a real attacker floods from another machine, here it shares our two
 * cores, and at equal priority it would take the CPU the stack needs to read its device, which
 * measures the scheduler rather than the stack. The kernel's own comparison runs the same way.
 */
export async function flood(
  ns: string,
  args: readonly string[],
  seconds: number,
): Promise<FloodResult> {
  const t0 = performance.now();
  const p = spawnInNs(
    ns,
    ['timeout', '-s', 'INT', String(seconds), 'nice', '-n', '19', 'hping3', '--flood', ...args],
    (seconds + 10) * 1000,
  );
  const { code, signal } = await p.exited;
  const elapsed = (performance.now() - t0) / 1000;
  const output = p.stdout() + p.stderr();
  const m = /(\d+) packets transmitted/.exec(output);
  if (m === null) {
    throw new Error(`hping3 ${args.join(' ')}: no statistics (exit ${code ?? signal}): ${output}`);
  }
  const sent = Number(m[1]);
  return { sent, seconds: elapsed, pps: Math.round(sent / elapsed), output };
}

export interface Observed {
  curlsOk: number;
  curls: number;
  /** Each curl: its exit code and HTTP status. */
  curlResults: string[];
  pingsSent: number;
  /** Pings answered within 100 ms. */
  pingsFast: number;
  pingsAnswered: number;
  maxRttMs: number | null;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * For `seconds`: start `curl url` every `curlEveryMs` (not waiting for the previous one) and run
 * ping at 0.2 s intervals; resolve when all have finished. A curl may take `curlMaxTime` (6 s):
 * when a flood outruns the stack, the device's full queue drops packets at random, a user's SYN
 * among them, and the kernel resends a SYN after 1 s and again after 3 s; 6 s gives a curl the
 * three tries a person's would have (at 3 s, one unlucky SYN pair failed it, about one curl in
 * 20 at 230 000 SYNs/s). The kernel's run gets the same.
 */
export async function observe(
  ns: string,
  url: string,
  pingTarget: string,
  seconds: number,
  curlEveryMs = 500,
  curlMaxTime = 6,
): Promise<Observed> {
  const count = Math.max(1, Math.floor((seconds * 1000) / 200));
  const pinger = netns.exec(
    ns,
    ['ping', '-n', '-c', String(count), '-i', '0.2', '-W', '1', pingTarget],
    { timeoutMs: (seconds + 10) * 1000 },
  );
  const curls: Promise<string>[] = [];
  const n = Math.max(1, Math.round((seconds * 1000) / curlEveryMs));
  for (let i = 0; i < n; i++) {
    curls.push(
      netns
        .exec(
          ns,
          ['curl', '-s', '-o', '/dev/null', '-m', String(curlMaxTime), '-w', '%{http_code}', url],
          { timeoutMs: (curlMaxTime + 5) * 1000 },
        )
        .then((r) => `${r.code}/${r.stdout}`),
    );
    if (i < n - 1) await sleep(curlEveryMs);
  }
  const curlResults = await Promise.all(curls);
  const p = await pinger;
  const rtts = [...p.stdout.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1]));
  return {
    curlsOk: curlResults.filter((r) => r === '0/200').length,
    curls: curlResults.length,
    curlResults,
    pingsSent: count,
    pingsFast: rtts.filter((t) => t <= 100).length,
    pingsAnswered: rtts.length,
    maxRttMs: rtts.length > 0 ? Math.max(...rtts) : null,
  };
}

/** Flood and observe at once; the observation starts with the flood and lasts as long. */
export async function floodAndObserve(
  ns: string,
  hping: readonly string[],
  seconds: number,
  url: string,
  pingTarget: string,
): Promise<{ flood: FloodResult; seen: Observed }> {
  // The flood starts 0.3 s early (hping3 resolves its target and opens its sockets) and ends
  // about when the last curl starts.
  const f = flood(ns, hping, seconds + 0.3);
  await sleep(300);
  const seen = await observe(ns, url, pingTarget, seconds);
  return { flood: await f, seen };
}

/** The namespace has no default route and no interface but lo and `dev`: nothing can leave it. */
export async function expectSealed(ns: string, dev: string): Promise<string | null> {
  const routes = await netns.ip(ns, ['-4', 'route', 'show', 'default']);
  if (routes.trim() !== '') return `default route in ${ns}: ${routes.trim()}`;
  const links = await netns.ip(ns, ['-o', 'link', 'show']);
  const names = [...links.matchAll(/^\d+: ([^:@]+)/gm)].map((m) => m[1]).sort();
  const want = ['lo', dev].sort();
  if (names.join(',') !== want.join(',')) return `interfaces in ${ns}: ${names.join(',')}`;
  const fwd = await netns.exec(ns, ['sysctl', '-n', 'net.ipv4.ip_forward']);
  if (fwd.stdout.trim() !== '0') return `forwarding on in ${ns}`;
  return null;
}

export const fmtObserved = (o: Observed): string =>
  `curls ${o.curlsOk}/${o.curls} ok, pings ${o.pingsFast}/${o.pingsSent} answered within 100 ms (${o.pingsAnswered} answered, max ${o.maxRttMs ?? '-'} ms)`;
