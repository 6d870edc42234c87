import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { deviceIdOf, generateDeviceSecret } from '@tessera/protocol';
import type { DataSource } from 'typeorm';
import type { StoreBackend } from '../issuer-suite.js';
import { openIssuerDatabase } from '../store.js';
import { DbDeviceSecretVault, DeviceSecretEntity, deviceVaultKey } from './store.js';

/** The DB-backed device secret vault, run on every store (SQLite in vault.test.ts, PostgreSQL in vault.services.test.ts). */
export function deviceVaultSuite(backend: StoreBackend): void {
  describe(`device secret vault on ${backend.name}`, () => {
    let ds: DataSource;
    let dir: string;
    const key = deviceVaultKey(randomBytes(32).toString('hex'));

    before(async () => {
      dir = mkdtempSync(join(tmpdir(), 'tessera-device-vault-'));
      ds = await openIssuerDatabase(await backend.freshDatabase(dir));
    });
    after(async () => {
      if (ds?.isInitialized) await ds.destroy();
      rmSync(dir, { recursive: true, force: true });
      await backend.cleanup();
    });

    it('stores a secret sealed (never in clear) and gives back the secret and salt', async () => {
      const vault = new DbDeviceSecretVault(ds, key);
      const id = deviceIdOf('did:ethr:0x1:0xabc', 'VAULT-1');
      const secret = generateDeviceSecret();
      const salt = randomBytes(32);
      await vault.put(id, secret, salt);
      const got = await vault.get(id);
      assert.ok(got);
      assert.deepEqual(got.secret, secret);
      assert.deepEqual(got.salt, salt);
      const raw = JSON.stringify(await ds.getRepository(DeviceSecretEntity).find());
      assert.ok(!raw.includes(secret.toString('hex')), 'the row holds no clear secret (hex)');
      assert.ok(!raw.includes(secret.toString('base64url')), 'the row holds no clear secret (base64url)');
      assert.ok((await vault.list()).includes(id));
      await vault.delete(id);
      assert.equal(await vault.get(id), undefined);
    });

    it('refuses a sealed secret moved into another device’s row, and a wrong key', async () => {
      const vault = new DbDeviceSecretVault(ds, key);
      const a = deviceIdOf('did:ethr:0x1:0xabc', 'VAULT-A');
      const b = deviceIdOf('did:ethr:0x1:0xabc', 'VAULT-B');
      await vault.put(a, generateDeviceSecret(), randomBytes(32));
      await vault.put(b, generateDeviceSecret(), randomBytes(32));
      const repo = ds.getRepository(DeviceSecretEntity);
      const rowA = await repo.findOneByOrFail({ deviceId: a });
      await repo.update({ deviceId: b }, { sealed: rowA.sealed });
      await assert.rejects(vault.get(b), 'the AAD names the device');
      const other = new DbDeviceSecretVault(ds, deviceVaultKey(randomBytes(32).toString('hex')));
      await assert.rejects(other.get(a), 'another key does not open it');
      assert.equal(await vault.get(deviceIdOf('x', 'unknown')), undefined);
    });
  });
}
