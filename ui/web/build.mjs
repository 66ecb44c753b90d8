// Bundles src/ into ../dist: one script, one stylesheet, the page.
import { build } from 'esbuild';
import { copyFileSync, mkdirSync, rmSync } from 'node:fs';

const out = new URL('../dist/', import.meta.url).pathname;
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
await build({
  entryPoints: { app: 'src/main.js', style: 'src/app.css' },
  bundle: true,
  minify: true,
  format: 'esm',
  target: ['chrome110', 'firefox110', 'safari16'],
  outdir: out,
  legalComments: 'linked',
  logLevel: 'info',
});
copyFileSync('src/index.html', out + 'index.html');
copyFileSync('src/favicon.svg', out + 'favicon.svg');
copyFileSync('node_modules/uplot/LICENSE', out + 'uplot.LICENSE.txt');
