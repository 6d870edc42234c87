/**
 * A chain that freezes (SIGSTOP of the embedded anvil) and one that stops (SIGKILL): `/healthz` says so within a few
 * seconds, not after the provider's timeout, and turns green again when a frozen chain resumes.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { randomBytes } from 'node:crypto';
import { ethrDid } from '@tessera/protocol';
import { issuerRequest, loginWithCredentials, readHolderFile } from '@tessera/wallet';
import { Wallet } from 'ethers';
import { faultReport, readSqlite } from '../testing/fault-report.js';
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
    const issuer = `${s.http}/issuer`;
    const admin = await loginWithCredentials(issuer, readHolderFile(join(dir, 'root-admin-wallet.json')));
    const mAccount = Wallet.createRandom();
    const m = await issuerRequest(issuer, 'POST', '/credentials', {
      token: admin,
      body: {
        type: 'ManufacturerCredential',
        subject: ethrDid(31337, mAccount.address),
        claims: { legalName: 'Chain SA', country: 'FR', manufacturerCode: 'CHN' },
      },
    });
    assert.equal(m.status, 201, m.text);
    const manufacturer = await loginWithCredentials(issuer, {
      did: ethrDid(31337, mAccount.address),
      privateKey: mAccount.privateKey,
      credentials: [m.json.jwt],
    });
    const batch = {
      devices: [
        {
          characteristics: {
            model: 'CHN-1',
            serial: `CHN-${randomBytes(3).toString('hex')}`,
            hardwareRevision: 'r1',
            firmwareHash: randomBytes(32).toString('hex'),
            mac: randomBytes(6).toString('hex'),
          },
        },
      ],
    };

    process.kill(anvil, 'SIGSTOP');
    report.inject('chain-freeze');
    try {
      const frozen = await timedHealth(s.http);
      assert.equal(frozen.status, 503);
      assert.equal(frozen.body.parts.chain?.ok, false);
      assert.ok(frozen.ms < 5000, `/healthz answered in ${frozen.ms} ms`);
      report.check('health-red-fast-frozen');
      // known down: a device registration is refused at once, nothing recorded
      await new Promise((r) => setTimeout(r, 2500));
      const t0 = Date.now();
      const refused = await issuerRequest(issuer, 'POST', '/devices/batches', { token: manufacturer, body: batch });
      const ms = Date.now() - t0;
      assert.deepEqual([refused.status, refused.json?.error?.code], [503, 'ERR_CHAIN_UNAVAILABLE'], refused.text);
      assert.ok(ms < 3000, `refused in ${ms} ms`);
      report.check('chain-write-refused-fast-503');
      const rows = await readSqlite<{ n: number }>(
        join(dir, 'tessera.sqlite'),
        'SELECT COUNT(*) AS n FROM issuer_devices',
      );
      assert.equal(rows[0]!.n, 0, 'a refused registration recorded nothing');
      report.check('refusal-recorded-nothing');
      // sign-in during the outage names the chain, not a malformed presentation
      const login = await loginWithCredentials(issuer, readHolderFile(join(dir, 'root-admin-wallet.json'))).then(
        () => 'ok',
        (e: { code?: string; message?: string }) => `${e.code} ${e.message}`,
      );
      assert.match(login, /^(ok|ERR_CHAIN_UNAVAILABLE )/, 'sign-in works from cached DIDs or names the chain');
      report.check('sign-in-during-freeze');
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
