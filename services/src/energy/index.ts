export * from './market/index.js';
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
export { reportJson, reportSvg, reportText } from './sim/report.js';
export { EnergySettlement, ethrAccount, type EnergySettlementOptions } from './settlement.js';
export {
  EnergyMarket,
  type EnergyMarketOptions,
  type MeterRegistration,
  type PeriodOutcome,
} from './market-service.js';
export { buildEnergyRouter, type EnergyRouterDeps } from './http.js';
export { energyOpenApi } from './openapi.js';
export { attachMeterReadings, MAX_READING_BYTES, METER_STREAM, type MeterReadingHooks } from './mqtt.js';
export { settleOnAnvil, simAccount, type ChainFigures } from './sim/chain.js';
