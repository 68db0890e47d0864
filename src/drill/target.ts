/**
 * The system under test, as the drill runner sees it: a TCP endpoint in virtual time that takes
 * segments and socket calls and gives back segments and call results.
 *
 * The runner owns the clock: it calls `advance` to move time forward (stepping through
 * `nextDeadline` so that each segment is stamped with the instant it was sent) and passes `now`
 * with every input. A target never reads a real clock.
 *
 * Binding a stack to the runner is an adapter of this shape (src/drill/core-target.ts drives
 * TcpListener/TcpConnection directly; a Stack-based one would route through the stack's IP layer).
 */
import type { TcpRepr } from '../wire/tcp-repr.ts';

/** Milliseconds of virtual time (fractions allowed), on the target's own clock. */
export type Ms = number;

/**
 * packetdrill's --ip_version: the family of the packets (ipv4, ipv6) and of the sockets (AF_INET
 * for ipv4; AF_INET6 for the others, whose ipv4-mapped-ipv6 still puts IPv4 packets on the wire).
 */
export type IpVersion = 'ipv4' | 'ipv4-mapped-ipv6' | 'ipv6';

export const IP_VERSIONS: readonly IpVersion[] = ['ipv4', 'ipv4-mapped-ipv6', 'ipv6'];

/** Addresses the scripts use (documented in test/drill/README.md). */
export interface DrillAddresses {
  /**
   * The stack under test: an IPv4 address as its uint32, or over IPv6 the number the TCP core
   * knows the address by (an id ≥ 2^32, src/tcp/address.ts).
   */
  local: number;
  /** The remote end the script plays, likewise. */
  remote: number;
  /** Absent: ipv4. */
  ipVersion?: IpVersion;
  /** The 16 bytes of `local` and `remote` when the packets are IPv6. */
  local6?: Uint8Array;
  remote6?: Uint8Array;
}

/** A socket call, decoded from the script into plain values; `fd`s are the script's numbers. */
export type SyscallRequest =
  /** `type` without its flags; `nonblock` for SOCK_NONBLOCK (`SOCK_STREAM | SOCK_NONBLOCK`). */
  | { name: 'socket'; domain: string; type: string; protocol: string; nonblock: boolean }
  | { name: 'bind'; fd: number; address: number; port: number }
  | { name: 'listen'; fd: number; backlog: number }
  | { name: 'accept'; fd: number }
  | { name: 'connect'; fd: number; address: number; port: number }
  /** `badPointer`: the script passed NULL for the buffer (the call fails with EFAULT). */
  | { name: 'write'; fd: number; data: Uint8Array; flags: number; badPointer?: boolean }
  | { name: 'read'; fd: number; length: number; flags: number; badPointer?: boolean }
  | { name: 'shutdown'; fd: number; how: 'SHUT_RD' | 'SHUT_WR' | 'SHUT_RDWR' }
  | { name: 'close'; fd: number }
  | { name: 'setsockopt'; fd: number; level: string; option: string; value: number }
  | { name: 'getsockopt'; fd: number; level: string; option: string }
  | { name: 'fcntl'; fd: number; command: 'F_GETFL' | 'F_SETFL'; flags: number }
  /** SIOCINQ (FIONREAD): bytes ready to read; SIOCOUTQ: bytes sent or queued, not yet ACKed. */
  | { name: 'ioctl'; fd: number; request: 'SIOCINQ' | 'SIOCOUTQ' }
  | { name: 'poll'; fds: Array<{ fd: number; events: number }>; timeoutMs: number };

/** What a finished call returned: like the C call, `ret` is -1 with an errno name on failure. */
export interface SyscallResult {
  ret: number;
  errno?: string;
  /** getsockopt's out value. */
  value?: number;
  /** poll's revents, one per fd in the request. */
  revents?: number[];
}

/** A call either finishes at once or blocks until a later step (`takeCompleted`). */
export type SyscallOutcome =
  | { kind: 'done'; result: SyscallResult }
  | { kind: 'blocked'; id: number };

export interface DrillTarget {
  /** The addresses the target plays; segments carry ports, addresses are implied. */
  readonly addresses: DrillAddresses;
  /** A segment from the remote end, arriving at `now`. */
  inject(seg: TcpRepr, now: Ms): void;
  /** Run a socket call at `now`. */
  syscall(req: SyscallRequest, now: Ms): SyscallOutcome;
  /** The earliest time the target has work to do (a timer), or null when idle. */
  nextDeadline(): Ms | null;
  /** Move the clock to `to`, running every deadline at or before it. Never moves backward. */
  advance(to: Ms): void;
  /** Segments sent since the last call, each with the time it was sent. */
  takeOutbound(): Array<{ at: Ms; seg: TcpRepr }>;
  /** Blocking calls that finished since the last call, with the time each returned. */
  takeCompleted(): Array<{ id: number; at: Ms; result: SyscallResult }>;
  /**
   * Apply a Linux sysctl the script sets (`sysctl -q net.ipv4.tcp_sack=0`) or a route attribute
   * (`initcwnd`, `rto_min`); returns false when the target has no equivalent.
   */
  setting(name: string, value: string): boolean;
  /** One line of connection state for failure reports (state, sndUna, sndNxt, rcvNxt, ...). */
  describe(): string;
  /**
   * Resolves once work the target deferred (a microtask the stack queued after a user call, say)
   * has run. The runner awaits it after every input, call and clock step; a target that does all
   * its work synchronously leaves it out.
   */
  settled?(): Promise<void>;
  /**
   * Problems the target found on its own since the last call (a packet it sent that does not
   * parse, say); the runner fails the script with them.
   */
  takeProblems?(): string[];
}
