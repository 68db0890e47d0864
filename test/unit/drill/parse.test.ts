import { describe, expect, it } from 'vitest';
import { type DrillEvent, DrillSyntaxError, lex, parseScript } from '../../../src/drill/parse.ts';

function one(line: string): DrillEvent {
  const s = parseScript(line);
  expect(s.events).toHaveLength(1);
  return s.events[0];
}

function packet(line: string) {
  const e = one(line);
  if (e.type !== 'packet') throw new Error(`not a packet: ${e.type}`);
  return e.segment;
}

function call(line: string) {
  const e = one(line);
  if (e.type !== 'syscall') throw new Error(`not a syscall: ${e.type}`);
  return e.call;
}

function syntaxError(src: string): DrillSyntaxError {
  try {
    parseScript(src);
  } catch (e) {
    if (e instanceof DrillSyntaxError) return e;
    throw e;
  }
  throw new Error('expected a syntax error');
}

describe('lexer', () => {
  it('splits times, ellipses and floats as flex does', () => {
    const t = lex('+.1...0.200 connect').map((x) => `${x.kind}:${x.text}`);
    expect(t).toEqual([
      'punct:+',
      'float:.1',
      'ellipsis:...',
      'float:0.200',
      'word:connect',
      'eof:',
    ]);
  });
  it('keeps flags and the ACK dot apart, and numbers with words when longer', () => {
    expect(lex('S. 0:0(0)').map((x) => x.text)).toEqual([
      'S',
      '.',
      '0',
      ':',
      '0',
      '(',
      '0',
      ')',
      '',
    ]);
    expect(lex('0x800 3rd 10.0.0.1').map((x) => x.kind)).toEqual(['int', 'word', 'ipv4', 'eof']);
  });
  it('skips both comment styles and counts lines through them', () => {
    const t = lex('// a\n/* b\n c */ 0 // d\n+1');
    expect(t.map((x) => [x.text, x.line])).toEqual([
      ['0', 3],
      ['+', 4],
      ['1', 4],
      ['', 4],
    ]);
  });
});

describe('times', () => {
  it('absolute, relative, any and ranges, in microseconds', () => {
    expect(one('0 close(3) = 0').time).toEqual({ kind: 'absolute', at: 0 });
    expect(one('1.25 close(3) = 0').time).toEqual({ kind: 'absolute', at: 1_250_000 });
    expect(one('+.01 close(3) = 0').time).toEqual({ kind: 'relative', at: 10_000 });
    expect(one('+0 close(3) = 0').time).toEqual({ kind: 'relative', at: 0 });
    expect(one('* > . 1:1(0) ack 1').time).toEqual({ kind: 'any' });
    expect(one('0.1~0.3 > . 1:1(0) ack 1').time).toEqual({
      kind: 'absoluteRange',
      at: 100_000,
      end: 300_000,
    });
    expect(one('+1~+1.5 > . 1:1(0) ack 1').time).toEqual({
      kind: 'relativeRange',
      at: 1e6,
      end: 1.5e6,
    });
  });
  it('refuses * and ranges on anything but outbound packets, and backwards ranges', () => {
    expect(syntaxError('* close(3) = 0').detail).toMatch(/only be used with outbound/);
    expect(syntaxError('0.1~0.3 < . 1:1(0) ack 1 win 100').detail).toMatch(
      /only be used with outbound/,
    );
    expect(syntaxError('0.3~0.1 > . 1:1(0) ack 1').detail).toMatch(/backwards/);
  });
});

