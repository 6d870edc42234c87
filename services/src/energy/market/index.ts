export {
  allocationHash,
  clear,
  clampPrice,
  orderBookHash,
  type Clearing,
  type PricingRule,
  type Trade,
} from './clearing.js';
export { clearNaive } from './naive.js';
export { OrderBook, type ClosedPeriod } from './book.js';
export { OrderSchema, parseOrder, type Order, type Side } from './order.js';
export {
  GRID_ACCOUNT,
  monthlyBills,
  parseReading,
  settlePeriod,
  type GridPosition,
  type MeterReading,
  type MonthlyBill,
  type PeriodBill,
  type PeriodSettlement,
} from './billing.js';
export * from './units.js';
