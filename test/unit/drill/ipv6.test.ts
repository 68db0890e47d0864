/**
 * The drill runner over IPv6 (packetdrill's --ip_version): the stack target puts IPv6 packets on
 * its link and reads IPv6 back, the core target hashes the 128-bit addresses, the MSS follows the
 * MTU less 60, socket() of an AF_INET script is AF_INET6, and the CLI takes the flag.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { runInProcess, runTree } from '../../../scripts/linux-drill.ts';
import { drillCommand, drillOptionsProblem, runDrillFiles } from '../../../src/cli/drill.ts';
import { drillAddresses } from '../../../src/drill/addresses.ts';
import { CoreTarget } from '../../../src/drill/core-target.ts';
import { parseScript } from '../../../src/drill/parse.ts';
import { runSource } from '../../../src/drill/run.ts';
import { StackTarget } from '../../../src/drill/stack-target.ts';
import { decodeSyscall } from '../../../src/drill/syscalls.ts';
import type { IpVersion } from '../../../src/drill/target.ts';
import { formatIpv6 } from '../../../src/wire/ipv6.ts';
import { seg } from './scripted-target.ts';

/** A passive open, a request and an answer, and the peer's close. */
const PASSIVE = `0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0 setsockopt(3, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0
+0 bind(3, ..., ...) = 0
+0 listen(3, 1) = 0
+.1 < S 0:0(0) win 65535 <mss 1460,sackOK,nop,nop,nop,wscale 7>
+0 > S. 0:0(0) ack 1 <mss MSS,nop,nop,sackOK,nop,wscale 3>
+.1 < . 1:1(0) ack 1 win 257
+0 accept(3, ..., ...) = 4
+0 < P. 1:101(100) ack 1 win 257
+.04 > . 1:1(0) ack 101
+0 write(4, ..., 1000) = 1000
+0 > P. 1:1001(1000) ack 101
+.1 < F. 101:101(0) ack 1001 win 257
+0 > . 1001:1001(0) ack 102
`;

/** An active open. */
const ACTIVE = `0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0 fcntl(3, F_SETFL, O_RDWR|O_NONBLOCK) = 0
+0 connect(3, ..., ...) = -1 EINPROGRESS (Operation now in progress)
+0 > S 0:0(0) <mss MSS,sackOK,TS val 100 ecr 0,nop,wscale 3>
+.1 < S. 0:0(0) ack 1 win 65535 <mss 1460>
+0 > . 1:1(0) ack 1
`;

const mss = (script: string, n: number) => script.replace('mss MSS', `mss ${n}`);

describe('StackTarget over IPv6', () => {
  it('plays a passive open, data and a close as IPv6 packets, nothing over IPv4', async () => {
    const t = new StackTarget({ ipVersion: 'ipv6' });
    const r = await runSource(mss(PASSIVE, 1460), t);
    expect(r.failure).toBeNull();
    const { ip, ip6 } = t.stack.stats;
    // SYN, ACK, data, FIN in; SYN-ACK, ACK, data, ACK out.
    expect(ip6.rxDelivered).toBe(4);
    expect(ip6.txPackets).toBe(4);
    expect(ip.rxPackets + ip.txPackets).toBe(0);
    const rows = t.stack.connections().map((c) => [c.local, c.remote]);
    expect(rows).toContainEqual(['[fd3d:a0b:17d6::1]:8080', '[fd3d:fa7b:d17d::1]:40000']);
  });

  it('connects to the remote end over IPv6', async () => {
    const t = new StackTarget({ ipVersion: 'ipv6' });
    expect((await runSource(mss(ACTIVE, 1460), t)).failure).toBeNull();
    expect(t.stack.connections().map((c) => c.remote)).toEqual(['[fd3d:fa7b:d17d::1]:8080']);
    expect(t.stack.stats.ip6.txPackets).toBe(2);
  });

  it('ipv4-mapped-ipv6: a dual-stack stack, IPv4 packets on the wire', async () => {
    const t = new StackTarget({ ipVersion: 'ipv4-mapped-ipv6' });
    expect((await runSource(mss(PASSIVE, 1460), t)).failure).toBeNull();
    expect(t.stack.address6).not.toBeNull();
    expect(t.stack.stats.ip.rxPackets).toBe(4);
    expect(t.stack.stats.ip6.rxPackets).toBe(0);
  });

  it('answers a closed port with a RST over IPv6', () => {
    const t = new StackTarget({ ipVersion: 'ipv6' });
    t.inject(seg({ srcPort: 40000, dstPort: 9, seq: 7, control: 'syn' }), 5);
    const out = t.takeOutbound();
    expect(out.map((o) => [o.at, o.seg.control, o.seg.seq, o.seg.ack])).toEqual([[5, 'rst', 0, 8]]);
    expect(t.takeProblems()).toEqual([]);
    expect(t.stack.stats.ip6.txPackets).toBe(1);
  });
});

describe('the MSS over IPv6 is the MTU less 60, on both targets', () => {
  const targets = {
    core: (ipVersion: IpVersion, mtu?: number) => new CoreTarget({ ipVersion, mtu }),
    stack: (ipVersion: IpVersion, mtu?: number) => new StackTarget({ ipVersion, mtu }),
  };
  for (const [name, make] of Object.entries(targets)) {
    it(`${name}: 1460 at the default MTU (1520) and 1440 at 1500; IPv4 1460 at 1500`, async () => {
      for (const script of [PASSIVE, ACTIVE]) {
        expect((await runSource(mss(script, 1460), make('ipv6'))).failure).toBeNull();
        expect((await runSource(mss(script, 1440), make('ipv6', 1500))).failure).toBeNull();
        const wrong = await runSource(mss(script, 1460), make('ipv6', 1500));
        expect(wrong.failure?.message).toMatch(/mss/);
        expect((await runSource(mss(script, 1460), make('ipv4'))).failure).toBeNull();
      }
    });
  }
});

