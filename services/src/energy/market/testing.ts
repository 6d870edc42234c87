import { Rng } from '../rng.js';
import type { Order } from './order.js';
import { centsPerKwh } from './units.js';

/**
 * A random but plausible order book for property tests and benchmarks: `n` orders from `n / 4` participants,
 * energies of a household slot (10 Wh to 5 kWh), prices from 2 to 30 c€/kWh. With `twoSided` false each participant
 * only buys or only sells, as a household does in one slot.
 */
export function randomBook(seed: number, n: number, twoSided = false): Order[] {
  const rng = new Rng(seed);
  const participants = Math.max(2, Math.floor(n / 4));
  const orders: Order[] = [];
  for (let i = 0; i < n; i++) {
    const p = rng.int(0, participants - 1);
    const side = twoSided ? (rng.next() < 0.5 ? 'bid' : 'offer') : p % 2 === 0 ? 'bid' : 'offer';
    orders.push({
      id: `o${i}`,
      participant: `did:example:p${p}`,
      meterId: `FR-MRS-${String(p).padStart(4, '0')}`,
      side,
      energyWh: rng.int(10, 5000),
      // coarse prices so that ties (and the time-priority tie-break) happen often
      limitPrice: centsPerKwh(rng.int(4, 60) / 2),
    });
  }
  return orders;
}
