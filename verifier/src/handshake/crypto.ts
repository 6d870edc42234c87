import { SECP256K1_HALF_N, SECP256K1_N } from '@tessera/protocol';
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  type KeyObject,
  sign as cryptoSign,
  verify as cryptoVerify,
} from 'node:crypto';
import type { Signer } from 'did-jwt';
import { computeAddress, Signature, SigningKey } from 'ethers';
import { LRUCache } from 'lru-cache';
import { libsecp256k1 } from '@tessera/runtime';

// SubjectPublicKeyInfo prefix (RFC 5480) for an uncompressed secp256k1 point.
const SPKI_SECP256K1_UNCOMPRESSED = Buffer.from('3056301006072a8648ce3d020106052b8104000a034200', 'hex');
// RFC 5915 ECPrivateKey in PKCS#8 for secp256k1, without the optional public key.
const PKCS8_SECP256K1_PREFIX = Buffer.from('303e020100301006072a8648ce3d020106052b8104000a042730250201010420', 'hex');

const big = (b: Uint8Array) => BigInt(`0x${Buffer.from(b).toString('hex') || '0'}`);
const be32 = (n: bigint) => Buffer.from(n.toString(16).padStart(64, '0'), 'hex');

/**
 * A did-jwt `Signer` for ES256K on libsecp256k1 (RFC 6979, low s, blinded context) where its native addon loads, else
 * on node:crypto (OpenSSL), instead of the pure-JS curve: about 10× (OpenSSL) to 60× (libsecp256k1) faster. The
 * signature is low s, as did-jwt's own signer makes it (verifiers refuse the high-s twin).
 */
export function nodeES256KSigner(privateKeyHex: string, engine: 'openssl' | 'auto' = 'auto'): Signer {
  const d = Buffer.from(privateKeyHex.replace(/^0x/, ''), 'hex');
  if (d.length !== 32) throw new Error('an ES256K private key is 32 bytes');
  const lib = engine === 'auto' ? libsecp256k1 : undefined;
  if (lib) {
    const seckey = new Uint8Array(d);
    return async (data: string | Uint8Array) => {
      const digest = createHash('sha256')
        .update(typeof data === 'string' ? Buffer.from(data, 'utf8') : data)
        .digest();
      return Buffer.from(lib.ecdsaSign(new Uint8Array(digest), seckey).signature).toString('base64url');
    };
  }
  const key = createPrivateKey({ key: Buffer.concat([PKCS8_SECP256K1_PREFIX, d]), format: 'der', type: 'pkcs8' });
  return async (data: string | Uint8Array) => {
    const rs = cryptoSign('sha256', typeof data === 'string' ? Buffer.from(data, 'utf8') : data, {
      key,
      dsaEncoding: 'ieee-p1363',
    });
    const s = big(rs.subarray(32));
    const low = s > SECP256K1_HALF_N ? be32(SECP256K1_N - s) : rs.subarray(32);
    return Buffer.concat([rs.subarray(0, 32), low]).toString('base64url');
  };
}

/**
 * Checks handshake signatures (ES256K-R over the transcript digest). The digest is sha256(transcript bytes), so the
 * signature is an ordinary ECDSA-SHA256 signature over the transcript bytes, which node:crypto verifies quickly once the
 * signer's public key is known. The first signature of an address needs a public-key recovery (pure JS, ~2 ms); the
 * recovered key is kept per address (a key has exactly one address, so this never goes stale) and later handshakes take
 * the fast path. Whether the address is authorised is decided by the caller against the DID document as it is now.
 */
export class HandshakeSignatureChecker {
  /** Per address: the public point (libsecp256k1) or an OpenSSL key object, never both (memory per device). */
  private readonly keys: LRUCache<string, KeyObject | Uint8Array>;
  private readonly lib: typeof libsecp256k1;
  readonly stats = { fast: 0, recoveries: 0 };

  /** `engine: 'openssl'` checks with OpenSSL and recovers in JS even where libsecp256k1 loads (tests compare them). */
  constructor(options: { maxKeys?: number; engine?: 'openssl' | 'auto' } = {}) {
    this.keys = new LRUCache({ max: options.maxKeys ?? 100_000 });
    this.lib = options.engine === 'openssl' ? undefined : libsecp256k1;
  }

  private verify(transcriptBytes: Uint8Array, digest: Uint8Array, rs: Buffer, k: KeyObject | Uint8Array) {
    if (k instanceof Uint8Array) {
      try {
        return this.lib!.ecdsaVerify(new Uint8Array(rs), new Uint8Array(digest), k);
      } catch {
        return false; // r or s not below the group order
      }
    }
    return cryptoVerify('sha256', transcriptBytes, { key: k, dsaEncoding: 'ieee-p1363' }, rs);
  }

  private recover(digest: Uint8Array, raw: Buffer, parity: number): string | undefined {
    try {
      if (this.lib) {
        const point = this.lib.ecdsaRecover(new Uint8Array(raw.subarray(0, 64)), parity, new Uint8Array(digest), false);
        return `0x${Buffer.from(point).toString('hex')}`;
      }
      return SigningKey.recoverPublicKey(
        digest,
        Signature.from({
          r: `0x${raw.subarray(0, 32).toString('hex')}`,
          s: `0x${raw.subarray(32, 64).toString('hex')}`,
          v: 27 + parity,
        }),
      );
    } catch {
      return undefined;
    }
  }

  /**
   * The address among `authorised` that signed `transcriptBytes` (whose sha256 is `digest`), or undefined.
   * `signature` is r | s | v (65 bytes, base64url); high s is refused.
   */
  signerAmong(
    transcriptBytes: Uint8Array,
    digest: Uint8Array,
    signature: string,
    authorised: ReadonlySet<string>,
  ): string | undefined {
    const raw = Buffer.from(signature, 'base64url');
    if (raw.length !== 65) return undefined;
    const s = big(raw.subarray(32, 64));
    if (s === 0n || s > SECP256K1_HALF_N) return undefined;
    const v = raw[64]!;
    const parity = v >= 27 ? v - 27 : v;
    if (parity > 1) return undefined;
    const rs = raw.subarray(0, 64);
    for (const address of authorised) {
      const k = this.keys.get(address);
      if (k && this.verify(transcriptBytes, digest, rs, k)) {
        this.stats.fast++;
        return address;
      }
    }
    const publicKey = this.recover(digest, raw, parity);
    if (publicKey === undefined) return undefined;
    this.stats.recoveries++;
    const address = computeAddress(publicKey).toLowerCase();
    if (!authorised.has(address)) return undefined;
    const point = Buffer.from(publicKey.slice(2), 'hex');
    const k = this.lib
      ? new Uint8Array(point)
      : createPublicKey({ key: Buffer.concat([SPKI_SECP256K1_UNCOMPRESSED, point]), format: 'der', type: 'spki' });
    // Recovery yields a key the signature verifies under; check it anyway before remembering it.
    if (!this.verify(transcriptBytes, digest, rs, k)) return undefined;
    this.keys.set(address, k);
    return address;
  }
}
