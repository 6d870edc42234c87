/**
 * The per-participant order cap holds across replicas: two markets on one PostgreSQL, each taking a burst of orders
 * from the same participant for the same period at once, accept exactly the cap between them (a count read outside a
 * lock lets both see room and both insert).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { openDatabase } from '@tessera/contracts';
import { throwawayPostgres } from '@tessera/contracts/testing';
import type { DataSource } from 'typeorm';
import type { Order } from './market/order.js';
import { DatabaseMarketStore } from './market-store.js';
import { energyDatabaseParts } from './meters-store.js';

describe('order cap on two replicas', () => {
  const pg = throwawayPostgres('tessera_energy_order_cap');
  const dbs: DataSource[] = [];
  before(async () => {
    const url = await pg.create();
    for (let i = 0; i < 2; i++) dbs.push(await openDatabase({ url }, energyDatabaseParts));
  });
  after(async () => {
    for (const d of dbs) await d.destroy();
    await pg.drop();
  });

  it('accepts exactly the cap from one participant across both, whatever the interleaving', async () => {
    const stores = dbs.map((d) => new DatabaseMarketStore(d));
    const max = 5;
    for (let round = 0; round < 5; round++) {
      const periodId = 100 + round;
      const order = (i: number): Order => ({
        id: `r${round}-o${i}`,
        participant: 'did:ethr:0x7a69:0x00000000000000000000000000000000000000aa',
        meterId: 'DE000001',
        side: 'bid',
        energyWh: 1000,
        limitPrice: 10,
      });
      const results = await Promise.all(
        Array.from({ length: 24 }, (_, i) => stores[i % 2]!.addOrder(periodId, order(i), max)),
      );
      const accepted = results.filter((r) => r.ok).length;
      const refused = results.filter((r) => !r.ok && r.error.code === 'ERR_MARKET_TOO_MANY_ORDERS').length;
      assert.equal(accepted, max, `round ${round}: ${accepted} orders accepted over a cap of ${max}`);
      assert.equal(refused, 24 - max);
      const [row] = (await dbs[0]!.query('SELECT COUNT(*) AS n FROM tessera_energy_order WHERE period_id = $1', [
        periodId,
      ])) as { n: string }[];
      assert.equal(Number(row!.n), max);
    }
  });
});
