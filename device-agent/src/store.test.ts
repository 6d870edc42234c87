import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { deviceIdOf } from '@tessera/protocol';
import { Wallet } from 'ethers';
import { DeviceKeyStore } from './store.js';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
const fresh = () => {
  const d = join(mkdtempSync(join(tmpdir(), 'tessera-agent-')), 'state');
  dirs.push(d);
  return d;
};

const provisioning = (secret: Buffer, privateKey?: string) => ({
  deviceId: deviceIdOf('0x00000000000000000000000000000000000000aa', 'SN-7'),
  secret: `0x${secret.toString('hex')}`,
  chainId: 31337,
  characteristics: {
    model: 'SMGW-1000',
    serial: 'SN-7',
    hardwareRevision: 'r2',
    firmwareHash: 'ab'.repeat(32),
    mac: '00:1a:2b:3c:4d:5e',
  },
  ...(privateKey ? { privateKey } : {}),
});

describe('device key store', () => {
  it('keeps the secret and the DID key sealed on disk, in files only the owner can read', () => {
    const dir = fresh();
    const secret = randomBytes(32);
    const key = Wallet.createRandom().privateKey;
    const store = DeviceKeyStore.open(dir);
    const enrolled = store.enrol(provisioning(secret, key));
    assert.equal(enrolled.did, `did:ethr:0x7a69:${new Wallet(key).address.toLowerCase()}`);
    assert.equal(statSync(dir).mode & 0o777, 0o700);
    for (const f of readdirSync(dir)) {
      assert.equal(statSync(join(dir, f)).mode & 0o777, 0o600, f);
      const text = readFileSync(join(dir, f), 'utf8');
      assert.ok(!text.includes(secret.toString('hex')) && !text.includes(secret.toString('base64url')), f);
      assert.ok(!text.includes(key.slice(2)), f);
    }
    const loaded = DeviceKeyStore.open(dir).load();
    assert.deepEqual(Buffer.from(loaded.secret), secret);
    assert.equal(loaded.privateKey, key);
  });

  it('generates a DID key on the device when the provisioning file has none', () => {
    const store = DeviceKeyStore.open(fresh());
    const a = store.enrol(provisioning(randomBytes(32)));
    assert.match(a.address, /^0x[0-9a-f]{40}$/);
    assert.equal(new Wallet(store.load().privateKey).address.toLowerCase(), a.address);
  });

  it('refuses a state file others can read, a short secret, and another master key', () => {
    const dir = fresh();
    DeviceKeyStore.open(dir).enrol(provisioning(randomBytes(32)));
    chmodSync(join(dir, 'device.json'), 0o644);
    assert.throws(() => DeviceKeyStore.open(dir).load(), /readable by others/);
    chmodSync(join(dir, 'device.json'), 0o600);
    assert.throws(() => DeviceKeyStore.open(fresh()).enrol(provisioning(randomBytes(16))));
    assert.throws(() => DeviceKeyStore.open(dir, 'ab'.repeat(32)).load());
  });
});
