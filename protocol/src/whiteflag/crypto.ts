import { createCipheriv, createECDH, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import { EVM_ADDRESS_PATTERN } from '../constants.js';
import { err, ok, type Result } from '../result.js';
import { type EncryptionMethod, WHITEFLAG_UNENCRYPTED_BYTES } from './definitions.js';

/**
 * The cryptography of Whiteflag (§5.2): HKDF-SHA256 derivations of authentication tokens and encryption keys from a
 * shared secret and the originator's binary blockchain address (§5.2.3), AES-256-CTR over everything after the first
 * 32 bits of the encoded message (§5.2.4), and ECDH on brainpoolP256r1 with compressed public keys (§5.2.2). All of it
 * is node:crypto (OpenSSL, the reference implementation the standard names).
 */

/** §5.2.3: the HKDF salt of authentication method 2 tokens. */
export const AUTH_TOKEN_SALT = Buffer.from('420abc48f5d69328c457d61725d3fd7af2883cad8460976167e375b9f2c14081', 'hex');
/** §5.2.3: the HKDF salts of the encryption keys of methods 1 (ECDH) and 2 (pre-shared). */
export const ENCRYPTION_SALTS: Readonly<Record<EncryptionMethod, Buffer>> = {
  '1': Buffer.from('8ddb03085a2c15e69c35c224bce2952dca7878770724741cbce5a135328be0c0', 'hex'),
  '2': Buffer.from('c4d028bd45c876135e80ef7889835822a6f19a31835557d5854d1334e8497b56', 'hex'),
};
/** §5.2.3: shared secrets used as HKDF input must have at least 16 bytes of entropy. */
export const MIN_SHARED_SECRET_BYTES = 16;
/** §5.2.2: the curve of Whiteflag's ECDH. */
export const ECDH_CURVE = 'brainpoolP256r1';
/** §5.2.4.1: a 128-bit initialisation vector, new for every encrypted message. */
export const INIT_VECTOR_BYTES = 16;

/** HKDF-SHA256 (RFC 5869) with the standard's output length of 32 bytes (§5.2.3). */
export function whiteflagHkdf(secret: Uint8Array, salt: Uint8Array, info: Uint8Array, length = 32): Buffer {
  return Buffer.from(hkdfSync('sha256', secret, salt, info, length));
}

function checkSecret(secret: Uint8Array): Result<true> {
  return secret.length >= MIN_SHARED_SECRET_BYTES
    ? ok(true)
    : err('ERR_WHITEFLAG_KEY_UNKNOWN', `a shared secret needs at least ${MIN_SHARED_SECRET_BYTES} bytes (§5.2.3)`);
}

/**
 * Authentication method 2 (§5.1.2.2, §5.2.3): the verification data an `A2` message carries, derived from the secret
 * token and the binary address of the account that sends it.
 *
 * @returns 32 bytes as lower-case hex.
 */
export function authVerificationData(secret: Uint8Array, address: Uint8Array): Result<string> {
  const s = checkSecret(secret);
  if (!s.ok) return s;
  return ok(whiteflagHkdf(secret, AUTH_TOKEN_SALT, address).toString('hex'));
}

/** Does an `A2` message's verification data come from `secret` for the sending `address`? (constant time) */
export function authTokenMatches(verificationData: string, secret: Uint8Array, address: Uint8Array): boolean {
  if (!/^[0-9a-fA-F]{64}$/.test(verificationData) || secret.length < MIN_SHARED_SECRET_BYTES) return false;
  return timingSafeEqual(Buffer.from(verificationData, 'hex'), whiteflagHkdf(secret, AUTH_TOKEN_SALT, address));
}

/** §5.2.3: the AES-256 key of encryption method 1 or 2 for messages sent from `address`. */
export function encryptionKey(method: EncryptionMethod, secret: Uint8Array, address: Uint8Array): Result<Buffer> {
  const s = checkSecret(secret);
  if (!s.ok) return s;
  return ok(whiteflagHkdf(secret, ENCRYPTION_SALTS[method], address));
}

/** A fresh random initialisation vector (§5.2.4.1: never reused with the same key). */
export function newInitVector(): Buffer {
  return randomBytes(INIT_VECTOR_BYTES);
}

function ctr(bytes: Uint8Array, key: Uint8Array, iv: Uint8Array): Result<Uint8Array> {
  if (key.length !== 32) return err('ERR_WHITEFLAG_KEY_UNKNOWN', 'an AES-256 key is 32 bytes');
  if (iv.length !== INIT_VECTOR_BYTES)
    return err('ERR_WHITEFLAG_DECRYPTION_FAILED', 'the initialisation vector is 16 bytes');
  if (bytes.length <= WHITEFLAG_UNENCRYPTED_BYTES || bytes[0] !== 0x57 || bytes[1] !== 0x46)
    return err('ERR_WHITEFLAG_MALFORMED', 'not an encoded Whiteflag message');
  const indicator = String.fromCharCode(bytes[3]!);
  if (indicator !== '1' && indicator !== '2')
    return err('ERR_WHITEFLAG_MALFORMED', `encryption indicator '${indicator}' is not method 1 or 2`);
  const cipher = createCipheriv('aes-256-ctr', key, iv);
  const tail = Buffer.concat([cipher.update(bytes.subarray(WHITEFLAG_UNENCRYPTED_BYTES)), cipher.final()]);
  const out = new Uint8Array(bytes.length);
  out.set(bytes.subarray(0, WHITEFLAG_UNENCRYPTED_BYTES));
  out.set(tail, WHITEFLAG_UNENCRYPTED_BYTES);
  return ok(out);
}

/**
 * §5.2.4.1: encrypt an encoded message (its header already says method 1 or 2) from bit 32 to the end with
 * AES-256-CTR; the prefix, version and encryption indicator stay in the clear.
 */
export function encryptWhiteflag(encoded: Uint8Array, key: Uint8Array, iv: Uint8Array): Result<Uint8Array> {
  return ctr(encoded, key, iv);
}

/** The inverse of `encryptWhiteflag` (counter mode is its own inverse). */
export function decryptWhiteflag(encrypted: Uint8Array, key: Uint8Array, iv: Uint8Array): Result<Uint8Array> {
  return ctr(encrypted, key, iv);
}

/** An ECDH key pair on brainpoolP256r1; the public key compressed (33 bytes, the `CryptoData` of a `K0A`/`K0B`). */
export interface WhiteflagEcdhKeyPair {
  privateKey: Buffer;
  /** Compressed public key, lower-case hex. */
  publicKey: string;
}

/** A new key pair, or the pair of an existing private key (32 bytes). */
export function ecdhKeyPair(privateKey?: Uint8Array): Result<WhiteflagEcdhKeyPair> {
  const ecdh = createECDH(ECDH_CURVE);
  try {
    if (privateKey) ecdh.setPrivateKey(privateKey);
    else ecdh.generateKeys();
  } catch (e) {
    return err('ERR_WHITEFLAG_KEY_UNKNOWN', `not a brainpoolP256r1 private key: ${(e as Error).message}`);
  }
  return ok({ privateKey: ecdh.getPrivateKey(), publicKey: ecdh.getPublicKey('hex', 'compressed') });
}

/**
 * §5.2.2: the ECDH shared secret (the x coordinate, as OpenSSL computes it) of our private key and the other party's
 * published public key. A key that is not a point on the curve is refused.
 */
export function ecdhSharedSecret(privateKey: Uint8Array, peerPublicKey: string): Result<Buffer> {
  if (!/^0[23][0-9a-fA-F]{64}$/.test(peerPublicKey) && !/^04[0-9a-fA-F]{128}$/.test(peerPublicKey))
    return err('ERR_WHITEFLAG_KEY_UNKNOWN', 'the public key is not a compressed or uncompressed brainpoolP256r1 point');
  const ecdh = createECDH(ECDH_CURVE);
  try {
    ecdh.setPrivateKey(privateKey);
    return ok(ecdh.computeSecret(Buffer.from(peerPublicKey, 'hex')));
  } catch (e) {
    return err('ERR_WHITEFLAG_KEY_UNKNOWN', `the ECDH computation failed: ${(e as Error).message}`);
  }
}

/** The binary form of an EVM address (20 bytes): the `info` of every HKDF derivation for accounts on the chain. */
export function evmAddressBytes(address: string): Result<Buffer> {
  if (!EVM_ADDRESS_PATTERN.test(address)) return err('ERR_BAD_REQUEST', `'${address.slice(0, 60)}' is not an address`);
  return ok(Buffer.from(address.slice(2), 'hex'));
}
