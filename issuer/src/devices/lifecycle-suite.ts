import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import {
  ANVIL_FUNDER_KEY,
  type AnvilChain,
  DeviceRegistry__factory,
  ensureDeployed,
  makeProvider,
  Outbox,
  readDeviceStatus,
  startAnvil,
} from '@tessera/contracts';
import { deviceIdOf, ethrDid, MAX_DEVICE_BATCH, secretCommitment } from '@tessera/protocol';
import { type JsonRpcProvider, Wallet } from 'ethers';
import type { DataSource } from 'typeorm';
import { type HolderKey, issuerRequest, loginWithCredentials } from '@tessera/wallet';
import type { StoreBackend } from '../issuer-suite.js';
import { readHolderFile } from '@tessera/wallet';
import { issuerTestCore } from '../testing/core.js';
import { type IssuerService, startIssuerService } from '../service.js';
import { openIssuerDatabase } from '../store.js';
import { DeviceEntity, DeviceSecretEntity } from './store.js';

const characteristics = (serial: string) => ({
  model: 'SMGW-1000',
  serial,
  hardwareRevision: 'r2',
  firmwareHash: randomBytes(32).toString('hex'),
  mac: randomBytes(6).toString('hex'),
});

/** The device lifecycle over HTTP, run on every store (SQLite in devices.test.ts, PostgreSQL in devices.services.test.ts). */
export function deviceLifecycleSuite(backend: StoreBackend): void {
  describe(`device lifecycle over the issuer API (real anvil, ${backend.name}, outbox)`, () => {
    let chain: AnvilChain;
    let provider: JsonRpcProvider;
    let ds: DataSource;
    let service: IssuerService;
    let outbox: Outbox;
    let server: Server;
    let base: string;
    let dir: string;
    let registryAddress: string;
    let admin: string;
    let operator: string;
    let manufacturer: HolderKey;
    let manufacturerToken: string;
    /** Every body the API answered after registration: none may carry a secret. */
    const later: string[] = [];

    const call = async (method: string, path: string, token?: string, body?: unknown) => {
      const r = await issuerRequest(base, method, path, { ...(token ? { token } : {}), body });
      later.push(r.text);
      return r;
    };
    const holder = async (type: string, claims: Record<string, unknown>): Promise<HolderKey> => {
      const key = Wallet.createRandom();
      const did = ethrDid(chain.chainId, key.address);
      const r = await issuerRequest(base, 'POST', '/credentials', {
        token: admin,
        body: { type, subject: did, claims },
      });
      assert.equal(r.status, 201, r.text);
      return { did, privateKey: key.privateKey, credentials: [r.json.jwt] };
    };
    /** A device owner: a DeviceOwnerCredential for the DID of a fresh device key. */
    const owner = async () => {
      const deviceKey = Wallet.createRandom();
      const deviceDid = ethrDid(chain.chainId, deviceKey.address);
      const h = await holder('DeviceOwnerCredential', { device: deviceDid });
      return { holder: h, token: await loginWithCredentials(base, h), deviceKey, deviceDid };
    };
    const register = async (serials: string[], extra: Record<string, unknown> = {}) =>
      call('POST', '/devices/batches', manufacturerToken, {
        devices: serials.map((s) => ({ characteristics: characteristics(s), ...extra })),
      });

    let testCore: Awaited<ReturnType<typeof issuerTestCore>> | undefined;
    before(async () => {
      dir = mkdtempSync(join(tmpdir(), 'tessera-devices-'));
      chain = await startAnvil({});
      provider = makeProvider(chain.rpcUrl, chain.chainId);
      const relayer = new Wallet(ANVIL_FUNDER_KEY, provider);
      const addresses = await ensureDeployed({
        provider,
        deployer: relayer,
        chainId: chain.chainId,
        file: join(dir, 'deployments.json'),
        allowDeploy: true,
      });
      registryAddress = addresses.DeviceRegistry;
      ds = await openIssuerDatabase(await backend.freshDatabase(dir));
      outbox = new Outbox({ dataSource: ds, signer: relayer, provider, chainId: chain.chainId });
      service = await startIssuerService({
        config: { dataDir: dir, publicBaseUrl: 'https://issuer.example' },
        dataSource: ds,
        provider,
        chainId: chain.chainId,
        registryAddress: addresses.EthereumDIDRegistry,
        outbox,
        deviceRegistryAddress: registryAddress,
        deviceBrokerUrl: 'mqtt://127.0.0.1:1883',
        auth: async (i) => {
          testCore = await issuerTestCore(i, { chainId: chain.chainId });
          return testCore.core;
        },
      });
      server = service.app.listen(0, '127.0.0.1');
      await new Promise((r) => server.once('listening', r));
      base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      admin = await loginWithCredentials(base, readHolderFile(service.rootAdmin.file));
      operator = await loginWithCredentials(base, await holder('OperatorCredential', { name: 'Grid ops' }));
      manufacturer = await holder('ManufacturerCredential', {
        legalName: 'Acme Meters GmbH',
        country: 'DE',
        manufacturerCode: 'ACME',
      });
      manufacturerToken = await loginWithCredentials(base, manufacturer);
    });
    after(async () => {
      server?.closeAllConnections();
      server?.close();
      await service?.stop();
      await testCore?.stop();
      outbox?.stop();
      if (ds?.isInitialized) await ds.destroy();
      provider?.destroy();
      await chain?.stop();
      rmSync(dir, { recursive: true, force: true });
      await backend.cleanup();
    });

    it('registers a batch in one transaction and hands each secret out once, as a provisioning file', async () => {
      const r = await register(['B1-1', 'B1-2', 'B1-3']);
      assert.equal(r.status, 201, r.text);
      const { batchId, root, devices } = r.json;
      assert.equal(devices.length, 3);
      const registry = DeviceRegistry__factory.connect(registryAddress, provider);
      const onChain = await registry.batchOf(batchId);
      assert.equal(onChain.root, root);
      assert.equal(onChain.count, 3n);
      for (const d of devices) {
        assert.deepEqual(Object.keys(d.provisioning).sort(), [
          'brokerUrl',
          'chainId',
          'characteristics',
          'deviceId',
          'secret',
        ]);
        assert.equal(d.provisioning.chainId, chain.chainId);
        const secret = Buffer.from(d.provisioning.secret.slice(2), 'hex');
        assert.equal(secret.length, 32);
        const vaulted = await service.devices!.vault.get(d.deviceId);
        assert.ok(vaulted);
        assert.deepEqual(vaulted.secret, secret);
        const row = await ds.getRepository(DeviceEntity).findOneByOrFail({ deviceId: d.deviceId });
        assert.equal(row.commitment, secretCommitment(Buffer.from(d.salt, 'hex'), secret));
        // Not materialised yet: the chain holds only the batch root.
        assert.equal((await readDeviceStatus(registry, d.deviceId)).state, 'Unknown');
      }
      const seen = await call('GET', `/devices/${devices[0].deviceId}`, manufacturerToken);
      assert.equal(seen.status, 200, seen.text);
      assert.equal(seen.json.manufacturer, manufacturer.did);
      assert.equal(seen.json.secret, undefined);
      assert.equal(seen.json.salt, undefined);
    });

    it('refuses a second registration of the same device, an oversized batch, bad input and the wrong role', async () => {
      const first = await register(['DUP-1']);
      assert.equal(first.status, 201, first.text);
      const again = await register(['DUP-1', 'DUP-2']);
      assert.equal(again.status, 409);
      assert.equal(again.json.error.code, 'ERR_DEVICE_EXISTS');
      assert.deepEqual(again.json.error.details.deviceIds, [first.json.devices[0].deviceId]);
      // DUP-2 was not kept half-registered: it registers on its own.
      assert.equal((await register(['DUP-2'])).status, 201);
      const twice = await register(['TWICE', 'TWICE']);
      assert.equal(twice.json.error.code, 'ERR_DEVICE_EXISTS');

      const big = await register(Array.from({ length: MAX_DEVICE_BATCH + 1 }, (_, i) => `BIG-${i}`));
      assert.equal(big.status, 413);
      assert.equal(big.json.error.code, 'ERR_DEVICE_BATCH_TOO_LARGE');
      const empty = await call('POST', '/devices/batches', manufacturerToken, { devices: [] });
      assert.equal(empty.json.error.code, 'ERR_VALIDATION');
      const badChars = await call('POST', '/devices/batches', manufacturerToken, {
        devices: [{ characteristics: { model: 'x' } }],
      });
      assert.equal(badChars.status, 422);
      assert.equal(badChars.json.error.code, 'ERR_VALIDATION');
      const badId = await register(['BADID'], { deviceId: '0x1234' });
      assert.equal(badId.status, 400);
      assert.equal(badId.json.error.code, 'ERR_DEVICE_ID_INVALID');

      const asOperator = await call('POST', '/devices/batches', operator, { devices: [] });
      assert.equal(asOperator.status, 403);
      assert.equal(asOperator.json.error.code, 'ERR_POLICY_DENIED', 'the route policy names the role it needs');
      const anonymous = await call('POST', '/devices/batches', undefined, { devices: [] });
      assert.equal(anonymous.json.error.code, 'ERR_AUTH_REQUIRED');
    });

    it('refuses with ERR_CHAIN_TX_FAILED and keeps nothing when the chain refuses the batch', async () => {
      const registry = DeviceRegistry__factory.connect(registryAddress, provider);
      const role = await registry.MANUFACTURER();
      const revoked = await outbox.submit(`test-revoke-role:${Date.now()}`, {
        kind: 'test.revokeRole',
        to: registryAddress,
        data: registry.interface.encodeFunctionData('revokeRole', [role, outbox.address]),
      });
      assert.equal(revoked.status, 'mined');
      const refused = await register(['NOROLE-1']);
      assert.equal(refused.status, 502, refused.text);
      assert.equal(refused.json.error.code, 'ERR_CHAIN_TX_FAILED');
      const id = deviceIdOf(manufacturer.did, 'NOROLE-1');
      assert.equal(await ds.getRepository(DeviceEntity).countBy({ deviceId: id }), 0);
      assert.equal(await ds.getRepository(DeviceSecretEntity).countBy({ deviceId: id }), 0);
      const granted = await service.devices!.ensureRegistryRoles();
      assert.ok(granted.ok);
      const again = await register(['NOROLE-1']);
      assert.equal(again.status, 201, 'the devices were not kept half-registered');
    });

    it('answers malformed and unknown device ids with their codes', async () => {
      const malformed = await call('GET', '/devices/0xnothex', operator);
      assert.equal(malformed.status, 400);
      assert.equal(malformed.json.error.code, 'ERR_DEVICE_ID_INVALID');
      const unknown = await call('POST', `/devices/0x${'ab'.repeat(32)}/suspend`, operator);
      assert.equal(unknown.status, 404);
      assert.equal(unknown.json.error.code, 'ERR_DEVICE_UNKNOWN');
    });

    it('documents every device route in the OpenAPI document', async () => {
      const spec = (await issuerRequest(base, 'GET', '/openapi.json')).json;
      for (const p of ['batches', '{id}', '{id}/commission', '{id}/suspend', '{id}/resume', '{id}/revoke']) {
        assert.ok(spec.paths[`/devices/${p}`], `/devices/${p}`);
      }
      assert.ok(spec.paths['/devices'].get.security, 'the list of devices');
      assert.ok(spec.paths['/devices/{id}/decommission'].post.security);
    });

    it('lets the holder of a DeviceOwnerCredential for the device DID commission it, and nobody else', async () => {
      const [d] = (await register(['OWN-1'])).json.devices;
      const alice = await owner();
      const bob = await owner();
      const asManufacturer = await call('POST', `/devices/${d.deviceId}/commission`, manufacturerToken, {
        identity: alice.deviceKey.address,
      });
      assert.equal(asManufacturer.json.error.code, 'ERR_POLICY_DENIED', 'the route policy names the role it needs');
      // Bob's credential names another device DID.
      const wrong = await call('POST', `/devices/${d.deviceId}/commission`, bob.token, {
        identity: alice.deviceKey.address,
      });
      assert.equal(wrong.status, 403);
      assert.equal(wrong.json.error.code, 'ERR_DEVICE_NOT_OWNER');
      const malformed = await call('POST', `/devices/${d.deviceId}/commission`, alice.token, { identity: 'nope' });
      assert.equal(malformed.json.error.code, 'ERR_VALIDATION');

      const ok = await call('POST', `/devices/${d.deviceId}/commission`, alice.token, { identity: alice.deviceDid });
      assert.equal(ok.status, 200, ok.text);
      assert.equal(ok.json.state, 'Active');
      assert.equal(ok.json.did, alice.deviceDid);
      assert.equal(ok.json.owner, alice.holder.did);
      const registry = DeviceRegistry__factory.connect(registryAddress, provider);
      assert.equal((await readDeviceStatus(registry, d.deviceId)).identity, alice.deviceKey.address.toLowerCase());
      const twice = await call('POST', `/devices/${d.deviceId}/commission`, alice.token, {
        identity: alice.deviceDid,
      });
      assert.equal(twice.status, 409);
      assert.equal(twice.json.error.code, 'ERR_DEVICE_STATE');
      // The owner sees it; another owner does not.
      assert.equal((await call('GET', `/devices/${d.deviceId}`, alice.token)).status, 200);
      assert.equal((await call('GET', `/devices/${d.deviceId}`, bob.token)).json.error.code, 'ERR_FORBIDDEN');
    });

    it('keeps a device assigned at registration for its owner', async () => {
      const carol = await owner();
      const mallory = await owner();
      const [d] = (await register(['ASSIGNED-1'], { owner: carol.holder.did })).json.devices;
      const stolen = await call('POST', `/devices/${d.deviceId}/commission`, mallory.token, {
        identity: mallory.deviceDid,
      });
      assert.equal(stolen.json.error.code, 'ERR_DEVICE_NOT_OWNER');
      const ok = await call('POST', `/devices/${d.deviceId}/commission`, carol.token, { identity: carol.deviceDid });
      assert.equal(ok.status, 200, ok.text);
    });

    it('lists the devices a caller may see: every one for an operator, its own for a manufacturer or an owner', async () => {
      const dave = await owner();
      const [d] = (await register(['LIST-1'], { owner: dave.holder.did })).json.devices;
      const otherMaker = await loginWithCredentials(
        base,
        await holder('ManufacturerCredential', {
          legalName: 'Other Meters SA',
          country: 'FR',
          manufacturerCode: 'OTHR',
        }),
      );
      type Listed = { deviceId: string; manufacturer: string; owner: string | null; state: string };
      const all = await call('GET', '/devices?limit=100', operator);
      assert.equal(all.status, 200, all.text);
      assert.ok((all.json.items as Listed[]).some((x) => x.deviceId === d.deviceId));
      assert.equal(all.text.includes('"secret"'), false);
      const made = (await call('GET', '/devices?limit=100', manufacturerToken)).json.items as Listed[];
      assert.ok(made.some((x) => x.deviceId === d.deviceId));
      assert.ok(made.every((x) => x.manufacturer === manufacturer.did));
      const owned = await call('GET', '/devices', dave.token);
      assert.deepEqual(
        (owned.json.items as Listed[]).map((x) => [x.deviceId, x.owner]),
        [[d.deviceId, dave.holder.did]],
      );
      assert.deepEqual((await call('GET', '/devices', otherMaker)).json.items, []);
      // pages, newest first
      const first = await call('GET', '/devices?limit=1', operator);
      assert.equal(first.json.items.length, 1);
      assert.equal(first.json.next, 1);
      const second = await call('GET', '/devices?limit=1&offset=1', operator);
      assert.notEqual(second.json.items[0].deviceId, first.json.items[0].deviceId);
      // refused: bad paging, no token
      assert.equal((await call('GET', '/devices?limit=0', operator)).json.error.code, 'ERR_VALIDATION');
      assert.equal((await call('GET', '/devices?offset=-1', operator)).json.error.code, 'ERR_VALIDATION');
      assert.equal((await call('GET', '/devices?limit=2&sort=x', operator)).json.error.code, 'ERR_VALIDATION');
      assert.equal((await call('GET', '/devices')).json.error.code, 'ERR_AUTH_REQUIRED');
    });

    it('lets an operator suspend, resume and revoke, refuses others and impossible transitions', async () => {
      const [d] = (await register(['OPS-1'])).json.devices;
      const o = await owner();
      assert.equal(
        (await call('POST', `/devices/${d.deviceId}/commission`, o.token, { identity: o.deviceDid })).status,
        200,
      );
      const byOwner = await call('POST', `/devices/${d.deviceId}/suspend`, o.token);
      assert.equal(byOwner.json.error.code, 'ERR_POLICY_DENIED', 'the route policy names the role it needs');
      const byAdmin = await call('POST', `/devices/${d.deviceId}/revoke`, admin);
      assert.equal(byAdmin.json.error.code, 'ERR_POLICY_DENIED', 'the route policy names the role it needs');
      const notSuspended = await call('POST', `/devices/${d.deviceId}/resume`, operator);
      assert.equal(notSuspended.status, 409);
      assert.equal(notSuspended.json.error.code, 'ERR_DEVICE_STATE');
      assert.equal((await call('POST', `/devices/${d.deviceId}/suspend`, operator)).json.state, 'Suspended');
      assert.equal((await call('POST', `/devices/${d.deviceId}/resume`, operator)).json.state, 'Active');
      assert.equal((await call('POST', `/devices/${d.deviceId}/revoke`, operator)).json.state, 'Revoked');
      const again = await call('POST', `/devices/${d.deviceId}/revoke`, operator);
      assert.equal(again.json.error.code, 'ERR_DEVICE_STATE');
      const audit = await issuerRequest(base, 'GET', '/audit?limit=1000', { token: admin });
      const actions = audit.json.items.map((e: { what?: string; action?: string }) => e.what ?? e.action);
      for (const a of ['device.register', 'device.commission', 'device.suspend', 'device.resume', 'device.revoke']) {
        assert.ok(actions.includes(a), `audit records ${a}`);
      }
    });

    it('lets the owner or an operator decommission, also a device still only in its batch', async () => {
      const [d, e] = (await register(['DEC-1', 'DEC-2'])).json.devices;
      const o = await owner();
      const other = await owner();
      assert.equal(
        (await call('POST', `/devices/${d.deviceId}/commission`, o.token, { identity: o.deviceDid })).status,
        200,
      );
      const notTheirs = await call('POST', `/devices/${d.deviceId}/decommission`, other.token);
      assert.equal(notTheirs.json.error.code, 'ERR_DEVICE_NOT_OWNER');
      const mine = await call('POST', `/devices/${d.deviceId}/decommission`, o.token);
      assert.equal(mine.status, 200, mine.text);
      assert.equal(mine.json.state, 'Decommissioned');
      const unmaterialised = await call('POST', `/devices/${e.deviceId}/decommission`, operator);
      assert.equal(unmaterialised.status, 200, unmaterialised.text);
      assert.equal(unmaterialised.json.state, 'Decommissioned');
    });

    it('never returns a secret again: not in any later answer, not in clear in the database', async () => {
      const r = await issuerRequest(base, 'POST', '/devices/batches', {
        token: manufacturerToken,
        body: { devices: [{ characteristics: characteristics('SECRET-1') }] },
      });
      assert.equal(r.status, 201);
      const d = r.json.devices[0];
      const secretHex = d.provisioning.secret.slice(2) as string;
      const o = await owner();
      await call('POST', `/devices/${d.deviceId}/commission`, o.token, { identity: o.deviceDid });
      await call('GET', `/devices/${d.deviceId}`, operator);
      await call('GET', `/devices/${d.deviceId}`, manufacturerToken);
      await call('POST', `/devices/${d.deviceId}/suspend`, operator);
      await call('GET', '/audit?limit=1000', admin);
      for (const text of later) assert.ok(!text.toLowerCase().includes(secretHex), 'no answer carries the secret');
      const rows = JSON.stringify([
        await ds.getRepository(DeviceEntity).find(),
        await ds.getRepository(DeviceSecretEntity).find(),
        await ds.query('SELECT * FROM issuer_audit'),
        await ds.query('SELECT * FROM tessera_outbox'),
      ]);
      assert.ok(!rows.toLowerCase().includes(secretHex), 'no table holds the secret in clear');
    });

    it('CLI: registers a batch into provisioning files (0600) and runs operator actions', async () => {
      const cli = fileURLToPath(new URL('../../../wallet/src/admin-cli.ts', import.meta.url));
      const file = join(dir, 'devices.json');
      const out = join(dir, 'provisioning');
      const { writeFileSync } = await import('node:fs');
      writeFileSync(file, JSON.stringify({ devices: [{ characteristics: characteristics('CLI-1') }] }));
      // Asynchronously: the issuer answering the CLI runs in this process.
      const run = (...args: string[]) =>
        new Promise<{ status: number; stdout: string; stderr: string }>((resolve) => {
          execFile(process.execPath, ['--import', 'tsx', cli, ...args, '--url', base], (e, stdout, stderr) =>
            resolve({ status: e ? Number(e.code ?? 1) : 0, stdout, stderr }),
          );
        });
      const reg = await run('devices', 'register', '--token', manufacturerToken, '--file', file, '--out', out);
      assert.equal(reg.status, 0, reg.stderr);
      const printed = JSON.parse(reg.stdout) as { devices: string[] };
      const id = printed.devices[0]!;
      assert.ok(!reg.stdout.includes('secret'), 'stdout carries no secret');
      const prov = join(out, `${id}.json`);
      assert.equal(statSync(prov).mode & 0o777, 0o600);
      assert.equal(JSON.parse(readFileSync(prov, 'utf8')).deviceId, id);
      assert.deepEqual(readdirSync(out).sort(), [`${id}.batch.json`, `${id}.json`]);
      const show = await run('devices', 'show', '--token', operator, '--device', id);
      assert.equal(show.status, 0, show.stderr);
      assert.equal(JSON.parse(show.stdout).state, 'Unknown');
      const refused = await run('devices', 'suspend', '--token', operator, '--device', id);
      assert.equal(refused.status, 1);
      assert.match(refused.stderr, /ERR_DEVICE_STATE/);
    });
  });
}
