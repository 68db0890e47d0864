/**
 * The packetdrill script language: a lexer and a parser to an AST that keeps line numbers.
 *
 * The grammar follows google/packetdrill's parser.y and lexer.l (gtests/net/packetdrill), reduced
 * to what a TCP-over-IPv4 stack needs:
 *
 *   script   := option* event*
 *   option   := --name[=value]                      (e.g. --tolerance_usecs=10000)
 *   event    := time action | `shell command`      (a command without a time runs at +0)
 *   time     := T | +T | * | T~T | +T~+T            (seconds, integer or decimal: 0, +.1, 1.25)
 *   action   := packet | syscall | `shell command` | %{ python }%
 *   packet   := (<|>) [sport>dport] flags seq [ack N] [win N] [urg N] [<options>]
 *   flags    := any of S F R P U E W followed by an optional '.', or '.' alone, or '-'
 *   seq      := start:end(len)                      (end = start + len, SYN/FIN not counted)
 *   options  := ... | option (, option)*           mss N, wscale N, sackOK, sack L:R L:R..., nop,
 *                                                   eol, TS val N ecr N
 *   syscall  := [...T] name(args) = expr [ERRNO (note words)]
 *
 * Comments are `// to end of line` and `/* ... *\/`. Events are not line-oriented (a long poll()
 * may span lines); each event's line is that of its time, as packetdrill reports it.
 *
 * Our extension, for outbound packets only: `...` where a number is expected (`ack ...`,
 * `win ...`, `TS val ... ecr 100`, `mss ...`) matches any value.
 *
 * `parseScript` throws DrillSyntaxError (with the line) for bad input, and nothing else.
 */

/** Microseconds, as packetdrill keeps times. */
export type Usecs = number;

export type TimeSpec =
  | { kind: 'absolute'; at: Usecs }
  | { kind: 'relative'; at: Usecs }
  | { kind: 'any' }
  | { kind: 'absoluteRange'; at: Usecs; end: Usecs }
  | { kind: 'relativeRange'; at: Usecs; end: Usecs };

/** A number in an outbound expectation may be a wildcard (`...`, our extension): null. */
export type Maybe = number | null;

export type OptionSpec =
  | { kind: 'nop' }
  | { kind: 'eol' }
  | { kind: 'mss'; value: Maybe }
  | { kind: 'wscale'; value: Maybe }
  | { kind: 'sackOK' }
  | { kind: 'sack'; blocks: Array<{ left: number; right: number }> }
  | { kind: 'ts'; val: Maybe; ecr: Maybe }
  /**
   * TCP Fast Open (RFC 7413): `FO` (kind 34) or `FOEXP` (the experimental kind 254 with magic
   * 0xF989), with a cookie in hex or none (a cookie request). Parsed only: tunstack has no TFO, so
   * an inbound one is ignored (as Linux with it off) and an expected outbound one never matches.
   */
  | { kind: 'fastOpen'; exp: boolean; cookie: string };

export interface TcpFlags {
  syn: boolean;
  fin: boolean;
  rst: boolean;
  psh: boolean;
  ack: boolean;
  urg: boolean;
  ece: boolean;
  cwr: boolean;
}

/**
 * packetdrill's ECN codepoint on a packet (`> [ect0] P. 1:1001(1000)`, RFC 3168 §5): the IP
 * header's ECN field to send inbound, or to find outbound (`ect01`: ECT(0) or ECT(1)).
 */
export type EcnCodepoint = 'noecn' | 'ect0' | 'ect1' | 'ect01' | 'ce';
const ECN_CODEPOINTS: readonly string[] = ['noecn', 'ect0', 'ect1', 'ect01', 'ce'];

/** The IP ECN field a codepoint stands for (`ect01`, outbound only, as ECT(0)). */
export function ecnField(c: EcnCodepoint): number {
  return c === 'noecn' ? 0 : c === 'ect1' ? 1 : c === 'ce' ? 3 : 2;
}

/** Whether an outbound packet's ECN field `field` is what codepoint `c` asks for. */
export function ecnMatches(c: EcnCodepoint, field: number): boolean {
  return c === 'ect01' ? field === 1 || field === 2 : field === ecnField(c);
}

/** The codepoint of an ECN field, as packetdrill spells it. */
export function ecnName(field: number): EcnCodepoint {
  return (['noecn', 'ect1', 'ect0', 'ce'] as const)[field & 3];
}

