/**
 * `tunstack ladder FILE.pcap`: draw one TCP connection of a capture as a ladder (sequence)
 * diagram, in the terminal and optionally as an SVG file.
 *
 *   tunstack ladder capture.pcap --list          # the connections, numbered
 *   tunstack ladder capture.pcap --conn 2        # connection 2 as text
 *   tunstack ladder capture.pcap --svg out.svg   # the first connection, also as SVG
 *   tunstack ladder --live --netns NS            # the last packets of a running `up --record K`
 *
 * Reads pcap files, our PcapLink's (LINKTYPE_RAW) and `tcpdump -w`'s from an Ethernet device,
 * loopback or `-i any` (ETHERNET, LINUX_SLL, LINUX_SLL2), and Wireshark's pcapng. The diagram is built
 * from IPv4 and IPv6 packets by src/cli/ladder/ (an IPv6 end reads `[fd00::2]:80`); with --live the packets come instead from the RecorderLink
 * of a running stack, asked over its control socket (src/cli/live-packets.ts), and are drawn by
 * the same code (ladderOutput).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { type Command, InvalidArgumentError } from 'commander';
import { ipFromFrame, readPcap } from '../link/pcap-read.ts';
import { ParseError } from '../wire/parse-error.ts';
import type { CliCommand } from './command.ts';
import { CONTROL_DIR, controlPath, queryControl } from './control.ts';
import { buildLadder } from './ladder/ladder.ts';
import { renderSvg } from './ladder/render-svg.ts';
import { renderList, renderText } from './ladder/render-text.ts';
import { type CapturedPacket, summarize, type Trace, traceConnections } from './ladder/segments.ts';
import { packetsFromAnswer } from './live-packets.ts';

export interface LadderCliOptions {
  conn: number;
  svg?: string;
  list: boolean;
  maxRows?: number;
  /** Ask the running stack of namespace `netns` instead of reading a file. */
  live?: boolean;
  netns?: string;
  /** Where the control sockets are (tests). */
  dir?: string;
}

export interface CliOutput {
  stdout: string;
  stderr: string;
  exitCode: number;
}

/** The capture's packets, traced into connections, with link-level skips counted too. */
export function traceFile(file: string): { trace: Trace; truncated: boolean } | string {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(file);
  } catch (e) {
    return `cannot read ${file}: ${(e as Error).message}`;
  }
  const pcap = readPcap(bytes);
  if (pcap instanceof ParseError) {
    return `${file} is not a pcap or pcapng file (${pcap.reason})`;
  }
  const skipped: Record<string, number> = {};
  const packets: CapturedPacket[] = [];
  pcap.records.forEach((r, i) => {
    // A frame the snaplen cut short cannot be checked; capture with the default snaplen.
    const ip =
      r.frame.length < r.origLen ? ParseError.of('snaplen') : ipFromFrame(r.linkType, r.frame);
    if (ip instanceof ParseError) skipped[ip.reason] = (skipped[ip.reason] ?? 0) + 1;
    // Frame numbers count every record, so that they match Wireshark's.
    else packets.push({ at: r.at, bytes: ip, frame: i + 1 });
  });
  const trace = traceConnections(packets);
  for (const [k, v] of Object.entries(skipped)) trace.skipped[k] = (trace.skipped[k] ?? 0) + v;
  trace.packets = pcap.records.length;
  return { trace, truncated: pcap.truncated };
}

const failure = (message: string): CliOutput => ({
  stdout: '',
  stderr: `tunstack ladder: ${message}\n`,
  exitCode: 1,
});

/** Everything `ladder FILE` prints, given its arguments; the action only writes it out. */
export function runLadder(file: string, o: LadderCliOptions): CliOutput {
  const traced = traceFile(file);
  if (typeof traced === 'string') return failure(traced);
  return ladderOutput(file, traced.trace, traced.truncated, o);
}

