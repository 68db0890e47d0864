/**
 * The layer rule (.dependency-cruiser.cjs, run by `npm run lint`) holds on src/, and it can fail:
 * a scratch tree with an upward import, and one with a run-time cycle, are both refused.
 */
import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '../../..');
const DEPCRUISE = join(ROOT, 'node_modules/.bin/depcruise');

/** depcruise on `cwd`'s src/ with the project's rules: its exit code and output. */
async function cruise(cwd: string): Promise<{ code: number; out: string }> {
  try {
    const r = await run(DEPCRUISE, ['src', '--config', '.dependency-cruiser.cjs'], { cwd });
    return { code: 0, out: r.stdout };
  } catch (err) {
    const e = err as { code: number; stdout: string };
    return { code: e.code, out: e.stdout };
  }
}

const scratch: string[] = [];
afterAll(() => {
  for (const d of scratch) rmSync(d, { recursive: true, force: true });
});

/** A scratch project with the rule file and `files` (path → source) under it. */
function tree(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'tunstack-layers-'));
  scratch.push(dir);
  cpSync(join(ROOT, '.dependency-cruiser.cjs'), join(dir, '.dependency-cruiser.cjs'));
  writeFileSync(
    join(dir, 'tsconfig.json'),
    '{"compilerOptions":{"allowImportingTsExtensions":true}}',
  );
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(dir, path, '..'), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  return dir;
}

describe('the layer rule', () => {
  it('holds on src/', async () => {
    const r = await cruise(ROOT);
    expect(r.out).toContain('no dependency violations');
    expect(r.code).toBe(0);
  }, 60_000);

  it('refuses an import from a lower layer to a higher one', async () => {
    const r = await cruise(
      tree({
        'src/stack/clock.ts': 'export const now = () => 0;\n',
        'src/wire/ipv4.ts': "import { now } from '../stack/clock.ts';\nexport const t = now();\n",
      }),
    );
    expect(r.code).not.toBe(0);
    expect(r.out).toContain('no-upward-from-wire');
  }, 60_000);

  it('refuses a run-time cycle, and lets a type-only one be', async () => {
    const cyclic = await cruise(
      tree({
        'src/tcp/a.ts': "import { b } from './b.ts';\nexport const a = () => b;\n",
        'src/tcp/b.ts': "import { a } from './a.ts';\nexport const b = () => a;\n",
      }),
    );
    expect(cyclic.code).not.toBe(0);
    expect(cyclic.out).toContain('no-cycles');
    const typeOnly = await cruise(
      tree({
        'src/tcp/a.ts': "import { b } from './b.ts';\nexport class A { b = b; }\n",
        'src/tcp/b.ts': "import type { A } from './a.ts';\nexport const b = (x?: A) => x;\n",
      }),
    );
    expect(typeOnly.out).toContain('no dependency violations');
  }, 60_000);
});
