import { describe, expect, it } from 'vitest';
import { type Clock, VirtualClock } from '../../../src/stack/clock.ts';
import { MAX_FIRES_PER_RUN, TimerQueue } from '../../../src/stack/timers.ts';

/** A VirtualClock that counts how often the queue arms it. */
function countingClock() {
  const clock = new VirtualClock();
  let arms = 0;
  const counted: Clock = {
    now: () => clock.now(),
    setTimer(at, fn) {
      arms++;
      return clock.setTimer(at, fn);
    },
  };
  return { clock, counted, arms: () => arms };
}

describe('TimerQueue', () => {
  it('stops a run at MAX_FIRES_PER_RUN when a timer keeps re-arming itself for now, and counts it', () => {
    const clock = new VirtualClock();
    const q = new TimerQueue(clock);
    let fires = 0;
    const t = q.create((now) => {
      fires++;
      t.schedule(now); // a bug in a timer's owner: due again at once
    });
    t.schedule(0);
    q.run(0);
    expect(fires).toBe(MAX_FIRES_PER_RUN);
    expect(q.stats.runsBounded).toBe(1);
    q.run(0); // the next run goes on from there
    expect(fires).toBe(2 * MAX_FIRES_PER_RUN);
    t.cancel();
  });

  it('fires timers at their deadlines, in order, then runs afterRun once per batch', () => {
    const clock = new VirtualClock();
    const log: string[] = [];
    const q = new TimerQueue(clock, () => log.push('flush'));
    const a = q.create((now) => log.push(`a@${now}`));
    const b = q.create((now) => log.push(`b@${now}`));
    b.schedule(20);
    a.schedule(10);
    clock.advance(15);
    expect(log).toEqual(['a@10', 'flush']);
    clock.advance(15);
    expect(log).toEqual(['a@10', 'flush', 'b@20', 'flush']);
    expect(a.scheduled || b.scheduled).toBe(false);
  });

  it('moves a deadline later without touching the heap or the clock', () => {
    const { clock, counted, arms } = countingClock();
    const q = new TimerQueue(counted);
    const fired: number[] = [];
    const t = q.create((now) => fired.push(now));
    t.schedule(100);
    for (let i = 1; i <= 1000; i++) t.schedule(100 + i); // an ACK pushing the RTO forward
    expect(q.entries).toBe(1);
    expect(arms()).toBe(1);
    clock.advance(100); // the old entry comes due and is re-pushed at 1100
    expect(fired).toEqual([]);
    clock.advance(1000);
    expect(fired).toEqual([1100]);
  });

  it('moves a deadline earlier by pushing a new entry and re-arming', () => {
    const clock = new VirtualClock();
    const q = new TimerQueue(clock);
    const fired: number[] = [];
    const t = q.create((now) => fired.push(now));
    t.schedule(1000);
    t.schedule(40); // delayed ACK before the RTO
    clock.advance(50);
    expect(fired).toEqual([40]);
    clock.advance(2000);
    expect(fired).toEqual([40]); // the stale 1000 entry fires nothing
  });

  it('cancel stops a timer, and a rescheduled timer fires once', () => {
    const clock = new VirtualClock();
    const q = new TimerQueue(clock);
    let n = 0;
    const t = q.create(() => n++);
    t.schedule(10);
    t.cancel();
    clock.advance(20);
    expect(n).toBe(0);
    t.schedule(30);
    t.schedule(30);
    clock.advance(20);
    expect(n).toBe(1);
  });

  it('keeps the heap small when deadlines keep moving earlier', () => {
    const clock = new VirtualClock();
    const q = new TimerQueue(clock);
    const timers = Array.from({ length: 10 }, () => q.create(() => {}));
    for (let round = 0; round < 1000; round++) {
      for (const t of timers) t.schedule(1_000_000 - round);
    }
    expect(q.entries).toBeLessThanOrEqual(64 + 4 * 10);
  });

  it('lets go of a cancelled timer at once: its heap entry no longer refers to it', () => {
    const clock = new VirtualClock();
    const q = new TimerQueue(clock);
    const keep = q.create(() => {});
    keep.schedule(10);
    // 10 000 owners with a far deadline (TIME_WAIT's 60 s), cancelled long before it.
    for (let i = 0; i < 10_000; i++) {
      const t = q.create(() => {});
      t.schedule(60_000 + i);
      t.schedule(30); // moved earlier: a second entry, the first superseded
      t.cancel();
    }
    expect(q.liveEntries).toBe(1);
    // The dead entries are swept (they hold nothing, but the heap stays small too).
    expect(q.entries).toBeLessThanOrEqual(64 + 4 * 1);
    let fired = 0;
    const t = q.create(() => fired++);
    t.schedule(20);
    t.cancel();
    t.schedule(40); // rescheduled after a cancel: fires once, at the new time
    clock.advance(100);
    expect(fired).toBe(1);
    expect(q.liveEntries).toBe(0);
  });

  it('lets a callback reschedule its own timer', () => {
    const clock = new VirtualClock();
    const q = new TimerQueue(clock);
    const at: number[] = [];
    const t = q.create((now) => {
      at.push(now);
      if (at.length < 3) t.schedule(now + 10);
    });
    t.schedule(5);
    clock.advance(100);
    expect(at).toEqual([5, 15, 25]);
  });

  it('reports a throwing callback and keeps running the others', () => {
    const clock = new VirtualClock();
    const errors: unknown[] = [];
    const q = new TimerQueue(clock, undefined, (e) => errors.push(e));
    let ok = 0;
    q.create(() => {
      throw new Error('boom');
    }).schedule(1);
    q.create(() => ok++).schedule(1);
    clock.advance(1);
    expect(errors.length).toBe(1);
    expect(ok).toBe(1);
  });

  it('close cancels the clock timer', () => {
    const clock = new VirtualClock();
    const q = new TimerQueue(clock);
    q.create(() => {}).schedule(10);
    expect(clock.pendingTimers).toBe(1);
    q.close();
    expect(clock.pendingTimers).toBe(0);
  });
});
