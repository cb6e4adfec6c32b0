// Builds the browser test pages into the folder given as the argument:
// one bundle and one HTML page per client library.
//   node test/browser/build.mjs <outdir>
import * as esbuild from 'esbuild';
import { writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const out = process.argv[2];
if (!out) throw new Error('usage: node test/browser/build.mjs <outdir>');
for (const name of ['apollo', 'urql', 'idb']) {
  await esbuild.build({
    entryPoints: [join(here, `${name}.js`)],
    outfile: join(out, `${name}.js`),
    bundle: true,
    format: 'esm',
    target: 'es2022',
    define: { 'process.env.NODE_ENV': '"production"', __DEV__: 'false' },
    logLevel: 'warning',
  });
  await writeFile(join(out, `${name}.html`), `<!doctype html><meta charset="utf-8"><title>${name}</title><script type="module" src="${name}.js"></script>\n`);
}
