/**
 * From a script's system call to a SyscallRequest, and from a SyscallResult back to a verdict
 * against what the script expects (`= -1 ECONNREFUSED (Connection refused)`, `[0]`, revents).
 */
import { tryParseIpv4 } from '../wire/ipv4.ts';
import { tryParseIpv6 } from '../wire/ipv6.ts';
import type { Expr, SyscallSpec } from './parse.ts';
import { ERRNO, errnoName, pollFlags, SYMBOLS } from './symbols.ts';
import type { DrillAddresses, SyscallRequest, SyscallResult } from './target.ts';

/** Ports the scripts use when they write `...` for an address. */
export interface DefaultPorts {
  /** `bind(3, ..., ...)` binds the stack to this port. */
  bindPort: number;
  /** `connect(3, ..., ...)` connects to the remote at this port. */
  connectPort: number;
}

export class SyscallDecodeError extends Error {}

function bad(detail: string): never {
  throw new SyscallDecodeError(detail);
}

/** The integer an expression stands for: a literal, a symbol, or `A|B`. */
export function intOf(e: Expr | undefined, what: string): number {
  if (e === undefined) return bad(`missing ${what}`);
  switch (e.kind) {
    case 'int':
      return e.value;
    case 'word': {
      const v = SYMBOLS[e.name];
      if (v === undefined) return bad(`unknown symbol ${e.name} for ${what}`);
      return v;
    }
    case 'or':
      return e.items.reduce((m, x) => m | intOf(x, what), 0);
    case 'list':
      // `[1]`: an int passed by pointer, as setsockopt's optval.
      if (e.items.length === 1) return intOf(e.items[0], what);
      break;
    case 'call':
      if (e.name === 'htons' || e.name === 'htonl') return intOf(e.args[0], what);
      break;
  }
  return bad(`expected an integer for ${what}`);
}

/**
 * The bytes a msghdr's iovecs hold: `{msg_name(...)=..., msg_iov(2)=[{..., 40}, {..., 20}],
 * msg_flags=0}`, each iovec `{base, len}` or `{iov_base=..., iov_len=N}`.
 */
function iovLength(e: Expr | undefined): number {
  if (e?.kind !== 'struct') return bad('expected a msghdr {msg_name(...)=..., msg_iov(N)=[...]}');
  const iov = fields(e).get('msg_iov');
  if (iov?.kind !== 'list') return bad('expected msg_iov(N)=[{..., LEN}, ...]');
  let total = 0;
  for (const v of iov.items) {
    if (v.kind !== 'struct' || v.items.length !== 2) bad('expected an iovec {..., LEN}');
    const len = v.items[1];
    total += intOf(len.kind === 'assign' ? len.value : len, 'iov_len');
  }
  return total;
}

/** A buffer argument that is an invalid pointer: packetdrill scripts write `NULL` (or `0`). */
function isNull(e: Expr | undefined): boolean {
  return (e?.kind === 'word' && e.name === 'NULL') || (e?.kind === 'int' && e.value === 0);
}

function wordOf(e: Expr | undefined, what: string): string {
  if (e?.kind === 'word') return e.name;
  if (e?.kind === 'ellipsis') return '...';
  return bad(`expected a name for ${what}`);
}

function ipv4(text: string): number {
  return tryParseIpv4(text) ?? bad(`bad IPv4 address ${text}`);
}

/**
 * `{sa_family=AF_INET, sin_port=htons(8080), sin_addr=inet_addr("10.0.0.1")}` or `...`; an
 * AF_INET6 one's `sin6_port` and `sin6_addr=inet6_addr("fd3d::1")` are read too. The sockets
 * bind and connect by port (one address each way), so an IPv6 address is checked, not kept.
 */
function sockaddrOf(
  e: Expr | undefined,
  address: number,
  port: number,
): { address: number; port: number } {
  if (e === undefined || e.kind === 'ellipsis') return { address, port };
  if (e.kind !== 'struct') return bad('expected a sockaddr or ...');
  for (const item of e.items) {
    if (item.kind !== 'assign') continue;
    if (item.name === 'sin_port' || item.name === 'sin6_port') port = intOf(item.value, item.name);
    if (item.name === 'sin6_addr') {
      const v = item.value;
      const ok =
        v.kind === 'call' &&
        v.name === 'inet6_addr' &&
        v.args[0]?.kind === 'string' &&
        tryParseIpv6(v.args[0].value) !== null;
      if (!ok) bad('expected sin6_addr=inet6_addr("an IPv6 address")');
    }
    if (item.name === 'sin_addr') {
      const v = item.value;
      if (v.kind === 'call' && v.name === 'inet_addr' && v.args[0]?.kind === 'string')
        address = ipv4(v.args[0].value);
      else bad('expected sin_addr=inet_addr("a.b.c.d")');
    }
  }
  return { address, port };
}

