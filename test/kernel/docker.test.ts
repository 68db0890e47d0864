/**
 * The Dockerfile as docs/docker.md uses it: scripts/docker-test.sh builds the image with a private
 * Docker engine of its own (no bridge, no iptables: nothing in the root namespace), runs
 * `tunstack up --in-container` in a `--network none` container (dual-stack: IPv6 switched on for
 * its devices by two sysctls), and from inside that container pings the stack and curls it over
 * IPv4 and IPv6 (ping -6 fd00::2, curl -6 http://[fd00::2]/), checks `tunstack ss` and a tcpdump
 * of tun0 (echo replies and TCP segments in both families), then stops it with `docker stop` and
 * removes everything it made. This test runs the script and holds it to its verdict.
 *
 * Skips: as every kernel test (harness.ts) without root or /dev/net/tun; and also in CI when the
 * script finds that no Docker engine can run on this machine at all (exit 77, with a line
 * "SKIP: <why>"). Any other non-zero exit is a failure.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { kernelDescribe } from './harness.ts';

const SCRIPT = fileURLToPath(new URL('../../scripts/docker-test.sh', import.meta.url));
/** The script's own bound on the whole run, seconds (it stops and cleans up by itself). */
const LIMIT_S = 600;
/** The script's exit status for "no Docker engine can run here" (automake's SKIP). */
const EXIT_SKIP = 77;

function runScript(): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [SCRIPT], {
      env: { ...process.env, TUNSTACK_DOCKER_TIMEOUT: String(LIMIT_S) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    const keep = (d: Buffer) => {
      output += d.toString();
      // Bounded: the build log stays in a file; what comes here is the summary and the failure.
      if (output.length > 1_000_000) output = output.slice(-500_000);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output }));
  });
}

kernelDescribe('docker: the image builds and the stack answers inside a container', () => {
  it(
    'ping, ping -6, curl, curl -6, tunstack ss and tcpdump in a --network none container; docker stop exits 0',
    async (ctx) => {
      const { code, output } = await runScript();
      const skip = /^SKIP: (.*)$/m.exec(output);
      if (code === EXIT_SKIP && skip !== null) {
        console.log(`[kernel] skipping docker: ${skip[1]}`);
        ctx.skip();
        return;
      }
      // The script's progress lines, with the time of each step, for the CI log.
      console.log(
        output
          .split('\n')
          .filter((l) => l.startsWith('[docker-test') || l.startsWith('FAIL'))
          .join('\n'),
      );
      expect(code, output.slice(-6000)).toBe(0);
      expect(output).toMatch(/ping: 3 packets transmitted, 3 received/);
      expect(output).toMatch(/this is 10\.0\.0\.2:80/);
      expect(output).toMatch(/ping -6: 3 packets transmitted, 3 received/);
      expect(output).toMatch(/this is \[fd00::2\]:80/);
      expect(output).toMatch(/curl -6 \/bytes\/1000000: 1000000 bytes/);
      expect(output).toMatch(/passed in \d+ s/);
    },
    (LIMIT_S + 60) * 1000,
  );
});
