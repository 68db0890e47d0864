/**
 * A DrillTarget whose behaviour a test scripts by hand: segments to send at given times, replies
 * to injected segments, results for calls (at once, or later for blocking ones). It records what
 * the runner gave it, so tests can check the runner's mapping of sequence numbers and times.
 */

import type {
  DrillTarget,
  Ms,
  SyscallOutcome,
  SyscallRequest,
  SyscallResult,
} from '../../../src/drill/target.ts';
import type { TcpRepr } from '../../../src/wire/tcp-repr.ts';

export const LOCAL = 0x0a000002; // 10.0.0.2
export const REMOTE = 0x0a000001; // 10.0.0.1

export function seg(p: Partial<TcpRepr> & Pick<TcpRepr, 'seq'>): TcpRepr {
  return {
    srcPort: 8080,
    dstPort: 40000,
    control: 'none',
    psh: false,
    urg: false,
    ece: false,
    cwr: false,
    ack: null,
    window: 65535,
    urgentPointer: 0,
    options: {
      mss: null,
      windowScale: null,
      sackPermitted: false,
      sackBlocks: [],
      timestamp: null,
    },
    payload: new Uint8Array(0),
    ...p,
  };
}

type Timed = { at: Ms; run: () => void };

export class ScriptedTarget implements DrillTarget {
  readonly addresses = { local: LOCAL, remote: REMOTE };
  now: Ms = 0;
  readonly injected: Array<{ at: Ms; seg: TcpRepr }> = [];
  readonly calls: Array<{ at: Ms; req: SyscallRequest }> = [];
  readonly settings: Array<[string, string]> = [];
  #timers: Timed[] = [];
  #out: Array<{ at: Ms; seg: TcpRepr }> = [];
  #done: Array<{ id: number; at: Ms; result: SyscallResult }> = [];
  #nextId = 1;

  /** Called for each injected segment; may call `send`/`later`. */
  onInject: (seg: TcpRepr, now: Ms) => void = () => {};
  /** Decides each call; the default returns 0. */
  onSyscall: (req: SyscallRequest, now: Ms) => SyscallOutcome = () => ({
    kind: 'done',
    result: { ret: 0 },
  });

  /** Send a segment now. */
  send(s: TcpRepr): void {
    this.#out.push({ at: this.now, seg: s });
  }

  /** Run `fn` at time `at` (a deadline the runner will step to). */
  later(at: Ms, fn: () => void): void {
    this.#timers.push({ at, run: fn });
    this.#timers.sort((a, b) => a.at - b.at);
  }

  /** A blocking call: returns its outcome; `finish(id, at, result)` completes it later. */
  block(): SyscallOutcome {
    return { kind: 'blocked', id: this.#nextId++ };
  }

  finish(id: number, at: Ms, result: SyscallResult): void {
    this.later(at, () => this.#done.push({ id, at: this.now, result }));
  }

  inject(s: TcpRepr, now: Ms): void {
    this.now = now;
    this.injected.push({ at: now, seg: s });
    this.onInject(s, now);
  }

  syscall(req: SyscallRequest, now: Ms): SyscallOutcome {
    this.now = now;
    this.calls.push({ at: now, req });
    return this.onSyscall(req, now);
  }

  nextDeadline(): Ms | null {
    return this.#timers[0]?.at ?? null;
  }

  advance(to: Ms): void {
    while (this.#timers.length > 0 && this.#timers[0].at <= to) {
      const t = this.#timers.shift()!;
      this.now = Math.max(this.now, t.at);
      t.run();
    }
    this.now = Math.max(this.now, to);
  }

  takeOutbound(): Array<{ at: Ms; seg: TcpRepr }> {
    return this.#out.splice(0);
  }

  takeCompleted(): Array<{ id: number; at: Ms; result: SyscallResult }> {
    return this.#done.splice(0);
  }

  setting(name: string, value: string): boolean {
    this.settings.push([name, value]);
    return name === 'tcp_timestamps';
  }

  describe(): string {
    return `scripted target at ${this.now} ms`;
  }
}
