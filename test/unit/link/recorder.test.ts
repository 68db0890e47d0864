/**
 * RecorderLink (src/link/recorder.ts): the last K packets in and out, bounded, fed to
 * ladderFromPackets the way a live stack will.
 */
import { describe, expect, it } from 'vitest';
import { ladderFromPackets } from '../../../src/cli/ladder/ladder.ts';
import { RecorderLink } from '../../../src/link/recorder.ts';
import { VirtualClock } from '../../../src/stack/clock.ts';
import type { Link, LinkReceiver } from '../../../src/stack/link.ts';
import { FOUR_WAY, packet } from '../cli/ladder-helpers.ts';

/** A link whose receive side the test drives, and which reuses one buffer for every packet. */
class LoopLink implements Link {
  readonly mtu = 1500;
  rx: LinkReceiver | null = null;
  sent: Uint8Array[] = [];
  private readonly scratch = new Uint8Array(1500);
  attach(rx: LinkReceiver): void {
    this.rx = rx;
  }
  send(p: Uint8Array): void {
    this.sent.push(p);
  }
  flush(): void {}
  close(): Promise<void> {
    return Promise.resolve();
  }
  /** Deliver `p` from the shared scratch buffer, then scribble over it (as a TUN ring would). */
  receive(p: Uint8Array): void {
    this.scratch.set(p);
    this.rx?.packet(this.scratch.subarray(0, p.length));
    this.scratch.fill(0xa5);
  }
}

function setup(k: number) {
  const clock = new VirtualClock(5_000);
  const inner = new LoopLink();
  const rec = new RecorderLink(inner, k, { clock });
  const delivered: number[] = [];
  rec.attach({ packet: (p) => delivered.push(p.length) });
  return { clock, inner, rec, delivered };
}

/** The stack is b (10.0.0.2): what a sends comes in, what b sends goes out. */
function play(k: number) {
  const s = setup(k);
  for (const [dt, from, spec] of FOUR_WAY) {
    s.clock.advance(dt);
    const p = packet(from, spec);
    if (from === 'a') s.inner.receive(p);
    else s.rec.send(p);
  }
  return s;
}

describe('RecorderLink', () => {
  it('passes packets through both ways and records copies with time and direction', () => {
    const { inner, rec, delivered } = play(64);
    expect(delivered).toHaveLength(6);
    expect(inner.sent).toHaveLength(5);
    const got = rec.packets();
    expect(got.map((p) => p.dir)).toEqual(
      FOUR_WAY.map(([, from]) => (from === 'a' ? 'in' : 'out')),
    );
    expect(got[0].at).toBe(5_000);
    expect(got[1].at).toBe(5_000.125);
    // The received bytes were copied before the link reused its buffer.
    expect(got[0].bytes).toEqual(packet('a', FOUR_WAY[0][2]));
    expect(rec.recorded).toBe(11);
  });

  it('keeps only the last K, oldest first, and draws them with ladderFromPackets', () => {
    const { rec } = play(4);
    const got = rec.packets();
    expect(got).toHaveLength(4);
    expect(got.map((p) => p.bytes)).toEqual(FOUR_WAY.slice(-4).map(([, f, s]) => packet(f, s)));
    const ladder = ladderFromPackets(got);
    expect(ladder?.rows.map((r) => r.flags)).toEqual(['FIN/ACK', 'ACK', 'FIN/ACK', 'ACK']);
    expect(ladder?.rows.map((r) => [r.stateA, r.stateB])).toEqual([
      ['FIN_WAIT_1', 'CLOSE_WAIT'],
      ['FIN_WAIT_2', 'CLOSE_WAIT'],
      ['TIME_WAIT', 'LAST_ACK'],
      ['TIME_WAIT', 'CLOSED'],
    ]);
  });

  it('draws the whole connection when K holds it all', () => {
    const ladder = ladderFromPackets(play(16).rec.packets());
    expect([ladder?.initialA, ladder?.initialB]).toEqual(['CLOSED', 'LISTEN']);
    expect(ladder?.rows).toHaveLength(11);
    expect(ladder?.rows[1].at).toBe(0.125);
  });

  it('clear() forgets, and recording starts over', () => {
    const { rec, inner } = play(4);
    rec.clear();
    expect(rec.packets()).toEqual([]);
    inner.receive(packet('a', FOUR_WAY[0][2]));
    expect(rec.packets().map((p) => p.dir)).toEqual(['in']);
  });

  it('refuses a capacity that is not a positive integer', () => {
    expect(() => new RecorderLink(new LoopLink(), 0)).toThrow(RangeError);
    expect(() => new RecorderLink(new LoopLink(), 1.5)).toThrow(RangeError);
  });
});
