/**
 * ECN end to end over the simulated wire (RFC 3168; src/tcp/ecn.ts): two stacks, the client asking
 * for ECN (mode 1), the server accepting (mode 2, the default). In front of the server, a FaultLink
 * marks a share of the ECT packets CE, as a congested router would; a tap between it and the
 * server sees what the server receives and sends. The bytes arrive intact; every ACK the server
 * sends carries ECE exactly while a CE mark is unanswered by a CWR; the client cuts its window
 * for the echoes without retransmitting anything.
 */
import { expect, it } from 'vitest';
import { FaultLink } from '../../src/link/fault.ts';
import { SimLink } from '../../src/link/sim.ts';
import type { Link, LinkReceiver } from '../../src/stack/link.ts';
import { IpEcn } from '../../src/wire/ipv4.ts';
import { ParseError } from '../../src/wire/parse-error.ts';
import { parseTcpPacket } from '../../src/wire/tcp-packet.ts';
import { netPair, pattern, runUntil, SERVER, sha256 } from './fixture.ts';

interface Seen {
  dir: 'rx' | 'tx';
  ecn: number;
  ece: boolean;
  cwr: boolean;
  len: number;
  syn: boolean;
}

/** A link that records every TCP packet through it (rx: toward the stack, tx: from it). */
class Tap implements Link {
  readonly mtu: number;
  readonly seen: Seen[] = [];
  constructor(private readonly inner: Link) {
    this.mtu = inner.mtu;
  }
  #note(dir: 'rx' | 'tx', p: Uint8Array): void {
    const t = parseTcpPacket(p);
    if (t instanceof ParseError) return;
    const { ece, cwr, payload, control } = t.tcp;
    this.seen.push({ dir, ecn: p[1] & 3, ece, cwr, len: payload.length, syn: control === 'syn' });
  }
  attach(rx: LinkReceiver): void {
    this.inner.attach({
      packet: (p, flags) => {
        this.#note('rx', p);
        rx.packet(p, flags);
      },
      batchEnd: () => rx.batchEnd?.(),
    });
  }
  send(p: Uint8Array): void {
    this.#note('tx', p);
    this.inner.send(p);
  }
  flush(): void {
    this.inner.flush();
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

// prr: the client's cut is spread by PRR (Linux's CWR state) instead of made at once; the same holds.
for (const prr of [false, true])
  it(`CE marks are echoed with ECE until CWR, and the sender backs off without retransmitting${prr ? ' (PRR)' : ''}`, async () => {
    let fault: FaultLink | null = null;
    let tap: Tap | null = null;
    const { clock, client, server } = netPair<Link>({
      links: (clk) => {
        const [a, b] = SimLink.pair(clk, { delayMs: 1 });
        fault = new FaultLink(b, { ce: 0.03, seed: 11 }, clk);
        tap = new Tap(fault);
        return [a, tap];
      },
      stack: { tcp: { conn: { ecn: 1, prr } } },
      serverTcp: { conn: { ecn: 2 } },
    });
    const total = 3_000_000;
    const data = pattern(total, 5);
    const got: Uint8Array[] = [];
    let received = 0;
    server.net
      .createServer((s) => {
        s.on('data', (d: Uint8Array) => {
          got.push(new Uint8Array(d));
          received += d.length;
        });
      })
      .listen(9);
    const sock = client.net.connect({ port: 9, host: SERVER });
    sock.on('connect', () => sock.write(data));
    await runUntil(clock, () => received === total, 120_000, 'all bytes received');

    const out = client.connections().find((r) => r.remote === `${SERVER}:9`);
    const into = server
      .connections()
      .find((r) => r.local === `${SERVER}:9` && r.state !== 'LISTEN');
    expect(out?.ecn, 'the client side agreed ECN').toBeDefined();
    expect(into?.ecn, 'the server side agreed ECN').toBeDefined();
    const seen = (tap as unknown as Tap).seen;
    const marked = (fault as unknown as FaultLink).stats.rx.ceMarked;
    expect(marked).toBeGreaterThan(5);

    // What reached the server: every data segment ECT(0), or CE where the link marked it; the
    // client never retransmitted (nothing is lost), so nothing went out Not-ECT.
    const rxData = seen.filter((s) => s.dir === 'rx' && s.len > 0);
    expect(rxData.every((s) => s.ecn === IpEcn.Ect0 || s.ecn === IpEcn.Ce)).toBe(true);
    const ceData = rxData.filter((s) => s.ecn === IpEcn.Ce).length;
    expect(ceData).toBe(marked);
    expect(into?.ecn?.ceReceived).toBe(ceData);
    // The SYN was not ECT; it asked with ECE+CWR, and the SYN-ACK agreed with ECE alone.
    const syn = seen.find((s) => s.dir === 'rx' && s.syn);
    expect(syn).toMatchObject({ ecn: IpEcn.NotEct, ece: true, cwr: true });
    const synAck = seen.find((s) => s.dir === 'tx' && s.syn);
    expect(synAck).toMatchObject({ ecn: IpEcn.NotEct, ece: true, cwr: false });

    // The server's ACKs: ECE exactly while a CE mark has not been answered by a CWR (§6.1.3).
    let echo = false;
    let acks = 0;
    let eceAcks = 0;
    for (const s of seen) {
      if (s.syn) continue;
      if (s.dir === 'rx') {
        if (s.cwr) echo = false;
        if (s.ecn === IpEcn.Ce && s.len > 0) echo = true;
        continue;
      }
      acks++;
      if (s.ece) eceAcks++;
      expect(s.ece, `ACK #${acks}: ECE while echoing`).toBe(echo);
      expect(s.ecn, 'pure ACKs are not ECT').toBe(IpEcn.NotEct);
    }
    expect(eceAcks).toBeGreaterThan(0);
    expect(eceAcks).toBeLessThan(acks);

    // The client: ECEs seen, the window cut, CWR sent as many times as the server saw it, and
    // not one retransmission.
    const e = out?.ecn;
    expect(e?.eceReceived).toBeGreaterThan(0);
    expect(e?.cwndReduced).toBeGreaterThan(0);
    // One CWR per cut, but for a cut after the last new data (no segment left to carry it).
    expect(e?.cwrSent).toBeLessThanOrEqual(e?.cwndReduced ?? 0);
    expect(e?.cwrSent).toBeGreaterThanOrEqual((e?.cwndReduced ?? 0) - 1);
    expect(seen.filter((s) => s.dir === 'rx' && s.cwr && !s.syn).length).toBe(e?.cwrSent);
    expect(out?.retransmits).toBe(0);

    let off = 0;
    for (const g of got) off += g.length;
    expect(off).toBe(total);
    const whole = new Uint8Array(total);
    off = 0;
    for (const g of got) {
      whole.set(g, off);
      off += g.length;
    }
    expect(sha256(whole)).toBe(sha256(data));
    sock.destroy();
    await client.close();
    await server.close();
  });

it('per connection: connect({ ecn: 1 }) asks; createServer({ ecn: 0 }) refuses, the default accepts', async () => {
  const { clock, client, server } = netPair();
  const refusing = server.net.createServer({ ecn: 0 }, () => {});
  refusing.listen(81);
  const accepting = server.net.createServer(() => {});
  accepting.listen(82);
  const plain = server.net.createServer(() => {});
  plain.listen(83);
  const a = client.net.connect({ port: 81, host: SERVER, ecn: 1 });
  const b = client.net.connect({ port: 82, host: SERVER, ecn: 1 });
  const c = client.net.connect({ port: 83, host: SERVER }); // the default never asks
  let up = 0;
  for (const s of [a, b, c]) s.on('connect', () => up++);
  await runUntil(clock, () => up === 3, 5_000, 'all connected');
  const ecnTo = (port: number) =>
    client.connections().find((r) => r.remote === `${SERVER}:${port}`)?.ecn !== undefined;
  expect([ecnTo(81), ecnTo(82), ecnTo(83)]).toEqual([false, true, false]);
  for (const s of [a, b, c]) s.destroy();
  for (const srv of [refusing, accepting, plain]) srv.close();
  await client.close();
  await server.close();
});
