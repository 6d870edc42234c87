/**
 * The energy market on two replicas sharing one PostgreSQL and one chain: an order id is taken once across both, the
 * books survive a restart, and a period closed at both at once is cleared and settled on chain once.
 */
import assert from 'node:assert/strict';
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
import { throwawayPostgres } from '@tessera/contracts/testing';
import { ethrDid } from '@tessera/protocol';
import { type JsonRpcProvider, NonceManager, parseEther, Wallet } from 'ethers';
import type { DataSource } from 'typeorm';
import { centsPerKwh as c } from './market/units.js';
import { EnergyMarket } from './market-service.js';
import { DatabaseMarketStore } from './market-store.js';
import { energyDatabaseParts, MeterStore } from './meters-store.js';
import { EnergySettlement } from './settlement.js';

const EUR = 1_000_000_000n;
const PERIOD_MS = 900_000;

describe('energy market replicas on one PostgreSQL', () => {
  const pg = throwawayPostgres('tessera_energy_replicas');
  let chain: AnvilChain;
  let provider: JsonRpcProvider;
  let credit: EnergyCredit;
  let relayer: Wallet;
  let grid: Wallet;
  const dbs: DataSource[] = [];
  const outboxes: Outbox[] = [];
  let url: string;
  let clock = 1000 * PERIOD_MS;
  const people = Array.from({ length: 2 }, () => Wallet.createRandom());
  const did = (i: number) => ethrDid(31337, people[i]!.address);

  before(async () => {
    url = await pg.create();
    chain = await startAnvil({});
    provider = makeProvider(chain.rpcUrl, chain.chainId);
    const funder = new NonceManager(new Wallet(ANVIL_FUNDER_KEY, provider));
    relayer = new Wallet(Wallet.createRandom().privateKey, provider);
    grid = new Wallet(Wallet.createRandom().privateKey, provider);
    await (await funder.sendTransaction({ to: relayer.address, value: parseEther('10') })).wait();
    credit = await new EnergyCredit__factory(funder).deploy();
    await credit.waitForDeployment();
    await (await credit.grantRole(await credit.OPERATOR(), relayer.address)).wait();
    for (const p of people) await (await credit.mint(p.address, 10n * EUR)).wait();
    await (await credit.mint(grid.address, 100n * EUR)).wait();
  });
  after(async () => {
    for (const o of outboxes) await o.stop();
    for (const d of dbs) await d.destroy();
    provider?.destroy();
    await chain?.stop();
    await pg.drop();
  });

  /** One replica's market: its own connections and outbox, the shared database. */
  const replica = async () => {
    const db = await openDatabase(
      { url },
      {
        entities: [...outboxDatabaseParts.entities, ...energyDatabaseParts.entities],
        migrations: [...outboxDatabaseParts.migrations, ...energyDatabaseParts.migrations],
      },
    );
    dbs.push(db);
    const outbox = new Outbox({
      dataSource: db,
      signer: relayer,
      provider,
      chainId: chain.chainId,
      lease: { ttlMs: 2000 },
    });
    outboxes.push(outbox);
    outbox.start(100);
    const meters = new MeterStore(db);
    const market = new EnergyMarket({
      periodMs: PERIOD_MS,
      now: () => clock,
      store: new DatabaseMarketStore(db),
      meters,
      settlement: new EnergySettlement({ outbox, creditAddress: await credit.getAddress(), gridAccount: grid.address }),
    });
    return { db, outbox, market, meters };
  };

  it('an order id taken at one replica is refused at the other; orders survive a restart; a period closed at both is settled once', async () => {
    const a = await replica();
    const b = await replica();
    for (const i of [0, 1])
      await a.meters.save({
        meterId: `FR-MRS-000${i}`,
        participant: did(i),
        deviceId: `0x${String(i).repeat(64)}`,
        nameplateW: 5000,
      });
    const period = 1000;
    const bid = { id: 'bid-1', side: 'bid', energyWh: 1000, limitPrice: c(22) };
    const first = await a.market.submitOrder(did(0), 'FR-MRS-0000', bid);
    assert.equal(first.ok ? 'ok' : `${first.error.code} ${first.error.message}`, 'ok', 'the first order is taken');
    const again = await b.market.submitOrder(did(0), 'FR-MRS-0000', bid);
    assert.equal(
      !again.ok && again.error.code,
      'ERR_MARKET_DUPLICATE_ORDER',
      'the same order id at the second replica',
    );
    // the same id at both at once: one wins
    const race = await Promise.all([
      a.market.submitOrder(did(1), 'FR-MRS-0001', { id: 'offer-1', side: 'offer', energyWh: 800, limitPrice: c(10) }),
      b.market.submitOrder(did(1), 'FR-MRS-0001', { id: 'offer-1', side: 'offer', energyWh: 800, limitPrice: c(10) }),
    ]);
    assert.equal(race.filter((r) => r.ok).length, 1, JSON.stringify(race));
    assert.equal(race.filter((r) => !r.ok && r.error.code === 'ERR_MARKET_DUPLICATE_ORDER').length, 1);

    // a reading reported through B's broker for a meter bound at A
    assert.equal(await b.market.meterOf(`0x${'1'.repeat(64)}`), 'FR-MRS-0001');
    assert.ok(
      (
        await b.market.recordReading('FR-MRS-0000', {
          meterId: 'FR-MRS-0000',
          periodId: period,
          consumedWh: 1000,
          producedWh: 0,
        })
      ).ok,
    );
    const twice = await a.market.recordReading('FR-MRS-0000', {
      meterId: 'FR-MRS-0000',
      periodId: period,
      consumedWh: 1,
      producedWh: 0,
    });
    assert.equal(!twice.ok && twice.error.code, 'ERR_CONFLICT', 'one reading per meter and period, across replicas');
    assert.ok(
      (
        await a.market.recordReading('FR-MRS-0001', {
          meterId: 'FR-MRS-0001',
          periodId: period,
          consumedWh: 0,
          producedWh: 800,
        })
      ).ok,
    );

    // A restarts: a new market on the same database still has the book
    const a2 = await replica();
    clock += PERIOD_MS;
    const supplyBefore = await credit.totalSupply();
    const balances = async () =>
      Promise.all([...people.map((p) => p.address), grid.address].map((x) => credit.balanceOf(x)));
    const before = await balances();
    // all three close the period at once
    const closed = await Promise.all([
      a2.market.closePeriod(period),
      b.market.closePeriod(period),
      a.market.closePeriod(period),
    ]);
    for (const r of closed) assert.ok(r.ok, JSON.stringify(!r.ok && r.error));
    const outcomes = closed.map((r) => (r.ok ? r.value : undefined)!);
    assert.equal(outcomes[0]!.closed.orders.length, 2, 'both orders survived the restart');
    assert.equal(new Set(outcomes.map((o) => o.closed.bookHash)).size, 1, 'one clearing');
    assert.equal(outcomes[0]!.closed.clearing.volumeWh, 800);
    const key = outcomes[0]!.outbox!.id;
    const row = await a.outbox.waitFor(key, 30_000);
    assert.equal(row.status, 'mined');
    const settled = await a.db.query("SELECT COUNT(*) AS n FROM tessera_outbox WHERE kind = 'energy-settle'");
    assert.equal(Number(settled[0].n), 1, 'one settlement write');
    const periods = await a.db.query('SELECT COUNT(*) AS n FROM tessera_energy_period WHERE outcome IS NOT NULL');
    assert.equal(Number(periods[0].n), 1);
    const after = await balances();
    const moved = after.map((x, i) => x - before[i]!);
    assert.equal(
      moved.reduce((s, x) => s + x, 0n),
      0n,
      'money conserved',
    );
    assert.ok(moved[0]! < 0n && moved[1]! > 0n, 'the buyer paid the seller');
    assert.equal(await credit.totalSupply(), supplyBefore);
    assert.deepEqual(await b.market.closeDuePeriods(), { closed: [], pending: [] }, 'nothing due twice');
    const late = await b.market.submitOrder(did(0), 'FR-MRS-0000', { ...bid, id: 'late', periodId: period });
    assert.equal(!late.ok && late.error.code, 'ERR_MARKET_PERIOD_CLOSED');
  });
});