export interface SegmentSpec {
  direction: 'in' | 'out';
  /** The IP ECN field when the script writes one; null: Not-ECT inbound, unchecked outbound. */
  ecn: EcnCodepoint | null;
  /** Ports when the script names them (`< 40000>8080 S ...`), else null. */
  ports: { src: number; dst: number } | null;
  flags: TcpFlags;
  /** The flags as written, for messages. */
  flagText: string;
  seq: number;
  len: number;
  /** The ack number; 0 when no `ack` was written (as packetdrill), null for `ack ...`. */
  ack: Maybe;
  /** Window; null when not written (outbound: not checked) or `win ...`. */
  win: Maybe;
  urg: number;
  /** Options in script order; 'any' for `<...>`. No `<>` at all means no options. */
  options: OptionSpec[] | 'any';
}

export type Expr =
  | { kind: 'int'; value: number }
  | { kind: 'word'; name: string }
  | { kind: 'ellipsis' }
  | { kind: 'string'; value: string; truncated: boolean }
  | { kind: 'list'; items: Expr[] }
  /** `{ a=1, b }`: struct-like braces (pollfd, sockaddr, linger). */
  | { kind: 'struct'; items: Expr[] }
  | { kind: 'assign'; name: string; value: Expr }
  | { kind: 'or'; items: Expr[] }
  /** `htons(8080)`, `inet_addr("10.0.0.1")`. */
  | { kind: 'call'; name: string; args: Expr[] };

export interface SyscallSpec {
  name: string;
  args: Expr[];
  /** For a blocking call: when it must return (`...0.200`), as written; else null. */
  end: Usecs | null;
  result: Expr;
  /** `ECONNREFUSED` in `= -1 ECONNREFUSED (Connection refused)`. */
  errno: string | null;
  note: string | null;
}

interface EventBase {
  line: number;
  time: TimeSpec;
}

export type DrillEvent =
  | (EventBase & { type: 'packet'; segment: SegmentSpec })
  | (EventBase & { type: 'syscall'; call: SyscallSpec })
  | (EventBase & { type: 'command'; command: string })
  | (EventBase & { type: 'code'; code: string });

export interface DrillScript {
  /** `--name=value` lines before the first event (value '' for a bare `--name`). */
  options: Map<string, string>;
  /** A backquoted command before the first event (packetdrill's init command). */
  initCommand: { line: number; command: string } | null;
  events: DrillEvent[];
}

export class DrillSyntaxError extends Error {
  constructor(
    readonly line: number,
    readonly detail: string,
  ) {
    super(`line ${line}: ${detail}`);
    this.name = 'DrillSyntaxError';
  }
}

// ---------------------------------------------------------------------------------------------
// Lexer

type TokKind =
  | 'int'
  | 'float'
  | 'word'
  | 'string'
  | 'backquote'
  | 'code'
  | 'ellipsis'
  | 'option'
  | 'ipv4'
  | 'punct'
  | 'eof';

export interface Token {
  kind: TokKind;
  text: string;
  line: number;
}

