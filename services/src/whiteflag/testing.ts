/**
 * Test fixture of Whiteflag (not exported from the package): a real anvil with the contracts deployed, a did:ethr
 * resolver on it, a database with the outbox and the Whiteflag tables, a keystore, a device vault, an HTTP server that
 * serves the accounts' signed statements, and the sender, accounts and listener wired as the stack wires them.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ANVIL_FUNDER_KEY,
  type AnvilChain,
  buildDeviceBatch,
  type DatabaseParts,
  DeviceRegistry__factory,
  ensureDeployed,
  Keystore,
  makeProvider,
  openDatabase,
  Outbox,
  outboxDatabaseParts,
  startAnvil,
} from '@tessera/contracts';
import {
  CREDENTIAL_TYPE_NAMES,
  deviceFingerprint,
  deviceIdOf,
  deviceTopicPermissions,
  ethrDid,
  secretCommitment,
  silentLogger,
} from '@tessera/protocol';
import {
  AedesBrokerAdapter,
  createVerifier,
  FileDeviceSecretVault,
  loadPolicyFile,
  parseTrustList,
} from '@tessera/verifier';
import { ES256KSigner, type Signer } from 'did-jwt';
import { createVerifiableCredentialJwt, createVerifiablePresentationJwt } from 'did-jwt-vc';
import { Resolver } from 'did-resolver';
import { getResolver } from 'ethr-did-resolver';
import { type JsonRpcProvider, parseEther, Wallet } from 'ethers';
import express, { Router } from 'express';
import mqtt, { type MqttClient } from 'mqtt';
import type { DataSource } from 'typeorm';
import { WhiteflagAccounts } from './accounts.js';
import { httpStatementFetcher, registryDeviceStatus, tesseraAuthenticator } from './authenticate.js';
import { type ReceiverKeys, WhiteflagListener, type WhiteflagListenerOptions } from './listener.js';
import { startWhiteflagPart, type WhiteflagPart } from './part.js';
import { WhiteflagSender } from './sender.js';
import { type ReceivedRow, WhiteflagStore, whiteflagDatabaseParts } from './store.js';

export interface DbOptions {
  openDb?(parts: DatabaseParts): Promise<DataSource>;
  closeDb?(ds: DataSource): Promise<void>;
}

export interface TestDevice {
  deviceId: string;
  did: string;
  secret: Buffer;
}

export interface WhiteflagFixture {
  dir: string;
  chain: AnvilChain;
  provider: JsonRpcProvider;
  chainId: number;
  funder: Wallet;
  contracts: Awaited<ReturnType<typeof ensureDeployed>>;
  resolver: Resolver;
  db: DataSource;
  store: WhiteflagStore;
  outbox: Outbox;
  keystore: Keystore;
  vault: FileDeviceSecretVault;
  statementBase: string;
  accounts: WhiteflagAccounts;
  sender: WhiteflagSender;
  keys: { psks: { name: string; secret: Buffer }[]; ecdh: { account: string; privateKey: Buffer }[] };
  /** Messages handed to `onMessage` of the fixture's listeners, in order. */
  delivered: ReceivedRow[];
  /** A listener on the fixture's database (a new instance each call: a restart). */
  listener(o?: Partial<WhiteflagListenerOptions>): WhiteflagListener;
  /** Run `listener.step()` until the message of `txHash` is final and canonical (or fail after a while). */
  until(listener: WhiteflagListener, txHash: string): Promise<ReceivedRow>;
  /** A device registered by a manufacturer, commissioned by its owner with a fresh DID, its secret in the vault. */
  device(): Promise<TestDevice>;
  /** Suspend a device on chain (as an operator). */
  suspend(deviceId: string): Promise<void>;
  close(): Promise<void>;
}

export const AREA_KEY = { name: 'grid-area-1', secret: Buffer.from('a5'.repeat(32), 'hex') };

