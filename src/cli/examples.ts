/**
 * The examples at the end of `tunstack --help` and of each command's help (commander's
 * addHelpText). One table, so that a command without examples is easy to see (a unit test
 * checks every command has some).
 */
import type { Command } from 'commander';

/** A command line and what it does. */
export type Example = readonly [cmd: string, what: string];

export const PROGRAM_EXAMPLES: readonly Example[] = [
  ['tunstack up', 'the stack at 10.0.0.2 and fd00::2, its device in namespace "tunstack"'],
  ['ip netns exec tunstack curl http://10.0.0.2/', 'from another terminal: talk to it'],
  ['tunstack ss -i', 'its TCP connections, with rtt, cwnd and state history'],
  ['tunstack ladder docs/ladder-curl.pcap', 'a capture drawn as a ladder diagram'],
  ['tunstack relay -- curl -sI http://example.org/', 'a command networked through the stack'],
  ['tunstack drill test/drill', 'packetdrill scripts against the TCP core'],
  ['tunstack help up', "a command's options and examples"],
];

export const COMMAND_EXAMPLES: Readonly<Record<string, readonly Example[]>> = {
  up: [
    ['tunstack up', 'the default apps at 10.0.0.2 (and ping -6 fd00::2); Ctrl-C removes it all'],
    ['tunstack up --no-ipv6', 'IPv4 only: IPv6 stays disabled on the device'],
    ['tunstack up --apps http,styles', 'only the HTTP app (80) and the styles page (8080-8085)'],
    ['tunstack up --log-format json', 'JSON log lines even at a terminal'],
    ['tunstack up --pcap /tmp/t.pcap', 'record every packet (tcpdump -r /tmp/t.pcap)'],
    ['tunstack up --record 500', 'keep the last 500 packets for `tunstack ladder --live`'],
    ['tunstack up --impair loss=5%,delay=20ms,seed=7', 'a lossy, slow link, reproducibly'],
    ['tunstack up --congestion reno --no-tlp', "Reno, no tail loss probes (the RFCs' defaults)"],
    ['tunstack up --ecn', 'ask for ECN on our connects too (it is accepted anyway)'],
    ['ip netns exec tunstack ping -c 3 10.0.0.2', 'then, from another terminal'],
    ['kill -USR1 PID', "print the stack's counters (USR2: the connection table)"],
  ],
  relay: [
    [
      'tunstack relay -- curl -sO http://10.9.0.1/f',
      'run curl in a namespace networked by tunstack',
    ],
    ['tunstack relay --netns demo', 'stay up; then `ip netns exec demo curl …` from elsewhere'],
    ['tunstack ss --netns demo', 'its connections, and each relayed flow with both sides'],
    ['tunstack relay --dns 10.9.0.53 -- getent hosts x.test', 'resolve through a given resolver'],
    ['tunstack relay --record 2000 -- curl …', 'then `tunstack ladder --live --netns …`'],
  ],
  ss: [
    ['tunstack ss', 'the connection table of the stack in netns tunstack'],
    ['tunstack ss -i', 'with rto, rtt, cwnd, bytes, retransmits and state history'],
    ['tunstack ss --netns demo --json', 'the stack of `tunstack up --netns demo`, as JSON'],
  ],
  drill: [
    ['tunstack drill test/drill', 'every script in the folder, against the TCP core'],
    ['tunstack drill --trace test/drill/active-open.pkt', 'one script, each segment as it goes'],
    ['tunstack drill --target stack test/drill', 'the same scripts against a whole Stack'],
    ['tunstack drill --profile linux test/drill/linux', "choose as Linux does; Linux's scripts"],
    ['tunstack drill --ip_version=ipv6 test/drill', 'the same scripts over IPv6 (MTU 1520)'],
  ],
  ladder: [
    ['tunstack ladder docs/ladder-curl.pcap', 'the first connection in a capture'],
    ['tunstack ladder /tmp/t.pcap --list', 'which connections the capture holds'],
    ['tunstack ladder /tmp/t.pcap --conn 2 --svg /tmp/c2.svg', 'the second, also as SVG'],
    ['tunstack ladder --live', 'the last packets of `tunstack up --record K`'],
  ],
};

/** "Examples:" and one example a line, the comments aligned. */
export function formatExamples(examples: readonly Example[]): string {
  const width = Math.max(...examples.map(([cmd]) => cmd.length));
  return `\nExamples:\n${examples.map(([cmd, what]) => `  ${cmd.padEnd(width)}  # ${what}`).join('\n')}\n`;
}

/** How to run the command from a checkout, after the program's examples. */
const RUN_FROM_CHECKOUT =
  '\n`tunstack` is bin/tunstack.js; in a checkout, `npm run tunstack -- ARGS`\nor ' +
  '`npx tsx src/cli/main.ts ARGS` runs it (as root for up).\n';

/** Add the examples after the program's help and after each command's that has some. */
export function addExamples(program: Command): void {
  program.addHelpText('after', formatExamples(PROGRAM_EXAMPLES) + RUN_FROM_CHECKOUT);
  for (const cmd of program.commands) {
    const examples = COMMAND_EXAMPLES[cmd.name()];
    if (examples !== undefined) cmd.addHelpText('after', formatExamples(examples));
  }
}
