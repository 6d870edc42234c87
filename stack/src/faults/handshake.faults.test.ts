/**
 * Device handshakes while the chain freezes (SIGSTOP of the embedded anvil) and stops (SIGKILL): the verifier cannot
 * read the device's state as on chain now, so it neither grants nor refuses. The device is answered
 * ERR_HANDSHAKE_UNAVAILABLE with a `retryAfterMs` (never ERR_HANDSHAKE_DENIED, never counted towards a lockout), its
 * agent keeps retrying with backoff on the same connection, and once the chain answers again it gets its session.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { DeviceAgent, DeviceKeyStore, type HandshakeOutcome } from '@tessera/device-agent';
import { ethrDid } from '@tessera/protocol';
import { type HolderKey, issuerRequest, loginWithCredentials, readHolderFile } from '@tessera/wallet';
import { Wallet } from 'ethers';
import { faultReport } from '../testing/fault-report.js';
import { stackProcesses } from '../testing/stack-process.js';

const { start, tmp, health } = stackProcesses();
const report = faultReport('handshake');

async function chainState(http: string, up: boolean) {
  for (let i = 0; i < 60; i++) {
    const h = await health(http);
    if ((h.body.parts.chain?.ok === true) === up) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  assert.fail(`the chain never became ${up ? 'up' : 'down'} in /healthz`);
}

describe('faults: device handshakes while the chain freezes and stops', () => {
  it('answers ERR_HANDSHAKE_UNAVAILABLE (not DENIED); the agent retries with backoff and gets its session back', async () => {
    const dir = tmp();
    const s = await start(dir);
    const anvil = Number(readFileSync(join(dir, 'chain', 'anvil.pid'), 'utf8'));
    const issuer = `${s.http}/issuer`;
    const admin = await loginWithCredentials(issuer, readHolderFile(join(dir, 'root-admin-wallet.json')));
    const holder = async (type: string, claims: object, key = Wallet.createRandom()) => {
      const did = ethrDid(31337, key.address);
      const r = await issuerRequest(issuer, 'POST', '/credentials', {
        token: admin,
        body: { type, subject: did, claims },
      });
      assert.equal(r.status, 201, r.text);
      return { did, privateKey: key.privateKey, credentials: [r.json.jwt as string] } satisfies HolderKey;
    };
    const manufacturer = await loginWithCredentials(
      issuer,
      await holder('ManufacturerCredential', { legalName: 'Hs SA', country: 'FR', manufacturerCode: 'HSK' }),
    );
    const ownerAccount = Wallet.createRandom();
    const registered = await issuerRequest(issuer, 'POST', '/devices/batches', {
      token: manufacturer,
      body: {
        devices: [0, 1].map((i) => ({
          owner: ethrDid(31337, ownerAccount.address),
          characteristics: {
            model: 'HSK-1',
            serial: `HSK-${i}-${randomBytes(3).toString('hex')}`,
            hardwareRevision: 'r1',
            firmwareHash: randomBytes(32).toString('hex'),
            mac: randomBytes(6).toString('hex'),
          },
        })),
      },
    });
    assert.equal(registered.status, 201, registered.text);
    const agents: DeviceAgent[] = [];
    for (const [i, d] of (registered.json.devices as { provisioning: unknown }[]).entries()) {
      const store = DeviceKeyStore.open(join(dir, `device-${i}`));
      const enrolled = store.enrol(d.provisioning);
      const owner = await loginWithCredentials(
        issuer,
        await holder('DeviceOwnerCredential', { device: enrolled.did }, ownerAccount),
      );
      const c = await issuerRequest(issuer, 'POST', `/devices/${enrolled.deviceId}/commission`, {
        token: owner,
        body: { identity: enrolled.did },
      });
      assert.equal(c.status, 200, c.text);
      const { brokerUrl: _b, ...identity } = store.load();
      agents.push(new DeviceAgent({ identity, brokerUrl: s.mqtt, backoff: { initialMs: 100, maxMs: 1000 } }));
    }
    const [first, second] = agents as [DeviceAgent, DeviceAgent];
    const denied: unknown[] = [];
    for (const a of agents) a.on('denied', (d) => denied.push(d));
    try {
      const granted = once(first, 'session');
      first.start();
      await granted;

      // 1. the chain freezes: a refresh on a live connection is answered "unavailable", with when to retry
      process.kill(anvil, 'SIGSTOP');
      report.inject('chain-freeze');
      try {
        await chainState(s.http, false);
        const outcomes: HandshakeOutcome[] = [];
        for (let i = 0; i < 8; i++) outcomes.push(await first.refresh());
        for (const o of outcomes) {
          assert.equal(o.ok, false);
          assert.equal(!o.ok && o.code, 'ERR_HANDSHAKE_UNAVAILABLE', JSON.stringify(o));
          assert.ok(!o.ok && (o.retryAfterMs ?? 0) > 0, 'the answer says when to retry');
        }
        // eight in a row would have started a lockout (5 failures) had they been refusals
        report.check('refresh-answered-unavailable', outcomes.length);

        // a device connecting during the outage: told to wait, retries by itself with backoff
        const retried = once(second, 'unavailable');
        second.start();
        const [u] = (await retried) as [{ retryAfterMs: number; nextAttemptMs: number }];
        assert.ok(u.nextAttemptMs >= u.retryAfterMs, JSON.stringify(u));
        report.check('agent-told-to-retry');
        assert.equal(second.session, undefined, 'nothing is granted while the chain cannot say the state');
      } finally {
        process.kill(anvil, 'SIGCONT');
      }
      const back = once(second, 'session');
      await chainState(s.http, true);
      await back;
      report.check('agent-session-after-resume');
      const again = await first.refresh();
      assert.equal(again.ok, true, JSON.stringify(again));
      report.check('refresh-granted-after-resume');

      // 2. the chain stops for good
      process.kill(anvil, 'SIGKILL');
      report.inject('chain-stop');
      await chainState(s.http, false);
      const stopped = await second.refresh();
      assert.equal(!stopped.ok && stopped.code, 'ERR_HANDSHAKE_UNAVAILABLE', JSON.stringify(stopped));
      report.check('refresh-answered-unavailable', 1);
      assert.deepEqual(denied, [], 'no device was told DENIED during the outage');
      report.check('no-denial');
      const metrics = await (await fetch(`${s.http}/metrics`)).text();
      assert.match(metrics, /outcome="unavailable"/, 'the outcome is counted apart from denials');
      report.check('metrics-count-unavailable');
    } finally {
      for (const a of agents) await a.stop();
      s.child.kill('SIGKILL');
    }
  });
});
