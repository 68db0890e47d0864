/**
 * Shell lines in backquotes. We never run them; we read the settings they make on Linux and hand
 * those to the target, which maps the ones it has an equivalent for onto its options:
 *
 *   sysctl -q net.ipv4.tcp_timestamps=0            -> tcp_timestamps = 0
 *   sysctl -w net.ipv4.tcp_sack=0                  -> tcp_sack = 0
 *   echo 0 > /proc/sys/net/ipv4/tcp_window_scaling -> tcp_window_scaling = 0
 *   ip route change ... initcwnd 10 rto_min 200ms  -> initcwnd = 10, rto_min = 200ms
 *
 * Anything else (`../common/defaults.sh`, tc, ethtool) yields no setting and a warning.
 */
import type { TcpConnectionOptions } from '../tcp/options.ts';

export interface Setting {
  /** The sysctl's last component (`tcp_sack`) or the route attribute (`initcwnd`). */
  name: string;
  value: string;
}

const ROUTE_ATTRS = new Set(['initcwnd', 'initrwnd', 'rto_min', 'mtu', 'advmss', 'quickack']);

/** The settings a shell command makes; empty when it makes none we can read. */
export function settingsOf(command: string): Setting[] {
  const out: Setting[] = [];
  for (const raw of command.split(/[;\n]|&&/)) {
    const words = shellWords(raw);
    if (words.length === 0) continue;
    if (words[0] === 'sysctl') {
      for (const w of words.slice(1)) {
        const m = /^net\.ipv4\.([A-Za-z0-9_]+)=(.+)$/.exec(w);
        if (m) out.push({ name: m[1], value: m[2] });
      }
    } else if (words[0].endsWith('set_sysctls.py')) {
      // packetdrill's gtests/net/tcp/common/set_sysctls.py /proc/sys/net/ipv4/NAME=VALUE ...
      for (const w of words.slice(1)) {
        const m = /^\/proc\/sys\/net\/ipv4\/([A-Za-z0-9_]+)=(.+)$/.exec(w);
        if (m) out.push({ name: m[1], value: m[2] });
      }
    } else if (words[0] === 'echo') {
      const gt = words.indexOf('>');
      const path = words[gt + 1] ?? '';
      const m = /^\/proc\/sys\/net\/ipv4\/([A-Za-z0-9_]+)$/.exec(path);
      if (gt > 1 && m) out.push({ name: m[1], value: words.slice(1, gt).join(' ') });
    } else if (words[0] === 'ip' && words[1] === 'route') {
      for (let i = 2; i < words.length - 1; i++)
        if (ROUTE_ATTRS.has(words[i])) out.push({ name: words[i], value: words[i + 1] });
    }
  }
  return out;
}

/** A command line's words as a shell splits them: quotes group and vanish, `#` starts a comment. */
export function shellWords(line: string): string[] {
  const words: string[] = [];
  let word: string | null = null;
  let quote: string | null = null;
  for (const c of line) {
    if (quote !== null) {
      if (c === quote) quote = null;
      else word += c;
    } else if (c === '"' || c === "'") {
      quote = c;
      word ??= '';
    } else if (c === ' ' || c === '\t') {
      if (word !== null) words.push(word);
      word = null;
    } else if (c === '#' && word === null) {
      break;
    } else {
      word = (word ?? '') + c;
    }
  }
  if (word !== null) words.push(word);
  return words;
}

/** `200ms`, `1s`, `200` (ms) as milliseconds, or null. */
export function durationMs(v: string): number | null {
  const m = /^([0-9.]+)(ms|s)?$/.exec(v);
  if (!m) return null;
  const n = Number(m[1]);
  return m[2] === 's' ? n * 1000 : n;
}

/** What a target's listeners take from the script's sysctls, beside connection options. */
export interface ListenerSettings {
  /** net.ipv4.tcp_syncookies: 0, 1 (Linux's default) or 2. */
  synCookies: 0 | 1 | 2;
  /** net.ipv4.tcp_max_syn_backlog: the SYN queue's bound (tunstack's synBacklog). */
  synBacklog: number;
}

export const DEFAULT_LISTENER_SETTINGS: Readonly<ListenerSettings> = Object.freeze({
  synCookies: 1,
  synBacklog: 128,
});

/**
 * Map a Linux sysctl onto listener settings (`tcp_syncookies`, `tcp_max_syn_backlog`). False
 * when it is not one of those, or its value is out of range.
 */
export function applyListenerSetting(l: ListenerSettings, name: string, value: string): boolean {
  const n = Number(value.trim());
  switch (name) {
    case 'tcp_syncookies':
      if (n !== 0 && n !== 1 && n !== 2) return false;
      l.synCookies = n;
      return true;
    case 'tcp_max_syn_backlog':
      if (!(Number.isInteger(n) && n >= 1)) return false;
      l.synBacklog = n;
      return true;
    default:
      return false;
  }
}

/**
 * Map a Linux setting onto connection options: a sysctl by its last name (`tcp_sack`) or a route
 * attribute (`initcwnd`, `rto_min`). False when tunstack has no equivalent.
 */
export function applySetting(o: TcpConnectionOptions, name: string, value: string): boolean {
  const n = Number(value);
  const on = value.trim() !== '0';
  switch (name) {
    case 'tcp_timestamps':
      o.timestamps = on;
      return true;
    case 'tcp_sack':
      o.sack = on;
      return true;
    case 'tcp_window_scaling':
      o.windowScale = on;
      return true;
    case 'tcp_syn_retries':
    case 'tcp_synack_retries':
      o.synRetries = n;
      return true;
    case 'tcp_retries2':
      o.maxRetries = n;
      return true;
    case 'tcp_fin_timeout':
      o.finWait2Ms = n * 1000;
      return true;
    case 'tcp_keepalive_time':
      o.keepAliveIdleMs = n * 1000;
      return true;
    case 'tcp_keepalive_intvl':
      o.keepAliveIntervalMs = n * 1000;
      return true;
    case 'tcp_keepalive_probes':
      o.keepAliveCount = n;
      return true;
    case 'tcp_rmem':
    case 'tcp_wmem': {
      const mid = Number(value.trim().split(/\s+/)[1]);
      if (!(mid > 0)) return false;
      if (name === 'tcp_rmem') o.rcvBuf = mid;
      else o.sndBuf = mid;
      return true;
    }
    case 'tcp_ecn':
      // 0 never, 1 ask and accept, 2 accept (src/tcp/ecn.ts); Linux's AccECN modes (3+) are not here.
      if (n !== 0 && n !== 1 && n !== 2) return false;
      o.ecn = n;
      return true;
    case 'tcp_congestion_control':
      if (value !== 'reno' && value !== 'cubic') return false;
      o.congestion = value;
      return true;
    case 'initcwnd':
      o.initialWindow = n;
      return true;
    case 'rto_min': {
      const ms = durationMs(value);
      if (ms === null) return false;
      o.minRto = ms;
      return true;
    }
    default:
      return false;
  }
}
