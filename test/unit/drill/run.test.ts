import { describe, expect, it } from 'vitest';
import { formatFailure, runSource } from '../../../src/drill/run.ts';
import type { TcpRepr } from '../../../src/wire/tcp-repr.ts';
import { ScriptedTarget, seg } from './scripted-target.ts';

const ISN = 0xfffffff0;

const LISTEN = `0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0 bind(3, ..., ...) = 0
+0 listen(3, 1) = 0
`;

/** A target that answers a SYN with a SYN-ACK at once, and data with an ACK after `ackDelay` ms. */
function server(ackDelay = 40): ScriptedTarget {
  const t = new ScriptedTarget();
  t.onInject = (s: TcpRepr, now) => {
    if (s.control === 'syn')
      t.send(
        seg({
          seq: ISN,
          control: 'syn',
          ack: (s.seq + 1) >>> 0,
          options: {
            ...s.options,
            sackBlocks: [],
            timestamp: null,
            mss: 1460,
            windowScale: null,
            sackPermitted: false,
          },
        }),
      );
    else if (s.payload.length > 0)
      t.later(now + ackDelay, () =>
        t.send(seg({ seq: (ISN + 1) >>> 0, ack: (s.seq + s.payload.length) >>> 0 })),
      );
  };
  t.onSyscall = (req) => ({
    kind: 'done',
    result: { ret: req.name === 'socket' ? 3 : req.name === 'accept' ? 4 : 0 },
  });
  return t;
}

const HANDSHAKE = `${LISTEN}+.1 < S 0:0(0) win 32792 <mss 1000>
+0 > S. 0:0(0) ack 1 <mss 1460>
+.1 < . 1:1(0) ack 1 win 257
+0 accept(3, ..., ...) = 4
`;

