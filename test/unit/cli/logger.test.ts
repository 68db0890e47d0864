/**
 * The root logger's two formats: pretty lines for a person (time, level, message, then the
 * fields), JSON lines for a pipe; and which one `tunstack up` picks by default.
 */
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, defaultLogFormat, type LogFormat } from '../../../src/cli/logger.ts';

/** Log three records in `format` and return the text written. */
function logged(format: LogFormat): string {
  const out = new PassThrough();
  let text = '';
  out.on('data', (d: Buffer) => {
    text += d.toString();
  });
  const logger = createLogger('info', format, { destination: out });
  logger.info({ netns: 'ns1' }, 'created network namespace');
  logger.warn('not root');
  logger.debug('below the level');
  logger.flush();
  return text;
}

describe('createLogger', () => {
  it('pretty: one human line per record, fields after the message, no colour off a terminal', () => {
    const lines = logged('pretty').trimEnd().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(
      /^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: created network namespace \{"netns":"ns1"\}$/,
    );
    expect(lines[1]).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] WARN: not root$/);
    for (const l of lines) expect(() => JSON.parse(l)).toThrow();
    // biome-ignore lint/suspicious/noControlCharactersInRegex: looking for ANSI escapes
    expect(lines.join('\n')).not.toMatch(/\u001b\[/);
  });

  it('json: one JSON object per record, with level, time, pid and the fields', () => {
    const records = logged('json')
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(records).toHaveLength(2);
    expect(records[0]).toMatchObject({
      level: 30,
      pid: process.pid,
      netns: 'ns1',
      msg: 'created network namespace',
    });
    expect(typeof records[0].time).toBe('number');
    expect(records[1]).toMatchObject({ level: 40, msg: 'not root' });
  });
});

describe('defaultLogFormat', () => {
  it('is pretty on a terminal and JSON on anything else', () => {
    expect(defaultLogFormat({ isTTY: true })).toBe('pretty');
    expect(defaultLogFormat({ isTTY: false })).toBe('json');
    expect(defaultLogFormat({})).toBe('json');
  });
});
