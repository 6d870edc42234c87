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
  makeProvider,
  Outbox,
  openDatabase,
  outboxDatabaseParts,
  startAnvil,
} from '@tessera/contracts';
import { Bitstring, ethrDid, statusListEntry } from '@tessera/protocol';
import { createVerifier, DEFAULT_POLICY_FILE, loadPolicyFile, parseTrustList } from '@tessera/verifier';
import { type JsonRpcProvider, NonceManager, parseEther, Wallet } from 'ethers';
import express from 'express';
import { Registry } from 'prom-client';
import type { DataSource } from 'typeorm';
import { buildEnergyRouter, periodBalance } from './http.js';
import { EnergyMarket } from './market-service.js';
import { centsPerKwh as c } from './market/units.js';
import { EnergySettlement } from './settlement.js';

const EUR = 1_000_000_000n;
const PERIOD_MS = 900_000;
const LIST = 'https://issuer.example/status/1';
let clock = 1_000 * PERIOD_MS + 5_000; // inside period 1000
let chain: AnvilChain;
let provider: JsonRpcProvider;
let db: DataSource;
let dir: string;
let server: Server;
let base: string;
let credit: EnergyCredit;
let outbox: Outbox;
let market: EnergyMarket;
const metrics = new Registry();
const verifierKey = Wallet.createRandom();
const CERTIFIER = 'did:ethr:0x7a69:0x0000000000000000000000000000000000000001';
const trust = parseTrustList({ EnergyProsumerCredential: [CERTIFIER] });
const policies = loadPolicyFile(DEFAULT_POLICY_FILE);
assert.ok(trust.ok && policies.ok);
// The credential core with the shipped policies; tokens are minted directly (the presentations are the core's tests).
const core = createVerifier(
  {
    did: ethrDid(31337, verifierKey.address),
    privateKey: verifierKey.privateKey,
    policies: policies.value,
    trust: trust.value,
  },
  {
    resolver: { resolve: () => Promise.reject(new Error('no DID is resolved here')) },
    fetchStatusList: () => Promise.reject(new Error('lists are installed directly here')),
    signatureWorker: false,
  },
);
const { tokens, statusLists } = core;
const grid = Wallet.createRandom();

/** A market participant: a wallet, its DID, its meter and an access token for ordering on that meter. */
function party(meterId: string, role: 'producer' | 'consumer' | 'prosumer', statusIndex: number, nameplateW = 0) {
  const wallet = Wallet.createRandom();
  const did = ethrDid(31337, wallet.address);
  const credential = {
    types: ['VerifiableCredential', 'EnergyProsumerCredential'],
    issuer: CERTIFIER,
    claims: { meterId, role, ...(nameplateW > 0 ? { nameplateKw: nameplateW / 1000 } : {}) },
    status: [statusListEntry(LIST, statusIndex)],
  };
  const tokenFor = (meter = meterId) =>
    tokens.issue(did, [{ resource: `/energy/meters/${meter}/orders`, action: 'POST' }], [credential]).token;
  return { wallet, did, meterId, nameplateW, token: tokenFor(), tokenFor };
}
const alice = party('FR-MRS-0001', 'prosumer', 1, 6000);
const bob = party('FR-MRS-0002', 'consumer', 2);
const carol = party('FR-MRS-0003', 'prosumer', 3, 3000);
const dave = party('FR-MRS-0004', 'consumer', 4);

