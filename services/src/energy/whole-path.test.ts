/**
 * The energy market's whole path: an issuer's credentials presented to the verifier for access
 * tokens, orders over HTTP behind the verifier's guard, meter gateways publishing readings over MQTT on the embedded
 * broker, the period cleared and billed, its settlement landing on chain through the outbox, energy and money
 * balancing to zero — then a revoked credential stops trading at once. Devices get their session grant directly here,
 * to keep this test about the market; stack/src/e2e/energy-stack.test.ts runs the same path through `npm start`'s
 * stack with gateways registered at the issuer and authenticated by the challenge handshake.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  ANVIL_FUNDER_KEY,
  type AnvilChain,
  type EnergyCredit,
  EnergyCredit__factory,
  ensureDeployed,
  makeProvider,
  Outbox,
  openDatabase,
  outboxDatabaseParts,
  startAnvil,
} from '@tessera/contracts';
import {
  Bitstring,
  deviceIdOf,
  deviceTopicPermissions,
  statusListEntry,
  statusListSubject,
  topics,
} from '@tessera/protocol';
import { AedesBrokerAdapter, createVerifier, parseTrustList, type Verifier } from '@tessera/verifier';
import { parsePolicySet } from '@tessera/protocol';
import { ES256KSigner } from 'did-jwt';
import { createVerifiableCredentialJwt, createVerifiablePresentationJwt } from 'did-jwt-vc';
import { Resolver } from 'did-resolver';
import { getResolver } from 'ethr-did-resolver';
import { type JsonRpcProvider, NonceManager, parseEther, Wallet } from 'ethers';
import express from 'express';
import mqtt, { type MqttClient } from 'mqtt';
import type { DataSource } from 'typeorm';
import { buildEnergyRouter } from './http.js';
import { EnergyMarket } from './market-service.js';
import { centsPerKwh as c, NANO_EUR_PER_EUR } from './market/units.js';
import { attachMeterReadings, METER_STREAM } from './mqtt.js';
import { EnergySettlement } from './settlement.js';

const CONTEXT = ['https://www.w3.org/2018/credentials/v1'];
const REVOCATION = 'https://issuer.tessera.test/status-lists/7/revocation';
const PERIOD_MS = 900_000;
const ORDERS = (meter: string) => `/energy/meters/${meter}/orders`;
let clock = 2_000 * PERIOD_MS + 60_000;

const actor = () => {
  const wallet = new Wallet(Wallet.createRandom().privateKey);
  return {
    wallet,
    did: `did:ethr:0x7a69:${wallet.address.toLowerCase()}`,
    signer: ES256KSigner(Buffer.from(wallet.privateKey.slice(2), 'hex')),
  };
};
type Actor = ReturnType<typeof actor>;
const certifier = actor();
const verifierActor = actor();
const revoked = Bitstring.create();
const manufacturer = '0x00000000000000000000000000000000000000bb';

/** A household: its holder identity, its meter, its credential's status index and its meter gateway device. */
const household = (n: number, role: 'prosumer' | 'consumer', nameplateW: number) => ({
  holder: actor(),
  meterId: `FR-MRS-07${String(n).padStart(2, '0')}`,
  role,
  nameplateW,
  index: 100 + n,
  device: { deviceId: deviceIdOf(manufacturer, `gw-${n}`), password: `gateway-secret-${n}-0123456789` },
  token: '',
  mqtt: undefined as MqttClient | undefined,
});
const alice = household(1, 'prosumer', 6000);
const bob = household(2, 'consumer', 0);
const carol = household(3, 'prosumer', 3000);
const everyone = [alice, bob, carol];

let chain: AnvilChain;
let provider: JsonRpcProvider;
let db: DataSource;
let dir: string;
let server: Server;
let base: string;
let router: Verifier;
let credit: EnergyCredit;
let outbox: Outbox;
let market: EnergyMarket;
const grid = Wallet.createRandom();
const broker = new AedesBrokerAdapter({ port: 0, host: '127.0.0.1' });
let readingsSeen = 0;
let readingArrived: (() => void) | undefined;