export async function startWhiteflagFixture(options: DbOptions = {}): Promise<WhiteflagFixture> {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-whiteflag-'));
  const chain = await startAnvil({});
  const provider = makeProvider(chain.rpcUrl, chain.chainId);
  const funder = new Wallet(ANVIL_FUNDER_KEY, provider);
  const contracts = await ensureDeployed({
    provider,
    deployer: funder,
    chainId: chain.chainId,
    file: join(dir, 'deployments.json'),
    allowDeploy: true,
  });
  const relayer = new Wallet(Wallet.createRandom().privateKey, provider);
  assert.equal(
    (await (await funder.sendTransaction({ to: relayer.address, value: parseEther('100') })).wait())?.status,
    1,
  );
  // ethr-did-resolver's typings point at ethers' CommonJS build; the runtime object is the same ethers 6 provider.
  const resolver = new Resolver(
    getResolver({
      networks: [
        {
          name: '0x7a69',
          chainId: chain.chainId,
          provider: provider as never,
          registry: contracts.EthereumDIDRegistry,
        },
      ],
    }),
  );
  const parts: DatabaseParts = {
    entities: [...outboxDatabaseParts.entities, ...whiteflagDatabaseParts.entities],
    migrations: [...outboxDatabaseParts.migrations, ...whiteflagDatabaseParts.migrations],
  };
  const db = options.openDb
    ? await options.openDb(parts)
    : await openDatabase({ sqlitePath: join(dir, 'whiteflag.sqlite') }, parts);
  const store = new WhiteflagStore(db);
  const outbox = new Outbox({ dataSource: db, signer: relayer, provider, chainId: chain.chainId });
  const keystore = Keystore.open(join(dir, 'keys'), randomBytes(32).toString('hex'));
  const vault = new FileDeviceSecretVault(join(dir, 'vault.json'), randomBytes(32));

  let accounts: WhiteflagAccounts | undefined;
  const server: Server = createServer((req, res) => {
    const m = /^\/whiteflag\/statements\/(0x[0-9a-f]{40})$/.exec(req.url ?? '');
    void (m && accounts ? accounts.statement(m[1]!) : Promise.resolve(undefined)).then((text) => {
      res.writeHead(text ? 200 : 404, { 'content-type': 'application/json' });
      res.end(text ?? '{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const statementBase = `${base}/whiteflag/statements`;
  accounts = new WhiteflagAccounts({ store, keystore, outbox, provider, chainId: chain.chainId, statementBase, vault });
  const keys = { psks: [AREA_KEY], ecdh: [] as { account: string; privateKey: Buffer }[] };
  const receiverKeys: ReceiverKeys = { preShared: () => keys.psks, ecdh: () => keys.ecdh };
  const sender = new WhiteflagSender({ store, outbox, accounts, keys: receiverKeys });
  const registry = DeviceRegistry__factory.connect(contracts.DeviceRegistry, funder);
  const delivered: ReceivedRow[] = [];
  const authenticator = tesseraAuthenticator({
    fetch: httpStatementFetcher({ allowedOrigins: [base] }),
    resolver,
    chainId: chain.chainId,
    vault,
    deviceStatus: registryDeviceStatus(registry),
  });

  const manufacturer = new Wallet(Wallet.createRandom().privateKey, provider);
  const owner = new Wallet(Wallet.createRandom().privateKey, provider);
  for (const w of [manufacturer, owner])
    await (await funder.sendTransaction({ to: w.address, value: parseEther('1') })).wait();
  await (await registry.grantRole(await registry.MANUFACTURER(), manufacturer.address)).wait();
  await (await registry.grantRole(await registry.OPERATOR(), funder.address)).wait();
  let serial = 0;

  return {
    dir,
    chain,
    provider,
    chainId: chain.chainId,
    funder,
    contracts,
    resolver,
    db,
    store,
    outbox,
    keystore,
    vault,
    statementBase,
    accounts,
    sender,
    keys,
    delivered,
    listener: (o = {}) =>
      new WhiteflagListener({
        store,
        provider,
        authenticator,
        keys: receiverKeys,
        startBlock: 0,
        onMessage: (row) => {
          delivered.push(row);
        },
        ...o,
      }),
    async until(listener, txHash) {
      const hash = txHash.toLowerCase();
      for (let i = 0; i < 200; i++) {
        await listener.step();
        const row = await store.received().findOneBy({ txHash: hash });
        if (row && row.state !== 'encrypted' && row.canonical === 1) return row;
        await new Promise((r) => setTimeout(r, 25));
      }
      throw new Error(`message ${hash} was not received`);
    },
    async device() {
      serial++;
      const secret = randomBytes(32);
      const salt = randomBytes(32);
      const fp = deviceFingerprint({
        model: 'SMGW-1000',
        serial: `WF-${serial}`,
        hardwareRevision: 'r2',
        firmwareHash: randomBytes(32).toString('hex'),
        mac: randomBytes(6).toString('hex'),
      });
      assert.ok(fp.ok);
      const d = {
        deviceId: deviceIdOf(manufacturer.address, `WF-${serial}`),
        fingerprint: fp.value,
        commitment: secretCommitment(salt, secret),
        initialOwner: owner.address,
      };
      const tree = buildDeviceBatch([d]);
      await (await registry.connect(manufacturer).registerBatch(tree.root, 1)).wait();
      const batchId = await registry.batchCount();
      await (
        await registry
          .connect(owner)
          .materialize(batchId, d.deviceId, d.fingerprint, d.commitment, d.initialOwner, tree.proofs[0]!)
      ).wait();
      const identity = Wallet.createRandom().address;
      await (await registry.connect(owner).commission(d.deviceId, identity)).wait();
      await vault.put(d.deviceId, secret, salt);
      return { deviceId: d.deviceId, did: ethrDid(chain.chainId, identity), secret };
    },
    async suspend(deviceId) {
      await (await registry.suspend(deviceId)).wait();
    },
    async close() {
      await outbox.stop();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      if (options.closeDb) await options.closeDb(db);
      else await db.destroy();
      provider.destroy();
      await chain.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A holder with its own did:ethr key (an operator, a device owner, an admin). */
export interface Holder {
  name: string;
  wallet: Wallet;
  did: string;
  signer: Signer;
}

export function holder(name: string, chainId = 31337): Holder {
  const wallet = new Wallet(Wallet.createRandom().privateKey);
  return {
    name,
    wallet,
    did: ethrDid(chainId, wallet.address),
    signer: ES256KSigner(Buffer.from(wallet.privateKey.slice(2), 'hex')),
  };
}

export interface WhiteflagApp {
  base: string;
  part: WhiteflagPart;
  broker: AedesBrokerAdapter;
  /** Trusted for every credential type the policies name. */
  issuer: Holder;
  /** The verifier: signs access tokens and DeviceSessionCredentials. */
  verifier: Holder;
  credential(to: Holder | { did: string }, type: string, claims: Record<string, unknown>): Promise<string>;
  /** Present credentials through the real verifier router; the access token for `resource`/`action`. */
  token(h: Holder, credentials: string[], resource: string, action: string): Promise<string>;
  /** A DeviceSessionCredential for the device, as the handshake would issue it (signed by the verifier here). */
  session(device: TestDevice): Promise<string>;
  /** Connect the device to the broker and grant this connection what a successful handshake grants. */
  connect(device: TestDevice): Promise<MqttClient>;
  close(): Promise<void>;
}

const CONTEXT = ['https://www.w3.org/2018/credentials/v1'];
export const POLICY_FILE = new URL('../../../verifier/policies/default.json', import.meta.url).pathname;

/**
 * The Whiteflag part as the stack runs it, on the fixture: the real verifier router (presentations, policies of
 * verifier/policies/default.json, access tokens) guarding it, an embedded aedes broker for devices.
 */
export async function startWhiteflagApp(
  fx: WhiteflagFixture,
  o: { onSignal?: Parameters<typeof startWhiteflagPart>[0]['onSignal'] } = {},
): Promise<WhiteflagApp> {
  const issuer = holder('Tessera issuer', fx.chainId);
  const verifierHolder = holder('Tessera verifier', fx.chainId);
  const trust = parseTrustList(
    Object.fromEntries([
      ...CREDENTIAL_TYPE_NAMES.map((t) => [t, [issuer.did]]),
      ['DeviceSessionCredential', [verifierHolder.did]],
    ]),
  );
  assert.ok(trust.ok);
  const policies = loadPolicyFile(POLICY_FILE);
  assert.ok(policies.ok, JSON.stringify(!policies.ok && policies.error));
  const core = createVerifier(
    {
      did: verifierHolder.did,
      privateKey: verifierHolder.wallet.privateKey,
      policies: policies.value,
      trust: trust.value,
      // Status lists are the verifier's own tested concern; these credentials carry none.
      requireStatus: false,
    },
    {
      resolver: fx.resolver,
      fetchStatusList: () => Promise.reject(new Error('this fixture publishes no status lists')),
      signatureWorker: false,
    },
  );
  const router = core.router;
  const app = express();
  const parts = Router();
  app.use('/verifier', router);
  app.use(parts);
  const server = await new Promise<Server>((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const broker = new AedesBrokerAdapter({ port: 0, host: '127.0.0.1' });
  await broker.start();
  const part = await startWhiteflagPart({
    db: fx.db,
    outbox: fx.outbox,
    provider: fx.provider,
    chainId: fx.chainId,
    keystore: fx.keystore,
    contracts: fx.contracts,
    resolver: fx.resolver,
    guard: (o) => core.guard(o),
    policy: core.policy,
    devices: { broker, sessions: core },
    vault: fx.vault,
    publicUrl: `${base}/services/whiteflag`,
    ...(o.onSignal ? { onSignal: o.onSignal } : {}),
    config: { preSharedKeys: { [AREA_KEY.name]: AREA_KEY.secret }, startBlock: 0, pollIntervalMs: 50 },
    log: silentLogger,
  });
  parts.use('/services/whiteflag', part.router);
  const post = async (path: string, body: unknown) => {
    const r = await fetch(`${base}/verifier${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: r.status, body: (await r.json()) as Record<string, unknown> };
  };
  const sign = (to: { did: string }, type: string, claims: Record<string, unknown>, by: Holder) => {
    const now = Math.floor(Date.now() / 1000);
    return createVerifiableCredentialJwt(
      {
        sub: to.did,
        nbf: now - 60,
        exp: now + 3600,
        vc: {
          '@context': CONTEXT,
          type: ['VerifiableCredential', type],
          credentialSubject: claims,
        } as never,
      },
      { did: by.did, signer: by.signer, alg: 'ES256K' },
    );
  };
  return {
    base,
    part,
    broker,
    issuer,
    verifier: verifierHolder,
    credential: (to, type, claims) => sign(to, type, claims, issuer),
    async token(h, credentials, resource, action) {
      const req = await post('/presentation-requests', { resource, action });
      assert.equal(req.status, 201, JSON.stringify(req.body));
      const vp = await createVerifiablePresentationJwt(
        { vp: { '@context': CONTEXT, type: ['VerifiablePresentation'], verifiableCredential: credentials } } as never,
        { did: h.did, signer: h.signer, alg: 'ES256K' },
        { challenge: req.body['nonce'] as string, domain: req.body['audience'] as string },
      );
      const r = await post('/presentations', { vp });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      return r.body['access_token'] as string;
    },
    async connect(device) {
      const password = `pw-${device.deviceId.slice(2, 18)}`;
      await broker.enrol({ deviceId: device.deviceId, password });
      const c = mqtt.connect(broker.url, {
        clientId: device.deviceId,
        username: device.deviceId,
        password,
        reconnectPeriod: 0,
      });
      await new Promise<void>((resolve, reject) => {
        c.once('connect', () => resolve());
        c.once('error', reject);
      });
      const connection = broker.connectionOf(device.deviceId);
      assert.ok(connection, 'the broker knows the connection');
      await broker.grant({
        deviceId: device.deviceId,
        did: device.did,
        permissions: deviceTopicPermissions(device.deviceId),
        expiresAt: Date.now() + 600_000,
        connection,
      });
      return c;
    },
    async session(device) {
      return sign(
        { did: device.did },
        'DeviceSessionCredential',
        { sessionId: 'test-session', clientId: device.deviceId, deviceId: device.deviceId },
        verifierHolder,
      );
    },
    async close() {
      await part.stop();
      await broker.stop();
      await core.stop();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
