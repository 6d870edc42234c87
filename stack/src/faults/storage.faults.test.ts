/**
 * A full disk under concurrent issuance and revocation, on a stack run as `npm start` runs it: the SQLite file is
 * held to a page limit (TESSERA_SQLITE_MAX_PAGES) a little above what the stack needs to start, and credentials are
 * issued until it is full. Every answer is a 201 or a coded 503 ERR_STORAGE_UNAVAILABLE; `/healthz` turns red while
 * the store refuses writes; after a kill -9 and a restart without the limit every acknowledged credential is in the
 * file exactly once with its audit entry, every acknowledged revocation is recorded, and health is green again.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { issuerRequest, loginWithCredentials, readHolderFile } from '@tessera/wallet';
import { ethrDid } from '@tessera/protocol';
import { Wallet } from 'ethers';
import { faultReport, freePort, readSqlite } from '../testing/fault-report.js';
import { stackProcesses } from '../testing/stack-process.js';

const { start, tmp, health } = stackProcesses();
const report = faultReport('storage');

describe('faults: a full disk (SQLite page limit) under concurrent issuance and revocation', () => {
  it('acknowledges only what reached the file, answers 503 with a code otherwise, and reports it in /healthz', async () => {
    const dir = tmp();
    const file = join(dir, 'tessera.sqlite');
    // the size the stack needs to start, then a limit a little above it
    const port = { TESSERA_HTTP_PORT: String(await freePort()) };
    const first = await start(dir, port);
    first.child.kill('SIGTERM');
    await new Promise((r) => first.child.once('exit', r));
    const startPages = (await readSqlite<{ page_count: number }>(file, 'PRAGMA page_count'))[0]!.page_count;
    const limited = await start(dir, { ...port, TESSERA_SQLITE_MAX_PAGES: String(startPages + 60) });
    const issuer = `${limited.http}/issuer`;
    const admin = await loginWithCredentials(issuer, readHolderFile(join(dir, 'root-admin-wallet.json')));

    // revocations need the operator role
    const opKey = Wallet.createRandom();
    const opDid = ethrDid(31337, opKey.address);
    const op = await issuerRequest(issuer, 'POST', '/credentials', {
      token: admin,
      body: { type: 'OperatorCredential', subject: opDid, claims: { name: 'fault operator' } },
    });
    assert.equal(op.status, 201, op.text);
    const operator = await loginWithCredentials(issuer, {
      did: opDid,
      privateKey: opKey.privateKey,
      credentials: [op.json.jwt],
    });
    const acked: string[] = [op.json.id];
    const revoked: string[] = [];
    const refusals = new Map<string, number>();
    const messages = new Set<string>();
    const refuse = (status: number, code: string, message: string) => {
      const k = `${status} ${code}`;
      if (status !== 503) messages.add(message);
      refusals.set(k, (refusals.get(k) ?? 0) + 1);
    };
    const issueOne = async (i: number) => {
      const did = ethrDid(31337, Wallet.createRandom().address);
      const r = await issuerRequest(issuer, 'POST', '/credentials', {
        token: admin,
        body: { type: 'OperatorCredential', subject: did, claims: { name: `holder ${i}` } },
      });
      if (r.status === 201) {
        acked.push(r.json.id);
        if (i % 4 === 0) {
          const v = await issuerRequest(issuer, 'POST', `/credentials/${encodeURIComponent(r.json.id)}/revoke`, {
            token: operator,
            body: { reason: 'fault suite' },
          });
          if (v.status === 200) revoked.push(r.json.id);
          else refuse(v.status, v.json?.error?.code, v.json?.error?.message);
        }
      } else refuse(r.status, r.json?.error?.code, r.json?.error?.message);
    };
    let redSeen = false;
    for (let wave = 0; wave < 40 && !redSeen; wave++) {
      await Promise.all(Array.from({ length: 12 }, (_, k) => issueOne(wave * 12 + k)));
      const h = await health(limited.http);
      if (h.status === 503 && h.body.parts.database?.ok === false) redSeen = true;
    }
    report.inject('full-disk', 1);
    report.inject('concurrent-requests', acked.length + [...refusals.values()].reduce((a, b) => a + b, 0));
    assert.ok(redSeen, `/healthz turned red once the store was full (refusals: ${JSON.stringify([...refusals])})`);
    report.check('health-red-while-full');
    const other = [...refusals.keys()].filter((k) => k !== '503 ERR_STORAGE_UNAVAILABLE');
    assert.deepEqual(other, [], `every refusal is a coded 503 ERR_STORAGE_UNAVAILABLE: ${[...messages]}`);
    report.check('refusals-coded-503', refusals.get('503 ERR_STORAGE_UNAVAILABLE') ?? 0);
    assert.ok(acked.length > 5, 'credentials were acknowledged before the store was full');

    limited.child.kill('SIGKILL');
    report.inject('kill-9');
    await new Promise((r) => limited.child.once('exit', r));
    const rows = await readSqlite<{ id: string; status: string }>(file, 'SELECT id, status FROM issuer_credentials');
    const count = new Map<string, number>();
    for (const r of rows) count.set(r.id, (count.get(r.id) ?? 0) + 1);
    const missing = acked.filter((id) => count.get(id) !== 1);
    assert.deepEqual(
      missing,
      [],
      `${missing.length} of ${acked.length} acknowledged credentials are not in the file once`,
    );
    report.check('acknowledged-credentials-present-once', acked.length);
    const status = new Map(rows.map((r) => [r.id, r.status]));
    assert.deepEqual(
      revoked.filter((id) => status.get(id) !== 'revoked'),
      [],
      'every acknowledged revocation is recorded',
    );
    report.check('acknowledged-revocations-recorded', revoked.length);
    const audit = await readSqlite<{ details: string }>(
      file,
      "SELECT details FROM issuer_audit WHERE action = 'credential.issue'",
    );
    const audited = audit.map((a) => a.details).join('\n');
    const unaudited = acked.filter((id) => !audited.includes(id));
    assert.deepEqual(unaudited, [], 'every acknowledged credential has its audit entry');
    report.check('audit-entries', acked.length);

    // room again: health green, writes accepted
    const again = await start(dir, port);
    const h = await health(again.http);
    assert.equal(h.status, 200, JSON.stringify(h.body.parts.database));
    report.check('health-green-after-room');
    const adminAgain = await loginWithCredentials(
      `${again.http}/issuer`,
      readHolderFile(join(dir, 'root-admin-wallet.json')),
    );
    const after = await issuerRequest(`${again.http}/issuer`, 'POST', '/credentials', {
      token: adminAgain,
      body: { type: 'AdminCredential', subject: ethrDid(31337, Wallet.createRandom().address), claims: { name: 'x' } },
    });
    assert.equal(after.status, 201, after.text);
    again.child.kill('SIGTERM');
  });
});