async function call(path: string, body: unknown, token?: string) {
  const r = await fetch(`${base}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  });
  return { status: r.status, body: (await r.json()) as Record<string, unknown> & { error?: { code: string } } };
}

async function credentialFor(h: typeof alice) {
  const now = Math.floor(Date.now() / 1000);
  return createVerifiableCredentialJwt(
    {
      sub: h.holder.did,
      nbf: now - 60,
      exp: now + 3600,
      vc: {
        '@context': CONTEXT,
        type: ['VerifiableCredential', 'EnergyProsumerCredential'],
        credentialSubject: {
          meterId: h.meterId,
          role: h.role,
          ...(h.nameplateW > 0 ? { nameplateKw: h.nameplateW / 1000 } : {}),
        },
        credentialStatus: statusListEntry(REVOCATION, h.index, 'revocation'),
      } as never,
    },
    { did: certifier.did, signer: certifier.signer, alg: 'ES256K' },
  );
}

/** The wallet's side of the exchange: ask for a presentation request for the meter's orders, present, get a token. */
async function tokenFor(h: typeof alice, holder: Actor = h.holder) {
  const req = await call('/verifier/presentation-requests', { resource: ORDERS(h.meterId), action: 'POST' });
  assert.equal(req.status, 201, JSON.stringify(req.body));
  const vp = await createVerifiablePresentationJwt(
    {
      vp: { '@context': CONTEXT, type: ['VerifiablePresentation'], verifiableCredential: [await credentialFor(h)] },
    } as never,
    { did: holder.did, signer: holder.signer, alg: 'ES256K' },
    { challenge: String(req.body['nonce']), domain: String(req.body['audience']) },
  );
  return call('/verifier/presentations', { vp });
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tessera-energy-path-'));
  chain = await startAnvil({});
  provider = makeProvider(chain.rpcUrl, chain.chainId);
  const funder = new NonceManager(new Wallet(ANVIL_FUNDER_KEY, provider));
  const { EthereumDIDRegistry: registry } = await ensureDeployed({
    provider,
    deployer: new Wallet(ANVIL_FUNDER_KEY, provider),
    chainId: chain.chainId,
    file: join(dir, 'deployments.json'),
    allowDeploy: true,
  });
  const resolver = new Resolver(
    getResolver({ networks: [{ name: '0x7a69', chainId: chain.chainId, provider: provider as never, registry }] }),
  );

  // the verifier: trust list, the energy policy, status lists kept current by push, access tokens
  const trust = parseTrustList({ EnergyProsumerCredential: [certifier.did] });
  assert.ok(trust.ok);
  const policies = parsePolicySet({
    version: 1,
    policies: [
      {
        id: 'energy.order.place',
        resource: '/energy/meters/:meterId/orders',
        actions: ['POST'],
        require: [
          { credentialType: 'EnergyProsumerCredential', claims: [{ claim: 'meterId', equalsParam: 'meterId' }] },
        ],
      },
    ],
  });
  assert.ok(policies.ok);
  router = createVerifier(
    {
      did: verifierActor.did,
      privateKey: verifierActor.wallet.privateKey,
      policies: policies.value,
      trust: trust.value,
    },
    {
      resolver,
      fetchStatusList: async (url) => {
        const { id: _id, ...subject } = statusListSubject(url, 'revocation', revoked);
        return createVerifiableCredentialJwt(
          {
            jti: url,
            sub: `${url}#list`,
            vc: {
              '@context': CONTEXT,
              type: ['VerifiableCredential', 'BitstringStatusListCredential'],
              credentialSubject: subject,
            } as never,
          },
          { did: certifier.did, signer: certifier.signer, alg: 'ES256K' },
        );
      },
    },
  );
  await router.onStatusChange([REVOCATION]);

  // the chain side: energy credits, the operator's relayer behind the outbox
  const relayer = new Wallet(Wallet.createRandom().privateKey, provider);
  await (await funder.sendTransaction({ to: relayer.address, value: parseEther('10') })).wait();
  credit = await new EnergyCredit__factory(funder).deploy();
  await credit.waitForDeployment();
  await (await credit.grantRole(await credit.OPERATOR(), relayer.address)).wait();
  for (const a of everyone.map((h) => h.holder.wallet.address).concat(grid.address))
    await (await credit.mint(a, 50n * NANO_EUR_PER_EUR)).wait();
  db = await openDatabase({ sqlitePath: join(dir, 'outbox.sqlite') }, outboxDatabaseParts);
  outbox = new Outbox({ dataSource: db, signer: relayer, provider, chainId: chain.chainId });

  // the market, its HTTP API behind the verifier's guard, and its MQTT readings
  market = new EnergyMarket({
    periodMs: PERIOD_MS,
    now: () => clock,
    settlement: new EnergySettlement({ outbox, creditAddress: await credit.getAddress(), gridAccount: grid.address }),
  });
  for (const h of everyone)
    market.registerMeter({
      meterId: h.meterId,
      participant: h.holder.did,
      nameplateW: h.nameplateW,
      deviceId: h.device.deviceId,
    });
  await broker.start();
  await attachMeterReadings(broker, market, {
    onAccepted: () => {
      readingsSeen++;
      readingArrived?.();
    },
  });
  const app = express();
  app.use('/verifier', router.router);
  app.use(buildEnergyRouter({ market, guard: router.guard }));
  server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  for (const h of everyone) h.mqtt?.end(true);
  await broker.stop();
  await new Promise((resolve) => server?.close(resolve));
  await router?.stop();
  await db?.destroy();
  provider?.destroy();
  await chain?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('energy market, whole path', () => {
  it('credentials → tokens → orders → device readings → clearing → on-chain settlement; balances add up', async () => {
    for (const h of everyone) {
      const r = await tokenFor(h);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      h.token = String(r.body['access_token']);
    }
    const period = market.currentPeriod();
    const place = (h: typeof alice, body: Record<string, unknown>) => call(ORDERS(h.meterId), body, h.token);
    assert.equal((await place(alice, { id: 'a', side: 'offer', energyWh: 1200, limitPrice: c(7) })).status, 201);
    assert.equal((await place(carol, { id: 'c', side: 'offer', energyWh: 500, limitPrice: c(14) })).status, 201);
    assert.equal((await place(bob, { id: 'b', side: 'bid', energyWh: 1500, limitPrice: c(21) })).status, 201);

    // each gateway, authenticated to the broker, publishes its own meter's reading for the period
    for (const [h, consumedWh, producedWh] of [
      [alice, 100, 1250],
      [bob, 1600, 0],
      [carol, 50, 400],
    ] as const) {
      await broker.enrol(h.device);
      h.mqtt = mqtt.connect(broker.url, {
        clientId: h.device.deviceId,
        username: h.device.deviceId,
        password: h.device.password,
        reconnectPeriod: 0,
      });
      await new Promise<void>((resolve, reject) => {
        h.mqtt!.once('connect', () => resolve());
        h.mqtt!.once('error', reject);
      });
      // what a successful handshake on this connection grants (the handshake itself is the verifier's suite)
      const connection = broker.connectionOf(h.device.deviceId);
      assert.ok(connection);
      await broker.grant({
        deviceId: h.device.deviceId,
        did: h.holder.did,
        permissions: deviceTopicPermissions(h.device.deviceId),
        expiresAt: Date.now() + 600_000,
        connection,
      });
      await new Promise<void>((resolve) =>
        h.mqtt!.publish(
          topics.telemetry(h.device.deviceId, METER_STREAM),
          JSON.stringify({ meterId: h.meterId, periodId: period, consumedWh, producedWh }),
          { qos: 1 },
          () => resolve(),
        ),
      );
    }
    while (readingsSeen < 3) await new Promise<void>((r) => (readingArrived = r));

    clock += PERIOD_MS;
    const before = await Promise.all(
      everyone
        .map((h) => h.holder.wallet.address)
        .concat(grid.address)
        .map((a) => credit.balanceOf(a)),
    );
    const closed = await market.closePeriod(period);
    assert.ok(closed.ok, closed.ok ? '' : closed.error.message);
    const { clearing } = closed.value.closed;
    // bob (21) takes alice's 1,200 (7) and 300 of carol's (14): last pair 21 / 14 → 17.5 c€/kWh
    assert.equal(clearing.price, c(17.5));
    assert.equal(clearing.volumeWh, 1500);
    await outbox.flush();
    const settled = await credit.settlementOf(period);
    assert.equal(settled.bookHash, closed.value.closed.bookHash);
    assert.equal(settled.allocationHash, closed.value.closed.allocationHash);
    const after = await Promise.all(
      everyone
        .map((h) => h.holder.wallet.address)
        .concat(grid.address)
        .map((a) => credit.balanceOf(a)),
    );
    const s = closed.value.settlement;
    for (const [i, h] of everyone.entries())
      assert.equal(after[i]! - before[i]!, -s.bills.find((b) => b.participant === h.holder.did)!.net, h.meterId);
    assert.equal(after[3]! - before[3]!, s.grid.received - s.grid.paid);
    assert.equal(
      after.reduce((a, b) => a + b, 0n),
      before.reduce((a, b) => a + b, 0n),
      'money balances to zero',
    );
    assert.equal(
      s.bills.reduce((a, b) => a + b.consumedWh - b.producedWh, 0),
      s.grid.importWh - s.grid.exportWh,
      'energy balances to zero',
    );
    // bob used 1,600 but bought 1,500: 100 Wh from the grid at retail; alice delivered 1,150 net for 1,200 sold
    const bill = (h: typeof alice) => s.bills.find((b) => b.participant === h.holder.did)!;
    assert.equal(bill(bob).gridImportWh, 100);
    assert.equal(bill(alice).gridImportWh, 50);
  });

  it('refuses a token for another person’s meter, and a revoked credential stops trading at once', async () => {
    // bob presents alice's credential as his own: the holder is not the subject
    const stolen = await tokenFor(alice, bob.holder);
    assert.equal(stolen.status, 401);
    assert.equal(stolen.body.error?.code, 'ERR_VC_SUBJECT_MISMATCH');
    // bob's token is for his meter, not alice's
    const other = await call(
      ORDERS(alice.meterId),
      { id: 'x', side: 'bid', energyWh: 10, limitPrice: c(20) },
      bob.token,
    );
    assert.equal(other.status, 403);
    assert.equal(other.body.error?.code, 'ERR_FORBIDDEN');
    const none = await call(ORDERS(alice.meterId), { id: 'y', side: 'bid', energyWh: 10, limitPrice: c(20) });
    assert.equal(none.body.error?.code, 'ERR_AUTH_REQUIRED');

    revoked.set(carol.index, true);
    await router.onStatusChange([REVOCATION]);
    const r = await call(
      ORDERS(carol.meterId),
      { id: 'z', side: 'offer', energyWh: 10, limitPrice: c(10) },
      carol.token,
    );
    assert.equal(r.status, 401);
    assert.equal(r.body.error?.code, 'ERR_VC_REVOKED');
    const again = await tokenFor(carol);
    assert.equal(again.status, 401);
    assert.equal((again.body.error as { code: string }).code, 'ERR_VC_REVOKED');
  });
});
