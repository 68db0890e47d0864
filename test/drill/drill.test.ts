/**
 * Every packetdrill script in test/drill (profile rfc) and test/drill/linux (profile linux), run in
 * virtual time twice: against the TCP core alone (CoreTarget) and through a whole Stack
 * (StackTarget: IP, wire codec, TCP layer).
 *
 * A script listed as a known failure is expected to fail, for the reason given (a bug or a
 * missing feature, written up for its owner); `it.fails` turns it red once it passes, so the
 * lists cannot go stale.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CoreTarget } from '../../src/drill/core-target.ts';
import type { ProfileName } from '../../src/drill/profiles.ts';
import { formatFailure, runSource } from '../../src/drill/run.ts';
import { StackTarget } from '../../src/drill/stack-target.ts';
import type { DrillTarget } from '../../src/drill/target.ts';

const DIR = import.meta.dirname;

/**
 * Script -> why it fails today. Empty: what the scripts found in the core (an extra window-update
 * ACK, no duplicate ACK for an out-of-order FIN, no restart window after idle, no Limited Transmit)
 * has been fixed.
 */
const KNOWN_FAILURES: Readonly<Record<string, string>> = {};

/** Scripts for a profile: test/drill/*.pkt for rfc, test/drill/linux/*.pkt for linux. */
function scriptsIn(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.pkt'))
    .sort();
}

const SUITES: Array<{ profile: ProfileName; dir: string }> = [
  { profile: 'rfc', dir: DIR },
  { profile: 'linux', dir: join(DIR, 'linux') },
];

const TARGETS: Array<{
  name: string;
  make: (profile: ProfileName) => DrillTarget;
  known: Record<string, string>;
}> = [
  { name: 'core', make: (profile) => new CoreTarget({ profile }), known: KNOWN_FAILURES },
  {
    name: 'stack',
    make: (profile) => new StackTarget({ profile }),
    known: KNOWN_FAILURES,
  },
];

it('there are at least 40 scripts for the rfc profile', async () => {
  expect(scriptsIn(DIR).length).toBeGreaterThanOrEqual(40);
});

for (const { profile, dir } of SUITES)
  for (const target of TARGETS) {
    describe(`packetdrill scripts, profile ${profile}, ${target.name} target`, () => {
      for (const name of scriptsIn(dir)) {
        const run = async () => {
          const r = await runSource(readFileSync(join(dir, name), 'utf8'), target.make(profile));
          if (!r.ok) throw new Error(formatFailure(name, r.failure!));
        };
        const known = target.known[name];
        if (known !== undefined) it.fails(`${name} (known: ${known})`, run);
        else it(name, run);
      }
    });
  }
