/**
 * `npm run bench` runs every benchmark; `npm run bench -- NAME [NAME…]` runs some. Each prints a readable table and,
 * as the last line, one JSON object (DESIGN §8). Baselines are measured in the same run on the same input.
 * The JSON is also written to .bench/NAME.json.
 */
import { cpus, totalmem } from 'node:os';
import { mkdirSync, writeFileSync } from 'node:fs';
import { type BenchReport, formatBenchTable } from '@tessera/protocol';

export interface BenchContext {
  /** Report progress of a long phase (stderr, only on a terminal). */
  progress(label: string, done: number, total: number): void;
  machine: Record<string, string | number>;
}

type Bench = (ctx: BenchContext) => Promise<BenchReport>;

const BENCHES: Record<string, () => Promise<Bench>> = {
  resolve: async () => (await import('../verifier/bench/resolve.js')).run,
  'vp-verify': async () => (await import('../verifier/bench/vp-verify.js')).run,
  verify: async () => (await import('../verifier/bench/verify-http.js')).run,
  handshake: async () => (await import('../verifier/bench/handshake.js')).run,
  'mosquitto-revoke': async () => (await import('../verifier/bench/mosquitto-revoke.js')).run,
  market: async () => (await import('../services/bench/market.js')).run,
  'device-registration': async () => (await import('../contracts/bench/device-registration.js')).run,
  token: async () => (await import('../contracts/bench/token.js')).run,
  issue: async () => (await import('../issuer/bench/issue.js')).run,
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
for (const name of selected) {
  const bench = await BENCHES[name]!();
  const report = await bench(ctx);
  reports.push(report);
  mkdirSync('.bench', { recursive: true });
  writeFileSync(`.bench/${name}.json`, `${JSON.stringify(report, null, 2)}\n`);
}
console.log(formatBenchTable(reports));
for (const r of reports) for (const n of r.notes ?? []) console.log(`note (${r.bench}): ${n}`);
const last: BenchReport =
  reports.length === 1
    ? reports[0]!
    : {
        bench: 'all',
        figures: Object.fromEntries(
          reports.flatMap((r) => Object.entries(r.figures).map(([k, v]) => [`${r.bench}.${k}`, v])),
        ),
        baselines: Object.fromEntries(
          reports.flatMap((r) => Object.entries(r.baselines).map(([k, v]) => [`${r.bench}.${k}`, v])),
        ),
        ratios: Object.fromEntries(
          reports.flatMap((r) => Object.entries(r.ratios).map(([k, v]) => [`${r.bench}.${k}`, v])),
        ),
        machine,
      };
console.log(JSON.stringify(last));
process.exit(0);
