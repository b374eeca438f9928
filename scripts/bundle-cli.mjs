// Bundles the compiled CLI (dist/cli/main.js) into dist/bundle/, which bin/oo-ml.js runs.
//
// Why: Node loads ESM file by file, and the CLI's imports are ~950 files (typebox alone is 683);
// every `oo-ml` command paid ~0.4 s of module loading before doing anything (`oo-ml --help`
// 0.63 → 0.22 s; BENCHMARKS.md, "CLI start-up"). Code splitting keeps each command's dynamic
// imports in their own chunks, so a command loads only what it runs.
//
// What stays outside the bundle, loaded from node_modules as usual: native addons (DuckDB,
// resvg), and the Fastify stack, whose packages find files next to their own sources at run time
// (swagger-ui's static assets, pino's transport workers, swagger's package.json). The library
// itself (dist/**/*.js from tsc) is unchanged: programs and benches import it directly.
import { readFileSync } from 'node:fs';
import { build } from 'esbuild';

const root = new URL('..', import.meta.url);
const { version } = JSON.parse(readFileSync(new URL('package.json', root), 'utf8'));

await build({
  absWorkingDir: root.pathname,
  // The worker sits beside the chunks: sim/parallel.ts finds it as ./replication-worker.js
  // relative to the chunk it is bundled into.
  entryPoints: { 'oo-ml': 'dist/cli/main.js', 'replication-worker': 'dist/sim/replication-worker.js' },
  outdir: 'dist/bundle',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  // CommonJS packages bundled into ES modules still call require() for Node's built-ins.
  banner: { js: "import { createRequire as __ooMlRequire } from 'node:module'; const require = __ooMlRequire(import.meta.url);" },
  define: { __OO_ML_VERSION__: JSON.stringify(version) },
  external: ['@duckdb/*', '@resvg/*', 'fastify', '@fastify/*', 'pino', 'thread-stream', 'react-devtools-core'],
  logLevel: 'warning',
});
