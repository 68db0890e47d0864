/**
 * The `packets` question of the control socket (src/cli/control.ts): a running `tunstack up
 * --record K` answers with the last K packets its RecorderLink kept, and `tunstack ladder --live`
 * turns the answer back into the CapturedPacket list a pcap file gives, so that both draw through
 * the same code.
 *
 * On the wire (one JSON line): `[{"at":ms,"dir":"in"|"out","bytes":"<base64 IP packet>"}, ...]`,
 * oldest first.
 */
import type { RecordedPacket, RecorderLink } from '../link/recorder.ts';
import type { CapturedPacket } from './ladder/segments.ts';

/** The most packets `up --record` keeps (a bound on memory and on the answer's size). */
export const MAX_RECORD = 100_000;

export interface WirePacket {
  at: number;
  dir: RecordedPacket['dir'];
  bytes: string;
}

/** The control handler: the recorder's packets, or an error that says how to turn recording on. */
export function packetsHandler(recorder: RecorderLink | undefined): () => WirePacket[] {
  return () => {
    if (recorder === undefined) {
      throw new Error('recording is off: start the stack with `tunstack up --record K`');
    }
    return recorder.packets().map((p) => ({
      at: p.at,
      dir: p.dir,
      bytes: Buffer.from(p.bytes.buffer, p.bytes.byteOffset, p.bytes.length).toString('base64'),
    }));
  };
}

/** An answer back to packets, or why it is not one (a stack of another version, say). */
export function packetsFromAnswer(answer: unknown): CapturedPacket[] | string {
  if (!Array.isArray(answer)) return 'the stack answered something other than a packet list';
  const out: CapturedPacket[] = [];
  for (const p of answer as unknown[]) {
    const w = p as Partial<WirePacket> | null;
    if (typeof w?.at !== 'number' || typeof w.bytes !== 'string') {
      return `packet ${out.length + 1} of the answer is malformed`;
    }
    out.push({ at: w.at, bytes: new Uint8Array(Buffer.from(w.bytes, 'base64')) });
  }
  return out;
}
