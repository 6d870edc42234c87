#!/usr/bin/env node
// Builds the console (console/, Vite + Preact) into console/dist, which the stack serves at /, and writes a gzip copy
// beside each asset (the stack sends it to browsers that accept gzip). `npm install` and `npm ci` run it (the root
// `prepare` script), offline: everything it needs is in node_modules.
//
//   node scripts/build-console.mjs             build (or rebuild) console/dist
//   node scripts/build-console.mjs --if-stale  build only when console/dist is missing or older than a source file
//   node scripts/build-console.mjs --check     exit 1 if console/dist is missing or older than a source file
//
// A build never leaves a half-written console/dist behind for a stack that is serving it (or a browser test loading
// it): it is written beside it and swapped in by renames.
import { existsSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const CONSOLE = join(ROOT, 'console');
export const DIST = join(CONSOLE, 'dist');

function newest(dir) {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

/** Is console/dist missing or older than a source file? */
export function consoleIsStale() {
  const index = join(DIST, 'index.html');
  if (!existsSync(index)) return true;
  const sources = Math.max(
    newest(join(CONSOLE, 'src')),
    statSync(join(CONSOLE, 'index.html')).mtimeMs,
    statSync(join(CONSOLE, 'vite.config.ts')).mtimeMs,
  );
  return statSync(index).mtimeMs < sources;
}

/** Vite is a dependency of the console; an install without it (npm ci --omit=dev) cannot build the console. */
export function viteInstalled() {
  return existsSync(join(ROOT, 'node_modules', 'vite', 'package.json'));
}

export async function buildConsole({ quiet = false } = {}) {
  const started = Date.now();
  const { build } = await import('vite');
  // Built into a directory of its own (Vite empties its output directory first), then swapped in.
  const out = join(CONSOLE, `.dist-${process.pid}-${Date.now()}`);
  const old = `${out}-old`;
  try {
    await build({
      configFile: join(CONSOLE, 'vite.config.ts'),
      logLevel: quiet ? 'warn' : 'info',
      build: { outDir: out, emptyOutDir: true },
    });
    gzipAssets(out);
    if (existsSync(DIST)) renameSync(DIST, old);
    renameSync(out, DIST);
  } finally {
    rmSync(out, { recursive: true, force: true });
    rmSync(old, { recursive: true, force: true });
  }
  if (!quiet)
    console.log(`built the console into console/dist in ${Date.now() - started} ms (${gzipJs(DIST)} bytes of gzip JS)`);
}

/** A gzip copy beside each asset (the stack sends it to browsers that accept gzip). */
function gzipAssets(dist) {
  const assets = join(dist, 'assets');
  for (const f of readdirSync(assets)) {
    if (!/\.(js|css|svg)$/.test(f)) continue;
    writeFileSync(join(assets, `${f}.gz`), gzipSync(readFileSync(join(assets, f)), { level: 9 }));
  }
}

function gzipJs(dist) {
  const assets = join(dist, 'assets');
  let js = 0;
  for (const f of readdirSync(assets)) if (f.endsWith('.js.gz')) js += statSync(join(assets, f)).size;
  return js;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  if (process.argv.includes('--check')) process.exit(consoleIsStale() ? 1 : 0);
  if (process.argv.includes('--if-stale') && !consoleIsStale()) process.exit(0);
  if (!viteInstalled()) {
    // An install without dev tools (npm ci --omit=dev) has no Vite: the stack then says the console is not built.
    console.warn('vite is not installed; the console was not built');
    process.exit(0);
  }
  await buildConsole();
}
