#!/usr/bin/env node
// Builds every command-line tool into dist/cli with esbuild, so that `npm run <tool>` starts plain JavaScript instead
// of compiling TypeScript at run time. `npm install` and `npm ci` run it (the root `prepare` script); scripts/cli.mjs
// runs a tool and rebuilds first when a source file changed since the last build, so what runs is always the source.
//
//   node scripts/build-cli.mjs           build (or rebuild) dist/cli
//   node scripts/build-cli.mjs --check   exit 1 if dist/cli is missing or older than a source file
//
// Two groups: the small clients (wallet, admin, device) are bundled with their dependencies, so starting one reads a
// few files; the tools that start chains, databases and brokers (sim, sim:energy, deploy, start) bundle Tessera's own
// packages and load their npm dependencies from node_modules as usual. In both, `--help` and usage errors load only the
// command-line module: the work is imported inside each command.
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const OUT = join(ROOT, 'dist', 'cli');
const MANIFEST = 'manifest.json';

/**
 * The command-line tools: the npm script that runs each, its module, and the function there that builds its program
 * (`runCli(program())` is the whole of the generated entry).
 */
export const CLIS = {
  wallet: { group: 'clients', module: 'wallet/src/cli.ts', program: 'walletProgram' },
  admin: { group: 'clients', module: 'wallet/src/admin-cli.ts', program: 'adminProgram' },
  device: { group: 'clients', module: 'device-agent/src/cli.ts', program: 'deviceProgram' },
  sim: { group: 'tools', module: 'firmware-sim/src/cli.ts', program: 'simProgram' },
  'sim-energy': { group: 'tools', module: 'services/src/energy/sim/cli.ts', program: 'energySimProgram' },
  deploy: { group: 'tools', module: 'stack/src/deploy-cli.ts', program: 'deployProgram' },
  start: { group: 'tools', module: 'stack/src/main.ts', program: 'startProgram' },
};

const GROUPS = {
  clients: { bundleDependencies: true },
  tools: { bundleDependencies: false },
};

const inWorkspace = (file) => file.startsWith(ROOT + sep) && !file.includes(`${sep}node_modules${sep}`);

/**
 * esbuild plugins: the generated entries, `import.meta.url` kept pointing at the source file (code that reads files
 * beside itself still finds them), and which packages stay external.
 */
function plugins(group, outdir) {
  return [
    {
      name: 'tessera-cli-entries',
      setup(build) {
        build.onResolve({ filter: /^tessera-cli:/ }, (a) => ({ path: a.path.slice(12), namespace: 'tessera-cli' }));
        build.onLoad({ filter: /.*/, namespace: 'tessera-cli' }, (a) => {
          const cli = CLIS[a.path];
          return {
            contents: [
              `import { runCli } from '@tessera/runtime/cli';`,
              `import { ${cli.program} } from './${cli.module}';`,
              `await runCli(${cli.program}());`,
            ].join('\n'),
            resolveDir: ROOT,
            loader: 'ts',
          };
        });
      },
    },
    {
      name: 'tessera-source-url',
      setup(build) {
        build.onLoad({ filter: /\.ts$/ }, (a) => {
          if (!inWorkspace(a.path)) return undefined;
          let contents = readFileSync(a.path, 'utf8');
          if (contents.includes('import.meta.url')) {
            const rel = relative(outdir, a.path).split(sep).join('/');
            contents = contents.replaceAll('import.meta.url', `new URL(${JSON.stringify(rel)}, import.meta.url).href`);
          }
          return { contents, loader: 'ts' };
        });
      },
    },
    {
      name: 'tessera-externals',
      setup(build) {
        build.onResolve({ filter: /^[^./]/ }, async (a) => {
          if (a.path.startsWith('node:') || a.path.startsWith('@tessera/') || a.pluginData === 'probe')
            return undefined;
          if (a.kind === 'entry-point') return undefined;
          const r = await build.resolve(a.path, { kind: a.kind, resolveDir: a.resolveDir, pluginData: 'probe' });
          if (r.errors.length > 0 || !r.path) return undefined;
          // A package in the root node_modules resolves the same from dist/cli: it may stay external. One nested
          // in a workspace's own node_modules (another version) would not: it is bundled.
          const rootModules = join(ROOT, 'node_modules') + sep;
          const nested =
            !r.path.startsWith(rootModules) || r.path.slice(rootModules.length).includes(`${sep}node_modules${sep}`);
          if (GROUPS[group].bundleDependencies || nested) return undefined;
          return { path: a.path, external: true };
        });
      },
    },
  ];
}

