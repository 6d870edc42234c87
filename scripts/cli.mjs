#!/usr/bin/env node
// Runs one of Tessera's command-line tools from its build in dist/cli: `node scripts/cli.mjs <tool> [args…]`, which is
// what `npm start`, `npm run wallet`, `npm run admin`, `npm run device`, `npm run sim`, `npm run sim:energy` and
// `npm run deploy` do. When a source file changed since the build (or there is none), it rebuilds first (a second or
// two, once), so the tool that runs is always the source as it is now.
import { readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const OUT = join(ROOT, 'dist', 'cli');
const name = process.argv[2];
process.argv.splice(2, 1); // the tool sees its own arguments only

/** The manifest when every source it lists is older than the build, else undefined (checked without loading esbuild). */
function fresh() {
  let m;
  try {
    m = JSON.parse(readFileSync(join(OUT, 'manifest.json'), 'utf8'));
  } catch {
    return undefined;
  }
  if (m.version !== 1) return undefined;
  for (const f of m.inputs) {
    try {
      if (statSync(join(ROOT, f)).mtimeMs > m.startedAt) return undefined;
    } catch {
      return undefined;
    }
  }
  return m;
}

let manifest = fresh();
if (!manifest || !manifest.entries[name]) {
  const build = await import('./build-cli.mjs');
  if (!name || !build.CLIS[name]) {
    process.stderr.write(
      `error ERR_USAGE: name a tool: node scripts/cli.mjs <${Object.keys(build.CLIS).join('|')}> [args…]\n`,
    );
    process.exit(2);
  }
  const why = build.staleness(build.readManifest());
  if (why) process.stderr.write(`building the command-line tools into dist/cli (${why})…\n`);
  manifest = await build.buildClis({ onlyIfStale: true });
}
if (name === 'start') {
  // The console the stack serves at / is rebuilt too when its source changed since its build.
  const ui = await import('./build-console.mjs');
  if (ui.consoleIsStale() && ui.viteInstalled()) {
    process.stderr.write('building the console into console/dist…\n');
    await ui.buildConsole({ quiet: true });
  }
}
await import(pathToFileURL(join(OUT, manifest.entries[name])).href);
