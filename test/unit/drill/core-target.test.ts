import { describe, expect, it } from 'vitest';
import { CoreTarget, DRILL_ADDRESSES } from '../../../src/drill/core-target.ts';
import { SYMBOLS } from '../../../src/drill/symbols.ts';
import type { SyscallRequest, SyscallResult } from '../../../src/drill/target.ts';
import { seg } from './scripted-target.ts';

function done(t: CoreTarget, req: SyscallRequest, now = 0): SyscallResult {
  const o = t.syscall(req, now);
  if (o.kind !== 'done') throw new Error(`${req.name} blocked`);
  return o.result;
}

/** A target with a listener on 8080 as fd 3 (non-blocking when asked). */
function listening(nonblock = false): CoreTarget {
  const t = new CoreTarget();
  expect(
    done(t, {
      name: 'socket',
      domain: 'AF_INET',
      type: 'SOCK_STREAM',
      protocol: 'IPPROTO_TCP',
      nonblock: false,
    }).ret,
  ).toBe(3);
  if (nonblock) done(t, { name: 'fcntl', fd: 3, command: 'F_SETFL', flags: SYMBOLS.O_NONBLOCK });
  expect(done(t, { name: 'bind', fd: 3, address: DRILL_ADDRESSES.local, port: 8080 }).ret).toBe(0);
  expect(done(t, { name: 'listen', fd: 3, backlog: 4 }).ret).toBe(0);
  return t;
}

/** Play the remote end of a handshake at `now`; returns the stack's ISN. */
function handshake(t: CoreTarget, now: number): number {
  t.inject(seg({ srcPort: 40000, dstPort: 8080, seq: 0, control: 'syn', window: 65535 }), now);
  const synAck = t.takeOutbound()[0].seg;
  expect(synAck.control).toBe('syn');
  t.inject(
    seg({ srcPort: 40000, dstPort: 8080, seq: 1, ack: (synAck.seq + 1) >>> 0, window: 65535 }),
    now,
  );
  return synAck.seq;
}

describe('CoreTarget socket facade', () => {
  it('hands out the lowest free descriptor from 3, and EBADF for unknown ones', () => {
    const t = new CoreTarget();
    const sock = {
      name: 'socket',
      domain: '...',
      type: 'SOCK_STREAM',
      protocol: 'IPPROTO_TCP',
      nonblock: false,
    } as const;
    expect(done(t, sock).ret).toBe(3);
    expect(done(t, sock).ret).toBe(4);
    expect(done(t, { name: 'close', fd: 3 }).ret).toBe(0);
    expect(done(t, sock).ret).toBe(3);
    expect(done(t, { name: 'close', fd: 9 })).toEqual({ ret: -1, errno: 'EBADF' });
    expect(done(t, { ...sock, type: 'SOCK_DGRAM' })).toEqual({ ret: -1, errno: 'EPROTONOSUPPORT' });
    // SOCK_NONBLOCK: the new socket is non-blocking at once.
    expect(done(t, { ...sock, nonblock: true }).ret).toBe(5);
    expect(done(t, { name: 'fcntl', fd: 5, command: 'F_GETFL', flags: 0 }).ret).toBe(
      SYMBOLS.O_RDWR | SYMBOLS.O_NONBLOCK,
    );
  });

  it('non-blocking accept says EAGAIN until a handshake completes; poll sees the listener ready', () => {
    const t = listening(true);
    expect(done(t, { name: 'accept', fd: 3 })).toEqual({ ret: -1, errno: 'EAGAIN' });
    const poll: SyscallRequest = {
      name: 'poll',
      fds: [{ fd: 3, events: SYMBOLS.POLLIN }],
      timeoutMs: 0,
    };
    expect(done(t, poll)).toEqual({ ret: 0, revents: [0] });
    handshake(t, 100);
    // Only the events asked for (plus POLLERR, POLLHUP, POLLNVAL) are reported.
    expect(done(t, poll, 100)).toEqual({ ret: 1, revents: [SYMBOLS.POLLIN] });
    expect(done(t, { name: 'accept', fd: 3 }, 100).ret).toBe(4);
  });

  it('a blocking accept completes when the handshake does, stamped with that time', () => {
    const t = listening();
    const o = t.syscall({ name: 'accept', fd: 3 }, 0);
    expect(o.kind).toBe('blocked');
    expect(t.takeCompleted()).toEqual([]);
    handshake(t, 250);
    expect(t.takeCompleted()).toEqual([
      { id: o.kind === 'blocked' ? o.id : -1, at: 250, result: { ret: 4 } },
    ]);
  });

  it('read: EAGAIN when non-blocking and empty, data once it arrives, 0 after the FIN', () => {
    const t = listening();
    const isn = handshake(t, 100);
    expect(done(t, { name: 'accept', fd: 3 }, 100).ret).toBe(4);
    done(t, { name: 'fcntl', fd: 4, command: 'F_SETFL', flags: SYMBOLS.O_NONBLOCK }, 100);
    expect(done(t, { name: 'fcntl', fd: 4, command: 'F_GETFL', flags: 0 }, 100).ret).toBe(
      SYMBOLS.O_RDWR | SYMBOLS.O_NONBLOCK,
    );
    const read = { name: 'read', fd: 4, length: 1000, flags: 0 } as const;
    expect(done(t, read, 100)).toEqual({ ret: -1, errno: 'EAGAIN' });
    const ack = (isn + 1) >>> 0;
    t.inject(
      seg({ srcPort: 40000, dstPort: 8080, seq: 1, ack, payload: new Uint8Array(300) }),
      110,
    );
    t.inject(seg({ srcPort: 40000, dstPort: 8080, seq: 301, ack, control: 'fin' }), 110);
    expect(done(t, read, 110)).toEqual({ ret: 300 });
    expect(done(t, read, 110)).toEqual({ ret: 0 });
  });

  it('a segment for no connection and no listener is answered with a RST and counted', () => {
    const t = new CoreTarget();
    t.inject(seg({ srcPort: 40000, dstPort: 9, seq: 7, control: 'syn' }), 0);
    const [rst] = t.takeOutbound();
    expect([rst.seg.control, rst.seg.seq, rst.seg.ack, rst.seg.srcPort, rst.seg.dstPort]).toEqual([
      'rst',
      0,
      8,
      9,
      40000,
    ]);
    expect(t.stats.noSocket).toBe(1);
    expect(t.nextDeadline()).toBeNull();
  });

  it('socket options: known ones apply, unknown ones are ENOPROTOOPT; settings map Linux names', () => {
    const t = listening();
    expect(
      done(t, { name: 'setsockopt', fd: 3, level: 'SOL_TCP', option: 'TCP_NODELAY', value: 1 }).ret,
    ).toBe(0);
    expect(done(t, { name: 'getsockopt', fd: 3, level: 'SOL_TCP', option: 'TCP_NODELAY' })).toEqual(
      { ret: 0, value: 1 },
    );
    expect(
      done(t, { name: 'setsockopt', fd: 3, level: 'SOL_TCP', option: 'TCP_FROB', value: 1 }),
    ).toEqual({
      ret: -1,
      errno: 'ENOPROTOOPT',
    });
    expect(t.setting('tcp_sack', '0')).toBe(true);
    expect(t.options.sack).toBe(false);
    expect(t.setting('rto_min', '200ms')).toBe(true);
    expect(t.options.minRto).toBe(200);
    expect(t.setting('tcp_frto', '2')).toBe(false);
  });

  it('profiles: rfc by default, linux on request', () => {
    expect(new CoreTarget().options).toMatchObject({
      initialWindow: 3,
      minRto: 1000,
      congestion: 'reno',
    });
    expect(new CoreTarget({ profile: 'linux' }).options).toMatchObject({
      initialWindow: 10,
      minRto: 200,
      congestion: 'cubic',
    });
  });
});