describe('packets', () => {
  it('an inbound SYN with Linux-style options', () => {
    const p = packet('+.1 < S 0:0(0) win 32792 <mss 1460,sackOK,TS val 100 ecr 0,nop,wscale 7>');
    expect(p.direction).toBe('in');
    expect(p.flags.syn && !p.flags.ack).toBe(true);
    expect([p.seq, p.len, p.ack, p.win]).toEqual([0, 0, 0, 32792]);
    expect(p.options).toEqual([
      { kind: 'mss', value: 1460 },
      { kind: 'sackOK' },
      { kind: 'ts', val: 100, ecr: 0 },
      { kind: 'nop' },
      { kind: 'wscale', value: 7 },
    ]);
  });
  it("TCP Fast Open's option: FO (kind 34) or FOEXP, with a cookie in hex or none", () => {
    const p = packet('+0 < S 0:10(10) win 32792 <mss 1460,FO 0123abcd,nop,nop,FOEXP>');
    expect(p.options).toEqual([
      { kind: 'mss', value: 1460 },
      { kind: 'fastOpen', exp: false, cookie: '0123abcd' },
      { kind: 'nop' },
      { kind: 'nop' },
      { kind: 'fastOpen', exp: true, cookie: '' },
    ]);
    expect(syntaxError('+0 < S 0:0(0) win 1 <FO 123>').detail).toMatch(/even number of hex/);
  });
  it('a msghdr: msg_iov(N)=[...] and msg_name(...)=... are assignments', () => {
    const c = call(
      '+0 sendmsg(4, {msg_name(...)=..., msg_iov(2)=[{..., 40}, {..., 20}], msg_flags=0}, 0) = 60',
    );
    const hdr = c.args[1];
    expect(hdr.kind).toBe('struct');
    if (hdr.kind !== 'struct') return;
    expect(hdr.items.map((i) => (i.kind === 'assign' ? i.name : i.kind))).toEqual([
      'msg_name',
      'msg_iov',
      'msg_flags',
    ]);
  });
  it('an outbound SYN-ACK, data, FIN and RST', () => {
    const sa = packet('+0 > S. 0:0(0) ack 1 <mss 1460,nop,nop,sackOK,nop,wscale 8>');
    expect(sa.flags).toMatchObject({ syn: true, ack: true, fin: false });
    expect(sa.ack).toBe(1);
    expect(sa.win).toBeNull();
    const d = packet('+0 > P. 1:5841(5840) ack 1');
    expect([d.flags.psh, d.flags.ack, d.seq, d.len]).toEqual([true, true, 1, 5840]);
    expect(d.options).toEqual([]);
    expect(packet('+.1 < F. 1:1(0) ack 5842 win 257').flags.fin).toBe(true);
    const r = packet('+0 > R 2:2(0)');
    expect([r.flags.rst, r.flags.ack, r.ack]).toEqual([true, false, 0]);
    expect(packet('+0 > R. 0:0(0) ack 1 win 0').win).toBe(0);
  });
  it('SACK blocks, explicit ports, urgent pointer and no flags', () => {
    const s = packet('+.1 < . 1:1(0) ack 1 win 257 <sack 1461:2921 4381:5841,nop,nop>');
    expect(s.options).toEqual([
      {
        kind: 'sack',
        blocks: [
          { left: 1461, right: 2921 },
          { left: 4381, right: 5841 },
        ],
      },
      { kind: 'nop' },
      { kind: 'nop' },
    ]);
    const p = packet('0 < 40100>8080 S 0:0(0) win 1000');
    expect(p.ports).toEqual({ src: 40100, dst: 8080 });
    expect(packet('+0 < U. 1:2(1) ack 1 win 100 urg 1').urg).toBe(1);
    expect(packet('+0 < - 1:1(0) win 100').flags).toMatchObject({
      syn: false,
      ack: false,
      rst: false,
    });
  });
  it('sequence numbers wrap: 4294967295:9(10)', () => {
    expect(packet('+0 < . 4294967295:9(10) ack 1 win 100').len).toBe(10);
  });
  it('wildcards on outbound packets: <...>, ack ..., win ..., TS val ...', () => {
    expect(packet('+0 > S 0:0(0) <...>').options).toBe('any');
    const w = packet('+0 > . 1:1(0) ack ... win ... <nop,nop,TS val ... ecr 700>');
    expect([w.ack, w.win]).toEqual([null, null]);
    expect(w.options).toEqual([
      { kind: 'nop' },
      { kind: 'nop' },
      { kind: 'ts', val: null, ecr: 700 },
    ]);
  });
  it('refuses bad packets with the line', () => {
    expect(syntaxError('0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 < S 0:0(0)').line).toBe(2);
    expect(syntaxError('0 < S 0:0(0)').detail).toMatch(/window must be specified/);
    expect(syntaxError('0 < . 1:100(10) ack 1 win 5').detail).toMatch(/inconsistent/);
    expect(syntaxError('0 < S 0:0(0) win 1 <mss 1460,nop>').detail).toMatch(/padded/);
    expect(syntaxError('0 < S 0:0(0) win 1 <...>').detail).toMatch(/only be used with outbound/);
    expect(syntaxError('0 > SX 0:0(0)').detail).toMatch(/invalid TCP flags/);
    expect(syntaxError('0 < S 0:0(0) win 70000').detail).toMatch(/out of range/);
    expect(syntaxError('0 < . 1:1(0) ack ... win 100').detail).toMatch(/ack number/);
    expect(syntaxError('0 > S 0:0(0) <md5 abc>').detail).toMatch(/unsupported TCP option/);
  });
});

