/**
 * The one root logger (STYLE.md, Logging): pino. Subsystems take child loggers from it
 * (`logger.child({ conn })`).
 *
 * Two formats: `json`, pino's own JSON lines, for a pipe, a file or a log collector; `pretty`,
 * one readable line per record (time, level, message, then the fields), for a person at a
 * terminal. `tunstack up` picks pretty when stdout is a terminal and JSON otherwise, unless
 * `--log-format` says which.
 */
import { type DestinationStream, type Logger, pino } from 'pino';
import pretty from 'pino-pretty';

export type { Logger };

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export const LOG_FORMATS = ['json', 'pretty'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

/** Pretty for a person at a terminal, JSON for anything else (a pipe, a file). */
export function defaultLogFormat(out: { isTTY?: boolean } = process.stdout): LogFormat {
  return isTerminal(out) ? 'pretty' : 'json';
}

function isTerminal(out: { isTTY?: boolean }): boolean {
  return out.isTTY === true;
}

export interface LoggerOptions {
  /** Where the lines go (default stdout). */
  destination?: NodeJS.WritableStream & { isTTY?: boolean };
  /** Pretty only: colours (default: when the destination is a terminal). */
  colorize?: boolean;
}

export function createLogger(
  level: LogLevel = 'info',
  format: LogFormat = 'json',
  options: LoggerOptions = {},
): Logger {
  const base = { level, base: { pid: process.pid } };
  const out = options.destination;
  if (format === 'json')
    return out === undefined ? pino(base) : pino(base, out as DestinationStream);
  const stream = pretty({
    colorize: options.colorize ?? isTerminal(out ?? process.stdout),
    translateTime: 'SYS:HH:MM:ss.l',
    ignore: 'pid,hostname',
    // The fields after the message on the same line: the start-up lines stay few and short.
    singleLine: true,
    // Written in this thread as it is logged: the lines before an exit are not lost.
    sync: true,
    ...(out === undefined ? {} : { destination: out }),
  });
  return pino(base, stream);
}
