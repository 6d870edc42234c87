#!/usr/bin/env node
// Runs the test files of one suite with node's own test runner (TypeScript through tsx).
//   unit:     every *.test.ts except *.services.test.ts — needs nothing but Node (real anvil, aedes, SQLite).
//   services: every *.services.test.ts — needs Mosquitto, PostgreSQL and Redis on this machine.
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
  .filter((f) => (suite === 'services' ? f.endsWith('.services.test.ts') : !f.endsWith('.services.test.ts')))
  .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)))
  .sort();
if (picked.length === 0) {
  console.error(`no ${suite} test files found`);
  process.exit(1);
}
const args = ['--import', 'tsx', '--test', '--test-concurrency=2', '--test-timeout=180000', ...picked];
const r = spawnSync(process.execPath, args, { stdio: 'inherit', env: { ...process.env, TESSERA_TEST_SUITE: suite } });
process.exit(r.status ?? 1);