describe('system calls', () => {
  it('socket, setsockopt, bind, listen, accept with expected results', () => {
    const s = call('0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3');
    expect(s.name).toBe('socket');
    expect(s.args).toEqual([
      { kind: 'ellipsis' },
      { kind: 'word', name: 'SOCK_STREAM' },
      { kind: 'word', name: 'IPPROTO_TCP' },
    ]);
    expect(s.result).toEqual({ kind: 'int', value: 3 });
    const o = call('+0 setsockopt(3, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0');
    expect(o.args[3]).toEqual({ kind: 'list', items: [{ kind: 'int', value: 1 }] });
    expect(call('+0 accept(3, ..., ...) = 4').end).toBeNull();
    expect(call('0 socket(..., SOCK_STREAM | SOCK_NONBLOCK, IPPROTO_TCP) = 3').args[1]).toEqual({
      kind: 'or',
      items: [
        { kind: 'word', name: 'SOCK_STREAM' },
        { kind: 'word', name: 'SOCK_NONBLOCK' },
      ],
    });
  });
  it('errno and its note', () => {
    const c = call('+0 connect(3, ..., ...) = -1 ECONNREFUSED (Connection refused)');
    expect(c.result).toEqual({ kind: 'int', value: -1 });
    expect(c.errno).toBe('ECONNREFUSED');
    expect(c.note).toBe('Connection refused');
    const n = call('+0 connect(4, ..., ...) = -1 EINPROGRESS (Operation is now in progress)');
    expect([n.errno, n.note]).toEqual(['EINPROGRESS', 'Operation is now in progress']);
  });
  it('blocking calls carry their end time', () => {
    const c = call('+.1...0.200 connect(3, ..., ...) = 0');
    expect(c.end).toBe(200_000);
    expect(one('+.1...0.200 connect(3, ..., ...) = 0').time).toEqual({
      kind: 'relative',
      at: 100_000,
    });
  });
  it('fcntl with OR-ed flags, getsockopt with an errno value, shutdown, send/recv', () => {
    const f = call('+0 fcntl(3, F_SETFL, O_RDWR|O_NONBLOCK) = 0');
    expect(f.args[2]).toEqual({
      kind: 'or',
      items: [
        { kind: 'word', name: 'O_RDWR' },
        { kind: 'word', name: 'O_NONBLOCK' },
      ],
    });
    const g = call('+0 getsockopt(3, SOL_SOCKET, SO_ERROR, [ECONNREFUSED], [4]) = 0');
    expect(g.args[3]).toEqual({ kind: 'list', items: [{ kind: 'word', name: 'ECONNREFUSED' }] });
    expect(call('+0 shutdown(4, SHUT_WR) = 0').args[1]).toEqual({ kind: 'word', name: 'SHUT_WR' });
    expect(call('+0 send(4, ..., 1000, 0) = 1000').args).toHaveLength(4);
    expect(call('+0 recv(4, ..., 1000, MSG_PEEK) = 1000').name).toBe('recv');
  });
  it('poll over several lines, sockaddr and linger structs', () => {
    const src = `0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
   +0...0.010 poll([{fd=3,
                     events=POLLIN|POLLOUT|POLLERR,
                     revents=POLLOUT}], 1, 100) = 1
   +0 connect(3, {sa_family=AF_INET, sin_port=htons(8080), sin_addr=inet_addr("10.0.0.1")}, 16) = 0
   +0 setsockopt(3, SOL_SOCKET, SO_LINGER, {onoff=1, linger=0}, 8) = 0`;
    const s = parseScript(src);
    expect(s.events.map((e) => e.line)).toEqual([1, 2, 5, 6]);
    const poll = s.events[1];
    if (poll.type !== 'syscall') throw new Error();
    expect(poll.call.end).toBe(10_000);
    const fd = poll.call.args[0];
    expect(fd.kind === 'list' && fd.items[0].kind === 'struct' && fd.items[0].items.length).toBe(3);
    const conn = s.events[2];
    if (conn.type !== 'syscall') throw new Error();
    expect(conn.call.args[1]).toMatchObject({
      kind: 'struct',
      items: [
        { kind: 'assign', name: 'sa_family' },
        { kind: 'assign', name: 'sin_port', value: { kind: 'call', name: 'htons' } },
        {
          kind: 'assign',
          name: 'sin_addr',
          value: { kind: 'call', name: 'inet_addr', args: [{ kind: 'string', value: '10.0.0.1' }] },
        },
      ],
    });
  });
  it('write with a string buffer', () => {
    const c = call('+0 write(4, "hello"..., 5) = 5');
    expect(c.args[1]).toEqual({ kind: 'string', value: 'hello', truncated: true });
  });
});

