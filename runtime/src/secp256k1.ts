import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';

/** libsecp256k1 as the `secp256k1` package's native addon exposes it (its lib/index.js checks the arguments). */
export interface Libsecp256k1 {
  /** True for a valid low-s signature `sig` (r‖s) over the 32-byte digest under the SEC 1 point; throws if r or s ≥ n. */
  ecdsaVerify(sig: Uint8Array, msg32: Uint8Array, pubkey: Uint8Array): boolean;
  /** RFC 6979 deterministic signature, always low-s. */
  ecdsaSign(msg32: Uint8Array, seckey: Uint8Array): { signature: Uint8Array; recid: number };
  /** The SEC 1 public key (65 bytes uncompressed unless `compressed`) that made `sig` (r‖s) with recovery id `recid`. */
  ecdsaRecover(sig: Uint8Array, recid: number, msg32: Uint8Array, compressed?: boolean): Uint8Array;
  /** The SEC 1 public key of a private key: 33 bytes when `compressed` (the default), else 65. */
  publicKeyCreate(seckey: Uint8Array, compressed?: boolean): Uint8Array;
  contextRandomize(seed: Uint8Array | null): void;
}

/**
 * libsecp256k1 (Bitcoin Core's library: constant-time signing, verification of low-s signatures only) through the
 * `secp256k1` package's prebuilt native addon. It signs and checks ES256K about six times faster than OpenSSL's
 * generic curve code (the node:crypto path). Only the native addon is loaded (`bindings.js`, never the
 * package's pure-JS `elliptic` fallback); where it does not load, callers use OpenSSL. TESSERA_SECP256K1=openssl
 * forces OpenSSL.
 */
function load(): Libsecp256k1 | undefined {
  if (process.env.TESSERA_SECP256K1 === 'openssl') return undefined;
  try {
    const lib = createRequire(import.meta.url)('secp256k1/bindings.js') as Libsecp256k1;
    lib.contextRandomize(new Uint8Array(randomBytes(32))); // blinding against side channels while signing
    return lib;
  } catch {
    return undefined;
  }
}

export const libsecp256k1: Libsecp256k1 | undefined = load();
