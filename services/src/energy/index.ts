export { Rng } from './rng.js';
export { SIM_DEFAULTS, type SimParams } from './sim/params.js';
export {
  clearDayYield,
  simulate,
  yearlyYield,
  type HouseholdBill,
  type SimResult,
  type SlotRecord,
  type WeekResult,
  type WeekSummary,
} from './sim/simulate.js';
export { reportChartSpec, reportJson, reportSvg, reportText } from './sim/report.js';
export { EnergySettlement, ethrAccount, type EnergySettlementOptions } from './settlement.js';
export {
  EnergyMarket,
  type EnergyMarketOptions,
  type MeterRegistration,
  type PeriodOutcome,
} from './market-service.js';
export { buildEnergyRouter, type EnergyRouterDeps } from './http.js';
export { attachMeterReadings, MAX_READING_BYTES, METER_STREAM, type MeterReadingHooks } from './mqtt.js';
export { settleOnAnvil, simAccount, type ChainFigures } from './sim/chain.js';
export {
  allocationHash,
  clear,
  clampPrice,
  clearNaive,
  GRID_ACCOUNT,
  monthlyBills,
  OrderBook,
  OrderSchema,
  orderBookHash,
  parseOrder,
  parseReading,
  settlePeriod,
  type ClosedPeriod,
  type Clearing,
  type GridPosition,
  type MeterReading,
  type MonthlyBill,
  type Order,
  type PeriodBill,
  type PeriodSettlement,
  type PricingRule,
  type Side,
  type Trade,
} from './market/index.js';
export {
  GRID_FLOAT_NANO_EUR,
  MAX_TOP_UP_NANO_EUR,
  startEnergyPart,
  type EnergyPart,
  type EnergyPartDeps,
  type EnergyPartOptions,
} from './part.js';
export { energyDatabaseParts, MeterStore } from './meters-store.js';
export {
  centsPerKwh,
  DEFAULT_TARIFFS,
  MAX_ORDER_WH,
  MAX_ORDERS_PER_PARTICIPANT,
  MAX_PRICE_UEUR_PER_KWH,
  MICRO_EUR_PER_CENT,
  moneyOf,
  NANO_EUR_PER_EUR,
  toEuro,
  type Tariffs,
} from './market/units.js';
