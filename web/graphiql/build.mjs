// Builds GraphiQL into dist/: one ES module with its stylesheet and fonts,
// and Monaco's three workers, each stored gzipped (the server sends them
// as they are, or unzips them for the rare client that asks it to). The output is committed so that `go build`
// needs no Node; rebuild with `npm ci && npm run build` after changing a
// version in package.json or a file in src/.
import * as esbuild from 'esbuild';
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { gzipSync } from 'node:zlib';

await rm('dist', { recursive: true, force: true });

const common = {
  bundle: true,
  minify: true,
  format: 'esm',
  target: 'es2022',
  legalComments: 'linked',
  define: { 'process.env.NODE_ENV': '"production"' },
  logLevel: 'warning',
};

await esbuild.build({
  ...common,
  entryPoints: { graphiql: 'src/index.jsx' },
  outdir: 'dist',
  jsx: 'automatic',
  loader: { '.ttf': 'file', '.woff': 'file', '.woff2': 'file' },
  assetNames: '[name]-[hash]',
});

await esbuild.build({
  ...common,
  entryPoints: {
    'editor.worker': 'monaco-editor/esm/vs/editor/editor.worker.js',
    'json.worker': 'monaco-editor/esm/vs/language/json/json.worker.js',
    'graphql.worker': 'monaco-graphql/esm/graphql.worker.js',
  },
  outdir: 'dist',
});

for (const name of await readdir('dist')) {
  if (name.endsWith('.LEGAL.txt')) continue;
  const file = `dist/${name}`;
  await writeFile(`${file}.gz`, gzipSync(await readFile(file), { level: 9 }));
  await rm(file);
}
