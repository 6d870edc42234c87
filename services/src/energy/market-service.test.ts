import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { EnergyMarket } from './market-service.js';
import { centsPerKwh as c } from './market/units.js';

const PERIOD = 900_000;

describe('energy market periods', () => {
  it('closes due periods oldest first, keeps one whose reading is missing pending, and bills it once the reading comes', async () => {
    let now = 10 * PERIOD;
    const metrics = new Registry();
    const market = new EnergyMarket({ periodMs: PERIOD, now: () => now, metrics });
    for (const [i, id] of ['A', 'B'].entries())
      market.registerMeter({ meterId: `FR-MRS-010${i}`, participant: `did:example:${id}`, nameplateW: 5000 });
    const order = (who: string, meter: string, side: 'bid' | 'offer', periodId: number) =>
      market.submitOrder(`did:example:${who}`, meter, {
        id: `${who}${periodId}`,
        side,
        energyWh: 500,
        limitPrice: c(side === 'bid' ? 20 : 8),
        periodId,
      });
    assert.ok((await order('A', 'FR-MRS-0100', 'bid', 10)).ok);
    assert.ok((await order('B', 'FR-MRS-0101', 'offer', 10)).ok);
    assert.ok((await order('A', 'FR-MRS-0100', 'bid', 11)).ok, 'orders for a later period are accepted');
    assert.ok((await order('B', 'FR-MRS-0101', 'offer', 11)).ok);
    const read = (meter: string, periodId: number, consumedWh: number, producedWh: number) =>
      market.recordReading(meter, { meterId: meter, periodId, consumedWh, producedWh });
    assert.ok((await read('FR-MRS-0100', 10, 500, 0)).ok);
    assert.ok((await read('FR-MRS-0101', 10, 0, 500)).ok);

    assert.deepEqual(await market.closeDuePeriods(), { closed: [], pending: [] }, 'nothing is due during period 10');
    now = 12 * PERIOD;
    assert.ok((await read('FR-MRS-0100', 11, 500, 0)).ok);
    const first = await market.closeDuePeriods();
    assert.deepEqual(first.closed, [10]);
    assert.deepEqual(first.pending, [{ periodId: 11, code: 'ERR_MARKET_READING_MISSING' }]);
    assert.ok((await read('FR-MRS-0101', 11, 0, 480)).ok, 'a late reading for an unsettled period is still taken');
    const second = await market.closeDuePeriods();
    assert.deepEqual(second, { closed: [11], pending: [] });
    const b11 = (await market.outcome(11))!.settlement.bills.find((b) => b.participant === 'did:example:B')!;
    assert.equal(b11.gridImportWh, 20, 'B sold 500 but delivered 480: 20 Wh bought from the grid');
    assert.deepEqual(
      await market.closeDuePeriods(),
      { closed: [], pending: [] },
      'closed periods are not closed twice',
    );
    assert.match(await metrics.metrics(), /tessera_energy_periods_closed_total 2/);
    assert.match(await metrics.metrics(), /tessera_energy_orders_total\{side="bid"\} 2/);
  });
});
