/**
 * Re-make docs/handshake.md's captures: RFC 9293 Figure 8 (an old duplicate SYN) and Figure 10
 * (half-open discovery) played by two real stacks over a simulated wire in virtual time
 * (src/apps/lessons/handshake.ts, the same runs test/sim/old-duplicate-syn.test.ts checks),
 * captured at the server, then drawn by `tunstack ladder` as text and SVG.
 *
 *   npx tsx scripts/handshake-demo.ts [OUT_DIR]      # default docs/
 *
 * Writes OUT_DIR/{old-duplicate-syn,half-open}.{pcap,txt} and one SVG per connection drawn.
 * No root, no network: everything runs in this process.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { halfOpenDiscovery, oldDuplicateSyn } from '../src/apps/lessons/handshake.ts';
import { type CapturedSegment, rfcLine } from '../src/apps/lessons/sim.ts';
import { runLadder } from '../src/cli/ladder.ts';
import { formatHistory } from '../src/cli/ss.ts';
import type { TcpConnectionRow } from '../src/stack/tcp.ts';

const out = process.argv[2] ?? 'docs';

/** `tunstack ladder FILE --conn N --svg SVG`, with the command line it stands for on top. */
function ladder(pcap: string, conn: number, svg: string): string {
  const r = runLadder(pcap, { conn, svg, list: false });
  if (r.exitCode !== 0) throw new Error(r.stderr);
  return `$ tunstack ladder ${pcap} --conn ${conn} --svg ${svg}\n${r.stdout}`;
}

/** The run as RFC 9293's figures write it: one line per segment at the server, absolute numbers. */
function figure(segs: readonly CapturedSegment[]): string {
  const rows = segs.map((s) => `${`${s.at} ms`.padStart(9)}  ${rfcLine(s)}`);
  return `segments at the server (--> in, <-- out), absolute sequence numbers:\n${rows.join('\n')}\n`;
}

/** The server's connections that left its table, with `tunstack ss -i`'s state history. */
function gone(rows: readonly TcpConnectionRow[]): string {
  const lines = rows.map((r) => `  ${r.local} ${r.remote} hist:${formatHistory(r.history)}`);
  return `server connections gone (ms since each was created):\n${lines.join('\n')}\n`;
}

async function main(): Promise<void> {
  const fig8 = join(out, 'old-duplicate-syn.pcap');
  const a = await oldDuplicateSyn({ pcapPath: fig8 });
  const fig8Text = [
    `# client ISN ${a.clientIss}, old duplicate's ISN ${a.oldIss} (ISN - 10)`,
    `# server: ${a.accepted} connection accepted, read ${JSON.stringify(a.received)}`,
    figure(a.segments),
    gone(a.gone),
    ladder(fig8, 1, join(out, 'old-duplicate-syn-1.svg')),
    ladder(fig8, 2, join(out, 'old-duplicate-syn-2.svg')),
  ].join('\n');
  writeFileSync(join(out, 'old-duplicate-syn.txt'), fig8Text);
  process.stdout.write(`${fig8Text}\n`);

  const fig10 = join(out, 'half-open.pcap');
  const b = await halfOpenDiscovery({ pcapPath: fig10 });
  const fig10Text = [
    `# first client ISN ${b.firstIss}; after the reboot ${b.secondIss}`,
    `# server errors: ${b.serverErrors.join(', ')}; reopened ${b.secondConnectMs} ms after the new SYN`,
    figure(b.segments),
    gone(b.gone),
    ladder(fig10, 1, join(out, 'half-open-1.svg')),
    ladder(fig10, 2, join(out, 'half-open-2.svg')),
    ladder(fig10, 3, join(out, 'half-open-3.svg')),
  ].join('\n');
  writeFileSync(join(out, 'half-open.txt'), fig10Text);
  process.stdout.write(`${fig10Text}\n`);
}

await main();
