/**
 * Why TCP opens with three segments, answered by the stack itself: the scenarios of RFC 9293
 * §3.5 replayed with two real stacks (src/apps/lessons/sim.ts) in virtual time.
 *
 * - `oldDuplicateSyn`: Figure 8, "Recovery from Old Duplicate SYN". The client's SYN is delayed
 *   in the network; an old SYN from an earlier incarnation of the same connection (ISN − 10)
 *   reaches the server first. The server answers it with a SYN-ACK; the client, whose own SYN is
 *   not what that SYN-ACK acknowledges, answers with a reset; the server's half-made connection
 *   goes (back to LISTEN) without the application ever seeing it. Then the real SYN arrives and
 *   the handshake completes. With two steps the server would have opened a connection (and
 *   delivered the old SYN's data) on the strength of the old SYN alone.
 * - `halfOpenDiscovery`: Figure 10, "Active Side Causes Half-Open Connection Discovery". The
 *   client crashes with a connection open; back up, it opens again from the same port. The
 *   server, still ESTABLISHED, answers the new SYN with an ACK of what it expects (RFC 5961 §4's
 *   challenge ACK); the client's SYN_SENT sees an ACK of nothing it sent and resets; the server
 *   drops the dead connection; the client's retransmitted SYN then opens a new one.
 */
import type { Socket } from '../../api/net.ts';
import type { TcpConnectionRow } from '../../stack/tcp.ts';
import { seqAdd } from '../../tcp/seq.ts';
import {
  type CapturedSegment,
  CLIENT_ADDR,
  Lesson,
  type LessonOptions,
  SERVER_ADDR,
  tcpOf,
  tcpPacket,
} from './sim.ts';

export const LESSON_PORT = 80;
export const CLIENT_PORT = 40_000;

/** What the server's table looked like at one moment of the run. */
export interface Checkpoint {
  label: string;
  at: number;
  /** The server's stack.connections() rows, listener included. */
  server: TcpConnectionRow[];
  /** Connections the server's application had been given (net.Server 'connection'). */
  accepted: number;
}

/** A server that counts what its application sees: connections, and the bytes read. */
class CountingServer {
  accepted = 0;
  received = '';
  errors: string[] = [];
  /** Final rows of connections that left the server's table. */
  readonly gone: TcpConnectionRow[] = [];

  constructor(readonly lesson: Lesson) {
    lesson.server.tcp.onConnectionGone((row) => this.gone.push(row));
  }

  async listen(): Promise<void> {
    const server = this.lesson.server.net.createServer((sock: Socket) => {
      this.accepted++;
      sock.setEncoding('latin1');
      sock.on('data', (d: string) => {
        this.received += d;
      });
      sock.on('error', (e: NodeJS.ErrnoException) => this.errors.push(e.code ?? e.message));
      sock.on('end', () => sock.end());
    });
    await new Promise<void>((resolve) => server.listen(LESSON_PORT, resolve));
  }

  checkpoint(label: string): Checkpoint {
    return {
      label,
      at: this.lesson.clock.now(),
      server: this.lesson.server.connections(),
      accepted: this.accepted,
    };
  }
}

/** A client socket and what happened to it. */
function watchClient(sock: Socket) {
  sock.resume(); // read (and drop) what the server sends, so that 'end' and 'close' come
  const w = { connected: false, closed: false, errors: [] as string[], connectedAt: -1 };
  sock.on('connect', () => {
    w.connected = true;
  });
  sock.on('error', (e: NodeJS.ErrnoException) => w.errors.push(e.code ?? e.message));
  sock.on('close', () => {
    w.closed = true;
  });
  return w;
}

export interface OldDuplicateSynRun {
  /** The client's real ISN, and the old duplicate's (ISN − 10, as RFC 9293's 100 and 90). */
  clientIss: number;
  oldIss: number;
  checkpoints: Checkpoint[];
  /** Server rows of connections that left its table, in order (the old SYN's comes first). */
  gone: TcpConnectionRow[];
  /** What the server's application saw. */
  accepted: number;
  received: string;
  serverErrors: string[];
  clientConnected: boolean;
  clientErrors: string[];
  /** Every segment in and out of the server, as captured there. */
  segments: CapturedSegment[];
}

/** What the old SYN carries: if a two-step open believed it, this would be acted on. */
export const STALE_REQUEST = 'transfer 100 to alice\n';
export const FRESH_REQUEST = 'balance?\n';

