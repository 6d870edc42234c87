import type { OutboxRow } from '@tessera/contracts';
import { err, ok, type Result } from '@tessera/protocol';
import { Counter, Gauge, Registry } from 'prom-client';
import { z } from 'zod';
import { type MeterReading, type PeriodSettlement, parseReading, settlePeriod } from './market/billing.js';
import { type ClosedPeriod, OrderBook } from './market/book.js';
import type { PricingRule } from './market/clearing.js';
import { type Order, parseOrder } from './market/order.js';
import { DEFAULT_TARIFFS, MAX_ORDERS_PER_PARTICIPANT, type Tariffs } from './market/units.js';
import { type MarketStore, MemoryMarketStore } from './market-store.js';
import type { EnergySettlement } from './settlement.js';

/** A metering point admitted to the market: who trades for it and what it can deliver. */
export interface MeterRegistration {
  meterId: string;
  participant: string;
  /** Generation nameplate in W (0 for a consumer); readings above nameplate × period are refused. */
  nameplateW: number;
  /** The meter gateway's device id: the only device whose readings count for this meter. */
  deviceId?: string;
}

export interface EnergyMarketOptions {
  tariffs?: Tariffs;
  rule?: PricingRule;
  /** Trading period length; 15 minutes by default, shorter in simulations. */
  periodMs?: number;
  now?: () => number;
  /** When given, every closed period is settled on chain through the outbox. */
  settlement?: EnergySettlement;
  metrics?: Registry;
  /** Where books, readings and outcomes are kept; in memory by default, the database in the stack. */
  store?: MarketStore;
  /**
   * Where meter registrations are read (the database in the stack, so a gateway bound through one replica counts at
   * every other); without it only `registerMeter` calls of this process count.
   */
  meters?: {
    get(meterId: string): Promise<MeterRegistration | null>;
    byDevice(deviceId: string): Promise<MeterRegistration | null>;
  };
}

export interface PeriodOutcome {
  closed: ClosedPeriod;
  settlement: PeriodSettlement;
  /** The outbox row of the on-chain settlement, when settlement is on chain. */
  outbox?: OutboxRow;
}

const OrderBody = z.object({ periodId: z.number().int().min(0).optional() }).passthrough();
const ReadingBody = z.strictObject({
  meterId: z.string().min(3).max(64),
  periodId: z.number().int().min(0),
  consumedWh: z.unknown(),
  producedWh: z.unknown(),
});

/**
 * The energy market as a service: one order book per trading period, meter readings per period (kept in a
 * `MarketStore`: memory, or the database shared by replicas), and closing a period clears it, bills it against the readings and (optionally) settles it on chain. Who may call what is decided
 * at the boundary (HTTP guard for orders, the device's authenticated identity for readings); this class enforces the
 * market's own rules: orders only for the current or a future period, readings only for a meter's own period.
 */
export class EnergyMarket {
  readonly tariffs: Tariffs;
  readonly periodMs: number;
  private readonly rule: PricingRule;
  private readonly now: () => number;
  private readonly store: MarketStore;
  private readonly meters = new Map<string, MeterRegistration>();
  private readonly meterOfDevice = new Map<string, string>();
  private timer: NodeJS.Timeout | undefined;
  private readonly m: {
    orders: Counter<'side'>;
    refused: Counter<'code'>;
    trades: Counter;
    volume: Counter;
    price: Gauge;
    periods: Counter;
  };

  constructor(private readonly options: EnergyMarketOptions = {}) {
    this.tariffs = options.tariffs ?? DEFAULT_TARIFFS;
    this.rule = options.rule ?? 'uniform';
    this.periodMs = options.periodMs ?? 900_000;
    this.now = options.now ?? Date.now;
    this.store = options.store ?? new MemoryMarketStore();
    const registers = [options.metrics ?? new Registry()];
    this.m = {
      orders: new Counter({
        name: 'tessera_energy_orders_total',
        help: 'Orders accepted',
        labelNames: ['side'],
        registers,
      }),
      refused: new Counter({
        name: 'tessera_energy_refusals_total',
        help: 'Orders and readings refused, by code',
        labelNames: ['code'],
        registers,
      }),
      trades: new Counter({ name: 'tessera_energy_trades_total', help: 'Matched trades', registers }),
      volume: new Counter({ name: 'tessera_energy_traded_wh_total', help: 'Energy traded locally (Wh)', registers }),
      price: new Gauge({ name: 'tessera_energy_clearing_price', help: 'Last clearing price (µ€/kWh)', registers }),
      periods: new Counter({ name: 'tessera_energy_periods_closed_total', help: 'Periods cleared', registers }),
    };
  }