describe('setsockopt on a listening socket', () => {
  it('TCP_MAXSEG after listen() sets the MSS of later SYN-ACKs, as Linux children inherit it', () => {
    const t = listening();
    expect(
      done(t, { name: 'setsockopt', fd: 3, level: 'SOL_TCP', option: 'TCP_MAXSEG', value: 1100 })
        .ret,
    ).toBe(0);
    t.inject(seg({ srcPort: 40000, dstPort: 8080, seq: 0, control: 'syn', window: 65535 }), 0);
    const synAck = t.takeOutbound()[0].seg;
    expect(synAck.control).toBe('syn');
    expect(synAck.options.mss).toBe(1100);
  });
});

describe('ioctl', () => {
  it('SIOCINQ counts bytes ready to read, SIOCOUTQ bytes not yet acknowledged; EINVAL on a listener', () => {
    const t = listening();
    expect(done(t, { name: 'ioctl', fd: 3, request: 'SIOCINQ' })).toEqual({
      ret: -1,
      errno: 'EINVAL',
    });
    const iss = handshake(t, 100);
    expect(done(t, { name: 'accept', fd: 3 }, 100).ret).toBe(4);
    expect(done(t, { name: 'ioctl', fd: 4, request: 'SIOCINQ' }, 100)).toEqual({
      ret: 0,
      value: 0,
    });
    const ack = (iss + 1) >>> 0;
    const data = new Uint8Array(700);
    t.inject(
      seg({ srcPort: 40000, dstPort: 8080, seq: 1, ack, window: 65535, payload: data }),
      110,
    );
    expect(done(t, { name: 'ioctl', fd: 4, request: 'SIOCINQ' }, 110)).toEqual({
      ret: 0,
      value: 700,
    });
    expect(done(t, { name: 'read', fd: 4, length: 200, flags: 0 }, 110).ret).toBe(200);
    expect(done(t, { name: 'ioctl', fd: 4, request: 'SIOCINQ' }, 110)).toEqual({
      ret: 0,
      value: 500,
    });
    const write = { name: 'write', fd: 4, data: new Uint8Array(300), flags: 0 } as const;
    expect(done(t, write, 120).ret).toBe(300);
    expect(done(t, { name: 'ioctl', fd: 4, request: 'SIOCOUTQ' }, 120)).toEqual({
      ret: 0,
      value: 300,
    });
  });
});
