import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
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
import { ethrDid } from '@tessera/protocol';
import { type JsonRpcProvider, NonceManager, parseEther, Wallet } from 'ethers';
import type { DataSource } from 'typeorm';
import { type MeterReading, settlePeriod } from './market/billing.js';
import { OrderBook } from './market/book.js';
import { centsPerKwh as c, DEFAULT_TARIFFS as T } from './market/units.js';
import { EnergySettlement, ethrAccount } from './settlement.js';

const EUR = 1_000_000_000n;
let chain: AnvilChain;
let provider: JsonRpcProvider;
let db: DataSource;
let dir: string;
let funder: NonceManager;
let relayer: Wallet;
let grid: Wallet;
let credit: EnergyCredit;
let outbox: Outbox;
let settlement: EnergySettlement;
const people = Array.from({ length: 3 }, () => Wallet.createRandom());
const did = (i: number) => ethrDid(31337, people[i]!.address);

before(async () => {
  chain = await startAnvil({});
  provider = makeProvider(chain.rpcUrl, chain.chainId);
  funder = new NonceManager(new Wallet(ANVIL_FUNDER_KEY, provider));
  relayer = new Wallet(Wallet.createRandom().privateKey, provider);
  grid = new Wallet(Wallet.createRandom().privateKey, provider);
  await (await funder.sendTransaction({ to: relayer.address, value: parseEther('10') })).wait();
  credit = await new EnergyCredit__factory(funder).deploy();
  await credit.waitForDeployment();
  await (await credit.grantRole(await credit.OPERATOR(), relayer.address)).wait();
  for (const p of people) await (await credit.mint(p.address, 10n * EUR)).wait();
  await (await credit.mint(grid.address, 100n * EUR)).wait();
  dir = mkdtempSync(join(tmpdir(), 'tessera-energy-'));
  db = await openDatabase({ sqlitePath: join(dir, 'outbox.sqlite') }, outboxDatabaseParts);
  outbox = new Outbox({ dataSource: db, signer: relayer, provider, chainId: chain.chainId });
  settlement = new EnergySettlement({
    outbox,
    creditAddress: await credit.getAddress(),
    gridAccount: grid.address,
  });
});

after(async () => {
  await outbox?.stop();
  await db?.destroy();
  provider?.destroy();
  await chain?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const reading = (i: number, consumedWh: number, producedWh: number): MeterReading => ({
  participant: did(i),
  meterId: `FR-MRS-000${i}`,
  consumedWh,
  producedWh,
});

/** A period where 0 buys from 1, 2 only exports to the grid; meters deviate a little from the trades. */
function period(periodId: number) {
  const book = new OrderBook(periodId, T);
  for (const o of [
    { id: 'b', participant: did(0), meterId: 'FR-MRS-0000', side: 'bid', energyWh: 2000, limitPrice: c(22) },
    { id: 's', participant: did(1), meterId: 'FR-MRS-0001', side: 'offer', energyWh: 1500, limitPrice: c(8) },
  ])
    assert.ok(book.submit(o).ok);
  const closed = book.close();
  const s = settlePeriod(
    periodId,
    periodId * 900_000,
    closed.clearing,
    [reading(0, 2100, 0), reading(1, 0, 1400), reading(2, 0, 300)],
    T,
  );
  assert.ok(s.ok);
  return { closed, settled: s.value };
}

const balances = () => Promise.all([...people.map((p) => p.address), grid.address].map((a) => credit.balanceOf(a)));

describe('energy settlement through the outbox', () => {
  it('maps did:ethr participants to their accounts', () => {
    assert.equal(ethrAccount(did(0)), people[0]!.address);
    assert.equal(ethrAccount('did:example:123'), undefined);
    const pk = Wallet.createRandom().signingKey;
    assert.equal(ethrAccount(`did:ethr:0x7a69:${pk.compressedPublicKey}`), new Wallet(pk.privateKey).address);
  });

  it('settles a period on chain once: digests recorded, balances moved as billed', async () => {
    const { closed, settled } = period(1001);
    const before = await balances();
    const row = await settlement.enqueue(closed, settled);
    assert.ok(row.ok);
    await outbox.flush();
    assert.equal((await outbox.get(settlement.key(1001)))?.status, 'mined');
    const after = await balances();
    const bill = (i: number) => settled.bills.find((b) => b.participant === did(i))!;
    for (const i of [0, 1, 2]) assert.equal(after[i]! - before[i]!, -bill(i).net, `participant ${i}`);
    assert.equal(after[3]! - before[3]!, settled.grid.received - settled.grid.paid);
    assert.equal(
      after.reduce((a, b) => a + b, 0n),
      before.reduce((a, b) => a + b, 0n),
      'no credit created',
    );
    const onChain = await credit.settlementOf(1001);
    assert.equal(onChain.bookHash, closed.bookHash);
    assert.equal(onChain.allocationHash, closed.allocationHash);
    assert.equal(onChain.tradedWh, BigInt(closed.clearing.volumeWh));

    // enqueued again (a retry after a restart): same row, nothing sent
    const again = await settlement.enqueue(closed, settled);
    assert.ok(again.ok && again.value.txHash === (await outbox.get(settlement.key(1001)))?.txHash);
    assert.equal(await outbox.flush(), 0);
    assert.equal(await credit.settledPeriods(), 1n);
    assert.deepEqual(await balances(), after);
  });

  it('refuses a period with a participant that has no account, before anything is queued', async () => {
    const { closed, settled } = period(1002);
    const bad = { ...settled, transfers: [...settled.transfers, { account: 'did:example:nobody', delta: 0n }] };
    const r = await settlement.enqueue(closed, bad);
    assert.equal(!r.ok && r.error.code, 'ERR_MARKET_ACCOUNT_UNKNOWN');
    assert.equal(await outbox.get(settlement.key(1002)), null);
    const mismatch = await settlement.enqueue(period(1003).closed, settled);
    assert.equal(!mismatch.ok && mismatch.error.code, 'ERR_MARKET_PERIOD_MISMATCH');
  });

  it('a settlement that cannot be paid is recorded as failed, and nothing moves', async () => {
    // participant 0 spends its credits first, then owes for period 1004
    const spender = new Wallet(people[0]!.privateKey, provider);
    await (await funder.sendTransaction({ to: spender.address, value: parseEther('1') })).wait();
    await (await credit.connect(spender).transfer(grid.address, await credit.balanceOf(spender.address))).wait();
    const { closed, settled } = period(1004);
    const before = await balances();
    assert.ok((await settlement.enqueue(closed, settled)).ok);
    await outbox.flush();
    const row = await outbox.get(settlement.key(1004));
    assert.equal(row?.status, 'failed');
    assert.match(row?.error ?? '', /would revert/);
    assert.deepEqual(await balances(), before);
    assert.equal((await credit.settlementOf(1004)).settledAt, 0n);
  });
});
