import { isUniqueViolation } from '@tessera/contracts';
import { err, ok, type Result } from '@tessera/protocol';
import type { DataSource, EntityManager, MigrationInterface, QueryRunner } from 'typeorm';
import type { MeterReading } from './market/billing.js';
import type { Order } from './market/order.js';
import type { PeriodOutcome } from './market-service.js';

/**
 * Where the energy market keeps its order books, readings and period outcomes: in memory for one process (tests,
 * simulations), or in the stack's database, where every replica sees the same books (an order id is unique per
 * period), orders survive a restart, and a period is cleared and settled once (under a lock on its period row).
 */
export interface MarketStore {
  /** Add an order to a period still open; ERR_MARKET_DUPLICATE_ORDER, ERR_MARKET_TOO_MANY_ORDERS, ERR_MARKET_PERIOD_CLOSED. */
  addOrder(periodId: number, order: Order, maxPerParticipant: number): Promise<Result<Order>>;
  /** Add a meter's reading of a period not yet settled; ERR_CONFLICT for a second one, ERR_MARKET_PERIOD_CLOSED. */
  addReading(periodId: number, reading: MeterReading): Promise<Result<MeterReading>>;
  /**
   * Close a period once: `close` runs with the period's orders (in arrival order) and readings, and its outcome is
   * kept; a period already closed returns the kept outcome (`fresh` false) without running `close`.
   */
  closeOnce(
    periodId: number,
    close: (orders: Order[], readings: MeterReading[]) => Promise<Result<PeriodOutcome>>,
  ): Promise<Result<{ outcome: PeriodOutcome; fresh: boolean }>>;
  outcome(periodId: number): Promise<PeriodOutcome | undefined>;
  /** Every closed period, oldest first. */
  outcomes(): Promise<PeriodOutcome[]>;
  /** Periods before `current` with orders or readings and no outcome, oldest first. */
  duePeriods(current: number): Promise<number[]>;
}

const closedErr = (periodId: number) =>
  err('ERR_MARKET_PERIOD_CLOSED', `period ${periodId} is settled`) as Result<never>;
const duplicateErr = (o: Order) =>
  err('ERR_MARKET_DUPLICATE_ORDER', `order ${o.id} was already submitted`) as Result<never>;
const tooManyErr = (max: number) =>
  err('ERR_MARKET_TOO_MANY_ORDERS', `at most ${max} orders per participant`) as Result<never>;
const twiceErr = (r: MeterReading, periodId: number) =>
  err('ERR_CONFLICT', `meter ${r.meterId} already reported period ${periodId}`) as Result<never>;

/** One process's market, in memory (lost at exit). */
export class MemoryMarketStore implements MarketStore {
  private readonly orders = new Map<number, Order[]>();
  private readonly readings = new Map<number, Map<string, MeterReading>>();
  private readonly done = new Map<number, PeriodOutcome>();
  private readonly closing = new Map<number, Promise<Result<{ outcome: PeriodOutcome; fresh: boolean }>>>();

  async addOrder(periodId: number, order: Order, max: number): Promise<Result<Order>> {
    if (this.done.has(periodId)) return closedErr(periodId);
    const list = this.orders.get(periodId) ?? [];
    if (list.some((o) => o.id === order.id)) return duplicateErr(order);
    if (list.filter((o) => o.participant === order.participant).length >= max) return tooManyErr(max);
    list.push(order);
    this.orders.set(periodId, list);
    return ok(order);
  }

  async addReading(periodId: number, reading: MeterReading): Promise<Result<MeterReading>> {
    if (this.done.has(periodId)) return closedErr(periodId);
    const byMeter = this.readings.get(periodId) ?? new Map<string, MeterReading>();
    if (byMeter.has(reading.meterId)) return twiceErr(reading, periodId);
    byMeter.set(reading.meterId, reading);
    this.readings.set(periodId, byMeter);
    return ok(reading);
  }

  closeOnce(
    periodId: number,
    close: (orders: Order[], readings: MeterReading[]) => Promise<Result<PeriodOutcome>>,
  ): Promise<Result<{ outcome: PeriodOutcome; fresh: boolean }>> {
    const done = this.done.get(periodId);
    if (done) return Promise.resolve(ok({ outcome: done, fresh: false }));
    const running = this.closing.get(periodId);
    if (running) return running.then((r) => (r.ok ? ok({ ...r.value, fresh: false }) : r));
    const run = (async () => {
      const r = await close(this.orders.get(periodId) ?? [], [...(this.readings.get(periodId)?.values() ?? [])]);
      if (!r.ok) return r;
      this.done.set(periodId, r.value);
      this.orders.delete(periodId);
      this.readings.delete(periodId);
      return ok({ outcome: r.value, fresh: true });
    })().finally(() => this.closing.delete(periodId));
    this.closing.set(periodId, run);
    return run;
  }

