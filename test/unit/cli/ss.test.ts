/**
 * `tunstack ss`: the ss-like table, and the control socket it reads the table through (in a
 * temporary directory: a UNIX socket, no network).
 */
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { controlPath, queryControl, serveControl } from '../../../src/cli/control.ts';
import { formatHistory, formatSs, type SsRow, ssState } from '../../../src/cli/ss.ts';
import { TCP_STATES } from '../../../src/tcp/state.ts';

const quiet = pino({ level: 'silent' });

const row = (over: Partial<SsRow>): SsRow => ({
  state: 'ESTABLISHED',
  local: '10.0.0.2:80',
  remote: '10.0.0.1:40000',
  recvQ: 0,
  sendQ: 0,
  srtt: 0.25,
  rto: 200,
  cwnd: 14480,
  retransmits: 0,
  bytesSent: 100,
  bytesReceived: 78,
  ...over,
});

describe('formatSs', () => {
  it('prints ss -tan columns, listeners first, then by local port and peer', () => {
    const text = formatSs([
      row({ remote: '10.0.0.1:50001', sendQ: 123456 }),
      row({ state: 'TIME_WAIT', local: '10.0.0.2:7', remote: '10.0.0.1:40000' }),
      row({ state: 'LISTEN', local: '0.0.0.0:80', remote: '*:*', sendQ: 128 }),
      row({ remote: '10.0.0.1:40000', recvQ: 5 }),
      row({ state: 'LISTEN', local: '0.0.0.0:7', remote: '*:*', sendQ: 128 }),
    ]);
    expect(text).toBe(
      [
        'State     Recv-Q Send-Q Local Address:Port Peer Address:Port',
        'LISTEN         0    128 0.0.0.0:7          *:*',
        'LISTEN         0    128 0.0.0.0:80         *:*',
        'TIME-WAIT      0      0 10.0.0.2:7         10.0.0.1:40000',
        'ESTAB          5      0 10.0.0.2:80        10.0.0.1:40000',
        'ESTAB          0 123456 10.0.0.2:80        10.0.0.1:50001',
        '',
      ].join('\n'),
    );
  });

  it('with info, adds the ss -i line under each connection (not under listeners)', () => {
    const text = formatSs(
      [
        row({ state: 'LISTEN', local: '0.0.0.0:80', remote: '*:*' }),
        row({ srtt: null, retransmits: 3 }),
      ],
      { info: true },
    );
    const lines = text.trimEnd().split('\n');
    expect(lines).toHaveLength(4);
    expect(lines[3]).toBe('\t rto:200 cwnd:14480 bytes_sent:100 bytes_received:78 retrans:3');
  });

  it('with info, shows the send MSS and the path MTU as ss does (mss:, pmtu:)', () => {
    const lines = formatSs([row({ srtt: null, mss: 1248, pmtu: 1300 })], { info: true })
      .trimEnd()
      .split('\n');
    expect(lines[2]).toBe(
      '\t rto:200 mss:1248 pmtu:1300 cwnd:14480 bytes_sent:100 bytes_received:78 retrans:0',
    );
  });

  it('with info, shows the state history with times since the connection was created', () => {
    const history = [
      { state: 'SYN_RECEIVED', at: 0 },
      { state: 'ESTABLISHED', at: 0.4126 },
      { state: 'CLOSE_WAIT', at: 5012 },
    ];
    const lines = formatSs([row({ history })], { info: true })
      .trimEnd()
      .split('\n');
    expect(lines[2]).toBe(
      '\t rto:200 rtt:0.250 cwnd:14480 bytes_sent:100 bytes_received:78 retrans:0 ' +
        'hist:SYN-RECV@0ms>ESTAB@0.413ms>CLOSE-WAIT@5012ms',
    );
    expect(formatHistory([])).toBe('');
    expect(
      formatHistory([
        { state: 'TIME_WAIT', at: 7 },
        { state: 'CLOSED', at: 60_007 },
      ]),
    ).toBe('TIME-WAIT@7ms>CLOSED@60007ms');
    // Listeners have none, and an empty one adds nothing.
    expect(formatSs([row({ history: [] })], { info: true })).not.toContain('hist:');
  });

  it('-i: `ecn` for a connection that agreed it, and its counters that are not zero', () => {
    const ecn = { ceReceived: 0, eceReceived: 7, cwndReduced: 2, cwrSent: 2 };
    const info = formatSs([row({ ecn })], { info: true }).split('\n')[2];
    expect(info).toMatch(/^\t ecn ecn_ece:7 ecn_reduced:2 ecn_cwr:2 rto:200 /);
    expect(formatSs([row({})], { info: true })).not.toContain('ecn');
  });

  it('-i: how loss was repaired, the counters that are not zero', () => {
    const recovery = { timeouts: 2, recoveries: 5, tailLossProbes: 0, lostRetransmits: 1 };
    const info = formatSs([row({ retransmits: 3, recovery })], { info: true }).split('\n')[2];
    expect(info).toContain('retrans:3 timeouts:2 recoveries:5 lost_retrans:1');
    expect(info).not.toContain('tlp:');
    const probes = { ...recovery, tailLossProbes: 4, recoveryProbes: 2 };
    const withProbes = formatSs([row({ recovery: probes })], { info: true }).split('\n')[2];
    expect(withProbes).toContain('recoveries:5 tlp:4 rprobe:2 lost_retrans:1');
  });

  it('-i: the RTO in whole milliseconds, as ss prints it', () => {
    const info = formatSs([row({ rto: 547.1746 })], { info: true }).split('\n')[2];
    expect(info).toMatch(/^\t rto:547 rtt:/);
  });

  it('names every RFC 9293 state as ss does', () => {
    // TCP_STATES is in RFC 9293 §3.3.2's order: CLOSED, LISTEN, SYN_SENT, … TIME_WAIT.
    expect(TCP_STATES.map(ssState)).toEqual([
      'UNCONN',
      'LISTEN',
      'SYN-SENT',
      'SYN-RECV',
      'ESTAB',
      'FIN-WAIT-1',
      'FIN-WAIT-2',
      'CLOSE-WAIT',
      'CLOSING',
      'LAST-ACK',
      'TIME-WAIT',
    ]);
  });

  it('an empty table is the header alone', () => {
    expect(formatSs([])).toBe('State Recv-Q Send-Q Local Address:Port Peer Address:Port\n');
  });
});

