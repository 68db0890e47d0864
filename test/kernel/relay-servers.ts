/**
 * The servers of test/kernel/relay.test.ts, run inside the test's egress namespace
 * (`ip netns exec EGRESS node --import tsx relay-servers.ts ADDR FILE`), all on ADDR:
 *
 *   TCP 8080  HTTP: GET /file streams FILE; POST /upload answers "<sha256> <length>" of the body;
 *             GET /release lets the slow sink start reading
 *   TCP 8082  a slow sink: reads nothing until /release, then counts; prints "slow <bytes>" at end
 *   TCP 8083  echo
 *   UDP 53    a minimal DNS server: A relay.test → ADDR, anything else NXDOMAIN (no dnsmasq here)
 *
 * Prints "ready" once every port listens.
 */
import { createHash } from 'node:crypto';
import * as dgram from 'node:dgram';
import { createReadStream } from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';

const [addr, file] = process.argv.slice(2);
const held: net.Socket[] = [];
let released = false;

const web = http.createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/file') {
    createReadStream(file).pipe(res);
    return;
  }
  if (req.method === 'POST' && req.url === '/upload') {
    const h = createHash('sha256');
    let n = 0;
    req.on('data', (d: Buffer) => {
      h.update(d);
      n += d.length;
    });
    req.on('end', () => res.end(`${h.digest('hex')} ${n}\n`));
    return;
  }
  if (req.url === '/release') {
    released = true;
    for (const s of held.splice(0)) s.resume();
    res.end('released\n');
    return;
  }
  res.statusCode = 404;
  res.end('not found\n');
});

const slow = net.createServer({ pauseOnConnect: true }, (s) => {
  let n = 0;
  s.on('data', (d: Buffer) => {
    n += d.length;
  });
  s.on('end', () => {
    process.stdout.write(`slow ${n}\n`);
    s.end(`${n}\n`);
  });
  s.on('error', () => {});
  if (released) s.resume();
  else held.push(s);
});

const echo = net.createServer((s) => {
  s.on('error', () => {});
  s.pipe(s);
});

/** The answer to a DNS query (RFC 1035 §4.1): one A record for relay.test, else NXDOMAIN. */
function dnsAnswer(q: Buffer): Buffer | null {
  if (q.length < 12) return null;
  let i = 12;
  const labels: string[] = [];
  while (i < q.length && q[i] !== 0) {
    labels.push(q.subarray(i + 1, i + 1 + q[i]).toString());
    i += q[i] + 1;
  }
  const qEnd = i + 5; // the 0 byte, QTYPE, QCLASS
  if (qEnd > q.length) return null;
  const name = labels.join('.').toLowerCase();
  const qtype = q.readUInt16BE(i + 1);
  const found = name === 'relay.test';
  const header = Buffer.alloc(12);
  q.copy(header, 0, 0, 2); // ID
  header.writeUInt16BE(0x8180 | (found ? 0 : 3), 2); // QR, RD, RA; RCODE NXDOMAIN when unknown
  header.writeUInt16BE(1, 4); // QDCOUNT
  const withA = found && qtype === 1;
  header.writeUInt16BE(withA ? 1 : 0, 6); // ANCOUNT
  const question = q.subarray(12, qEnd);
  if (!withA) return Buffer.concat([header, question]);
  const rr = Buffer.alloc(16);
  rr.writeUInt16BE(0xc00c, 0); // the name: a pointer to the question's
  rr.writeUInt16BE(1, 2); // A
  rr.writeUInt16BE(1, 4); // IN
  rr.writeUInt32BE(60, 6); // TTL
  rr.writeUInt16BE(4, 10);
  Buffer.from(addr.split('.').map(Number)).copy(rr, 12);
  return Buffer.concat([header, question, rr]);
}

const dns = dgram.createSocket('udp4');
dns.on('message', (msg, rinfo) => {
  const a = dnsAnswer(msg);
  if (a !== null) dns.send(a, rinfo.port, rinfo.address);
});

let listening = 0;
const up = () => {
  if (++listening === 4) process.stdout.write('ready\n');
};
web.listen(8080, addr, up);
slow.listen(8082, addr, up);
echo.listen({ port: 8083, host: addr, backlog: 4096 }, up);
dns.bind(53, addr, up);