/** Everything `ladder --live` prints: the packets come from the stack's control socket. */
export async function runLadderLive(o: LadderCliOptions): Promise<CliOutput> {
  const netns = o.netns ?? 'tunstack';
  let answer: unknown;
  try {
    answer = await queryControl(controlPath(netns, o.dir), 'packets');
  } catch (e) {
    return failure((e as Error).message);
  }
  const packets = packetsFromAnswer(answer);
  if (typeof packets === 'string') return failure(packets);
  return ladderOutput(`netns ${netns} (live)`, traceConnections(packets), false, o);
}

/** The list, or one connection as text (and SVG): the same for a file and a live stack. */
function ladderOutput(
  source: string,
  trace: Trace,
  truncated: boolean,
  o: LadderCliOptions,
): CliOutput {
  const summary = summaryLines(source, truncated, trace);
  if (o.list) {
    return {
      stdout: renderList(trace.connections.map(summarize)) + summary,
      stderr: '',
      exitCode: 0,
    };
  }
  if (trace.connections.length === 0) return failure(`no TCP connections in ${source}`);
  const conn = trace.connections[o.conn - 1];
  if (conn === undefined) {
    return failure(
      `no connection ${o.conn}: ${source} has ${trace.connections.length} (see --list)`,
    );
  }
  const ladder = buildLadder(conn);
  let stdout = renderText(ladder, { maxRows: o.maxRows });
  if (trace.connections.length > 1) {
    stdout += `connection ${o.conn} of ${trace.connections.length} (--list shows them all)\n`;
  }
  stdout += summary;
  if (o.svg !== undefined) {
    try {
      writeFileSync(o.svg, renderSvg(ladder, { maxRows: o.maxRows }));
    } catch (e) {
      return failure(`cannot write ${o.svg}: ${(e as Error).message}`);
    }
    stdout += `wrote ${o.svg}\n`;
  }
  return { stdout, stderr: '', exitCode: 0 };
}

/** What was read and what was not: one or two lines after the diagram or list. */
function summaryLines(file: string, truncated: boolean, trace: Trace): string {
  let s = `${file}: ${trace.packets} packets, ${trace.connections.length} TCP connection`;
  if (trace.connections.length !== 1) s += 's';
  if (truncated) s += ', file ends mid-packet';
  const skipped = Object.entries(trace.skipped)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k} ${v}`);
  if (skipped.length > 0) s += `; skipped: ${skipped.join(', ')}`;
  s += '\n';
  if (trace.checksumUnverified > 0) {
    s += `${trace.checksumUnverified} segments with TCP checksums left to offload (not verified)\n`;
  }
  return s;
}

/** Commander prints an InvalidArgumentError as a usage error (exit 1), not a stack trace. */
function positiveInt(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('not a positive integer');
  return n;
}

export const ladderCommand: CliCommand = {
  name: 'ladder',
  register(program: Command): void {
    program
      .command('ladder')
      .description('draw a TCP connection from a pcap file or a running stack as a ladder diagram')
      .argument('[file]', 'a pcap or pcapng file (PcapLink, tcpdump -w, Wireshark)')
      .option('--conn <n>', 'which connection (see --list)', positiveInt, 1)
      .option('--svg <out>', 'also write the diagram as SVG to this file')
      .option('--list', 'list the connections instead', false)
      .option('--max-rows <n>', 'draw at most this many segments', positiveInt)
      .option('--live', 'ask the running `tunstack up --record K` for its last packets instead')
      .option('--netns <name>', 'with --live: the namespace given to `tunstack up`', 'tunstack')
      .option('--dir <path>', 'with --live: where the control sockets are', CONTROL_DIR)
      .action(async (file: string | undefined, o: LadderCliOptions) => {
        let out: CliOutput;
        if (o.live === true) {
          out =
            file === undefined
              ? await runLadderLive(o)
              : failure('give a FILE or --live, not both');
        } else {
          out = file === undefined ? failure('give a pcap FILE, or --live') : runLadder(file, o);
        }
        process.stdout.write(out.stdout);
        process.stderr.write(out.stderr);
        process.exitCode = out.exitCode;
      });
  },
};
