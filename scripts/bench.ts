/**
 * `npm run bench` runs every benchmark; `npm run bench -- NAME [NAME…]` runs some. Each prints a readable table and,
 * as the last line, one JSON object. Baselines are measured in the same run on the same input.
 * The JSON is also written to .bench/NAME.json, and for a run of every bench to .bench/all.json (one table, one JSON
 * object: every figure as BENCH.FIGURE with its baseline and ratio where it has one; a bench that fails is listed and
 * makes the exit code 1, the others still run; a bench that cannot run on this machine, for a missing program or
 * service, is listed as skipped with what to install and leaves the exit code alone). A bench run alone that cannot
 * run here exits with code 3.
 */
import { cpus, totalmem } from 'node:os';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { type BenchContext, type BenchReport, BenchUnavailable, formatBenchTable } from '@tessera/runtime';

type Bench = (ctx: BenchContext) => Promise<BenchReport>;

const BENCHES: Record<string, () => Promise<Bench>> = {
  resolve: async () => (await import('../verifier/bench/resolve.js')).run,
  'vp-verify': async () => (await import('../verifier/bench/vp-verify.js')).run,
  verify: async () => (await import('../verifier/bench/verify-http.js')).run,
  handshake: async () => (await import('../verifier/bench/handshake.js')).run,
  'mosquitto-revoke': async () => (await import('../verifier/bench/mosquitto-revoke.js')).run,
  market: async () => (await import('../services/bench/market.js')).run,
  whiteflag: async () => (await import('../services/bench/whiteflag.js')).run,
  'device-registration': async () => (await import('../contracts/bench/device-registration.js')).run,
  token: async () => (await import('../contracts/bench/token.js')).run,
  issue: async () => (await import('../issuer/bench/issue.js')).run,
  sessions: async () => (await import('../firmware-sim/bench/sessions.js')).run,
  cluster: async () => (await import('../stack/bench/cluster.js')).run,
};

const machine = {
  cpus: cpus().length,
  cpu: cpus()[0]?.model ?? 'unknown',
  mem_gib: Math.round(totalmem() / 2 ** 30),
  node: process.version,
  platform: `${process.platform}-${process.arch}`,
};

const ctx: BenchContext = {
  machine,
  progress(label, done, total) {
    if (!process.stderr.isTTY) return;
    const width = 30;
    const filled = Math.round((done / Math.max(total, 1)) * width);
    process.stderr.write(`\r${label.padEnd(28)} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total}`);
    if (done >= total) process.stderr.write('\n');
  },
};

const names = process.argv.slice(2).filter((a) => !a.startsWith('-'));
const unknown = names.filter((n) => !(n in BENCHES));
if (unknown.length > 0) {
  console.error(
    `error ERR_BAD_REQUEST: unknown bench ${unknown.join(', ')}; known: ${Object.keys(BENCHES).join(', ')}`,
  );
  process.exit(2);
}
const selected = names.length > 0 ? names : Object.keys(BENCHES);
const reports: BenchReport[] = [];
const failed: Record<string, string> = {};
mkdirSync('.bench', { recursive: true });
/** Exit code of a bench that could not run here (BenchUnavailable); its reason is left in .bench/NAME.skipped. */
const UNAVAILABLE_EXIT = 3;
const skipped: Record<string, string> = {};
if (selected.length === 1) {
  const name = selected[0]!;
  rmSync(`.bench/${name}.skipped`, { force: true });
  let report: BenchReport;
  try {
    report = await (await BENCHES[name]!())(ctx);
  } catch (e) {
    if (!(e instanceof BenchUnavailable)) throw e;
    writeFileSync(`.bench/${name}.skipped`, e.message);
    console.error(`SKIPPED (${name}): ${e.message}`);
    process.exit(UNAVAILABLE_EXIT);
  }
  reports.push(report);
  writeFileSync(`.bench/${name}.json`, `${JSON.stringify(report, null, 2)}\n`);
} else {
  // Several benches: each in its own process, so that one that fails or leaks (handles, memory, a chain) neither stops
  // nor skews the next. A bench's own output goes to stderr; its report comes back through .bench/NAME.json.
  for (const name of selected) {
    const file = `.bench/${name}.json`;
    const skippedFile = `.bench/${name}.skipped`;
    rmSync(file, { force: true });
    rmSync(skippedFile, { force: true });
    const started = Date.now();
    process.stderr.write(`\n== bench ${name} ==\n`);
    const r = spawnSync(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), name], {
      stdio: ['ignore', 2, 'inherit'],
      env: process.env,
    });
    if (r.status === 0 && existsSync(file)) reports.push(JSON.parse(readFileSync(file, 'utf8')) as BenchReport);
    else if (r.status === UNAVAILABLE_EXIT && existsSync(skippedFile))
      skipped[name] = readFileSync(skippedFile, 'utf8');
    else failed[name] = `exit ${r.status ?? r.signal} after ${((Date.now() - started) / 1000).toFixed(0)} s`;
  }
}
console.log(formatBenchTable(reports));
for (const r of reports) for (const n of r.notes ?? []) console.log(`note (${r.bench}): ${n}`);
for (const [name, why] of Object.entries(skipped)) console.log(`SKIPPED (${name}): ${why}`);
for (const [name, why] of Object.entries(failed)) console.log(`FAILED (${name}): ${why}`);
const prefixed = (pick: (r: BenchReport) => Record<string, number>) =>
  Object.fromEntries(reports.flatMap((r) => Object.entries(pick(r)).map(([k, v]) => [`${r.bench}.${k}`, v])));
const last: BenchReport =
  selected.length === 1
    ? reports[0]!
    : {
        bench: 'all',
        figures: prefixed((r) => r.figures),
        baselines: prefixed((r) => r.baselines),
        ratios: prefixed((r) => r.ratios),
        machine,
        notes: [
          ...reports.flatMap((r) => (r.notes ?? []).map((n) => `${r.bench}: ${n}`)),
          ...Object.entries(skipped).map(([name, why]) => `${name}: SKIPPED, ${why}`),
          ...Object.entries(failed).map(([name, why]) => `${name}: FAILED, ${why}`),
        ],
      };
if (selected.length > 1)
  writeFileSync(`.bench/${names.length === 0 ? 'all' : selected.join('+')}.json`, `${JSON.stringify(last, null, 2)}\n`);
console.log(JSON.stringify(last));
process.exit(Object.keys(failed).length > 0 ? 1 : 0);