describe('CoreTarget over IPv6', () => {
  it('hashes the IPv6 addresses into its ISN (RFC 6528), not the IPv4 ones', () => {
    const isnOf = (ipVersion: IpVersion) => {
      const t = new CoreTarget({ ipVersion });
      t.syscall(
        { name: 'socket', domain: 'AF_INET', type: 'SOCK_STREAM', protocol: '...', nonblock: true },
        0,
      );
      t.syscall({ name: 'connect', fd: 3, address: t.addresses.remote, port: 8080 }, 0);
      const out = t.takeOutbound();
      expect(out.map((o) => o.seg.control)).toEqual(['syn']);
      return out[0].seg.seq;
    };
    expect(isnOf('ipv6')).toBe(isnOf('ipv6'));
    expect(isnOf('ipv6')).not.toBe(isnOf('ipv4'));
  });
});

describe('addresses and calls', () => {
  it('uses the addresses packetdrill’s run_all.py gives IPv6 runs', () => {
    const a = drillAddresses('ipv6');
    expect(formatIpv6(a.local6!)).toBe('fd3d:a0b:17d6::1');
    expect(formatIpv6(a.remote6!)).toBe('fd3d:fa7b:d17d::1');
    expect(drillAddresses('ipv4-mapped-ipv6')).toMatchObject({ local: 0x0a000002 });
  });

  it('socket(AF_INET) is AF_INET6 over ipv6 and ipv4-mapped-ipv6; sin6_port is read', () => {
    const script = parseScript(`0 socket(AF_INET, SOCK_STREAM, IPPROTO_TCP) = 3
+0 bind(3, {sa_family=AF_INET6, sin6_port=htons(9090), sin6_addr=inet6_addr("fd3d:a0b:17d6::1")}, 28) = 0
+0 bind(3, {sa_family=AF_INET6, sin6_addr=inet6_addr("10.0.0.1")}, 28) = 0
`);
    const [sock, bind, badBind] = script.events.map((e) => (e.type === 'syscall' ? e.call : null));
    const ports = { bindPort: 8080, connectPort: 8080 };
    const domain = (v: IpVersion) => {
      const r = decodeSyscall(sock!, drillAddresses(v), ports);
      return r.name === 'socket' ? r.domain : null;
    };
    expect(domain('ipv4')).toBe('AF_INET');
    expect(domain('ipv6')).toBe('AF_INET6');
    expect(domain('ipv4-mapped-ipv6')).toBe('AF_INET6');
    expect(decodeSyscall(bind!, drillAddresses('ipv6'), ports)).toMatchObject({ port: 9090 });
    expect(() => decodeSyscall(badBind!, drillAddresses('ipv6'), ports)).toThrow(/inet6_addr/);
  });
});

describe('tunstack drill --ip_version', () => {
  const dir = mkdtempSync(join(tmpdir(), 'drill-ipv6-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'passive.pkt');
  writeFileSync(file, mss(PASSIVE, 1460));

  it('runs a script over IPv6 on both targets, and --mtu 1500 moves its MSS to 1440', async () => {
    for (const target of ['core', 'stack'] as const) {
      const o = { profile: 'rfc' as const, verbose: false, strictEnd: true, target };
      const [ok] = await runDrillFiles([file], { ...o, ip_version: 'ipv6' });
      expect(ok.result.failure).toBeNull();
      const [low] = await runDrillFiles([file], { ...o, ip_version: 'ipv6', mtu: 1500 });
      expect(low.result.failure?.actual).toMatch(/mss 1440/);
    }
  });

  it('scripts/linux-drill.ts hands its --ip_version to every script it runs', async () => {
    const seen: Array<IpVersion | undefined> = [];
    // Its scripts run under the linux profile: wscale 8.
    const linuxDir = join(dir, 'linux');
    mkdirSync(linuxDir);
    writeFileSync(join(linuxDir, 'active.pkt'), mss(ACTIVE, 1460).replace('wscale 3', 'wscale 8'));
    const rows = await runTree(linuxDir, {
      target: 'stack',
      timeoutS: 60,
      ipVersion: 'ipv6',
      runOne: (f, t, v) => {
        seen.push(v);
        return runInProcess(f, t, v);
      },
    });
    expect(seen).toEqual(['ipv6']);
    expect(rows.map((r) => r.outcome.kind)).toEqual(['pass']);
  });

  it('parses the flag as packetdrill spells it, and refuses an IPv6 MTU below 1280', async () => {
    const program = new Command().exitOverride();
    drillCommand.register(program);
    const out = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    const saved = process.exitCode;
    try {
      const argv = ['node', 'tunstack', 'drill', '--target', 'stack', '--ip_version=ipv6', file];
      await program.parseAsync(argv);
      expect(String(out.mock.calls.at(-1)?.[0])).toMatch(
        /1 passed, 0 failed \(--ip_version=ipv6, MTU 1520\)\n$/,
      );
      await expect(
        program.parseAsync([...argv.slice(0, -1), '--mtu', '1200', file]),
      ).rejects.toThrow(/at least 1280/);
      await expect(
        program.parseAsync([...argv.slice(0, -2), '--ip_version=ipv5', file]),
      ).rejects.toThrow(/ipv5/);
    } finally {
      out.mockRestore();
      err.mockRestore();
      process.exitCode = saved;
    }
    expect(
      drillOptionsProblem({ profile: 'rfc', verbose: false, strictEnd: true, mtu: 576 }),
    ).toBeNull();
  });
});