  /** The period trading now: floor(now / period length). */
  currentPeriod(): number {
    return Math.floor(this.now() / this.periodMs);
  }

  registerMeter(meter: MeterRegistration): void {
    this.meters.set(meter.meterId, meter);
    if (meter.deviceId) this.meterOfDevice.set(meter.deviceId, meter.meterId);
  }

  /** The meter a device reports for, if it is a registered meter gateway. */
  async meterOf(deviceId: string): Promise<string | undefined> {
    if (this.options.meters) return (await this.options.meters.byDevice(deviceId))?.meterId;
    return this.meterOfDevice.get(deviceId);
  }

  private async meter(meterId: string): Promise<MeterRegistration | undefined> {
    if (this.options.meters) return (await this.options.meters.get(meterId)) ?? undefined;
    return this.meters.get(meterId);
  }

  /** Count a refusal made at a boundary (MQTT handler) in the market's figures. */
  countRefusal(code: string): void {
    this.m.refused.inc({ code });
  }

  private refuse<T>(r: Result<T>): Result<T> {
    if (!r.ok) this.m.refused.inc({ code: r.error.code });
    return r;
  }

  /**
   * Place an order for `meterId` on behalf of `participant` (the authenticated holder); `body` carries the order
   * fields and optionally `periodId` (default: the current period). An order id is taken once per period, also
   * across replicas sharing the database.
   */
  async submitOrder(
    participant: string,
    meterId: string,
    body: unknown,
  ): Promise<Result<{ order: Order; periodId: number }>> {
    const parsed = OrderBody.safeParse(body);
    if (!parsed.success) return this.refuse(err('ERR_MARKET_ORDER_INVALID', 'the order must be a JSON object'));
    const { periodId = this.currentPeriod(), ...fields } = parsed.data;
    if (periodId < this.currentPeriod())
      return this.refuse(err('ERR_MARKET_PERIOD_CLOSED', `period ${periodId} is no longer open for orders`));
    const order = parseOrder({ ...fields, participant, meterId });
    if (!order.ok) return this.refuse(order);
    const r = await this.store.addOrder(periodId, order.value, MAX_ORDERS_PER_PARTICIPANT);
    if (!r.ok) {
      if (r.error.code === 'ERR_MARKET_PERIOD_CLOSED')
        return this.refuse(err('ERR_MARKET_PERIOD_CLOSED', `period ${periodId} is no longer open for orders`));
      return this.refuse(r);
    }
    this.m.orders.inc({ side: r.value.side });
    return ok({ order: r.value, periodId });
  }

