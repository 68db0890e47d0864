/**
 * Every packetdrill script in test/drill (profile rfc) and test/drill/linux (profile linux), run in
 * virtual time against the TCP core alone (CoreTarget) and through a whole Stack (StackTarget: IP,
 * wire codec, TCP layer), each over IPv4 and over IPv6 (packetdrill's --ip_version=ipv6: IPv6
 * addresses and packets, MTU 1520 so that the MSS is 1460 as over IPv4, as packetdrill's
 * run_all.py runs Linux's scripts). Four runs of each script.
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
import type { DrillTarget, IpVersion } from '../../src/drill/target.ts';

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

/** Every script runs in both families: with the MTU of 1520 over IPv6 each one's MSS holds. */
const IP_VERSIONS: readonly IpVersion[] = ['ipv4', 'ipv6'];

const TARGETS: Array<{
  name: string;
  make: (profile: ProfileName, ipVersion: IpVersion) => DrillTarget;
  known: Record<string, string>;
}> = [
  {
    name: 'core',
    make: (profile, ipVersion) => new CoreTarget({ profile, ipVersion }),
    known: KNOWN_FAILURES,
  },
  {
    name: 'stack',
    make: (profile, ipVersion) => new StackTarget({ profile, ipVersion }),
    known: KNOWN_FAILURES,
  },
];

it('there are at least 40 scripts for the rfc profile', async () => {
  expect(scriptsIn(DIR).length).toBeGreaterThanOrEqual(40);
});

for (const { profile, dir } of SUITES)
  for (const target of TARGETS)
    for (const ipVersion of IP_VERSIONS) {
      describe(`packetdrill scripts, profile ${profile}, ${target.name} target, ${ipVersion}`, () => {
        for (const name of scriptsIn(dir)) {
          const run = async () => {
            const src = readFileSync(join(dir, name), 'utf8');
            const r = await runSource(src, target.make(profile, ipVersion));
            if (!r.ok) throw new Error(formatFailure(name, r.failure!));
          };
          const known = target.known[name];
          if (known !== undefined) it.fails(`${name} (known: ${known})`, run);
          else it(name, run);
        }
      });
    }
