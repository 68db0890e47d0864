import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { drillCommand, drillReport, expandScripts, runDrillFiles } from '../../../src/cli/drill.ts';

const dir = mkdtempSync(join(tmpdir(), 'drill-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const GOOD = `0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0 bind(3, ..., ...) = 0
+0 listen(3, 1) = 0
+0 < 40000>8080 R 0:0(0) win 0
`;
// A SYN to a port nobody listens on: the core answers RST,ACK, not a SYN-ACK.
const BAD = `0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0 < 40000>9999 S 0:0(0) win 65535 <mss 1460>
+0 > 9999>40000 S. 0:0(0) ack 1 <...>
`;

function file(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

describe('tunstack drill', () => {
  it('reports each script and ends with the summary line', async () => {
    const good = file('good.pkt', GOOD);
    const bad = file('bad.pkt', BAD);
    const missing = join(dir, 'missing.pkt');
    const results = await runDrillFiles([good, bad, missing], {
      profile: 'rfc',
      verbose: false,
      strictEnd: true,
    });
    const report = drillReport(results, false).split('\n');
    expect(report[0]).toBe(`PASS ${good} (4 events, 0.000 s)`);
    expect(report[1]).toBe(`FAIL ${bad} (3 events, 0.000 s)`);
    expect(report[2]).toBe(`  ${bad}:3: outbound segment mismatch: flags: expected S., got R.`);
    expect(report[3]).toBe('    script: 0.000 > 9999>40000 S. 0:0(0) ack 1 <...>');
    expect(report[4]).toBe('    actual: 0.000 > R. 0:0(0) ack 1 win 0');
    expect(report).toContain(`FAIL ${missing} (0 events, 0.000 s)`);
    expect(report.at(-1)).toBe('1 passed, 2 failed');
  });

  it('a directory stands for the .pkt files in it, sorted', async () => {
    const sub = join(dir, 'sub');
    mkdirSync(sub);
    writeFileSync(join(sub, 'b.pkt'), GOOD);
    writeFileSync(join(sub, 'a.pkt'), GOOD);
    writeFileSync(join(sub, 'notes.txt'), 'x');
    expect(expandScripts([sub, 'x.pkt'])).toEqual([
      join(sub, 'a.pkt'),
      join(sub, 'b.pkt'),
      'x.pkt',
    ]);
  });

  it('registers on a commander program and sets the exit code on failure', async () => {
    const program = new Command().exitOverride();
    drillCommand.register(program);
    const out = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    const saved = process.exitCode;
    try {
      await program.parseAsync([
        'node',
        'tunstack',
        'drill',
        '--profile',
        'linux',
        file('g.pkt', GOOD),
      ]);
      expect(process.exitCode ?? 0).toBe(saved ?? 0);
      await program.parseAsync(['node', 'tunstack', 'drill', file('b.pkt', BAD)]);
      expect(process.exitCode).toBe(1);
      expect(String(out.mock.calls.at(-1)?.[0])).toMatch(/0 passed, 1 failed\n$/);
    } finally {
      out.mockRestore();
      process.exitCode = saved;
    }
  });
});
