/**
 * The one root logger (STYLE.md, Logging): pino, JSON lines on stdout. Subsystems take child
 * loggers from it (`logger.child({ conn })`).
 */
import { type Logger, pino } from 'pino';

export type { Logger };

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export function createLogger(level: LogLevel = 'info'): Logger {
  return pino({ level, base: { pid: process.pid } });
}
