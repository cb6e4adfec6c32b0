// Builds the browser test pages into the folder given as the argument:
// one bundle and one HTML page per page script.
//   node test/browser/build.mjs <outdir>
// A page may import a snippet of README.md as 'readme:<name>': the ```js
// block after `<!-- tested: <name> (a note) -->`, wrapped in a function of the
// names it uses, which returns the snippet's follow function. So the
// README's snippets are the code the browser tests run.
import * as esbuild from 'esbuild';
import { readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const out = process.argv[2];
if (!out) throw new Error('usage: node test/browser/build.mjs <outdir>');

const readme = await readFile(join(here, '..', '..', 'README.md'), 'utf8');
const snippets = new Map();
for (const m of readme.matchAll(/^<!-- tested: (\S+)[^\n]*-->\n```js\n([\s\S]*?)```/gm)) snippets.set(m[1], m[2]);
const readmeSnippets = {
  name: 'readme-snippets',
  setup(build) {
    build.onResolve({ filter: /^readme:/ }, (args) => ({ path: args.path.slice('readme:'.length), namespace: 'readme' }));
    build.onLoad({ filter: /.*/, namespace: 'readme' }, (args) => {
      const code = snippets.get(args.path);
      if (!code) return { errors: [{ text: `README.md has no snippet marked <!-- tested: ${args.path} -->` }] };
      return {
        contents: `export default ({ rewind, apollo, urql, FOLLOW, CursorError, clearState, process, showError }) => {\n${code}\nreturn follow;\n};\n`,
        loader: 'js',
      };
    });
  },
};

for (const name of ['apollo', 'urql', 'idb', 'twins', 'expired']) {
  await esbuild.build({
    entryPoints: [join(here, `${name}.js`)],
    outfile: join(out, `${name}.js`),
    bundle: true,
    format: 'esm',
    target: 'es2022',
    define: { 'process.env.NODE_ENV': '"production"', __DEV__: 'false' },
    plugins: [readmeSnippets],
    logLevel: 'warning',
  });
  await writeFile(join(out, `${name}.html`), `<!doctype html><meta charset="utf-8"><title>${name}</title><script type="module" src="${name}.js"></script>\n`);
}
