/**
 * What `tunstack up` tells a person once the stack is up: the ready line first, then one command
 * a line (ping, curl, the styles page when that app runs, `tunstack ss`), each run where the
 * stack can be reached; and the same commands in the JSON record's message.
 */
import { describe, expect, it } from 'vitest';
import {
  checkAddresses6,
  readyMessage,
  readyText,
  tryCommands,
  type UpOptions,
} from '../../../src/cli/up.ts';

const base: UpOptions = {
  netns: 'tunstack',
  dev: 'tun0',
  addr: '10.0.0.2',
  hostAddr: '10.0.0.1/24',
  mtu: 1500,
  batch: 64,
  apps: ['echo', 'http', 'styles'],
  logLevel: 'info',
};

describe('readyText', () => {
  it('starts with the ready line, then the commands to try, one a line', () => {
    const lines = readyText(base, 'tun0').trimEnd().split('\n');
    expect(lines[0]).toBe(
      'ready: stack 10.0.0.2 on tun0 in netns tunstack (host side 10.0.0.1/24)',
    );
    expect(lines[1]).toBe('try, from another terminal:');
    const cmds = lines.slice(2, -1).map((l) => l.split('  #')[0].trim());
    expect(cmds).toEqual([
      'ip netns exec tunstack ping 10.0.0.2',
      'ip netns exec tunstack curl http://10.0.0.2/',
      'ip netns exec tunstack chromium --no-sandbox http://10.0.0.2:8080/',
      'tunstack ss -i',
    ]);
    // Plain text: no JSON, no escapes.
    expect(() => JSON.parse(lines[0])).toThrow();
    // biome-ignore lint/suspicious/noControlCharactersInRegex: looking for ANSI escapes
    expect(lines.join('\n')).not.toMatch(/\u001b/);
  });

  it('names the styles page only when the styles app runs, and the namespace for ss', () => {
    const cmds = tryCommands({ ...base, netns: 'demo', apps: ['http'] }).map((t) => t.cmd);
    expect(cmds.some((c) => c.includes(':8080'))).toBe(false);
    expect(cmds).toContain('tunstack ss -i --netns demo');
  });

  it('in a container, runs the commands without ip netns exec', () => {
    const text = readyText({ ...base, inContainer: true }, 'tun0');
    expect(text).toContain("in this container's namespace");
    expect(text).toContain('  ping 10.0.0.2');
    expect(text).not.toContain('ip netns');
  });
});

describe('readyMessage', () => {
  it('carries the same commands on one line for the JSON record', () => {
    const msg = readyMessage(base, 'tun0');
    expect(msg.startsWith('ready: stack 10.0.0.2 on tun0')).toBe(true);
    for (const t of tryCommands(base)) expect(msg).toContain(t.cmd);
  });
});

describe('dual stack', () => {
  const dual: UpOptions = { ...base, addr6: 'fd00::2', hostAddr6: 'fd00::1/64' };

  it('names both addresses on the ready line and offers ping -6', () => {
    const lines = readyText(dual, 'tun0').trimEnd().split('\n');
    expect(lines[0]).toBe(
      'ready: stack 10.0.0.2 and fd00::2 on tun0 in netns tunstack (host side 10.0.0.1/24, fd00::1/64)',
    );
    const cmds = tryCommands(dual).map((t) => t.cmd);
    expect(cmds.slice(0, 2)).toEqual([
      'ip netns exec tunstack ping 10.0.0.2',
      'ip netns exec tunstack ping -6 fd00::2',
    ]);
    expect(readyMessage(dual, 'tun0')).toContain('ip netns exec tunstack ping -6 fd00::2');
    expect(cmds).toContain('ip netns exec tunstack curl -6 http://[fd00::2]/');
    expect(
      tryCommands(base)
        .map((t) => t.cmd)
        .join(' '),
    ).not.toContain('curl -6');
  });

  it('checks --addr6 and --host-addr6', () => {
    expect(() => checkAddresses6(dual)).not.toThrow();
    expect(() => checkAddresses6({ addr6: undefined })).not.toThrow(); // --no-ipv6
    expect(() => checkAddresses6({ ...dual, addr6: 'fd00::2::' })).toThrow(/--addr6/);
    expect(() => checkAddresses6({ ...dual, addr6: 'ff02::1' })).toThrow(/--addr6/);
    expect(() => checkAddresses6({ ...dual, hostAddr6: 'fd00::1' })).toThrow(/--host-addr6/);
    expect(() => checkAddresses6({ ...dual, hostAddr6: 'fd00::1/128' })).toThrow(/--host-addr6/);
    expect(() => checkAddresses6({ ...dual, hostAddr6: 'fd00::2/64' })).toThrow(/differ/);
    expect(() => checkAddresses6({ ...dual, hostAddr6: 'fd01::1/64' })).toThrow(/not inside/);
    expect(() => checkAddresses6({ ...dual, hostAddr6: 'fd01::1/7' })).not.toThrow();
  });
});