/** Every workspace source file a build read, and the lockfile: a newer one means the build is stale. */
function watched(inputs) {
  const files = new Set(['package-lock.json', 'scripts/build-cli.mjs']);
  for (const f of inputs) {
    const abs = resolve(ROOT, f);
    if (inWorkspace(abs)) files.add(relative(ROOT, abs));
  }
  return [...files].sort();
}

/** Why dist/cli must be rebuilt, or undefined when it is fresh. */
export function staleness(manifest) {
  if (!manifest) return 'not built yet';
  if (manifest.version !== 1 || JSON.stringify(Object.keys(manifest.entries)) !== JSON.stringify(Object.keys(CLIS)))
    return 'built by another version of this script';
  for (const f of manifest.inputs) {
    let m;
    try {
      m = statSync(join(ROOT, f)).mtimeMs;
    } catch {
      return `${f} is gone`;
    }
    if (m > manifest.startedAt) return `${f} changed`;
  }
  return undefined;
}

export function readManifest() {
  try {
    return JSON.parse(readFileSync(join(OUT, MANIFEST), 'utf8'));
  } catch {
    return undefined;
  }
}

async function buildInto(outdir) {
  const esbuild = await import('esbuild');
  const startedAt = Date.now() - 1; // a source saved during the build counts as newer
  const entries = {};
  const inputs = new Set();
  for (const group of Object.keys(GROUPS)) {
    const names = Object.keys(CLIS).filter((n) => CLIS[n].group === group);
    const dir = join(outdir, group);
    const r = await esbuild.build({
      absWorkingDir: ROOT,
      entryPoints: Object.fromEntries(names.map((n) => [n, `tessera-cli:${n}`])),
      bundle: true,
      splitting: true,
      format: 'esm',
      platform: 'node',
      target: 'node20',
      outdir: dir,
      outExtension: { '.js': '.mjs' },
      chunkNames: '[name]-[hash]', // beside the entries: a rewritten import.meta.url is relative to this folder
      metafile: true,
      logLevel: 'error',
      legalComments: 'none',
      // CommonJS code inside the bundle calls require(); give it the real one, resolving from the bundle's folder.
      banner: {
        js: "import { createRequire as __tesseraCreateRequire } from 'node:module'; const require = __tesseraCreateRequire(import.meta.url);",
      },
      plugins: plugins(group, dir),
    });
    for (const n of names) entries[n] = `${group}/${n}.mjs`;
    for (const f of Object.keys(r.metafile.inputs)) if (!f.startsWith('tessera-cli:')) inputs.add(f);
  }
  const manifest = { version: 1, startedAt, entries, inputs: watched(inputs) };
  writeFileSync(join(outdir, MANIFEST), `${JSON.stringify(manifest, null, 1)}\n`);
  return manifest;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Build dist/cli into a fresh folder and swap it in, under a lock (a folder: mkdir is atomic), so that tools started
 * at the same moment neither build twice nor run a half-written bundle.
 */
export async function buildClis({ onlyIfStale = false } = {}) {
  mkdirSync(dirname(OUT), { recursive: true });
  const lock = `${OUT}.lock`;
  for (let waited = 0; ; waited += 100) {
    try {
      mkdirSync(lock);
      break;
    } catch (e) {
      if (e.code !== 'EEXIST') throw e;
      // a build that died leaves its lock: after two minutes it is not building any more
      if (Date.now() - statSync(lock).mtimeMs > 120_000) rmSync(lock, { recursive: true, force: true });
      await sleep(100);
    }
  }
  try {
    if (onlyIfStale) {
      const m = readManifest();
      if (!staleness(m)) return m;
    }
    const tmp = `${OUT}.tmp-${process.pid}`;
    rmSync(tmp, { recursive: true, force: true });
    mkdirSync(tmp, { recursive: true });
    const manifest = await buildInto(tmp);
    const old = `${OUT}.old-${process.pid}`;
    if (existsSync(OUT)) renameSync(OUT, old);
    renameSync(tmp, OUT);
    rmSync(old, { recursive: true, force: true });
    return manifest;
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  if (process.argv.includes('--check')) {
    const why = staleness(readManifest());
    if (why) {
      console.error(`dist/cli is stale: ${why} (run node scripts/build-cli.mjs)`);
      process.exit(1);
    }
    console.log('dist/cli is up to date');
  } else {
    const t0 = performance.now();
    const m = await buildClis();
    console.error(
      `built ${Object.keys(m.entries).length} command-line tools into dist/cli in ${Math.round(performance.now() - t0)} ms`,
    );
  }
}