describe('whole scripts', () => {
  it('options, an init command, shell commands and code', () => {
    const s = parseScript(`--tolerance_usecs=10000
--define=CC=reno
\`../common/defaults.sh\`
// Establish a connection.
    0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
   +0 \`sysctl -q net.ipv4.tcp_sack=0\`
   +0 %{ assert tcpi_rto == 1000000 }%
`);
    expect(s.options.get('tolerance_usecs')).toBe('10000');
    expect(s.options.get('define')).toBe('CC=reno');
    expect(s.initCommand).toEqual({ line: 3, command: '../common/defaults.sh' });
    expect(s.events.map((e) => e.type)).toEqual(['syscall', 'command', 'code']);
    expect(s.events[2].line).toBe(7);
  });
  it("google/packetdrill's fr-4pkt-sack.pkt parses", () => {
    const src = `// Test fast retransmit with 4 packets outstanding, receiver sending SACKs.
\`../common/defaults.sh\`
    0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
   +0 setsockopt(3, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0
   +0 bind(3, ..., ...) = 0
   +0 listen(3, 1) = 0
  +.1 < S 0:0(0) win 32792 <mss 1460,sackOK,nop,nop,nop,wscale 7>
   +0 > S. 0:0(0) ack 1 <mss 1460,nop,nop,sackOK,nop,wscale 8>
  +.1 < . 1:1(0) ack 1 win 257
   +0 accept(3, ..., ...) = 4
   +0 write(4, ..., 5840) = 5840
   +0 > P. 1:5841(5840) ack 1
  +.1 < . 1:1(0) ack 1 win 257 <sack 1461:2921,nop,nop>
   +0 < . 1:1(0) ack 1 win 257 <sack 1461:4381,nop,nop>
   +0 < . 1:1(0) ack 1 win 257 <sack 1461:5841,nop,nop>
   +0 > . 1:1461(1460) ack 1
  +.1 < . 1:1(0) ack 5841 win 257
  +.1 close(4) = 0
   +0 > F. 5841:5841(0) ack 1
  +.1 < F. 1:1(0) ack 5842 win 257
+.001 > . 5842:5842(0) ack 2
`;
    const s = parseScript(src);
    expect(s.events).toHaveLength(19);
    expect(s.events.at(-1)).toMatchObject({ line: 21, time: { kind: 'relative', at: 1000 } });
  });
});