/** RFC 9293 Figure 8 with real stacks. `pcapPath`: also write the server's capture there. */
export async function oldDuplicateSyn(o: LessonOptions = {}): Promise<OldDuplicateSynRun> {
  const lesson = new Lesson(o);
  const delay = o.delayMs ?? 1;
  const app = new CountingServer(lesson);
  await app.listen();
  const checkpoints: Checkpoint[] = [];

  // 1. The client sends SYN (ISN 100 in the figure); the network delays it.
  lesson.clientLink.holdIf((p) => tcpOf(p)?.control === 'syn');
  const sock = lesson.client.net.connect({
    port: LESSON_PORT,
    host: SERVER_ADDR,
    localPort: CLIENT_PORT,
  });
  const client = watchClient(sock);
  await lesson.advance(0);
  const held = lesson.clientLink.held[0];
  const realSyn = held === undefined ? null : tcpOf(held);
  if (realSyn === null) throw new Error('the client sent no SYN');
  const clientIss = realSyn.seq;
  const oldIss = seqAdd(clientIss, -10);

  // 2-3. An old duplicate SYN (ISN 90) from an earlier connection between the same ports
  // arrives first. Stale data rides on it, as a two-step open would have to take it.
  // Its options are the real SYN's, but a timestamp from a minute earlier (RFC 7323 §5: a
  // listener has no TS.Recent to check it against, so PAWS cannot reject it either).
  const ts = realSyn.options.timestamp;
  const oldSyn = {
    ...realSyn,
    seq: oldIss,
    options: {
      ...realSyn.options,
      timestamp: ts === null ? null : { tsVal: (ts.tsVal - 60_000) >>> 0, tsEcr: 0 },
    },
    payload: new TextEncoder().encode(STALE_REQUEST),
  };
  lesson.clientLink.inject(tcpPacket(oldSyn, CLIENT_ADDR, SERVER_ADDR));
  await lesson.advance(delay);
  checkpoints.push(app.checkpoint('old SYN arrived; SYN-ACK ack=ISN-9 sent'));

  // 4-5. The SYN-ACK reaches the client, which is in SYN_SENT with ISN 100: it acknowledges
  // 91, not 101, so the client resets it: <SEQ=91><CTL=RST> (RFC 9293 §3.10.7.3).
  await lesson.advance(delay);
  // 6. The reset reaches the server: SYN_RECEIVED from a passive open returns to LISTEN.
  await lesson.advance(delay);
  checkpoints.push(app.checkpoint('RST arrived; back to LISTEN'));

  // 6-8. The real SYN is let go, and the handshake completes as usual.
  lesson.clientLink.holdIf(null);
  lesson.clientLink.release();
  await lesson.until(() => client.connected && app.accepted > 0, 10_000, 'real handshake');
  await lesson.advance(delay);
  checkpoints.push(app.checkpoint('real SYN: ESTABLISHED'));

  // Then a request, and an orderly close from the client.
  sock.end(FRESH_REQUEST);
  await lesson.until(() => client.closed, 10_000, 'close');
  await lesson.advance(2 * delay); // the client's last ACK reaches the server
  checkpoints.push(app.checkpoint('closed'));
  const segments = lesson.segments();
  await lesson.close();
  return {
    clientIss,
    oldIss,
    checkpoints,
    gone: app.gone,
    accepted: app.accepted,
    received: app.received,
    serverErrors: app.errors,
    clientConnected: client.connected,
    clientErrors: client.errors,
    segments,
  };
}

export interface HalfOpenRun {
  /** The first client's ISN, and the rebooted client's. */
  firstIss: number;
  secondIss: number;
  checkpoints: Checkpoint[];
  gone: TcpConnectionRow[];
  accepted: number;
  received: string;
  serverErrors: string[];
  /** The rebooted client's connect: whether it succeeded, and when (virtual ms after its SYN). */
  secondConnected: boolean;
  secondConnectMs: number;
  secondErrors: string[];
  segments: CapturedSegment[];
}

/** RFC 9293 Figure 10 with real stacks. */
export async function halfOpenDiscovery(o: LessonOptions = {}): Promise<HalfOpenRun> {
  const lesson = new Lesson(o);
  const app = new CountingServer(lesson);
  await app.listen();
  const checkpoints: Checkpoint[] = [];
  const isns: number[] = [];
  lesson.clientLink.holdIf((p) => {
    const t = tcpOf(p);
    if (t?.control === 'syn' && t.ack === null) isns.push(t.seq);
    return false;
  });

  // A connection is open and has carried a little data.
  const first = lesson.client.net.connect({
    port: LESSON_PORT,
    host: SERVER_ADDR,
    localPort: CLIENT_PORT,
  });
  const firstWatch = watchClient(first);
  await lesson.until(() => firstWatch.connected && app.accepted === 1, 10_000, 'first open');
  first.write('hello\n');
  await lesson.advance(500);
  checkpoints.push(app.checkpoint('ESTABLISHED both ends'));

  // 1. The client crashes: it forgets the connection; the server does not know.
  const client2 = lesson.rebootClient();
  lesson.clientLink.holdIf((p) => {
    const t = tcpOf(p);
    if (t?.control === 'syn' && t.ack === null) isns.push(t.seq);
    return false;
  });
  await lesson.advance(1000);

  // 2. Back up, it opens again from the same port: SYN with a new ISN. 3. The server,
  // ESTABLISHED, answers with an ACK of what it expects. 4. The client, in SYN_SENT, sees an
  // ACK of nothing it sent and resets. 5. The server's connection is reset and goes.
  const startedAt = lesson.clock.now();
  const second = client2.net.connect({
    port: LESSON_PORT,
    host: SERVER_ADDR,
    localPort: CLIENT_PORT,
  });
  const secondWatch = watchClient(second);
  let connectedAt = -1;
  second.on('connect', () => {
    connectedAt = lesson.clock.now();
  });
  await lesson.until(() => app.gone.length > 0, 10_000, 'half-open connection reset');
  checkpoints.push(app.checkpoint('half-open connection reset'));

  // 6-7. The client's SYN, retransmitted after its RTO, opens a new connection.
  await lesson.until(() => secondWatch.connected && app.accepted === 2, 10_000, 'reopen');
  await lesson.advance(1);
  checkpoints.push(app.checkpoint('new connection ESTABLISHED'));
  second.end('again\n');
  await lesson.until(() => secondWatch.closed, 10_000, 'close');
  await lesson.advance(2 * (o.delayMs ?? 1));
  const segments = lesson.segments();
  await lesson.close();
  return {
    firstIss: isns[0],
    secondIss: isns[1],
    checkpoints,
    gone: app.gone,
    accepted: app.accepted,
    received: app.received,
    serverErrors: app.errors,
    secondConnected: secondWatch.connected,
    secondConnectMs: connectedAt < 0 ? -1 : connectedAt - startedAt,
    secondErrors: secondWatch.errors,
    segments,
  };
}
