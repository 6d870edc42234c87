/**
 * Every command-line tool behaves the same way, run as a person runs it (the launcher npm runs, on the built tools):
 * --help exits 0 with the usage and the exit codes, an unknown flag exits 2 with `error ERR_USAGE`, and docs/cli.md
 * is what the programs say. The launcher rebuilds when a source is newer than the build.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { renderCliDoc } from './gen-cli-docs.js';

const LAUNCHER = fileURLToPath(new URL('./cli.mjs', import.meta.url));
const BUILD = './build-cli.mjs';
const { CLIS, staleness, readManifest } = (await import(BUILD)) as {
  CLIS: Record<string, unknown>;
  staleness(m: unknown): string | undefined;
  readManifest(): { startedAt: number; inputs: string[] } | undefined;
};

function tool(args: string[]): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [LAUNCHER, ...args], (e, out, err) =>
      resolve({ code: e ? Number(e.code ?? 1) : 0, out, err }),
    );
  });
}

describe('command-line tools', () => {
  for (const name of Object.keys(CLIS)) {
    it(`${name}: --help exits 0 with the usage and the exit codes; an unknown flag is a usage error (2)`, async () => {
      const help = await tool([name, '--help']);
      assert.equal(help.code, 0, help.err);
      assert.match(help.out, /^Usage: npm (run [a-z:]+|start) -- /);
      assert.match(help.out, /\nExit codes:\n +0 {2}/);
      assert.match(help.out, /\n +2 {2}usage error/);
      const bad = await tool([name, '--no-such-flag']);
      assert.equal(bad.code, 2, bad.err);
      assert.match(bad.err, /^error ERR_USAGE: unknown option '--no-such-flag'/);
      assert.match(bad.err, /--help shows the usage\)\n$/);
      assert.doesNotMatch(bad.err, /\n\s+at /, 'no stack trace');
    });
  }

  it('the launcher refuses an unknown tool with a usage error', async () => {
    const r = await tool(['nope']);
    assert.equal(r.code, 2);
    assert.match(
      r.err,
      /^error ERR_USAGE: name a tool: node scripts\/cli.mjs <wallet\|admin\|device\|sim\|sim-energy\|deploy\|start>/,
    );
  });

  it('the build is fresh after a run, and stale once a source it read is newer', async () => {
    await tool(['wallet', '--help']);
    const m = readManifest();
    assert.ok(m, 'dist/cli/manifest.json');
    assert.equal(staleness(m), undefined);
    assert.ok(m.inputs.includes('wallet/src/cli.ts') && m.inputs.includes('runtime/src/cli.ts'));
    assert.match(String(staleness({ ...m, startedAt: 0 })), / changed$/);
    assert.match(String(staleness({ ...m, inputs: [...m.inputs, 'wallet/src/gone.ts'] })), /gone/);
  });

  it('docs/cli.md is what the programs say (run npm run docs when this fails)', async () => {
    const doc = readFileSync(new URL('../docs/cli.md', import.meta.url), 'utf8');
    assert.equal(doc, await renderCliDoc());
  });
});
