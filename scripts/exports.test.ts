/**
 * Each package's public exports, pinned (viem's export snapshots): a new export, or one that disappears, is a decision
 * recorded in scripts/exports.snapshot.json, not an accident. `TESSERA_UPDATE_EXPORTS=1 npm test -- scripts/exports`
 * rewrites the snapshot after such a decision.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { describe, it } from 'node:test';

const root = new URL('../', import.meta.url);
const SNAPSHOT = new URL('scripts/exports.snapshot.json', root);
const workspaces = (JSON.parse(readFileSync(new URL('package.json', root), 'utf8')) as { workspaces: string[] })
  .workspaces;

async function currentExports(): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  for (const ws of workspaces) {
    const pkg = JSON.parse(readFileSync(new URL(`${ws}/package.json`, root), 'utf8')) as {
      name: string;
      exports?: Record<string, string>;
    };
    for (const [sub, target] of Object.entries(pkg.exports ?? {})) {
      if (!target.endsWith('.ts')) continue;
      const mod = (await import(new URL(`${ws}/${target.replace(/^\.\//, '')}`, root).href)) as Record<string, unknown>;
      out[`${pkg.name}${sub === '.' ? '' : sub.slice(1)}`] = Object.keys(mod).sort();
    }
  }
  return out;
}

describe('public exports', () => {
  it('match scripts/exports.snapshot.json (each export is a decision)', async () => {
    const now = await currentExports();
    if (process.env.TESSERA_UPDATE_EXPORTS === '1') writeFileSync(SNAPSHOT, `${JSON.stringify(now, null, 2)}\n`);
    const pinned = JSON.parse(readFileSync(SNAPSHOT, 'utf8')) as Record<string, string[]>;
    for (const entry of new Set([...Object.keys(now), ...Object.keys(pinned)])) {
      const added = (now[entry] ?? []).filter((e) => !(pinned[entry] ?? []).includes(e));
      const removed = (pinned[entry] ?? []).filter((e) => !(now[entry] ?? []).includes(e));
      assert.deepEqual(
        { added, removed },
        { added: [], removed: [] },
        `${entry}: exports changed; if intended, run TESSERA_UPDATE_EXPORTS=1 npm test -- scripts/exports`,
      );
    }
  });
});
