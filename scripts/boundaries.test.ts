/**
 * The package boundaries (.dependency-cruiser.cjs, run by `npm run lint`): the check finds every deliberately bad
 * import of a fixture (protocol doing I/O, a package importing one above it, a reach into another package's
 * internals) and none in the tree.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../', import.meta.url));
const fixture = fileURLToPath(new URL('./boundaries/fixture/', import.meta.url));
const cruiser = fileURLToPath(new URL('../node_modules/dependency-cruiser/bin/dependency-cruise.mjs', import.meta.url));

function cruise(cwd: string, paths: string[]): { rule: string; from: string; to: string }[] {
  const r = spawnSync(
    process.execPath,
    [cruiser, '--config', `${root}.dependency-cruiser.cjs`, '--output-type', 'json', ...paths],
    { cwd, encoding: 'utf8', env: { ...process.env, TESSERA_BOUNDARY_ROOT: cwd }, maxBuffer: 256 * 1024 * 1024 },
  );
  assert.ok(r.stdout, r.stderr);
  const out = JSON.parse(r.stdout) as {
    summary: { violations: { rule: { name: string }; from: string; to: string }[] };
  };
  return out.summary.violations.map((v) => ({ rule: v.rule.name, from: v.from, to: v.to }));
}

describe('package boundaries', () => {
  it('fails on the fixture’s bad imports, each with the rule that names it', () => {
    const found = cruise(fixture, ['protocol', 'verifier', 'issuer', 'services']);
    const rules = found.map((v) => `${v.rule}: ${v.from} → ${v.to}`).sort();
    assert.deepEqual(rules, [
      'layering-verifier: verifier/src/index.ts → issuer/src/index.ts',
      'protocol-is-pure: protocol/src/index.ts → fs',
      'public-entry-verifier: services/src/index.ts → verifier/src/internal.ts',
    ]);
  });

  it('passes on the tree', () => {
    const found = cruise(root, [
      'protocol',
      'runtime',
      'contracts',
      'verifier',
      'issuer',
      'wallet',
      'device-agent',
      'firmware-sim',
      'services',
      'stack',
    ]);
    assert.deepEqual(found, []);
  });
});
