import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ANVIL_FUNDER_KEY,
  EnergyCredit__factory,
  makeProvider,
  Outbox,
  openDatabase,
  outboxDatabaseParts,
  startAnvil,
} from '@tessera/contracts';
import { getAddress, keccak256, NonceManager, parseEther, toUtf8Bytes, Wallet } from 'ethers';
import type { PeriodSettlement } from '../market/billing.js';
import type { ClosedPeriod } from '../market/book.js';
import { NANO_EUR_PER_EUR } from '../market/units.js';
import { EnergySettlement } from '../settlement.js';

/** Chain figures of a settled run (transactions, gas per slot, blocks). */
export interface ChainFigures {
  transactions: number;
  blocks: number;
  gasTotal: number;
  gasPerPeriodMean: number;
  gasPerPeriodMax: number;
  gasPerAccount: number;
  /** Account movements over all settlements (participants and the grid, zero movements left out). */
  accountMovements: number;
  /** Wall time to enqueue every settlement in the outbox, send them and wait for their receipts. */
  settleMs: number;
}

/** A simulated participant's deterministic account (the simulation's DIDs are not did:ethr). */
export const simAccount = (participant: string): string =>
  getAddress(`0x${keccak256(toUtf8Bytes(participant)).slice(-40)}`);

/**
 * Settle simulated periods on a fresh anvil: deploy EnergyCredit, credit every participant and the grid with
 * `fundingEur` (setup, not timed), then enqueue every period through the outbox (SQLite) and flush; each period is one
 * `settle` transaction. Throws if any period is not mined or the contract's count disagrees.
 */
export async function settleOnAnvil(
  periods: readonly [ClosedPeriod, PeriodSettlement][],
  participants: readonly string[],
  onProgress?: (label: string, done: number, total: number) => void,
  fundingEur = 1000n,
): Promise<ChainFigures> {
  const chain = await startAnvil({});
  const dir = mkdtempSync(join(tmpdir(), 'tessera-energy-chain-'));
  const provider = makeProvider(chain.rpcUrl, chain.chainId);
  const db = await openDatabase({ sqlitePath: join(dir, 'outbox.sqlite') }, outboxDatabaseParts);
  try {
    const funder = new NonceManager(new Wallet(ANVIL_FUNDER_KEY, provider));
    const relayer = new Wallet(Wallet.createRandom().privateKey, provider);
    const grid = Wallet.createRandom().address;
    await (await funder.sendTransaction({ to: relayer.address, value: parseEther('100') })).wait();
    const credit = await new EnergyCredit__factory(funder).deploy();
    await credit.waitForDeployment();
    await (await credit.grantRole(await credit.OPERATOR(), relayer.address)).wait();
    const accounts = [grid, ...participants.map(simAccount)];
    let last: Promise<unknown> = Promise.resolve();
    for (const [i, a] of accounts.entries()) {
      last = (await credit.mint(a, fundingEur * NANO_EUR_PER_EUR)).wait();
      onProgress?.('crediting accounts', i + 1, accounts.length);
    }
    await last;
    const outbox = new Outbox({ dataSource: db, signer: relayer, provider, chainId: chain.chainId });
    const settlement = new EnergySettlement({
      outbox,
      creditAddress: await credit.getAddress(),
      gridAccount: grid,
      accountOf: simAccount,
    });
    const startBlock = await provider.getBlockNumber();
    const t0 = performance.now();
    for (const [i, [closed, s]] of periods.entries()) {
      const r = await settlement.enqueue(closed, s);
      if (!r.ok) throw new Error(`${r.error.code}: ${r.error.message}`);
      onProgress?.('settling on chain', i, periods.length);
    }
    await outbox.flush();
    const settleMs = performance.now() - t0;
    onProgress?.('settling on chain', periods.length, periods.length);
    const gas: number[] = [];
    let moved = 0;
    for (const [closed] of periods) {
      const row = await outbox.get(settlement.key(closed.periodId));
      if (row?.status !== 'mined')
        throw new Error(`period ${closed.periodId} not settled: ${row?.status} ${row?.error}`);
      gas.push(Number((await provider.getTransactionReceipt(row.txHash!))!.gasUsed));
      moved += Number((await credit.settlementOf(closed.periodId)).accounts);
    }
    if ((await credit.settledPeriods()) !== BigInt(periods.length)) throw new Error('not every period settled');
    const gasTotal = gas.reduce((a, g) => a + g, 0);
    return {
      transactions: periods.length,
      blocks: (await provider.getBlockNumber()) - startBlock,
      gasTotal,
      gasPerPeriodMean: Math.round(gasTotal / Math.max(1, periods.length)),
      gasPerPeriodMax: Math.max(0, ...gas),
      gasPerAccount: Math.round(gasTotal / Math.max(1, moved)),
      accountMovements: moved,
      settleMs,
    };
  } finally {
    await db.destroy();
    provider.destroy();
    await chain.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
