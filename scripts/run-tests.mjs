#!/usr/bin/env node
// Runs the test files of one suite with node's own test runner (TypeScript through tsx).
//   unit:     every *.test.ts except *.services.test.ts — needs nothing but Node (real anvil, aedes, SQLite).
//   services: every *.services.test.ts — needs Mosquitto, PostgreSQL and Redis on this machine.
//   faults:   every *.faults.test.ts — the fault-injection suite (kill -9, full disk, chain down or frozen, a database
//             that closes) against real child stacks, one file at a time; the closing database is this machine's
//             PostgreSQL (as for services).
// Extra arguments are passed on as filters on the file path.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const suite = process.argv[2] ?? 'unit';
const filters = process.argv.slice(3);
const roots = [
  'protocol',
  'runtime',
  'contracts',
  'issuer',
  'verifier',
  'wallet',
  'device-agent',
  'firmware-sim',
  'services',
  'stack',
  'scripts',
];
const files = [];
const walk = (dir) => {
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name.startsWith('.')) continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p);
    else if (name.endsWith('.test.ts')) files.push(relative(process.cwd(), p));
  }
};
for (const r of roots) {
  try {
    walk(r);
  } catch {}
}
const picked = files
  .filter((f) => {
    const kind = f.endsWith('.services.test.ts') ? 'services' : f.endsWith('.faults.test.ts') ? 'faults' : 'unit';
    return kind === suite;
  })
  .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)))
  .sort();
if (picked.length === 0) {
  console.error(`no ${suite} test files found`);
  process.exit(1);
}
// The console the browser tests load, built once here when its sources changed (test files running side by side
// must not each rebuild it under the other's browser).
const ui = await import('./build-console.mjs');
if (ui.viteInstalled() && ui.consoleIsStale()) {
  console.error('building the console into console/dist (its sources changed since the last build)…');
  await ui.buildConsole({ quiet: true });
}
// the fault suite's files each drive whole stacks: one at a time, so their timings stay meaningful on two cores
const concurrency = suite === 'faults' ? 1 : 2;
const args = ['--import', 'tsx', '--test', `--test-concurrency=${concurrency}`, '--test-timeout=180000', ...picked];
const r = spawnSync(process.execPath, args, {
  stdio: 'inherit',
  env: {
    ...process.env,
    TESSERA_TEST_SUITE: suite,
    // the SQLite gate refuses a statement a transaction's callback makes through another manager (see sqlite-gate.ts)
    TESSERA_SQLITE_GATE_CHECK: '1',
    // every JSON answer of a declared route is checked against the OpenAPI document (runtime/src/http/openapi.ts)
    TESSERA_CHECK_RESPONSES: '1',
  },
});
process.exit(r.status ?? 1);
