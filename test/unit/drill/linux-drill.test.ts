import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import {
  fastOpenUse,
  formatMarkdown,
  formatText,
  runInProcess,
  runTree,
  type ScriptRow,
  totals,
  totalsLine,
  unsupportedReason,
} from '../../../scripts/linux-drill.ts';

const root = mkdtempSync(join(tmpdir(), 'linux-drill-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

// A listener that takes a RST without answering: passes.
const PASSES = `0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0 bind(3, ..., ...) = 0
+0 listen(3, 1) = 0
+0 < 40000>8080 R 0:0(0) win 0
`;
// A SYN to a port nobody listens on: the core answers RST,ACK, not the SYN-ACK written here.
const FAILS = `0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0 < 40000>9999 S 0:0(0) win 65535 <mss 1460>
+0 > 9999>40000 S. 0:0(0) ack 1 <...>
`;
// A system call the runner does not have.
const UNSUPPORTED = `0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0 epoll_create(1) = 4
`;
// TCP Fast Open: a SYN with data and a cookie, which a TFO listener would take (tunstack, as
// Linux without TFO, ignores the option and acknowledges the SYN alone).
const TFO = `0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0 bind(3, ..., ...) = 0
+0 listen(3, 1) = 0
+0 < S 0:10(10) win 32792 <mss 1460,sackOK,FO 0123456789abcdef>
+0 > S. 0:0(0) ack 11 <...>
`;

mkdirSync(join(root, 'a'));
mkdirSync(join(root, 'b'));
writeFileSync(join(root, 'a', 'passes.pkt'), PASSES);
writeFileSync(join(root, 'a', 'fails.pkt'), FAILS);
writeFileSync(join(root, 'a', 'notes.txt'), 'not a script');
writeFileSync(join(root, 'b', 'epoll.pkt'), UNSUPPORTED);
writeFileSync(join(root, 'b', 'tfo.pkt'), TFO);

describe('scripts/linux-drill.ts', () => {
  afterEach(() => vi.useRealTimers());

  it('classifies each .pkt under the root as pass, fail with its first mismatch, or skip', async () => {
    const rows = await runTree(root, { target: 'core', timeoutS: 60, runOne: runInProcess });
    const by = Object.fromEntries(rows.map((r) => [`${r.dir}/${r.name}`, r.outcome]));
    expect(Object.keys(by)).toEqual(['a/fails.pkt', 'a/passes.pkt', 'b/epoll.pkt', 'b/tfo.pkt']);
    expect(by['a/passes.pkt']).toEqual({ kind: 'pass' });
    const fail = by['a/fails.pkt'];
    expect(fail.kind).toBe('fail');
    // One line: the script line, its text, and what differed.
    if (fail.kind === 'fail') {
      expect(fail.detail).toMatch(/^line 3 `\+0 > 9999>40000 S\. 0:0\(0\) ack 1 <\.\.\.>`: /);
      expect(fail.detail).toContain('flags');
      expect(fail.detail).not.toContain('\n');
    }
    expect(by['b/epoll.pkt']).toEqual({ kind: 'skip', reason: 'system call epoll_create' });
    expect(by['b/tfo.pkt']).toEqual({ kind: 'skip', reason: 'TCP Fast Open (the FO option)' });
    expect(totals(rows)).toEqual({ passed: 1, failed: 1, skipped: 2 });
    expect(totalsLine(totals(rows))).toBe(
      '1 passed, 1 failed, 2 skipped of 4 scripts; 50.0 % of the 2 not skipped pass',
    );
  });

  it('prints a table per directory and the totals, as text and as Markdown', async () => {
    const rows = await runTree(root, { target: 'core', timeoutS: 60, runOne: runInProcess });
    const text = formatText(rows);
    expect(text).toContain('a/  (1 passed, 1 failed, 0 skipped)');
    expect(text).toContain('b/  (0 passed, 0 failed, 2 skipped)');
    expect(text).toMatch(/^ {2}passes\.pkt {2}pass$/m);
    expect(text).toMatch(/^ {2}epoll\.pkt {2}skip {2}system call epoll_create$/m);
    expect(text.split('\n').at(-1)).toBe(`Total: ${totalsLine(totals(rows))}`);

    const md = formatMarkdown(rows);
    expect(md).toContain('| a | 1 | 1 | 0 |');
    expect(md).toContain('| b | 0 | 0 | 2 |');
    expect(md).toContain('| **total** | **1** | **1** | **2** |');
    expect(md).toContain('### a');
    expect(md).toContain('| epoll.pkt | skip | system call epoll_create |');
    // The failing line's <...> is escaped, so Markdown does not take it for HTML.
    const failRow = md.split('\n').find((l) => l.startsWith('| fails.pkt |')) ?? '';
    expect(failRow).toContain('&lt;...&gt;');
    expect(failRow).not.toContain('<');
  });

  it('names the socket option an ENOPROTOOPT skip is about, and leaves other errnos failures', () => {
    expect(
      unsupportedReason(
        'setsockopt(): expected = 0 but got -1 ENOPROTOOPT',
        '+0 setsockopt(3, SOL_TCP, TCP_CORK, [1], 4) = 0',
      ),
    ).toBe('socket option SOL_TCP TCP_CORK refused with ENOPROTOOPT');
    expect(
      unsupportedReason(
        'setsockopt(): expected = 0 but got -1 EINVAL',
        '+0 setsockopt(4, SOL_SOCKET, SO_SNDBUF, [200000], 4) = 0',
      ),
    ).toBeNull();
    expect(
      unsupportedReason('outbound segment mismatch: flags: expected P., got .', ''),
    ).toBeNull();
    expect(
      unsupportedReason(
        "syntax error: expected '}' (near '=')",
        '+0 recvmsg(4, {msg_name(...)=..., msg_iov(1)=[{...,1000}]}, 0) = 1000',
      ),
    ).toBe("recvmsg() with a struct msghdr (syntax error: expected '}' (near '='))");
  });

  it('knows a TCP Fast Open script by what it uses, comments aside', () => {
    expect(fastOpenUse('+0 setsockopt(3, SOL_TCP, TCP_FASTOPEN, [1], 4) = 0')).toBe('TCP_FASTOPEN');
    expect(fastOpenUse('+0 sendto(3, ..., 0, MSG_FASTOPEN, ..., ...) = -1')).toBe('MSG_FASTOPEN');
    expect(fastOpenUse('`sysctl -q net.ipv4.tcp_fastopen=0x1`')).toBe('net.ipv4.tcp_fastopen');
    expect(fastOpenUse('+0 > S. 0:0(0) ack 1 <mss 1460,FOEXP 0011>')).toBe('the FOEXP option');
    expect(fastOpenUse('// no TCP_FASTOPEN here\n+0 write(4, ..., 10) = 10')).toBeNull();
  });

  it('fails a script that outlives its time bound, and says so', async () => {
    vi.useFakeTimers();
    const timedOut: number[] = [];
    const run = runTree(join(root, 'a'), {
      target: 'core',
      timeoutS: 5,
      runOne: () => new Promise(() => {}),
      onTimeout: () => timedOut.push(1),
    });
    await vi.advanceTimersByTimeAsync(10_000);
    const rows: ScriptRow[] = await run;
    expect(rows.map((r) => r.outcome)).toEqual([
      { kind: 'fail', detail: 'timed out after 5 s of wall clock' },
      { kind: 'fail', detail: 'timed out after 5 s of wall clock' },
    ]);
    expect(timedOut).toHaveLength(2);
  });
});
