/**
 * kill -9 between the chain and the database, on device registration and commissioning, at the worst moment: the
 * stack runs with the test hook TESSERA_TEST_CRASH_AFTER_CHAIN_WRITE, which SIGKILLs it right after the chain write
 * is mined and before the database records it. After a restart (the intent is reconciled at start) a retry with the
 * same request id (Idempotency-Key) completes the operation: the batch has its id and the manufacturer its secrets;
 * the commissioned device has its owner and identity; nothing was written to the chain twice.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { DeviceKeyStore } from '@tessera/device-agent';
import { ethrDid } from '@tessera/protocol';
import { type HolderKey, issuerRequest, loginWithCredentials, readHolderFile } from '@tessera/wallet';
import { Wallet } from 'ethers';
import { faultReport, freePort, readSqlite } from '../testing/fault-report.js';
import { stackProcesses } from '../testing/stack-process.js';

const { start, tmp } = stackProcesses();
const report = faultReport('devices-crash');

async function post(base: string, path: string, token: string, body: unknown, key: string) {
  try {
    const res = await fetch(`${base}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'idempotency-key': key },
      body: JSON.stringify(body),
    });
    return { status: res.status, json: (await res.json()) as Record<string, any> };
  } catch {
    return { status: 0, json: {} }; // the connection died with the process
  }
}

describe('faults: kill -9 between the chain write and the database record (devices)', () => {
  it('finishes a registration and a commissioning after a crash, by reconciliation and a retry with the same request id', async () => {
    const dir = tmp();
    const file = join(dir, 'tessera.sqlite');
    const port = { TESSERA_HTTP_PORT: String(await freePort()) };
    const wallet = () => readHolderFile(join(dir, 'root-admin-wallet.json'));
    const holder = async (issuer: string, admin: string, type: string, claims: object, key = Wallet.createRandom()) => {
      const did = ethrDid(31337, key.address);
      const r = await issuerRequest(issuer, 'POST', '/credentials', {
        token: admin,
        body: { type, subject: did, claims },
      });
      assert.equal(r.status, 201, r.text);
      return { did, privateKey: key.privateKey, credentials: [r.json.jwt as string] } satisfies HolderKey;
    };

    // 1. registration: killed right after the batch is mined
    let s = await start(dir, { ...port, TESSERA_TEST_CRASH_AFTER_CHAIN_WRITE: 'device.registerBatch' });
    let issuer = `${s.http}/issuer`;
    let admin = await loginWithCredentials(issuer, wallet());
    const mKey = await holder(issuer, admin, 'ManufacturerCredential', {
      legalName: 'Faults SA',
      country: 'FR',
      manufacturerCode: 'FLT',
    });
    const ownerAccount = Wallet.createRandom();
    const ownerDid = ethrDid(31337, ownerAccount.address);
    const batch = {
      devices: [0, 1].map((i) => ({
        owner: ownerDid,
        characteristics: {
          model: 'FLT-1',
          serial: `FLT-${i}-${randomBytes(3).toString('hex')}`,
          hardwareRevision: 'r1',
          firmwareHash: randomBytes(32).toString('hex'),
          mac: randomBytes(6).toString('hex'),
        },
      })),
    };
    let manufacturer = await loginWithCredentials(issuer, mKey);
    const crashed = await post(issuer, '/devices/batches', manufacturer, batch, 'batch-1');
    assert.equal(crashed.status, 0, `the process died before answering (got ${crashed.status})`);
    await new Promise((r) => (s.child.exitCode !== null ? r(null) : s.child.once('exit', r)));
    assert.equal(s.child.signalCode, 'SIGKILL');
    report.inject('kill-9-after-chain-write', 1);
    const before = await readSqlite<{ n: number }>(
      file,
      'SELECT COUNT(*) AS n FROM issuer_devices WHERE batch_id IS NULL',
    );
    assert.equal(before[0]!.n, 2, 'the crash left both rows without their batch');

    s = await start(dir, { ...port, TESSERA_TEST_CRASH_AFTER_CHAIN_WRITE: 'device.commission' });
    issuer = `${s.http}/issuer`;
    const after = await readSqlite<{ n: number }>(
      file,
      'SELECT COUNT(*) AS n FROM issuer_devices WHERE batch_id IS NULL',
    );
    assert.equal(after[0]!.n, 0, 'reconciled at start: every row has its batch');
    report.check('reconciled-at-start', 2);
    manufacturer = await loginWithCredentials(issuer, mKey);
    const retried = await post(issuer, '/devices/batches', manufacturer, batch, 'batch-1');
    assert.equal(retried.status, 201, JSON.stringify(retried.json));
    assert.equal(retried.json.devices.length, 2);
    report.check('retry-delivers-secrets', retried.json.devices.length);
    const batches = await readSqlite<{ n: number }>(
      file,
      "SELECT COUNT(*) AS n FROM tessera_outbox WHERE kind = 'device.registerBatch'",
    );
    assert.equal(batches[0]!.n, 1, 'the batch was written to the chain once');
    report.check('chain-write-once');

    // 2. commissioning: killed right after the chain write
    const store = DeviceKeyStore.open(join(dir, 'device-0'));
    const enrolled = store.enrol(retried.json.devices[0].provisioning);
    admin = await loginWithCredentials(issuer, wallet());
    const owner = await loginWithCredentials(
      issuer,
      await holder(issuer, admin, 'DeviceOwnerCredential', { device: enrolled.did }, ownerAccount),
    );
    const path = `/devices/${enrolled.deviceId}/commission`;
    const c1 = await post(issuer, path, owner, { identity: enrolled.did }, 'commission-1');
    assert.equal(c1.status, 0, `the process died before answering (got ${c1.status} ${JSON.stringify(c1.json)})`);
    await new Promise((r) => (s.child.exitCode !== null ? r(null) : s.child.once('exit', r)));
    report.inject('kill-9-after-chain-write', 1);
    const half = await readSqlite<{ identity: string | null }>(
      file,
      `SELECT identity FROM issuer_devices WHERE device_id = '${enrolled.deviceId}'`,
    );
    assert.equal(half[0]!.identity, null, 'the crash left the device without its identity');

    s = await start(dir, port);
    issuer = `${s.http}/issuer`;
    const done = await readSqlite<{ identity: string | null; owner: string | null }>(
      file,
      `SELECT identity, owner FROM issuer_devices WHERE device_id = '${enrolled.deviceId}'`,
    );
    assert.equal(done[0]!.owner, ownerDid, 'reconciled at start: the owner is recorded');
    assert.ok(done[0]!.identity, 'reconciled at start: the identity is recorded');
    report.check('reconciled-at-start', 1);
    const c2 = await post(
      issuer,
      path,
      await loginWithCredentials(issuer, {
        did: ownerDid,
        privateKey: ownerAccount.privateKey,
        credentials: [
          (
            await holder(
              issuer,
              await loginWithCredentials(issuer, wallet()),
              'DeviceOwnerCredential',
              { device: enrolled.did },
              ownerAccount,
            )
          ).credentials[0]!,
        ],
      }),
      { identity: enrolled.did },
      'commission-1',
    );
    assert.equal(c2.status, 200, JSON.stringify(c2.json));
    assert.equal(c2.json.state, 'Active');
    assert.equal(c2.json.owner, ownerDid);
    report.check('retry-completes-commission');
    const pending = await readSqlite<{ n: number }>(
      file,
      "SELECT COUNT(*) AS n FROM issuer_device_intents WHERE status = 'pending'",
    );
    assert.equal(pending[0]!.n, 0, 'no intent is left pending');
    report.check('no-pending-intents');
    s.child.kill('SIGTERM');
  });
});