/** A `{fd=3, events=POLLIN, revents=POLLOUT}` struct's fields. */
function fields(e: Expr): Map<string, Expr> {
  const m = new Map<string, Expr>();
  if (e.kind === 'struct')
    for (const it of e.items) if (it.kind === 'assign') m.set(it.name, it.value);
  return m;
}

/**
 * Decode a script call into a request. `send`/`recv` become `write`/`read` with flags; `...`
 * addresses become the script's defaults. Throws SyscallDecodeError for what it cannot decode.
 */
export function decodeSyscall(
  call: SyscallSpec,
  addrs: DrillAddresses,
  ports: DefaultPorts,
): SyscallRequest {
  const a = call.args;
  const fd = () => intOf(a[0], 'fd');
  switch (call.name) {
    case 'socket': {
      // `SOCK_STREAM | SOCK_NONBLOCK`: the type and its flags.
      const parts = a[1]?.kind === 'or' ? a[1].items : [a[1]];
      const names = parts.map((p) => wordOf(p, 'type'));
      const type =
        names.find((n) => n !== 'SOCK_NONBLOCK' && n !== 'SOCK_CLOEXEC') ?? 'SOCK_STREAM';
      // packetdrill over ipv6 or ipv4-mapped-ipv6 opens an AF_INET script's sockets as AF_INET6.
      const domain = wordOf(a[0], 'domain');
      const v6Socket = addrs.ipVersion !== undefined && addrs.ipVersion !== 'ipv4';
      return {
        name: 'socket',
        domain: v6Socket && domain === 'AF_INET' ? 'AF_INET6' : domain,
        type,
        protocol: wordOf(a[2], 'protocol'),
        nonblock: names.includes('SOCK_NONBLOCK'),
      };
    }
    case 'bind': {
      const s = sockaddrOf(a[1], addrs.local, ports.bindPort);
      return { name: 'bind', fd: fd(), address: s.address, port: s.port };
    }
    case 'listen':
      return { name: 'listen', fd: fd(), backlog: intOf(a[1], 'backlog') };
    case 'accept':
      return { name: 'accept', fd: fd() };
    case 'connect': {
      const s = sockaddrOf(a[1], addrs.remote, ports.connectPort);
      return { name: 'connect', fd: fd(), address: s.address, port: s.port };
    }
    // sendto/recvfrom on a TCP socket: the address is ignored, as Linux does once connected.
    case 'write':
    case 'send':
    case 'sendto': {
      const length = intOf(a[2], 'length');
      if (length < 0 || length > 64 * 1024 * 1024) bad('write length out of range');
      const flags = call.name !== 'write' && a[3] ? intOf(a[3], 'flags') : 0;
      const badPointer = isNull(a[1]);
      return { name: 'write', fd: fd(), data: new Uint8Array(length), flags, badPointer };
    }
    case 'read':
    case 'recv':
    case 'recvfrom': {
      const length = intOf(a[2], 'length');
      if (length < 0 || length > 64 * 1024 * 1024) bad('read length out of range');
      const flags = call.name !== 'read' && a[3] ? intOf(a[3], 'flags') : 0;
      return { name: 'read', fd: fd(), length, flags, badPointer: isNull(a[1]) };
    }
    case 'sendmsg':
    case 'recvmsg': {
      const length = iovLength(a[1]);
      if (length < 0 || length > 64 * 1024 * 1024) bad('msghdr length out of range');
      const flags = a[2] ? intOf(a[2], 'flags') : 0;
      if (call.name === 'recvmsg') return { name: 'read', fd: fd(), length, flags };
      return { name: 'write', fd: fd(), data: new Uint8Array(length), flags };
    }
    case 'shutdown': {
      const how = wordOf(a[1], 'how');
      if (how !== 'SHUT_RD' && how !== 'SHUT_WR' && how !== 'SHUT_RDWR')
        bad(`bad shutdown how ${how}`);
      return { name: 'shutdown', fd: fd(), how };
    }
    case 'close':
      return { name: 'close', fd: fd() };
    case 'setsockopt': {
      const v = a[3];
      let value: number;
      if (v?.kind === 'struct') {
        // struct linger {onoff=1, linger=0}: the linger time, or -1 when off.
        const f = fields(v);
        value = intOf(f.get('onoff'), 'onoff') ? intOf(f.get('linger'), 'linger') : -1;
      } else value = intOf(v, 'option value');
      return {
        name: 'setsockopt',
        fd: fd(),
        level: wordOf(a[1], 'level'),
        option: wordOf(a[2], 'option'),
        value,
      };
    }
    case 'getsockopt':
      return {
        name: 'getsockopt',
        fd: fd(),
        level: wordOf(a[1], 'level'),
        option: wordOf(a[2], 'option'),
      };
    case 'ioctl': {
      const request = wordOf(a[1], 'request');
      if (request === 'SIOCINQ' || request === 'FIONREAD')
        return { name: 'ioctl', fd: fd(), request: 'SIOCINQ' };
      if (request === 'SIOCOUTQ') return { name: 'ioctl', fd: fd(), request };
      return bad(`unsupported ioctl ${request}`);
    }
    case 'fcntl': {
      const command = wordOf(a[1], 'command');
      if (command !== 'F_GETFL' && command !== 'F_SETFL') bad(`unsupported fcntl ${command}`);
      return { name: 'fcntl', fd: fd(), command, flags: a[2] ? intOf(a[2], 'flags') : 0 };
    }
    case 'poll': {
      const list = a[0];
      if (list?.kind !== 'list') bad('poll expects [{fd=..., events=...}]');
      const fds = list.items.map((it) => {
        const f = fields(it);
        return { fd: intOf(f.get('fd'), 'fd'), events: intOf(f.get('events'), 'events') };
      });
      return { name: 'poll', fds, timeoutMs: intOf(a[2], 'timeout') };
    }
    default:
      return bad(`unsupported system call ${call.name}`);
  }
}

