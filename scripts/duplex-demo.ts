/**
 * Re-make docs/duplex.md's captures: a client streaming through the echo service (both
 * directions at once) and one HTTP request/response (one direction, then the other), each on two
 * real stacks over a simulated wire in virtual time (src/apps/lessons/duplex.ts, the runs
 * test/sim/duplex.test.ts checks), captured at the server and drawn by `tunstack ladder`.
 *
 *   npx tsx scripts/duplex-demo.ts [OUT_DIR]      # default docs/
 *
 * Writes OUT_DIR/duplex-{echo,http}.{pcap,txt,svg}. No root, no network.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type DuplexRun, echoDuplex, httpExchange } from '../src/apps/lessons/duplex.ts';
import { runLadder } from '../src/cli/ladder.ts';

const out = process.argv[2] ?? 'docs';
const MAX_ROWS = 30;

function report(name: string, run: DuplexRun, pcap: string): string {
  const svg = join(out, `duplex-${name}.svg`);
  const r = runLadder(pcap, { conn: 1, svg, list: false, maxRows: MAX_ROWS });
  if (r.exitCode !== 0) throw new Error(r.stderr);
  const s = run.stats;
  return [
    `# ${name}: client sent ${run.sent} bytes, received ${run.received}`,
    `# data segments in/out ${s.dataIn}/${s.dataOut}, with a new ACK piggybacked ${s.piggybackedIn}/${s.piggybackedOut}, pure ACKs ${s.pureAcksIn}/${s.pureAcksOut}, direction changes ${s.turns}`,
    `$ tunstack ladder ${pcap} --max-rows ${MAX_ROWS} --svg ${svg}`,
    r.stdout,
  ].join('\n');
}

async function main(): Promise<void> {
  const echoPcap = join(out, 'duplex-echo.pcap');
  const echo = report('echo', await echoDuplex({ pcapPath: echoPcap }), echoPcap);
  writeFileSync(join(out, 'duplex-echo.txt'), echo);
  const httpPcap = join(out, 'duplex-http.pcap');
  const http = report('http', await httpExchange({ pcapPath: httpPcap }), httpPcap);
  writeFileSync(join(out, 'duplex-http.txt'), http);
  process.stdout.write(`${echo}\n${http}`);
}

await main();