const order = (who: { token: string; meterId: string }, body: unknown, meter = who.meterId) =>
  fetch(`${base}/energy/meters/${meter}/orders`, {
    method: 'POST',
    headers: { authorization: `Bearer ${who.token}`, 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
const code = async (r: Response) => ((await r.json()) as { error?: { code: string } }).error?.code;

before(async () => {
  chain = await startAnvil({});
  provider = makeProvider(chain.rpcUrl, chain.chainId);
  const funder = new NonceManager(new Wallet(ANVIL_FUNDER_KEY, provider));
  const relayer = new Wallet(Wallet.createRandom().privateKey, provider);
  await (await funder.sendTransaction({ to: relayer.address, value: parseEther('10') })).wait();
  credit = await new EnergyCredit__factory(funder).deploy();
  await credit.waitForDeployment();
  await (await credit.grantRole(await credit.OPERATOR(), relayer.address)).wait();
  for (const a of [alice, bob, carol, dave].map((p) => p.wallet.address).concat(grid.address))
    await (await credit.mint(a, 20n * EUR)).wait();
  dir = mkdtempSync(join(tmpdir(), 'tessera-energy-http-'));
  db = await openDatabase({ sqlitePath: join(dir, 'outbox.sqlite') }, outboxDatabaseParts);
  outbox = new Outbox({ dataSource: db, signer: relayer, provider, chainId: chain.chainId });
  const settlement = new EnergySettlement({
    outbox,
    creditAddress: await credit.getAddress(),
    gridAccount: grid.address,
  });
  market = new EnergyMarket({ periodMs: PERIOD_MS, now: () => clock, settlement, metrics });
  for (const p of [alice, bob, carol, dave])
    market.registerMeter({ meterId: p.meterId, participant: p.did, nameplateW: p.nameplateW });
  statusLists.putBits(LIST, 'revocation', Bitstring.create());
  const app = express();
  app.use(buildEnergyRouter({ market, guard: core.guard }));
  server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  server?.close();
  await db?.destroy();
  provider?.destroy();
  await chain?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const balances = () =>
  Promise.all(
    [alice, bob, carol, dave]
      .map((p) => p.wallet.address)
      .concat(grid.address)
      .map((a) => credit.balanceOf(a)),
  );

describe('energy market over HTTP, settled on chain', () => {
  it('runs a period end to end: credential-gated orders, device readings, clearing, on-chain settlement, bills that add up', async () => {
    const r1 = await order(alice, { id: 'a1', side: 'offer', energyWh: 900, limitPrice: c(8) });
    assert.equal(r1.status, 201);
    assert.deepEqual(((await r1.json()) as { periodId: number }).periodId, 1000);
    assert.equal((await order(carol, { id: 'c1', side: 'offer', energyWh: 400, limitPrice: c(12) })).status, 201);
    assert.equal((await order(bob, { id: 'b1', side: 'bid', energyWh: 1000, limitPrice: c(20) })).status, 201);
    assert.equal((await order(dave, { id: 'd1', side: 'bid', energyWh: 200, limitPrice: c(11) })).status, 201);

    // meters publish what really flowed (the MQTT handler passes the authenticated device's meter id)
    for (const [p, consumedWh, producedWh] of [
      [alice, 0, 950],
      [bob, 1100, 0],
      [carol, 0, 300],
      [dave, 200, 0],
    ] as const)
      assert.ok(
        (await market.recordReading(p.meterId, { meterId: p.meterId, periodId: 1000, consumedWh, producedWh })).ok,
      );

    const early = await market.closePeriod(1000);
    assert.equal(!early.ok && early.error.code, 'ERR_CONFLICT', 'a period closes only once it is over');
    clock += PERIOD_MS;
    const before = await balances();
    const closed = await market.closePeriod(1000);
    assert.ok(closed.ok, closed.ok ? '' : `${closed.error.code}: ${closed.error.message}`);
    const { clearing } = closed.value.closed;
    // bob (20) takes alice's 900 (8) and 100 of carol (12); dave (11) is below carol: last pair bob 20 / carol 12 → 16
    assert.equal(clearing.price, c(16));
    assert.equal(clearing.volumeWh, 1000);
    await outbox.flush();
    const after = await balances();
    const s = closed.value.settlement;
    for (const [i, p] of [alice, bob, carol, dave].entries())
      assert.equal(after[i]! - before[i]!, -s.bills.find((b) => b.participant === p.did)!.net, p.meterId);
    assert.equal(after[4]! - before[4]!, s.grid.received - s.grid.paid);
    assert.equal(
      after.reduce((a, b) => a + b, 0n),
      before.reduce((a, b) => a + b, 0n),
      'money balances to zero across participants and the grid',
    );
    const metered = s.bills.reduce((a, b) => a + b.consumedWh - b.producedWh, 0);
    assert.equal(metered, s.grid.importWh - s.grid.exportWh, 'energy balances to zero');
    const onChain = await credit.settlementOf(1000);
    assert.equal(onChain.bookHash, closed.value.closed.bookHash);
    assert.equal(onChain.allocationHash, closed.value.closed.allocationHash);

    const view = (await (await fetch(`${base}/energy/periods/1000`)).json()) as {
      volumeWh: number;
      book: { id: string; side: string; energyWh: number; limitPriceMicroEurPerKwh: number; filledWh: number }[];
      bills: { participant: string; consumedWh: number; producedWh: number }[];
      balance: { energyWh: number; moneyNanoEur: string };
      settlement: { status: string } | null;
    };
    assert.equal(view.volumeWh, 1000);
    // the closed book, in submission order, with what each order traded: bob took alice's 900 and 100 of carol's
    assert.deepEqual(view.book, [
      { id: 'a1', side: 'offer', energyWh: 900, limitPriceMicroEurPerKwh: c(8), filledWh: 900 },
      { id: 'c1', side: 'offer', energyWh: 400, limitPriceMicroEurPerKwh: c(12), filledWh: 100 },
      { id: 'b1', side: 'bid', energyWh: 1000, limitPriceMicroEurPerKwh: c(20), filledWh: 1000 },
      { id: 'd1', side: 'bid', energyWh: 200, limitPriceMicroEurPerKwh: c(11), filledWh: 0 },
    ]);
    assert.deepEqual(view.balance, { energyWh: 0, moneyNanoEur: '0' }, 'the view shows the period balancing to zero');
    assert.deepEqual(
      view.bills.find((b) => b.participant === bob.did),
      { ...view.bills.find((b) => b.participant === bob.did), consumedWh: 1100, producedWh: 0 },
    );
    // the balance is computed, not a constant: one Wh or one n€ off shows
    const g = { importWh: s.grid.importWh, exportWh: s.grid.exportWh, received: s.grid.received, paid: s.grid.paid };
    assert.deepEqual(periodBalance({ bills: s.bills, grid: { ...g, importWh: g.importWh - 1 } }).energyWh, 1);
    assert.equal(periodBalance({ bills: s.bills, grid: { ...g, paid: g.paid + 1n } }).moneyNanoEur, '1');
    assert.equal(view.settlement?.status, 'mined', 'the view reads the outbox row as it is now');
    assert.equal(
      (await outbox.get(`energy-settle:${(await credit.getAddress()).toLowerCase()}:1000`))?.status,
      'mined',
    );
    assert.match(await metrics.metrics(), /tessera_energy_traded_wh_total 1000/);
    assert.equal((await fetch(`${base}/energy/periods/999`)).status, 404);
  });

  it('refuses an order without a credential, for another person’s meter, or with negative or absurd amounts', async () => {
    const none = await fetch(`${base}/energy/meters/${alice.meterId}/orders`, { method: 'POST', body: '{}' });
    assert.equal(none.status, 401);
    assert.equal(await code(none), 'ERR_AUTH_REQUIRED');
    const forged = await order({ token: 'abc.def.ghi', meterId: alice.meterId }, {});
    assert.equal(await code(forged), 'ERR_AUTH_INVALID');
    const otherMeter = await order(bob, { id: 'x1', side: 'bid', energyWh: 10, limitPrice: c(20) }, alice.meterId);
    assert.equal(otherMeter.status, 403);
    assert.equal(await code(otherMeter), 'ERR_FORBIDDEN');
    // a token granted for alice's meter but on a credential naming another meter fails the claim check
    const mislabelled = { token: bob.tokenFor(alice.meterId), meterId: alice.meterId };
    assert.equal(
      await code(await order(mislabelled, { id: 'x2', side: 'bid', energyWh: 10, limitPrice: 1 })),
      'ERR_POLICY_DENIED',
    );
    for (const bad of [{ energyWh: -100 }, { energyWh: 1e12 }, { limitPrice: -5 }, { energyWh: 0.5 }]) {
      const r = await order(bob, { id: 'x3', side: 'bid', energyWh: 100, limitPrice: c(20), ...bad });
      assert.equal(r.status, 422, JSON.stringify(bad));
      assert.equal(await code(r), 'ERR_MARKET_AMOUNT_OUT_OF_RANGE');
    }
    const malformed = await order(bob, '{"id": ');
    assert.equal(await code(malformed), 'ERR_JSON_MALFORMED');
    const consumerSells = await order(bob, { id: 'x4', side: 'offer', energyWh: 100, limitPrice: c(10) });
    assert.equal(consumerSells.status, 403);
    assert.equal(await code(consumerSells), 'ERR_POLICY_DENIED');
    const past = await order(bob, { id: 'x5', side: 'bid', energyWh: 100, limitPrice: c(20), periodId: 1000 });
    assert.equal(await code(past), 'ERR_MARKET_PERIOD_CLOSED');
  });

  it('refuses an order placed with a credential revoked after the token was issued', async () => {
    assert.equal((await order(carol, { id: 'r1', side: 'offer', energyWh: 10, limitPrice: c(10) })).status, 201);
    statusLists.setStatus(LIST, 3, true);
    const r = await order(carol, { id: 'r2', side: 'offer', energyWh: 10, limitPrice: c(10) });
    assert.equal(r.status, 401);
    assert.equal(await code(r), 'ERR_VC_REVOKED');
  });

  it('describes itself as OpenAPI 3.1, with the order schema from the domain and every refusal code', async () => {
    const doc = (await (await fetch(`${base}/energy/openapi.json`)).json()) as {
      openapi: string;
      components: { schemas: { OrderBody: { required: string[]; properties: Record<string, { maximum?: number }> } } };
      paths: Record<string, { post?: { responses: Record<string, { description: string }> } }>;
    };
    assert.equal(doc.openapi, '3.1.0');
    const body = doc.components.schemas.OrderBody;
    assert.deepEqual([...body.required].sort(), ['energyWh', 'id', 'limitPrice', 'side']);
    assert.equal(body.properties['energyWh']?.maximum, 1_000_000);
    assert.equal(body.properties['participant'], undefined, 'the participant comes from the token');
    const post = doc.paths['/energy/meters/{meterId}/orders']!.post!;
    assert.match(post.responses['422']!.description, /ERR_MARKET_AMOUNT_OUT_OF_RANGE/);
    assert.match(post.responses['401']!.description, /ERR_VC_REVOKED/);
  });

  it('refuses a reading from a device for a meter that is not its own, above nameplate, or twice', async () => {
    const period = market.currentPeriod();
    const other = await market.recordReading(bob.meterId, {
      meterId: alice.meterId,
      periodId: period,
      consumedWh: 1,
      producedWh: 0,
    });
    assert.equal(!other.ok && other.error.code, 'ERR_TOPIC_FORBIDDEN');
    // carol's 3 kW over 15 minutes is at most 750 Wh
    const tooMuch = await market.recordReading(carol.meterId, {
      meterId: carol.meterId,
      periodId: period,
      consumedWh: 0,
      producedWh: 751,
    });
    assert.equal(!tooMuch.ok && tooMuch.error.code, 'ERR_MARKET_READING_INVALID');
    assert.ok(
      (
        await market.recordReading(carol.meterId, {
          meterId: carol.meterId,
          periodId: period,
          consumedWh: 0,
          producedWh: 750,
        })
      ).ok,
    );
    const twice = await market.recordReading(carol.meterId, {
      meterId: carol.meterId,
      periodId: period,
      consumedWh: 0,
      producedWh: 1,
    });
    assert.equal(!twice.ok && twice.error.code, 'ERR_CONFLICT');
    const settled = await market.recordReading(alice.meterId, {
      meterId: alice.meterId,
      periodId: 1000,
      consumedWh: 0,
      producedWh: 1,
    });
    assert.equal(!settled.ok && settled.error.code, 'ERR_MARKET_PERIOD_CLOSED');
  });
});