  async outcome(periodId: number): Promise<PeriodOutcome | undefined> {
    return this.done.get(periodId);
  }

  async outcomes(): Promise<PeriodOutcome[]> {
    return [...this.done.values()].sort((a, b) => a.closed.periodId - b.closed.periodId);
  }

  async duePeriods(current: number): Promise<number[]> {
    return [...new Set([...this.orders.keys(), ...this.readings.keys()])]
      .filter((p) => p < current && !this.done.has(p))
      .sort((a, b) => a - b);
  }
}

/** JSON with bigints (money in n€) kept exact. */
const toJson = (v: unknown) => JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? { $bigint: x.toString() } : x));
const fromJson = <T>(s: string): T =>
  JSON.parse(s, (_k, x) =>
    x && typeof x === 'object' && !Array.isArray(x) && Object.keys(x).length === 1 && typeof x.$bigint === 'string'
      ? BigInt(x.$bigint)
      : x,
  ) as T;

export class EnergyMarketMigration1763900000000 implements MigrationInterface {
  name = 'EnergyMarketMigration1763900000000';
  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE tessera_energy_order (
      period_id bigint NOT NULL, order_id varchar(128) NOT NULL, participant varchar(256) NOT NULL,
      received_at varchar(32) NOT NULL, body text NOT NULL, PRIMARY KEY (period_id, order_id))`);
    await q.query('CREATE INDEX tessera_energy_order_participant ON tessera_energy_order (period_id, participant)');
    await q.query(`CREATE TABLE tessera_energy_reading (
      period_id bigint NOT NULL, meter_id varchar(64) NOT NULL, body text NOT NULL, PRIMARY KEY (period_id, meter_id))`);
    await q.query(`CREATE TABLE tessera_energy_period (
      period_id bigint PRIMARY KEY, outcome text NULL, closed_at varchar(32) NULL)`);
  }
  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE tessera_energy_period');
    await q.query('DROP TABLE tessera_energy_reading');
    await q.query('DROP TABLE tessera_energy_order');
  }
}

/**
 * The market in the stack's database (SQLite or PostgreSQL). On PostgreSQL, adding an order or a reading holds the
 * period's row FOR SHARE and closing holds it FOR UPDATE, so nothing is added to a period while it is being cleared,
 * and a second replica closing the same period waits and then finds the outcome. SQLite is one process: its
 * operations are serialised in the process instead.
 */
export class DatabaseMarketStore implements MarketStore {
  private readonly pg: boolean;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly ds: DataSource) {
    this.pg = ds.options.type === 'postgres';
  }

  private p(i: number) {
    return this.pg ? `$${i}` : '?';
  }

  /** Run `fn` with the period row locked (PostgreSQL: in a transaction; SQLite: serialised in this process). */
  private locked<T>(
    periodId: number,
    mode: 'share' | 'update',
    fn: (m: EntityManager, outcome: string | null) => Promise<T>,
  ) {
    const body = async (m: EntityManager) => {
      await m.query(
        `INSERT INTO tessera_energy_period (period_id) VALUES (${this.p(1)}) ON CONFLICT (period_id) DO NOTHING`,
        [periodId],
      );
      const rows = (await m.query(
        `SELECT outcome FROM tessera_energy_period WHERE period_id = ${this.p(1)}${
          this.pg ? (mode === 'share' ? ' FOR SHARE' : ' FOR UPDATE') : ''
        }`,
        [periodId],
      )) as { outcome: string | null }[];
      return fn(m, rows[0]?.outcome ?? null);
    };
    if (this.pg) return this.ds.transaction(body);
    const run = this.queue.then(
      () => body(this.ds.manager),
      () => body(this.ds.manager),
    );
    this.queue = run.catch(() => undefined);
    return run;
  }

  async addOrder(periodId: number, order: Order, max: number): Promise<Result<Order>> {
    try {
      return await this.locked(periodId, 'share', async (m, outcome) => {
        if (outcome !== null) return closedErr(periodId);
        // The period row is held FOR SHARE, which concurrent orders share: the count below would be read by both of
        // two orders at once, on any replica, and both would fit. One participant's orders for one period take a
        // transaction-scoped lock, so they count and insert one after the other (other participants are not held up).
        if (this.pg) {
          await m.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [
            `tessera:energy-order:${periodId}:${order.participant}`,
          ]);
        }
        const n = (await m.query(
          `SELECT COUNT(*) AS n FROM tessera_energy_order WHERE period_id = ${this.p(1)} AND participant = ${this.p(2)}`,
          [periodId, order.participant],
        )) as { n: number | string }[];
        if (Number(n[0]?.n ?? 0) >= max) return tooManyErr(max);
        await m.query(
          `INSERT INTO tessera_energy_order (period_id, order_id, participant, received_at, body)
           VALUES (${this.p(1)}, ${this.p(2)}, ${this.p(3)}, ${this.p(4)}, ${this.p(5)})`,
          [periodId, order.id, order.participant, new Date().toISOString(), JSON.stringify(order)],
        );
        return ok(order);
      });
    } catch (e) {
      if (isUniqueViolation(e)) return duplicateErr(order);
      throw e;
    }
  }

  async addReading(periodId: number, reading: MeterReading): Promise<Result<MeterReading>> {
    try {
      return await this.locked(periodId, 'share', async (m, outcome) => {
        if (outcome !== null) return closedErr(periodId);
        await m.query(
          `INSERT INTO tessera_energy_reading (period_id, meter_id, body) VALUES (${this.p(1)}, ${this.p(2)}, ${this.p(3)})`,
          [periodId, reading.meterId, JSON.stringify(reading)],
        );
        return ok(reading);
      });
    } catch (e) {
      if (isUniqueViolation(e)) return twiceErr(reading, periodId);
      throw e;
    }
  }

  closeOnce(
    periodId: number,
    close: (orders: Order[], readings: MeterReading[]) => Promise<Result<PeriodOutcome>>,
  ): Promise<Result<{ outcome: PeriodOutcome; fresh: boolean }>> {
    return this.locked(periodId, 'update', async (m, kept) => {
      if (kept !== null) return ok({ outcome: fromJson<PeriodOutcome>(kept), fresh: false });
      const orders = (
        (await m.query(
          `SELECT body FROM tessera_energy_order WHERE period_id = ${this.p(1)} ORDER BY received_at, order_id`,
          [periodId],
        )) as { body: string }[]
      ).map((r) => JSON.parse(r.body) as Order);
      const readings = (
        (await m.query(`SELECT body FROM tessera_energy_reading WHERE period_id = ${this.p(1)} ORDER BY meter_id`, [
          periodId,
        ])) as { body: string }[]
      ).map((r) => JSON.parse(r.body) as MeterReading);
      const r = await close(orders, readings);
      if (!r.ok) return r;
      await m.query(
        `UPDATE tessera_energy_period SET outcome = ${this.p(1)}, closed_at = ${this.p(2)} WHERE period_id = ${this.p(3)}`,
        [toJson(r.value), new Date().toISOString(), periodId],
      );
      return ok({ outcome: r.value, fresh: true });
    });
  }

  async outcome(periodId: number): Promise<PeriodOutcome | undefined> {
    const rows = (await this.ds.query(
      `SELECT outcome FROM tessera_energy_period WHERE period_id = ${this.p(1)} AND outcome IS NOT NULL`,
      [periodId],
    )) as { outcome: string }[];
    return rows[0] ? fromJson<PeriodOutcome>(rows[0].outcome) : undefined;
  }

  async outcomes(): Promise<PeriodOutcome[]> {
    const rows = (await this.ds.query(
      'SELECT outcome FROM tessera_energy_period WHERE outcome IS NOT NULL ORDER BY period_id',
    )) as { outcome: string }[];
    return rows.map((r) => fromJson<PeriodOutcome>(r.outcome));
  }

  async duePeriods(current: number): Promise<number[]> {
    const rows = (await this.ds.query(
      `SELECT DISTINCT p FROM (
         SELECT period_id AS p FROM tessera_energy_order UNION SELECT period_id AS p FROM tessera_energy_reading) x
       WHERE p < ${this.p(1)} AND NOT EXISTS (
         SELECT 1 FROM tessera_energy_period d WHERE d.period_id = x.p AND d.outcome IS NOT NULL)
       ORDER BY p`,
      [current],
    )) as { p: number | string }[];
    return rows.map((r) => Number(r.p));
  }
}
