/**
 * A chain that freezes (SIGSTOP of the embedded anvil) and one that stops (SIGKILL): `/healthz` says so within a few
 * seconds, not after the provider's timeout, and turns green again when a frozen chain resumes.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { faultReport } from '../testing/fault-report.js';
import { stackProcesses } from '../testing/stack-process.js';

const { start, tmp, health } = stackProcesses();
const report = faultReport('chain');

async function timedHealth(http: string) {
  const t0 = Date.now();
  const h = await health(http);
  return { ...h, ms: Date.now() - t0 };
}

describe('faults: the chain freezes, resumes, then stops', () => {
  it('reports the chain down in /healthz within seconds, and up again once it answers', async () => {
    const dir = tmp();
    const s = await start(dir);
    const anvil = Number(readFileSync(join(dir, 'chain', 'anvil.pid'), 'utf8'));
    assert.equal((await health(s.http)).status, 200);

    process.kill(anvil, 'SIGSTOP');
    report.inject('chain-freeze');
    try {
      const frozen = await timedHealth(s.http);
      assert.equal(frozen.status, 503);
      assert.equal(frozen.body.parts.chain?.ok, false);
      assert.ok(frozen.ms < 5000, `/healthz answered in ${frozen.ms} ms`);
      report.check('health-red-fast-frozen');
    } finally {
      process.kill(anvil, 'SIGCONT');
    }
    let back = await timedHealth(s.http);
    for (let i = 0; i < 20 && back.body.parts.chain?.ok !== true; i++) {
      await new Promise((r) => setTimeout(r, 250));
      back = await timedHealth(s.http);
    }
    assert.equal(back.body.parts.chain?.ok, true, 'the chain is up again');
    report.check('health-green-after-resume');

    process.kill(anvil, 'SIGKILL');
    report.inject('chain-stop');
    const stopped = await timedHealth(s.http);
    assert.equal(stopped.status, 503);
    assert.equal(stopped.body.parts.chain?.ok, false);
    assert.ok(stopped.ms < 5000, `/healthz answered in ${stopped.ms} ms`);
    report.check('health-red-fast-stopped');
    s.child.kill('SIGKILL');
  });
});