describe('control socket', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tunstack-ctl-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('answers a command with its result, and removes its file on close', async () => {
    const rows = [row({})];
    const path = controlPath('tsk-test', dir);
    const server = await serveControl(path, { connections: () => rows }, quiet);
    expect(server).not.toBeNull();
    expect(await queryControl(path, 'connections')).toEqual(rows);
    await expect(queryControl(path, 'nope')).rejects.toThrow(/unknown command "nope"/);
    await server?.close();
    await expect(stat(path)).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(queryControl(path, 'connections')).rejects.toThrow(/no tunstack is running/);
  });

  it('a handler that throws gives an error answer, not a dead server', async () => {
    const path = controlPath('tsk-test', dir);
    let calls = 0;
    const server = await serveControl(
      path,
      {
        connections: () => {
          calls++;
          if (calls === 1) throw new Error('boom');
          return [];
        },
      },
      quiet,
    );
    await expect(queryControl(path, 'connections')).rejects.toThrow(/boom/);
    expect(await queryControl(path, 'connections')).toEqual([]);
    await server?.close();
  });

  it('replaces a stale socket file, and leaves a live one alone', async () => {
    const path = controlPath('tsk-test', dir);
    await writeFile(path, ''); // left behind by a crash: nothing listens
    const first = await serveControl(path, { connections: () => [1] }, quiet);
    expect(first).not.toBeNull();
    const second = await serveControl(path, { connections: () => [2] }, quiet);
    expect(second).toBeNull();
    expect(await queryControl(path, 'connections')).toEqual([1]);
    await first?.close();
  });

  it('rejects namespace names that could escape the directory', () => {
    for (const bad of ['../x', 'a/b', '', '.hidden']) {
      expect(() => controlPath(bad, dir), bad).toThrow(/invalid network namespace name/);
    }
  });
});
