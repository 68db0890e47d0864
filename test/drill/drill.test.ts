/**
 * Every packetdrill script in test/drill, run in virtual time (profile rfc) twice: against the TCP
 * core alone (CoreTarget) and through a whole Stack (StackTarget: IP, wire codec, TCP layer).
 *
 * A script listed as a known failure is expected to fail, for the reason given (a bug or a
 * missing feature, written up for its owner); `it.fails` turns it red once it passes, so the
 * lists cannot go stale.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CoreTarget } from '../../src/drill/core-target.ts';
import { formatFailure, runSource } from '../../src/drill/run.ts';
import { StackTarget } from '../../src/drill/stack-target.ts';
import type { DrillTarget } from '../../src/drill/target.ts';

const DIR = import.meta.dirname;

/**
 * B1: after a passive handshake with window scaling the core sends a pure window-update ACK
 * (`> . 1:1(0) ack 1 win 32768`) that Linux does not send; written up for the TCP core.
 */
const B1 = 'B1 window-update ACK after the handshake';
/** B3: a FIN beyond a hole draws no immediate duplicate ACK (RFC 5681 §4.2). */
const B3 = 'B3 no duplicate ACK for an out-of-order FIN';
/** B4: no restart window after an idle period (RFC 5681 §4.1). */
const B4 = 'B4 cwnd not reduced after idle';

/** Script -> why it fails today. */
const KNOWN_FAILURES: Readonly<Record<string, string>> = {
  'ack-every-second-segment.pkt': B1,
  'ack-of-unsent-data.pkt': B1,
  'ack-too-old.pkt': B1,
  'blocking-read.pkt': B1,
  'close-active.pkt': B1,
  'close-linger-zero.pkt': B1,
  'close-passive.pkt': B1,
  'close-simultaneous.pkt': B1,
  'close-with-unread-data.pkt': B1,
  'data-beyond-window.pkt': B1,
  'delayed-ack.pkt': B1,
  'fast-retransmit-newreno.pkt': B1,
  'fin-out-of-order.pkt': B3,
  'idle-restart-window.pkt': B4,
  'fin-wait-2-data.pkt': B1,
  'initial-window-slow-start.pkt': B1,
  'keepalive.pkt': B1,
  'nagle-off.pkt': B1,
  'nagle-on.pkt': B1,
  'newreno-partial-ack.pkt': B1,
  'old-duplicate-data.pkt': B1,
  'out-of-order-no-sack.pkt': B1,
  'out-of-order-sack.pkt': B1,
  'passive-open.pkt': B1,
  'paws.pkt': B1,
  'peer-window-scale.pkt': B1,
  'retransmit-timeout.pkt': B1,
  'retry-limit.pkt': B1,
  'rst-challenge-ack.pkt': B1,
  'rst-in-close-wait.pkt': B1,
  'rst-in-closing.pkt': B1,
  'rst-in-fin-wait-1.pkt': B1,
  'rst-in-last-ack.pkt': B1,
  'rst-in-established.pkt': B1,
  'rst-in-fin-wait-2.pkt': B1,
  'rst-in-time-wait.pkt': B1,
  'rst-out-of-window.pkt': B1,
  'rto-backoff.pkt': B1,
  'sack-fast-retransmit.pkt': B1,
  'sack-two-holes.pkt': B1,
  'segment-without-ack-bit.pkt': B1,
  'send-segmentation-psh.pkt': B1,
  'shutdown-half-close.pkt': B1,
  'syn-in-established.pkt': B1,
  'time-wait-expiry.pkt': B1,
  'time-wait-fin-retransmit.pkt': B1,
  'time-wait-reuse.pkt': B1,
  'time-wait-syn-challenge.pkt': B1,
  'timestamps.pkt': B1,
  'zero-window-persist.pkt': B1,
};

const scripts = readdirSync(DIR)
  .filter((f) => f.endsWith('.pkt'))
  .sort();

/** The Stack's TCP layer takes connection options per stack, not per socket. */
const NO_PER_SOCKET_OPTIONS = 'TcpLayer has no per-socket MSS or buffer sizes (ENOPROTOOPT)';

const TARGETS: Array<{ name: string; make: () => DrillTarget; known: Record<string, string> }> = [
  { name: 'core', make: () => new CoreTarget({ profile: 'rfc' }), known: KNOWN_FAILURES },
  {
    name: 'stack',
    make: () => new StackTarget({ profile: 'rfc' }),
    known: {
      ...KNOWN_FAILURES,
      'mss-tcp-maxseg.pkt': NO_PER_SOCKET_OPTIONS,
      'receive-window-zero-and-update.pkt': NO_PER_SOCKET_OPTIONS,
    },
  },
];

it('there are at least 40 scripts', () => {
  expect(scripts.length).toBeGreaterThanOrEqual(40);
});

for (const target of TARGETS) {
  describe(`packetdrill scripts, profile rfc, ${target.name} target`, () => {
    for (const name of scripts) {
      const run = () => {
        const r = runSource(readFileSync(join(DIR, name), 'utf8'), target.make());
        if (!r.ok) throw new Error(formatFailure(name, r.failure!));
      };
      const known = target.known[name];
      if (known !== undefined) it.fails(`${name} (known: ${known})`, run);
      else it(name, run);
    }
  });
}
