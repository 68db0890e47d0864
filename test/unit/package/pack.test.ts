/**
 * SLOW (about 30 s: most of it tsc compiling src/ in `prepack`, then node-gyp building the addon
 * in the scratch install). The package as a user gets it: `npm pack` (whose prepack writes dist/
 * in the checkout, git-ignored), the tarball installed into a scratch project in a temp dir, and
 * the examples run there with plain `node`, importing 'tunstack'. No root, no TUN device, no
 * network: the examples join two stacks with a SimLink, and the install is `--offline`.
 *
 * Offline: `npm install` of a tarball needs the registry's metadata (packuments) to resolve the
 * tarball's dependency ranges, and `npm ci` in the checkout cached only the dependency tarballs.
 * So the scratch project gets a package-lock.json that pins the very versions the checkout's
 * lockfile resolved (its non-dev entries, with their tarball URLs), and npm finds all of them in
 * its cache. The temp dir is removed at the end, pass or fail.
 */
import { execFile } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const PACK_TIMEOUT_MS = 150_000;

interface LockEntry {
  version?: string;
  resolved?: string;
  dev?: boolean;
  link?: boolean;
  [field: string]: unknown;
}

interface PackResult {
  filename: string;
  files: { path: string }[];
}

const tmp = mkdtempSync(join(tmpdir(), 'tunstack-pack-'));
const app = join(tmp, 'app');
let packed: PackResult;

afterAll(() => rmSync(tmp, { recursive: true, force: true }));

async function npm(args: string[], cwd: string): Promise<string> {
  const { stdout } = await run('npm', args, {
    cwd,
    maxBuffer: 64 * 1024 * 1024,
    timeout: PACK_TIMEOUT_MS,
  });
  return stdout;
}

async function node(...args: string[]): Promise<string> {
  const { stdout } = await run(process.execPath, args, { cwd: app, timeout: 30_000 });
  return stdout;
}

/** A lockfile for the scratch project: the tarball, and the checkout's locked dependencies. */
function scratchLock(spec: string, registry: string): object {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
  const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, LockEntry>;
  };
  const packages: Record<string, LockEntry> = {
    '': { name: 'scratch', version: '1.0.0', dependencies: { tunstack: spec } },
    'node_modules/tunstack': {
      version: pkg.version,
      resolved: spec,
      hasInstallScript: true,
      license: pkg.license,
      dependencies: pkg.dependencies,
      bin: pkg.bin,
      engines: pkg.engines,
    },
  };
  for (const [path, entry] of Object.entries(lock.packages)) {
    if (!path.startsWith('node_modules/') || entry.dev || entry.link) continue;
    const name = path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length);
    // The checkout's lockfile leaves out registry URLs; npm's cache is keyed by them.
    const resolved =
      entry.resolved ?? `${registry}${name}/-/${name.split('/').pop()}-${entry.version}.tgz`;
    packages[path] = { ...entry, resolved };
  }
  return { name: 'scratch', version: '1.0.0', lockfileVersion: 3, requires: true, packages };
}

describe('the packed package (slow: npm pack, npm install, node)', () => {
  beforeAll(async () => {
    const out = await npm(['pack', '--json', '--pack-destination', tmp], ROOT);
    [packed] = JSON.parse(out) as PackResult[];

    mkdirSync(app);
    const spec = `file:../${packed.filename}`;
    const registry = (await npm(['config', 'get', 'registry'], app)).trim().replace(/\/?$/, '/');
    const manifest = { name: 'scratch', version: '1.0.0', private: true, type: 'module' };
    writeFileSync(join(app, 'package.json'), JSON.stringify(manifest, null, 2));
    writeFileSync(join(app, 'package-lock.json'), JSON.stringify(scratchLock(spec, registry)));
    await npm(['install', '--offline', '--no-audit', '--no-fund', join(tmp, packed.filename)], app);
    for (const example of ['echo-server.mjs', 'http-client.mjs']) {
      copyFileSync(join(ROOT, 'examples', example), join(app, example));
    }
  }, PACK_TIMEOUT_MS);

  it('holds the compiled JavaScript, its declarations and the addon source, not the TypeScript', () => {
    const paths = packed.files.map((f) => f.path);
    expect(paths).toEqual(
      expect.arrayContaining([
        'package.json',
        'dist/index.js',
        'dist/index.d.ts',
        'dist/cli/main.js',
        'dist/apps/styles/page.html',
        'bin/tunstack.js',
        'binding.gyp',
        'src/link/native/tun.c',
        'examples/echo-server.mjs',
      ]),
    );
    expect(paths.filter((p) => p.endsWith('.ts') && !p.endsWith('.d.ts'))).toEqual([]);
    expect(paths.filter((p) => /^(test|scripts|build|node_modules)\//.test(p))).toEqual([]);
  });

  it('builds the TUN addon on install (the package install script)', () => {
    expect(existsSync(join(app, 'node_modules/tunstack/build/Release/tun.node'))).toBe(true);
  });

  it('runs the echo server example with plain node', async () => {
    const out = await node('echo-server.mjs');
    expect(out).toContain('echo server listening on 10.0.0.2:7');
    expect(out).toMatch(/^connected from 10\.0\.0\.1:\d+$/m);
    expect(out).toContain('echoed: hello through two userspace TCP stacks\n');
  });

  it('runs the HTTP client example with plain node', async () => {
    const out = await node('http-client.mjs');
    expect(out).toContain('HTTP 200 text/plain\n');
    expect(out).toMatch(/^hello 10\.0\.0\.1:\d+, you asked for \/tunstack$/m);
  });

  it('runs the tunstack command from the compiled CLI', async () => {
    const out = await node('node_modules/.bin/tunstack', '--help');
    expect(out).toContain('Usage: tunstack');
  });
});
