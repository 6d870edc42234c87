import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { PeriodSettlement } from '../market/billing.js';
import type { ClosedPeriod } from '../market/book.js';
import { settleOnAnvil, simAccount } from './chain.js';
import { SIM_DEFAULTS } from './params.js';
import { simulate } from './simulate.js';

describe('simulation settled on chain', () => {
  it('settles every simulated period on anvil, one transaction each, and reports the chain figures', async () => {
    const periods: [ClosedPeriod, PeriodSettlement][] = [];
    const run = simulate(
      { ...SIM_DEFAULTS, households: 6, slotsPerDay: 12, weeks: [{ ...SIM_DEFAULTS.weeks[0]!, days: 1 }] },
      undefined,
      (closed, s, week) => {
        assert.equal(week, 'summer');
        periods.push([closed, s]);
      },
    );
    assert.equal(periods.length, 12);
    const participants = run.weeks[0]!.bills.map((b) => b.participant);
    const figures = await settleOnAnvil(periods, participants);
    assert.equal(figures.transactions, 12);
    assert.equal(figures.blocks, 12, 'anvil mines one block per transaction');
    const movements = periods.reduce((a, [, s]) => a + s.transfers.filter((t) => t.delta !== 0n).length, 0);
    assert.equal(figures.accountMovements, movements);
    assert.ok(figures.gasPerPeriodMax >= figures.gasPerPeriodMean && figures.gasPerPeriodMean > 21_000);
    assert.notEqual(simAccount(participants[0]!), simAccount(participants[1]!));
  });
});
