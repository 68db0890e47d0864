import { describe, expect, it } from 'vitest';
import { realClock, VirtualClock } from '../../../src/stack/clock.ts';

describe('VirtualClock', () => {
  it('fires due timers in time order, each seeing its own time', () => {
    const clock = new VirtualClock(100);
    const seen: string[] = [];
    clock.setTimer(130, () => seen.push(`b@${clock.now()}`));
    clock.setTimer(110, () => seen.push(`a@${clock.now()}`));
    clock.setTimer(130, () => seen.push(`c@${clock.now()}`)); // same time: set order
    clock.setTimer(500, () => seen.push('late'));
    clock.advance(50);
    expect(seen).toEqual(['a@110', 'b@130', 'c@130']);
    expect(clock.now()).toBe(150);
    expect(clock.pendingTimers).toBe(1);
  });

  it('fires timers set by timers within the same advance', () => {
    const clock = new VirtualClock();
    const seen: number[] = [];
    clock.setTimer(10, () => clock.setTimer(clock.now() + 5, () => seen.push(clock.now())));
    clock.advance(20);
    expect(seen).toEqual([15]);
  });

  it('does not fire cancelled timers; a timer in the past fires on the next advance', () => {
    const clock = new VirtualClock(50);
    let fired = 0;
    clock.setTimer(60, () => fired++).cancel();
    clock.setTimer(10, () => fired++);
    expect(clock.pendingTimers).toBe(1);
    clock.advance(0);
    expect(fired).toBe(1);
    expect(clock.now()).toBe(50);
  });

  it('runUntilIdle stops when idle or at the limit', () => {
    const clock = new VirtualClock();
    let n = 0;
    const tick = () => {
      n++;
      clock.setTimer(clock.now() + 100, tick);
    };
    clock.setTimer(0, tick);
    expect(clock.runUntilIdle(1000)).toBe(1000);
    expect(n).toBe(11);
    const idle = new VirtualClock();
    idle.setTimer(5, () => {});
    expect(idle.runUntilIdle()).toBe(5);
    expect(idle.nextTimerAt()).toBe(null);
  });

  it('refuses to go back in time', () => {
    expect(() => new VirtualClock().advance(-1)).toThrow(RangeError);
  });
});

describe('realClock', () => {
  it('is monotonic and fires a timer', async () => {
    const t0 = realClock.now();
    await new Promise<void>((resolve) => realClock.setTimer(t0 + 5, resolve));
    // libuv keeps its own millisecond clock: allow it one millisecond of disagreement.
    expect(realClock.now()).toBeGreaterThanOrEqual(t0 + 4);
  });
});