/** What went wrong with a call's result, or null when it is what the script expects. */
export function checkResult(
  call: SyscallSpec,
  req: SyscallRequest,
  got: SyscallResult,
): string | null {
  const shown = showResult(got);
  if (call.result.kind !== 'ellipsis') {
    const want = intOf(call.result, 'result');
    if (got.ret !== want) return `expected = ${expectedText(call)} but got ${shown}`;
  }
  if (call.errno !== null) {
    const same = got.errno !== undefined && ERRNO[got.errno] === ERRNO[call.errno];
    if (!same) return `expected errno ${call.errno} but got ${shown}`;
  } else if (got.ret === -1 && call.result.kind !== 'ellipsis') {
    return `expected no errno but got ${shown}`;
  }
  if (req.name === 'ioctl') {
    const out = call.args[2];
    if (out && out.kind !== 'ellipsis') {
      const want = intOf(out, 'ioctl value');
      if (got.value !== want)
        return `expected ${req.request} = ${show(out)} but got ${got.value ?? 'nothing'}`;
    }
  }
  if (req.name === 'getsockopt') {
    const out = call.args[3];
    if (out && out.kind !== 'ellipsis') {
      const want = intOf(out, 'getsockopt value');
      if (got.value !== want)
        return `expected ${req.option} = ${show(out)} but got ${got.value ?? 'nothing'}`;
    }
  }
  if (req.name === 'poll') {
    const list = call.args[0];
    if (list?.kind === 'list') {
      for (let i = 0; i < list.items.length; i++) {
        const r = fields(list.items[i]).get('revents');
        const want = r ? intOf(r, 'revents') : 0;
        const have = got.revents?.[i] ?? 0;
        if (r?.kind !== 'ellipsis' && have !== want)
          return `expected revents=${pollFlags(want)} for fd ${req.fds[i].fd} but got revents=${pollFlags(have)}`;
      }
    }
  }
  return null;
}

function show(e: Expr): string {
  switch (e.kind) {
    case 'int':
      return String(e.value);
    case 'word':
      return e.name;
    case 'list':
      return `[${e.items.map(show).join(', ')}]`;
    case 'or':
      return e.items.map(show).join('|');
    case 'ellipsis':
      return '...';
    default:
      return e.kind;
  }
}

function expectedText(call: SyscallSpec): string {
  return show(call.result) + (call.errno ? ` ${call.errno}` : '');
}

export function showResult(r: SyscallResult): string {
  let s = String(r.ret);
  if (r.errno) s += ` ${r.errno}`;
  if (r.value !== undefined) {
    const name = r.value > 0 ? errnoName(r.value) : String(r.value);
    s += ` (value ${r.value}${name !== String(r.value) ? ` ${name}` : ''})`;
  }
  if (r.revents) s += ` (revents ${r.revents.map(pollFlags).join(', ')})`;
  return s;
}
