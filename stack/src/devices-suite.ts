import assert from 'node:assert/strict';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DeviceAgent, type DeviceSession, DeviceKeyStore } from '@tessera/device-agent';
import { type HolderKey, issuerRequest, loginWithCredentials, readHolderFile } from '@tessera/wallet';
import { ethrDid, silentLogger } from '@tessera/protocol';
import { Wallet } from 'ethers';
import { loadConfig } from './config.js';
import { type RunningStack, startStack } from './stack.js';

/**
 * The device path through the whole stack, started as `npm start` starts it (on ports 0): a manufacturer registers a
 * device over the issuer API, the device agent enrols the provisioning file, its owner commissions it, the agent
 * authenticates on the stack's broker, and an operator's revoke over HTTP drops its session.
 */
export interface StackDevicesSuiteOptions {
  /** Extra environment for the stack (for example a PostgreSQL database and Redis). */
  env?(): Promise<Record<string, string>>;
  cleanup?(): Promise<void>;
  /** Called once the device has a session (for example: the handshake's state went to the shared store). */
  afterSession?(stack: RunningStack, deviceId: string): Promise<void>;
}

export function stackDevicesSuite(label: string, options: StackDevicesSuiteOptions = {}): void {
  describe(`devices through the stack on ${label} (issuer API → device agent → broker → revoke)`, () => {
    let dir: string;
    let stack: RunningStack;
    let issuerUrl: string;
    let admin: string;
    const agents: DeviceAgent[] = [];

    before(async () => {
      dir = mkdtempSync(join(tmpdir(), 'tessera-stack-devices-'));
      const config = loadConfig({
        TESSERA_DATA_DIR: join(dir, 'stack'),
        TESSERA_HTTP_PORT: '0',
        TESSERA_MQTT_PORT: '0',
        ...(await options.env?.()),
      });
      stack = await startStack(config, { log: silentLogger });
      issuerUrl = `${stack.urls.http}/issuer`;
      admin = await loginWithCredentials(issuerUrl, readHolderFile(stack.issuer.rootAdmin.file));
    });
    after(async () => {
      for (const a of agents) await a.stop();
      await stack?.stop();
      rmSync(dir, { recursive: true, force: true });
      await options.cleanup?.();
    });

    const holder = async (type: string, claims: Record<string, unknown>): Promise<HolderKey> => {
      const key = Wallet.createRandom();
      const did = ethrDid(stack.chainId, key.address);
      const r = await issuerRequest(issuerUrl, 'POST', '/credentials', {
        token: admin,
        body: { type, subject: did, claims },
      });
      assert.equal(r.status, 201, r.text);
      return { did, privateKey: key.privateKey, credentials: [r.json.jwt] };
    };

    it('reports the broker in /healthz and the ready URLs', async () => {
      assert.match(stack.urls.mqtt, /^mqtt:\/\/127\.0\.0\.1:\d+$/);
      assert.notEqual(stack.urls.mqtt, 'mqtt://127.0.0.1:0');
      const h = (await (await fetch(stack.urls.healthz)).json()) as { parts: Record<string, Record<string, unknown>> };
      assert.equal(h.parts.mqtt?.ok, true);
      assert.equal(h.parts.mqtt?.url, stack.urls.mqtt);
      assert.ok(stack.devices.handshake, 'the handshake verifier runs on the broker');
    });

    it('a registered, enrolled, commissioned device authenticates; an operator revoke drops its session', async (t) => {
      const manufacturer = await loginWithCredentials(
        issuerUrl,
        await holder('ManufacturerCredential', {
          legalName: 'Acme Meters GmbH',
          country: 'DE',
          manufacturerCode: 'ACME',
        }),
      );
      const operator = await loginWithCredentials(issuerUrl, await holder('OperatorCredential', { name: 'Grid ops' }));

      // manufacturer: one batch; the provisioning file carries the secret and the stack's broker URL
      const registered = await issuerRequest(issuerUrl, 'POST', '/devices/batches', {
        token: manufacturer,
        body: {
          devices: [
            {
              characteristics: {
                model: 'SMGW-1000',
                serial: 'STACK-1',
                hardwareRevision: 'r2',
                firmwareHash: randomBytes(32).toString('hex'),
                mac: randomBytes(6).toString('hex'),
              },
            },
          ],
        },
      });
      assert.equal(registered.status, 201, registered.text);
      const provisioning = registered.json.devices[0].provisioning;
      assert.equal(provisioning.brokerUrl, stack.urls.mqtt);

      // device: enrol (the DID key is generated on the device), as `npm run device -- enrol` does
      const store = DeviceKeyStore.open(join(dir, 'device'));
      const enrolled = store.enrol(provisioning);

      // owner: a DeviceOwnerCredential for the device's DID, then commission over HTTP
      const owner = await loginWithCredentials(
        issuerUrl,
        await holder('DeviceOwnerCredential', { device: enrolled.did }),
      );
      const commissioned = await issuerRequest(issuerUrl, 'POST', `/devices/${enrolled.deviceId}/commission`, {
        token: owner,
        body: { identity: enrolled.did },
      });
      assert.equal(commissioned.status, 200, commissioned.text);
      assert.equal(commissioned.json.state, 'Active');

      // device: run against the stack's broker
      const { brokerUrl, ...identity } = store.load();
      assert.equal(brokerUrl, stack.urls.mqtt);
      const agent = new DeviceAgent({
        identity,
        brokerUrl: stack.urls.mqtt,
        backoff: { initialMs: 50, maxMs: 500 },
        handshakeTimeoutMs: 10_000,
      });
      agents.push(agent);
      const session = once(agent, 'session') as Promise<[DeviceSession]>;
      agent.start();
      const [s] = await session;
      assert.ok(s.credential.split('.').length === 3, 'a DeviceSessionCredential (JWT)');
      assert.ok(stack.devices.broker.isConnected(enrolled.deviceId));
      await options.afterSession?.(stack, enrolled.deviceId);

      // a relying party checks the session credential at /verify: valid while the device is active, refused once
      // the operator suspends it (and valid again when resumed), then refused for good once revoked (below)
      const verifierUrl = `${stack.urls.http}/verifier`;
      const verify = (jwt: string) => issuerRequest(verifierUrl, 'POST', '/verify', { body: { jwt } });
      const valid = await verify(s.credential);
      assert.equal(valid.status, 200, valid.text);
      assert.equal(valid.json.subject, enrolled.did);
      assert.deepEqual(valid.json.types, ['DeviceSessionCredential']);
      const suspended = await issuerRequest(issuerUrl, 'POST', `/devices/${enrolled.deviceId}/suspend`, {
        token: operator,
      });
      assert.equal(suspended.status, 200, suspended.text);
      assert.equal((await verify(s.credential)).json.error?.code, 'ERR_VC_SUSPENDED');
      const back = once(agent, 'session') as Promise<[DeviceSession]>;
      const resumed = await issuerRequest(issuerUrl, 'POST', `/devices/${enrolled.deviceId}/resume`, {
        token: operator,
      });
      assert.equal(resumed.status, 200, resumed.text);
      assert.equal((await verify(s.credential)).status, 200, 'valid again once resumed');
      await back;

      // operator: revoke over HTTP; the live session is dropped at once and the next handshake refused
      const dropped = once(agent, 'disconnected');
      const t0 = Date.now();
      const revoked = await issuerRequest(issuerUrl, 'POST', `/devices/${enrolled.deviceId}/revoke`, {
        token: operator,
      });
      assert.equal(revoked.status, 200, revoked.text);
      assert.equal(revoked.json.state, 'Revoked');
      await dropped;
      const ms = Date.now() - t0;
      assert.ok(ms < 5_000, `dropped ${ms} ms after the revoke request`);
      t.diagnostic(`revoke request → session dropped: ${ms} ms (HTTP, outbox transaction, chain event, broker)`);
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(stack.devices.broker.isConnected(enrolled.deviceId), false, 'it does not get back in');
      assert.equal(agent.session, undefined);
      assert.equal((await verify(s.credential)).json.error?.code, 'ERR_VC_REVOKED', 'its session credentials too');
    });
  });
}