const WORD_RE = /[A-Za-z0-9_]+/y;
const FLOAT_RE = /-?[0-9]*\.[0-9]+/y;
const INT_RE = /-?[0-9]+/y;
const HEX_RE = /0x[0-9a-fA-F]+/y;
const IPV4_RE = /[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+/y;
const OPTION_RE = /--[A-Za-z0-9_]+/y;

function matchAt(re: RegExp, s: string, i: number): string | null {
  re.lastIndex = i;
  const m = re.exec(s);
  return m ? m[0] : null;
}

/** Split a script into tokens, as flex would: the longest match wins, earlier rules break ties. */
export function lex(src: string): Token[] {
  const out: Token[] = [];
  let line = 1;
  let i = 0;
  const n = src.length;
  const countLines = (s: string) => {
    for (const c of s) if (c === '\n') line++;
  };
  while (i < n) {
    const c = src[i];
    if (c === '\n') {
      line++;
      i++;
      continue;
    }
    if (c === ' ' || c === '\t' || c === '\r') {
      i++;
      continue;
    }
    if (src.startsWith('//', i)) {
      const e = src.indexOf('\n', i);
      i = e < 0 ? n : e;
      continue;
    }
    if (src.startsWith('/*', i)) {
      const e = src.indexOf('*/', i + 2);
      if (e < 0) throw new DrillSyntaxError(line, 'unterminated /* comment');
      countLines(src.slice(i, e + 2));
      i = e + 2;
      continue;
    }
    if (src.startsWith('%{', i)) {
      const e = src.indexOf('}%', i + 2);
      if (e < 0) throw new DrillSyntaxError(line, 'unterminated %{ code }%');
      out.push({ kind: 'code', text: src.slice(i + 2, e).trim(), line });
      countLines(src.slice(i, e + 2));
      i = e + 2;
      continue;
    }
    if (c === '`' || c === '"') {
      let j = i + 1;
      while (j < n && src[j] !== c) j += src[j] === '\\' ? 2 : 1;
      if (j >= n) throw new DrillSyntaxError(line, `unterminated ${c}`);
      out.push({ kind: c === '`' ? 'backquote' : 'string', text: src.slice(i + 1, j), line });
      countLines(src.slice(i, j + 1));
      i = j + 1;
      continue;
    }
    if (src.startsWith('...', i)) {
      out.push({ kind: 'ellipsis', text: '...', line });
      i += 3;
      continue;
    }
    const opt = matchAt(OPTION_RE, src, i);
    if (opt) {
      out.push({ kind: 'option', text: opt.slice(2), line });
      i += opt.length;
      continue;
    }
    // Numbers, words and addresses compete on length (flex semantics).
    const cands: Array<[TokKind, string | null]> = [
      ['ipv4', matchAt(IPV4_RE, src, i)],
      ['float', matchAt(FLOAT_RE, src, i)],
      ['int', matchAt(HEX_RE, src, i)],
      ['int', matchAt(INT_RE, src, i)],
      ['word', matchAt(WORD_RE, src, i)],
    ];
    let best: [TokKind, string] | null = null;
    for (const [k, t] of cands) if (t && (!best || t.length > best[1].length)) best = [k, t];
    if (best) {
      out.push({ kind: best[0], text: best[1], line });
      i += best[1].length;
      continue;
    }
    out.push({ kind: 'punct', text: c, line });
    i++;
  }
  out.push({ kind: 'eof', text: '', line });
  return out;
}

// ---------------------------------------------------------------------------------------------
// Parser

const FLAG_LETTERS = 'SFRPUEW';

class Parser {
  #i = 0;
  constructor(readonly toks: Token[]) {}

  peek(k = 0): Token {
    return this.toks[Math.min(this.#i + k, this.toks.length - 1)];
  }
  next(): Token {
    const t = this.peek();
    if (t.kind !== 'eof') this.#i++;
    return t;
  }
  isPunct(c: string, k = 0): boolean {
    const t = this.peek(k);
    return t.kind === 'punct' && t.text === c;
  }
  isWord(w: string, k = 0): boolean {
    const t = this.peek(k);
    return t.kind === 'word' && t.text === w;
  }
  fail(detail: string, t: Token = this.peek()): never {
    const near = t.kind === 'eof' ? 'end of script' : `'${t.text}'`;
    throw new DrillSyntaxError(t.line, `${detail} (near ${near})`);
  }
  punct(c: string): Token {
    if (!this.isPunct(c)) this.fail(`expected '${c}'`);
    return this.next();
  }
  word(w?: string): Token {
    const t = this.peek();
    if (t.kind !== 'word' || (w !== undefined && t.text !== w))
      this.fail(`expected ${w ?? 'a word'}`);
    return this.next();
  }
  /** An unsigned integer (decimal or hex) within [0, max]. */
  uint(what: string, max: number): number {
    const t = this.peek();
    if (t.kind !== 'int') this.fail(`expected ${what}`);
    const v = Number(t.text);
    if (!Number.isSafeInteger(v) || v < 0 || v > max) this.fail(`${what} out of range`);
    this.next();
    return v;
  }
  /** An unsigned integer, or `...` (wildcard, null) when allowed. */
  maybeUint(what: string, max: number, wildcard: boolean): Maybe {
    if (wildcard && this.peek().kind === 'ellipsis') {
      this.next();
      return null;
    }
    return this.uint(what, max);
  }
  /** A time in seconds, returned in microseconds. */
  seconds(): Usecs {
    const t = this.peek();
    if (t.kind !== 'int' && t.kind !== 'float') this.fail('expected a time');
    const v = Number(t.text);
    if (!(v >= 0)) this.fail('negative time');
    this.next();
    return Math.round(v * 1e6);
  }

  script(): DrillScript {
    const options = new Map<string, string>();
    while (this.peek().kind === 'option') {
      const name = this.next().text;
      let value = '';
      if (this.isPunct('=')) {
        this.next();
        const parts: string[] = [this.next().text];
        // --define=NAME=value
        while (this.isPunct('=')) parts.push(this.next().text, this.next().text);
        value = parts.join('');
      }
      options.set(name, value);
    }
    let initCommand: DrillScript['initCommand'] = null;
    if (this.peek().kind === 'backquote') {
      const t = this.next();
      initCommand = { line: t.line, command: t.text };
    }
    const events: DrillEvent[] = [];
    while (this.peek().kind !== 'eof') events.push(this.event());
    return { options, initCommand, events };
  }

  time(): TimeSpec {
    if (this.isPunct('*')) {
      this.next();
      return { kind: 'any' };
    }
    if (this.isPunct('+')) {
      this.next();
      const at = this.seconds();
      if (this.isPunct('~')) {
        this.next();
        this.punct('+');
        const end = this.seconds();
        if (end < at) this.fail('time range is backwards');
        return { kind: 'relativeRange', at, end };
      }
      return { kind: 'relative', at };
    }
    const at = this.seconds();
    if (this.isPunct('~')) {
      this.next();
      const end = this.seconds();
      if (end < at) this.fail('time range is backwards');
      return { kind: 'absoluteRange', at, end };
    }
    return { kind: 'absolute', at };
  }

  event(): DrillEvent {
    const line = this.peek().line;
    // A command may stand without a time (Linux's scripts end with one that restores sysctls):
    // it runs with the previous event, as `+0`.
    const time: TimeSpec =
      this.peek().kind === 'backquote' ? { kind: 'relative', at: 0 } : this.time();
    const t = this.peek();
    let ev: DrillEvent;
    if (t.kind === 'punct' && (t.text === '<' || t.text === '>')) {
      ev = { type: 'packet', line, time, segment: this.packet() };
    } else if (t.kind === 'backquote') {
      ev = { type: 'command', line, time, command: this.next().text };
    } else if (t.kind === 'code') {
      ev = { type: 'code', line, time, code: this.next().text };
    } else if (t.kind === 'word' || t.kind === 'ellipsis') {
      ev = { type: 'syscall', line, time, call: this.syscall() };
    } else {
      this.fail('expected a packet, a system call or a command after the time');
    }
    const outbound = ev.type === 'packet' && ev.segment.direction === 'out';
    if (time.kind === 'any' && !outbound)
      throw new DrillSyntaxError(line, 'event time * can only be used with outbound packets');
    if ((time.kind === 'absoluteRange' || time.kind === 'relativeRange') && !outbound)
      throw new DrillSyntaxError(line, 'event time range can only be used with outbound packets');
    return ev;
  }

  packet(): SegmentSpec {
    const dirTok = this.next();
    const direction = dirTok.text === '<' ? 'in' : 'out';
    const wild = direction === 'out';
    let ports: SegmentSpec['ports'] = null;
    if (this.peek().kind === 'int' && this.isPunct('>', 1)) {
      const src = this.uint('source port', 0xffff);
      this.punct('>');
      const dst = this.uint('destination port', 0xffff);
      ports = { src, dst };
    }
    let ecn: EcnCodepoint | null = null;
    if (this.isPunct('[')) {
      this.next();
      const t = this.next();
      if (t.kind !== 'word' || !ECN_CODEPOINTS.includes(t.text))
        this.fail(`expected an ECN codepoint (${ECN_CODEPOINTS.join(', ')})`, t);
      ecn = t.text as EcnCodepoint;
      if (ecn === 'ect01' && direction === 'in')
        this.fail('[ect01] can only be used with outbound packets', t);
      this.punct(']');
    }
    const flagText = this.flags();
    const flags = flagsOf(flagText);
    if (flags === null) this.fail(`invalid TCP flags '${flagText}'`);
    const seqTok = this.peek();
    const seq = this.uint('start sequence number', 0xffffffff);
    this.punct(':');
    const end = this.uint('end sequence number', 0xffffffff);
    this.punct('(');
    const len = this.uint('payload length', 0xffff);
    this.punct(')');
    if (end !== (seq + len) % 2 ** 32)
      this.fail('inconsistent TCP sequence numbers and payload size', seqTok);
    let ack: Maybe = 0;
    let win: Maybe = null;
    let urg = 0;
    if (this.isWord('ack')) {
      this.next();
      ack = this.maybeUint('ack number', 0xffffffff, wild);
    }
    if (this.isWord('win')) {
      this.next();
      win = this.maybeUint('window', 0xffff, wild);
    } else if (direction === 'in') {
      this.fail('window must be specified for inbound packets', dirTok);
    }
    if (this.isWord('urg')) {
      this.next();
      urg = this.uint('urgent pointer', 0xffff);
    }
    let options: SegmentSpec['options'] = [];
    if (this.isPunct('<')) {
      this.next();
      if (this.peek().kind === 'ellipsis') {
        if (direction === 'in')
          this.fail('<...> for TCP options can only be used with outbound packets');
        this.next();
        options = 'any';
      } else {
        options = [this.option(wild)];
        while (this.isPunct(',')) {
          this.next();
          options.push(this.option(wild));
        }
        const bytes = options.reduce((n, o) => n + optionBytes(o), 0);
        if (bytes % 4 !== 0)
          this.fail(`TCP options are not padded to a multiple of 4 bytes (${bytes} bytes)`, dirTok);
        if (bytes > 40) this.fail(`TCP options too long (${bytes} bytes, at most 40)`, dirTok);
      }
      this.punct('>');
    }
    return { direction, ecn, ports, flags, flagText, seq, len, ack, win, urg, options };
  }

  /** Flags: `S`, `S.`, `.`, `P.`, `F.`, `R`, `-` ... */
  flags(): string {
    const t = this.peek();
    if (t.kind === 'punct' && (t.text === '.' || t.text === '-')) {
      this.next();
      return t.text;
    }
    if (t.kind !== 'word') this.fail('expected TCP flags');
    this.next();
    let text = t.text;
    if (this.isPunct('.')) {
      this.next();
      text += '.';
    }
    return text;
  }

  option(wild: boolean): OptionSpec {
    const t = this.word();
    switch (t.text) {
      case 'nop':
        return { kind: 'nop' };
      case 'eol':
        return { kind: 'eol' };
      case 'mss':
        return { kind: 'mss', value: this.maybeUint('mss value', 0xffff, wild) };
      case 'wscale':
        return { kind: 'wscale', value: this.maybeUint('window scale shift count', 0xff, wild) };
      case 'sackOK':
        return { kind: 'sackOK' };
      case 'sack': {
        const blocks: Array<{ left: number; right: number }> = [];
        while (this.peek().kind === 'int' && this.isPunct(':', 1)) {
          const left = this.uint('SACK left edge', 0xffffffff);
          this.punct(':');
          const right = this.uint('SACK right edge', 0xffffffff);
          blocks.push({ left, right });
        }
        if (blocks.length === 0) this.fail('expected SACK blocks L:R');
        return { kind: 'sack', blocks };
      }
      case 'FO':
      case 'FOEXP': {
        // The cookie's hex digits may lex as several tokens (`0123abcd`: an int, then a word).
        let cookie = '';
        while (
          (this.peek().kind === 'int' || this.peek().kind === 'word') &&
          /^[0-9a-fA-F]+$/.test(this.peek().text)
        )
          cookie += this.next().text;
        if (cookie.length % 2 !== 0 || cookie.length > 32)
          this.fail('a TFO cookie is an even number of hex digits, at most 16 bytes', t);
        return { kind: 'fastOpen', exp: t.text === 'FOEXP', cookie: cookie.toLowerCase() };
      }
      case 'TS': {
        this.word('val');
        const val = this.maybeUint('TS val', 0xffffffff, wild);
        this.word('ecr');
        const ecr = this.maybeUint('TS ecr', 0xffffffff, wild);
        return { kind: 'ts', val, ecr };
      }
      default:
        return this.fail(`unsupported TCP option '${t.text}'`, t);
    }
  }

  syscall(): SyscallSpec {
    let end: Usecs | null = null;
    if (this.peek().kind === 'ellipsis') {
      this.next();
      end = this.seconds();
    }
    const name = this.word().text;
    this.punct('(');
    const args = this.exprList(')');
    this.punct('=');
    const result = this.expr();
    let errno: string | null = null;
    let note: string | null = null;
    if (this.peek().kind === 'word' && /^E[A-Z0-9]+$/.test(this.peek().text)) {
      errno = this.next().text;
    }
    if (this.isPunct('(')) note = this.note();
    return { name, args, end, result, errno, note };
  }

  /** `(Connection refused)`: the words between the parentheses, as written. */
  note(): string {
    const open = this.punct('(');
    const words: string[] = [];
    let depth = 1;
    for (;;) {
      const t = this.next();
      if (t.kind === 'eof') this.fail('unterminated note', open);
      if (t.kind === 'punct' && t.text === '(') depth++;
      if (t.kind === 'punct' && t.text === ')' && --depth === 0) break;
      words.push(t.text);
    }
    return words.join(' ');
  }

  /** `expr (, expr)*` up to and including the closing `close`; empty when it comes first. */
  exprList(close: string): Expr[] {
    const items: Expr[] = [];
    if (!this.isPunct(close)) {
      items.push(this.expr());
      while (this.isPunct(',')) {
        this.next();
        items.push(this.expr());
      }
    }
    this.punct(close);
    return items;
  }

  expr(): Expr {
    const first = this.primary();
    if (!this.isPunct('|')) return first;
    const items = [first];
    while (this.isPunct('|')) {
      this.next();
      items.push(this.primary());
    }
    return { kind: 'or', items };
  }

  primary(): Expr {
    const t = this.peek();
    switch (t.kind) {
      case 'ellipsis':
        this.next();
        return { kind: 'ellipsis' };
      case 'int': {
        this.next();
        const value = Number(t.text);
        if (!Number.isSafeInteger(value)) this.fail('integer out of range', t);
        return { kind: 'int', value };
      }
      case 'string': {
        let value = this.next().text;
        while (this.peek().kind === 'string') value += this.next().text;
        let truncated = false;
        if (this.peek().kind === 'ellipsis') {
          this.next();
          truncated = true;
        }
        return { kind: 'string', value, truncated };
      }
      case 'word': {
        this.next();
        if (this.isPunct('=') && !this.isPunct('=', 1)) {
          this.next();
          return { kind: 'assign', name: t.text, value: this.expr() };
        }
        if (this.isPunct('(')) {
          this.next();
          const args = this.exprList(')');
          // A msghdr's `msg_iov(2)=[...]` and `msg_name(...)=...`: the count only documents.
          if (this.isPunct('=') && !this.isPunct('=', 1)) {
            this.next();
            return { kind: 'assign', name: t.text, value: this.expr() };
          }
          return { kind: 'call', name: t.text, args };
        }
        return { kind: 'word', name: t.text };
      }
      case 'punct':
        if (t.text === '[' || t.text === '{') {
          const close = t.text === '[' ? ']' : '}';
          this.next();
          const items = this.exprList(close);
          return t.text === '[' ? { kind: 'list', items } : { kind: 'struct', items };
        }
        break;
    }
    return this.fail('expected an expression');
  }
}

/** The flags of a flag string, or null when it has a letter packetdrill does not know. */
export function flagsOf(text: string): TcpFlags | null {
  const f: TcpFlags = {
    syn: false,
    fin: false,
    rst: false,
    psh: false,
    ack: false,
    urg: false,
    ece: false,
    cwr: false,
  };
  if (text === '-') return f;
  for (const c of text) {
    if (c === '.') f.ack = true;
    else if (!FLAG_LETTERS.includes(c)) return null;
    else if (c === 'S') f.syn = true;
    else if (c === 'F') f.fin = true;
    else if (c === 'R') f.rst = true;
    else if (c === 'P') f.psh = true;
    else if (c === 'U') f.urg = true;
    else if (c === 'E') f.ece = true;
    else if (c === 'W') f.cwr = true;
  }
  return f;
}

/** Bytes an option takes on the wire (RFC 9293 §3.2, RFC 2018, RFC 7323). */
export function optionBytes(o: OptionSpec): number {
  switch (o.kind) {
    case 'nop':
    case 'eol':
      return 1;
    case 'mss':
      return 4;
    case 'wscale':
      return 3;
    case 'sackOK':
      return 2;
    case 'sack':
      return 2 + 8 * o.blocks.length;
    case 'ts':
      return 10;
    case 'fastOpen':
      return (o.exp ? 4 : 2) + o.cookie.length / 2;
  }
}

/** Parse a whole script. Throws DrillSyntaxError (with the line) on the first error. */
export function parseScript(src: string): DrillScript {
  return new Parser(lex(src)).script();
}
