export { ERROR_CODES, TesseraError, isErrorCode, toTesseraError, type ErrorCode, type ErrorShape } from './errors.js';
export { ok, err, type Result } from './result.js';
export { parseDid, parseEthrDid, ethrDid, MAX_DID_LENGTH, type ParsedDid, type ParsedEthrDid } from './did.js';
export { formatBenchTable, percentile, ratio, type BenchReport } from './bench.js';
export * from './constants.js';
export { seal, unseal } from './sealing.js';
