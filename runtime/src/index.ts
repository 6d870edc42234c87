/**
 * @tessera/runtime — Node.js helpers that every Tessera process shares and that are not part of the pure protocol:
 * files written atomically and privately, the libsecp256k1 addon and its worker thread, the CSPRNG pool, progress
 * bars and bench reports. The HTTP boundary (one body parser, one error handler) is the `./http` subpath, so that
 * processes without a server (the device agent) do not load express.
 * May import: @tessera/protocol.
 */
export { PRIVATE_DIR_MODE, PRIVATE_FILE_MODE, privateDirectory, touchPrivate, writeFileAtomic } from './files.js';
export {
  DATA_DIR_LOCK_FILE,
  type DataDirLock,
  type DataDirLockOwner,
  describeOwner,
  lockDataDir,
} from './data-dir-lock.js';
export { type Libsecp256k1, libsecp256k1 } from './secp256k1.js';
export { Secp256k1Worker } from './secp256k1-worker.js';
export { randomBase64url } from './random.js';
export { ProgressBar } from './progress.js';
export {
  type BenchContext,
  type BenchReport,
  BenchUnavailable,
  formatBenchTable,
  percentile,
  ratio,
} from './bench.js';
export { JWE_ENCS, type JweEnc, MAX_JWE_BYTES, decryptJwe, encryptJwe, generateEncryptionKey } from './jwe.js';
export { decodeJwsPart, jwkThumbprint, verifyJwsWithJwk } from './jws.js';