describe('runner: passive open and timing', () => {
  it('maps inbound ack numbers onto the stack ISN learned from its SYN-ACK', async () => {
    const t = server();
    const r = await runSource(HANDSHAKE, t);
    expect(r.failure).toBeNull();
    expect(r.ok).toBe(true);
    expect(
      t.injected.map((i) => [i.at, i.seg.seq, i.seg.ack, i.seg.srcPort, i.seg.dstPort]),
    ).toEqual([
      [100, 0, null, 40000, 8080],
      [200, 1, (ISN + 1) >>> 0, 40000, 8080],
    ]);
    expect(t.calls.map((c) => [c.at, c.req.name])).toEqual([
      [0, 'socket'],
      [0, 'bind'],
      [0, 'listen'],
      [200, 'accept'],
    ]);
    expect(r.endTime).toBe(200_000);
  });

  it('a delayed ACK at +40 ms passes at +.04, and within the 4 ms tolerance', async () => {
    const data = `${HANDSHAKE}+.1 < P. 1:1001(1000) ack 1 win 257\n`;
    expect((await runSource(`${data}+.04 > . 1:1(0) ack 1001\n`, server())).ok).toBe(true);
    expect((await runSource(`${data}+.037 > . 1:1(0) ack 1001\n`, server())).ok).toBe(true);
    expect(
      (await runSource(`--tolerance_usecs=0\n${data}+.04 > . 1:1(0) ack 1001\n`, server())).ok,
    ).toBe(true);
  });

  it('an ACK later than expected is a timing error with both times', async () => {
    const src = `${HANDSHAKE}+.1 < P. 1:1001(1000) ack 1 win 257\n+.03 > . 1:1(0) ack 1001\n`;
    const r = await runSource(src, server());
    expect(r.ok).toBe(false);
    expect(r.failure?.line).toBe(9);
    expect(r.failure?.message).toBe(
      'timing error: expected outbound segment at 0.330 s (tolerance 0.004 s) but it was sent at 0.340 s',
    );
    expect(r.failure?.expected).toBe('0.330 > . 1:1(0) ack 1001');
    expect(r.failure?.actual).toBe('0.340 > . 1:1(0) ack 1001 win 65535');
  });

  it('an ACK earlier than expected is a timing error too', async () => {
    const src = `${HANDSHAKE}+.1 < P. 1:1001(1000) ack 1 win 257\n+.2 > . 1:1(0) ack 1001\n`;
    expect((await runSource(src, server())).failure?.message).toMatch(
      /expected outbound segment at 0.500 s .* sent at 0.340 s/,
    );
  });

  it('--tolerance_percent widens the window in proportion to the time since the last event', async () => {
    const data = `${HANDSHAKE}+.1 < P. 1:1001(1000) ack 1 win 257\n`;
    // Expected 30 ms after the data, sent after 40: 10 ms off, beyond 4 ms, within 40% of 30 ms.
    expect((await runSource(`${data}+.03 > . 1:1(0) ack 1001\n`, server())).ok).toBe(false);
    expect(
      (await runSource(`--tolerance_percent=40\n${data}+.03 > . 1:1(0) ack 1001\n`, server())).ok,
    ).toBe(true);
  });

  it('ranges and * accept any time inside', async () => {
    const data = `${HANDSHAKE}+.1 < P. 1:1001(1000) ack 1 win 257\n`;
    expect((await runSource(`${data}+.01~+.05 > . 1:1(0) ack 1001\n`, server())).ok).toBe(true);
    expect((await runSource(`${data}0.33~0.335 > . 1:1(0) ack 1001\n`, server())).ok).toBe(false);
    expect((await runSource(`${data}* > . 1:1(0) ack 1001\n`, server(5000))).ok).toBe(true);
  });

  it('a wrong field is reported in script notation with the connection state', async () => {
    const src = `${HANDSHAKE}+.1 < P. 1:1001(1000) ack 1 win 257\n+.04 > . 1:1(0) ack 1000\n`;
    const r = await runSource(src, server());
    expect(r.failure?.message).toBe('outbound segment mismatch: ack: expected 1000, got 1001');
    expect(formatFailure('x.pkt', r.failure!)).toBe(
      [
        'x.pkt:9: outbound segment mismatch: ack: expected 1000, got 1001',
        '  script: 0.340 > . 1:1(0) ack 1000',
        '  actual: 0.340 > . 1:1(0) ack 1001 win 65535',
        '  state:  scripted target at 340 ms',
        '  before:',
        '    0.000 listen() = 0',
        '    0.100 < S 0:0(0) win 32792 <mss 1000>',
        '    0.100 > S. 0:0(0) ack 1 win 65535 <mss 1460>',
        '    0.200 < . 1:1(0) ack 1 win 257',
        '    0.200 accept() = 4',
        '    0.300 < P. 1:1001(1000) ack 1 win 257',
      ].join('\n'),
    );
  });

  it('nothing sent by the deadline fails, naming the deadline', async () => {
    const r = await runSource(`${HANDSHAKE}+.1 > . 1:1(0) ack 1\n`, server());
    expect(r.failure?.message).toBe(
      'expected an outbound segment by 0.304 s but the stack sent nothing',
    );
  });

  it('a segment the script does not account for fails at the end', async () => {
    const r = await runSource(
      `${HANDSHAKE}+.1 < P. 1:1001(1000) ack 1 win 257\n+.1 close(4) = 0\n`,
      server(),
    );
    expect(r.failure?.message).toMatch(/^unexpected outbound segment at 0.340 s/);
    expect(r.failure?.actual).toBe('0.340 > . 1:1(0) ack 1001 win 65535');
  });

  it('a segment sent after the last event is not the script business', async () => {
    expect(
      (await runSource(`${HANDSHAKE}+.1 < P. 1:1001(1000) ack 1 win 257\n`, server())).ok,
    ).toBe(true);
  });

  it('a segment sent early is seen by the next outbound line', async () => {
    const src = `${HANDSHAKE}+.1 < P. 1:1001(1000) ack 1 win 257\n+.1 close(4) = 0\n+0 > F. 1:1(0) ack 1001\n`;
    const r = await runSource(src, server());
    expect(r.failure?.message).toMatch(/outbound segment mismatch: flags: expected F., got ./);
  });
});

