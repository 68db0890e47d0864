/**
 * `tunstack ladder --live`: the `packets` question of the control socket (in a temporary
 * directory: a UNIX socket, no network) answered from a RecorderLink, and drawn by the same code
 * as a pcap file of the same packets.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { controlPath, queryControl, serveControl } from '../../../src/cli/control.ts';
import { runLadder, runLadderLive } from '../../../src/cli/ladder.ts';
import { packetsFromAnswer, packetsHandler } from '../../../src/cli/live-packets.ts';
import { RecorderLink } from '../../../src/link/recorder.ts';
import { VirtualClock } from '../../../src/stack/clock.ts';
import type { Link, LinkReceiver } from '../../../src/stack/link.ts';
import { FOUR_WAY, packet, pcapOf } from './ladder-helpers.ts';

const quiet = pino({ level: 'silent' });

/** A link the test drives by hand: what it is given to send goes nowhere. */
class NullLink implements Link {
  readonly mtu = 1500;
  rx: LinkReceiver | null = null;
  attach(rx: LinkReceiver): void {
    this.rx = rx;
  }
  send(): void {}
  flush(): void {}
  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** A recorder that saw FOUR_WAY, the stack being b: a's packets came in, b's went out. */
function recorded(k: number): RecorderLink {
  const clock = new VirtualClock(5_000);
  const inner = new NullLink();
  const rec = new RecorderLink(inner, k, { clock });
  rec.attach({ packet: () => {} });
  for (const [dt, from, spec] of FOUR_WAY) {
    clock.advance(dt);
    if (from === 'a') inner.rx?.packet(packet(from, spec));
    else rec.send(packet(from, spec));
  }
  return rec;
}

describe('the packets question', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tunstack-ctl-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('answers the recorded packets (time, direction, base64 bytes), which decode back', async () => {
    const rec = recorded(64);
    const path = controlPath('t', dir);
    const server = await serveControl(path, { packets: packetsHandler(rec) }, quiet);
    try {
      const answer = (await queryControl(path, 'packets')) as { at: number; dir: string }[];
      expect(answer).toHaveLength(FOUR_WAY.length);
      expect(answer.map((p) => p.dir)).toEqual(FOUR_WAY.map(([, f]) => (f === 'a' ? 'in' : 'out')));
      expect(answer[1].at).toBe(5_000.125);
      const packets = packetsFromAnswer(answer);
      if (typeof packets === 'string') throw new Error(packets);
      expect(packets.map((p) => p.bytes)).toEqual(rec.packets().map((p) => p.bytes));
    } finally {
      await server?.close();
    }
  });

  it('says how to turn recording on when it is off', async () => {
    const path = controlPath('t', dir);
    const server = await serveControl(path, { packets: packetsHandler(undefined) }, quiet);
    try {
      const out = await runLadderLive({ conn: 1, list: false, live: true, netns: 't', dir });
      expect(out.exitCode).toBe(1);
      expect(out.stderr).toMatch(/recording is off: start the stack with `tunstack up --record K`/);
    } finally {
      await server?.close();
    }
  });

  it('says so when no stack runs in that namespace', async () => {
    const out = await runLadderLive({ conn: 1, list: false, live: true, netns: 'none', dir });
    expect(out.exitCode).toBe(1);
    expect(out.stderr).toMatch(/^tunstack ladder: no tunstack is running there/);
  });

  it('rejects an answer that is not a packet list', () => {
    expect(packetsFromAnswer({})).toMatch(/other than a packet list/);
    expect(packetsFromAnswer([{ at: 1, bytes: 'AAAA' }, { at: 'x' }])).toMatch(/packet 2 /);
  });

  it('draws the live packets exactly as a pcap file of the same packets', async () => {
    const path = controlPath('t', dir);
    const server = await serveControl(path, { packets: packetsHandler(recorded(64)) }, quiet);
    const file = join(dir, 'four-way.pcap');
    await writeFile(file, await pcapOf(FOUR_WAY));
    try {
      const live = await runLadderLive({ conn: 1, list: false, live: true, netns: 't', dir });
      const fromFile = runLadder(file, { conn: 1, list: false });
      expect(live.exitCode).toBe(0);
      expect(live.stdout).toMatch(/SYN seq=0 .*\n.*SYN\/ACK/);
      expect(live.stdout).toMatch(/ESTABLISHED/);
      // Same diagram; only the last line, which names the source, differs.
      const body = (s: string) => s.trimEnd().split('\n').slice(0, -1).join('\n');
      expect(body(live.stdout)).toBe(body(fromFile.stdout));
      expect(live.stdout).toMatch(/^netns t \(live\): 11 packets, 1 TCP connection$/m);

      const list = await runLadderLive({ conn: 1, list: true, live: true, netns: 't', dir });
      expect(list.stdout).toMatch(/10\.0\.0\.1:40000/);
      const svg = join(dir, 'live.svg');
      const drawn = await runLadderLive({ conn: 1, list: false, live: true, netns: 't', dir, svg });
      expect(drawn.stdout).toMatch(/wrote .*live\.svg/);
    } finally {
      await server?.close();
    }
  });
});
