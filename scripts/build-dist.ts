/**
 * `npm run build` (and `prepack`): compile src/ to dist/ as JavaScript with declarations, for
 * `import … from 'tunstack'` under plain node. The checkout itself runs the TypeScript through
 * tsx and never needs dist/.
 *
 * dist/ is removed first, so that a module deleted from src/ cannot linger in a package. tsc
 * (tsconfig.build.json) rewrites the sources' `.ts` import specifiers to `.js`; the files that
 * are not TypeScript and that modules read at run time (the styles page) are copied beside them.
 * The C addon is not copied: `npm install` builds it from src/link/native with binding.gyp.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, readdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const src = join(root, 'src');
const dist = join(root, 'dist');
/** Source folders whose files are not needed beside the compiled modules. */
const NOT_COPIED = new Set([join(src, 'link', 'native')]);

rmSync(dist, { recursive: true, force: true });
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
// Everything this script prints goes to stderr, so that `npm pack --json` prints only its JSON.
execFileSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json')], {
  stdio: ['ignore', process.stderr, process.stderr],
});

let copied = 0;
function copyAssets(dir: string): void {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (!NOT_COPIED.has(path)) copyAssets(path);
    } else if (!entry.name.endsWith('.ts')) {
      cpSync(path, join(dist, relative(src, path)));
      copied++;
    }
  }
}
copyAssets(src);
console.error(`dist/: compiled src/ with declarations, ${copied} other file(s) copied`);