describe('runner: active open, calls, blocking', () => {
  function client(): ScriptedTarget {
    const t = new ScriptedTarget();
    t.onSyscall = (req) => {
      if (req.name === 'socket') return { kind: 'done', result: { ret: 3 } };
      if (req.name === 'connect') {
        t.send(
          seg({
            seq: 77,
            srcPort: 50000,
            dstPort: req.port,
            control: 'syn',
            options: {
              mss: 1460,
              windowScale: null,
              sackPermitted: false,
              sackBlocks: [],
              timestamp: { tsVal: 5000, tsEcr: 0 },
            },
          }),
        );
        return { kind: 'done', result: { ret: -1, errno: 'EINPROGRESS' } };
      }
      if (req.name === 'getsockopt') return { kind: 'done', result: { ret: 0, value: 111 } };
      return { kind: 'done', result: { ret: 0 } };
    };
    t.onInject = (s) => {
      if (s.control === 'syn')
        t.send(
          seg({
            seq: 78,
            srcPort: 50000,
            dstPort: 8080,
            ack: (s.seq + 1) >>> 0,
            options: {
              mss: null,
              windowScale: null,
              sackPermitted: false,
              sackBlocks: [],
              timestamp: { tsVal: 5010, tsEcr: s.options.timestamp?.tsVal ?? 0 },
            },
          }),
        );
    };
    return t;
  }
  const CONNECT = `0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0 fcntl(3, F_SETFL, O_RDWR|O_NONBLOCK) = 0
+0 connect(3, ..., ...) = -1 EINPROGRESS (Operation now in progress)
+0 > S 0:0(0) <mss 1460,nop,nop,TS val 100 ecr 0>
+.1 < S. 300:300(0) ack 1 win 5792 <mss 1460,nop,nop,TS val 700 ecr 100>
+0 > . 1:1(0) ack 301 <nop,nop,TS val 110 ecr 700>
`;

  it('learns the local port and ISN from the SYN, maps TS ecr back to the stack clock', async () => {
    const t = client();
    const r = await runSource(CONNECT, t);
    expect(r.failure).toBeNull();
    const synAck = t.injected[0].seg;
    expect([synAck.srcPort, synAck.dstPort, synAck.seq, synAck.ack]).toEqual([
      8080, 50000, 300, 78,
    ]);
    expect(synAck.options.timestamp).toEqual({ tsVal: 700, tsEcr: 5000 });
    const conn = t.calls.find((c) => c.req.name === 'connect')!.req;
    expect(conn).toMatchObject({ address: 0x0a000001, port: 8080 });
    const f = t.calls.find((c) => c.req.name === 'fcntl')!.req;
    expect(f).toMatchObject({ command: 'F_SETFL', flags: 2 | 0o4000 });
  });

  it('checks TS val against the script clock only with --tcp_ts_tick_usecs', async () => {
    const wrongTs = CONNECT.replace('TS val 110 ecr 700', 'TS val 150 ecr 700');
    expect((await runSource(wrongTs, client())).ok).toBe(true);
    const r = await runSource(`--tcp_ts_tick_usecs=1000\n${wrongTs}`, client());
    expect(r.failure?.message).toBe(
      'outbound segment mismatch: TS val (script clock): expected 150, got 110',
    );
  });

  it('checks errno, getsockopt values and results', async () => {
    expect(
      (await runSource(CONNECT.replace('EINPROGRESS', 'ECONNREFUSED'), client())).failure?.message,
    ).toBe('connect(): expected errno ECONNREFUSED but got -1 EINPROGRESS');
    expect(
      (
        await runSource(
          `${CONNECT}+0 getsockopt(3, SOL_SOCKET, SO_ERROR, [ECONNREFUSED], [4]) = 0\n`,
          client(),
        )
      ).ok,
    ).toBe(true);
    expect(
      (
        await runSource(
          `${CONNECT}+0 getsockopt(3, SOL_SOCKET, SO_ERROR, [0], [4]) = 0\n`,
          client(),
        )
      ).failure?.message,
    ).toBe('getsockopt(): expected SO_ERROR = [0] but got 111');
    expect(
      (await runSource('0 socket(..., SOCK_STREAM, IPPROTO_TCP) = -1\n', client())).failure
        ?.message,
    ).toBe('socket(): expected = -1 but got 3');
    expect((await runSource('0 frobnicate(3) = 0\n', client())).failure?.message).toBe(
      'frobnicate(): unsupported system call frobnicate',
    );
  });

  it("names sockets by the script's numbers, as packetdrill's script and live fds", async () => {
    // The target gives fds 3 and 4; the script calls them 7 and 9.
    const t = server();
    const r = await runSource(
      HANDSHAKE.replace(/\(3,/g, '(7,')
        .replace('= 3', '= 7')
        .replace('= 4', '= 9')
        .concat('+0 close(9) = 0\n+0 close(7) = 0\n+0 close(9) = 0\n'),
      t,
    );
    expect(r.ok).toBe(true);
    const fdOf = (c: (typeof t.calls)[number]) => ('fd' in c.req ? c.req.fd : null);
    expect(t.calls.map((c) => `${c.req.name}:${fdOf(c)}`)).toEqual([
      'socket:null',
      'bind:3',
      'listen:3',
      'accept:3',
      'close:4',
      'close:3',
      // after close() the script's 9 names nothing: it passes through as 9
      'close:9',
    ]);
  });

  function blocking(returnAt: number): ScriptedTarget {
    const t = server();
    t.onSyscall = (req, now) => {
      if (req.name === 'socket') return { kind: 'done', result: { ret: 3 } };
      if (req.name === 'accept') {
        const o = t.block();
        if (o.kind === 'blocked') t.finish(o.id, returnAt, { ret: 4 });
        return o;
      }
      return { kind: 'done', result: { ret: now >= 0 ? 0 : -1 } };
    };
    return t;
  }
  const BLOCKING_ACCEPT = `${LISTEN}+0...0.200 accept(3, ..., ...) = 4
+.1 < S 0:0(0) win 32792 <mss 1000>
+0 > S. 0:0(0) ack 1 <mss 1460>
+.1 < . 1:1(0) ack 1 win 257
+.1 close(4) = 0
`;

  it('a blocking call returns at its end time while later events run', async () => {
    expect((await runSource(BLOCKING_ACCEPT, blocking(200))).failure).toBeNull();
  });
  it('a blocking call that returns late or never is a timing error at its line', async () => {
    const late = await runSource(BLOCKING_ACCEPT, blocking(250));
    expect(late.failure?.line).toBe(4);
    expect(late.failure?.message).toBe(
      'timing error: expected accept() to return at 0.200 s but it returned at 0.250 s (tolerance 0.004 s)',
    );
    const never = await runSource(BLOCKING_ACCEPT, blocking(10_000));
    expect(never.failure?.line).toBe(4);
    expect(never.failure?.message).toBe(
      'timing error: expected accept() to return at 0.200 s but it was still blocked at 0.300 s',
    );
  });
  it('a call that blocks without ...END is a failure', async () => {
    const r = await runSource(`${LISTEN}+0 accept(3, ..., ...) = 4\n`, blocking(200));
    expect(r.failure?.message).toMatch(
      /^accept\(\) blocked, but the script expects it to return at once/,
    );
  });
});

describe('runner: scripts as a whole', () => {
  it('a syntax error is a failure at its line', async () => {
    const r = await runSource(
      '0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 < S 0:0(0)\n',
      server(),
    );
    expect(r.failure).toMatchObject({ line: 2 });
    expect(r.failure?.message).toMatch(/^syntax error: window must be specified/);
  });
  it('shell commands become settings; unknown ones are warnings', async () => {
    const t = server();
    const r = await runSource(
      '`sysctl -q net.ipv4.tcp_timestamps=0`\n0 `sysctl -q net.ipv4.tcp_frto=0`\n+0 `../common/defaults.sh`\n',
      t,
    );
    expect(r.ok).toBe(true);
    expect(t.settings).toEqual([
      ['tcp_timestamps', '0'],
      ['tcp_frto', '0'],
    ]);
    expect(r.warnings).toEqual([
      'line 2: no equivalent for tcp_frto=0; ignored',
      'line 3: shell command ignored: ../common/defaults.sh',
    ]);
  });
  it('a command without a time runs with the previous event (+0)', async () => {
    const t = server();
    const r = await runSource(
      '0 `sysctl -q net.ipv4.tcp_timestamps=0`\n+.5 `sysctl -q net.ipv4.tcp_sack=0`\n`sysctl -q net.ipv4.tcp_window_scaling=0`\n',
      t,
    );
    expect(r.ok).toBe(true);
    expect(r.endTime).toBe(500_000);
    expect(t.settings.map((s) => s[0])).toEqual([
      'tcp_timestamps',
      'tcp_sack',
      'tcp_window_scaling',
    ]);
  });

  it('shell settings: quoted values, comments, set_sysctls.py, echo and ip route', async () => {
    const t = server();
    await runSource(
      [
        '`sysctl -q net.ipv4.tcp_rmem="4096 8192 16384" # the buffers`',
        '0 `../common/set_sysctls.py /proc/sys/net/ipv4/tcp_sack=0 /proc/sys/net/ipv4/tcp_dsack=0`',
        '+0 `echo 3 > /proc/sys/net/ipv4/tcp_retries2; ip route change 10.0.0.0/24 dev tun0 initcwnd 10 rto_min 200ms`',
        '',
      ].join('\n'),
      t,
    );
    expect(t.settings).toEqual([
      ['tcp_rmem', '4096 8192 16384'],
      ['tcp_sack', '0'],
      ['tcp_dsack', '0'],
      ['tcp_retries2', '3'],
      ['initcwnd', '10'],
      ['rto_min', '200ms'],
    ]);
  });
  it('the first event must be at time 0 (`0` or `+0`)', async () => {
    expect((await runSource('+.1 close(3) = 0\n', server())).failure?.message).toBe(
      'first event should be at time 0',
    );
    expect((await runSource(`+0${LISTEN.slice(1)}`, server())).ok).toBe(true);
  });
  it('inbound SYN+FIN cannot be played (one control per TcpRepr)', async () => {
    expect(
      (await runSource(`${LISTEN}+0 < SF 0:0(0) win 100\n`, server())).failure?.message,
    ).toMatch(/one of SYN, FIN, RST/);
  });
  it('a long expected segment matches a run of contiguous ones (TSO-style traces)', async () => {
    /** A server whose write sends three full segments at once, PSH on the last. */
    function tso(): ScriptedTarget {
      const t = server();
      t.onSyscall = (req) => {
        if (req.name === 'write')
          for (let i = 0; i < 3; i++)
            t.send(
              seg({
                seq: (ISN + 1 + i * 1460) >>> 0,
                ack: 1,
                psh: i === 2,
                payload: new Uint8Array(1460),
              }),
            );
        const ret = { socket: 3, accept: 4, write: 4380 }[req.name as string] ?? 0;
        return { kind: 'done', result: { ret } };
      };
      return t;
    }
    const src = `${HANDSHAKE}+0 write(4, ..., 4380) = 4380\n`;
    expect((await runSource(`${src}+0 > P. 1:4381(4380) ack 1\n`, tso())).failure).toBeNull();
    expect(
      (await runSource(`${src}+0 > . 1:2921(2920) ack 1\n+0 > P. 2921:4381(1460) ack 1\n`, tso()))
        .failure,
    ).toBeNull();
    expect((await runSource(`${src}+0 > P. 1:5841(5840) ack 1\n`, tso())).failure?.message).toBe(
      'outbound segment mismatch: len: expected 5840, got 4380',
    );
  });
  it('trace reports each segment and call as it happens, in script notation', async () => {
    const lines: string[] = [];
    await runSource(HANDSHAKE, server(), { trace: (l) => lines.push(l) });
    expect(lines).toEqual([
      '0.000 socket() = 3',
      '0.000 bind() = 0',
      '0.000 listen() = 0',
      '0.100 < S 0:0(0) win 32792 <mss 1000>',
      '0.100 > S. 0:0(0) ack 1 win 65535 <mss 1460>',
      '0.200 < . 1:1(0) ack 1 win 257',
      '0.200 accept() = 4',
    ]);
  });
  it('strictEnd: false ignores trailing segments, as packetdrill', async () => {
    const src = `${HANDSHAKE}+.1 < P. 1:1001(1000) ack 1 win 257\n+.1 close(4) = 0\n`;
    expect((await runSource(src, server())).ok).toBe(false);
    expect((await runSource(src, server(), { strictEnd: false })).ok).toBe(true);
  });
  it('explicit ports override the defaults', async () => {
    const t = server();
    await runSource(
      `${LISTEN}+0 < 41000>8080 S 0:0(0) win 100\n+0 > 8080>41000 S. 0:0(0) ack 1 <mss 1460>\n`,
      t,
    );
    expect(t.injected[0].seg.srcPort).toBe(41000);
  });
});