  /**
   * Record a reading published by the device authenticated as `deviceMeterId`: a device reports only its own meter
   * (`ERR_TOPIC_FORBIDDEN` otherwise), only for a registered meter and a period that has not been settled, within
   * its nameplate; a second reading for the same meter and period is a conflict.
   */
  async recordReading(deviceMeterId: string, payload: unknown): Promise<Result<MeterReading>> {
    const body = ReadingBody.safeParse(payload);
    if (!body.success)
      return this.refuse(
        err('ERR_MARKET_READING_INVALID', body.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')),
      );
    const { meterId, periodId, consumedWh, producedWh } = body.data;
    if (meterId !== deviceMeterId)
      return this.refuse(
        err('ERR_TOPIC_FORBIDDEN', `a device for meter ${deviceMeterId} cannot report meter ${meterId}`),
      );
    const meter = await this.meter(meterId);
    if (!meter) return this.refuse(err('ERR_MARKET_READING_INVALID', `meter ${meterId} is not registered`));
    if (periodId > this.currentPeriod())
      return this.refuse(err('ERR_MARKET_READING_INVALID', `period ${periodId} has not started`));
    const reading = parseReading(
      { participant: meter.participant, meterId, consumedWh, producedWh },
      { nameplateW: meter.nameplateW, slotSeconds: this.periodMs / 1000 },
    );
    if (!reading.ok) return this.refuse(reading);
    return this.refuse(await this.store.addReading(periodId, reading.value));
  }

  /**
   * Close a past period: clear its book, bill it against its readings and, with on-chain settlement, enqueue its
   * settlement in the outbox. Idempotent: closing a closed period returns its outcome.
   */
  async closePeriod(periodId: number): Promise<Result<PeriodOutcome>> {
    const done = await this.store.outcome(periodId);
    if (done) return ok(done);
    if (periodId >= this.currentPeriod())
      return err('ERR_CONFLICT', `period ${periodId} is still trading; it closes when period ${periodId + 1} begins`);
    // Cleared and settled once: the store runs this for one caller (one replica) and keeps the outcome.
    const r = await this.store.closeOnce(periodId, async (orders, readings) => {
      const book = new OrderBook(periodId, this.tariffs, this.rule);
      for (const o of orders) {
        const accepted = book.submit(o);
        if (!accepted.ok) return accepted;
      }
      const closed = book.close();
      const settled = settlePeriod(periodId, periodId * this.periodMs, closed.clearing, readings, this.tariffs);
      if (!settled.ok) return settled;
      const outcome: PeriodOutcome = { closed, settlement: settled.value };
      if (this.options.settlement) {
        const row = await this.options.settlement.enqueue(closed, settled.value);
        if (!row.ok) return row;
        outcome.outbox = row.value;
      }
      return ok(outcome);
    });
    if (!r.ok) return r;
    const { outcome, fresh } = r.value;
    if (fresh) {
      const { closed } = outcome;
      this.m.periods.inc();
      this.m.trades.inc(closed.clearing.trades.length);
      this.m.volume.inc(closed.clearing.volumeWh);
      if (closed.clearing.price !== null) this.m.price.set(closed.clearing.price);
    }
    return ok(outcome);
  }

  /**
   * Close every past period that has orders or readings, oldest first. A period that cannot close yet (a trading
   * participant's reading is missing, an account is unknown) is reported and retried on the next call, so a late
   * reading still gets billed.
   */
  async closeDuePeriods(): Promise<{ closed: number[]; pending: { periodId: number; code: string }[] }> {
    const due = await this.store.duePeriods(this.currentPeriod());
    const closed: number[] = [];
    const pending: { periodId: number; code: string }[] = [];
    for (const p of due) {
      const r = await this.closePeriod(p);
      if (r.ok) closed.push(p);
      else pending.push({ periodId: p, code: r.error.code });
    }
    return { closed, pending };
  }

  /** Close due periods every `intervalMs` (errors go to `onError`; the loop goes on). */
  start(intervalMs = 5_000, onError?: (e: unknown) => void): void {
    if (this.timer) return;
    const tick = () => {
      this.closeDuePeriods()
        .catch((e) => onError?.(e))
        .finally(() => {
          if (this.timer) this.timer = setTimeout(tick, intervalMs);
        });
    };
    this.timer = setTimeout(tick, 0);
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  outcome(periodId: number): Promise<PeriodOutcome | undefined> {
    return this.store.outcome(periodId);
  }

  /** Every closed period, oldest first (bills per participant and period). */
  closedPeriods(): Promise<PeriodOutcome[]> {
    return this.store.outcomes();
  }

  /** The on-chain settlement of a closed period as the outbox has it now (the outcome keeps the row as enqueued). */
  async settlementNow(periodId: number): Promise<OutboxRow | undefined> {
    if (!this.options.settlement || !(await this.store.outcome(periodId))) return undefined;
    return (await this.options.settlement.current(periodId)) ?? undefined;
  }
}
