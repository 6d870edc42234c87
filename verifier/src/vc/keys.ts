import { SECP256K1_HALF_N } from '@tessera/protocol';
import { createHash, createPublicKey, type KeyObject, verify as cryptoVerify } from 'node:crypto';
import type { DIDDocument, VerificationMethod } from 'did-resolver';
import { computeAddress, decodeBase58, Signature, SigningKey } from 'ethers';
import { LRUCache } from 'lru-cache';
import type { ParsedJwt } from './jwt.js';
import { type Libsecp256k1, libsecp256k1, type Secp256k1Worker } from '@tessera/runtime';

/** DID Core §5.3 verification relationships we check signatures against. */
export type ProofPurpose = 'authentication' | 'assertionMethod';

/** A secp256k1 public key: the node:crypto key object, and the SEC 1 point for libsecp256k1. */
interface Secp256k1Key {
  key: KeyObject;
  point: Uint8Array;
}

/** The keys a DID document authorises for one proof purpose, as node:crypto key objects. */
interface AuthorisedKeys {
  secp256k1: Secp256k1Key[];
  ed25519: KeyObject[];
  /** Lower-case Ethereum addresses (EcdsaSecp256k1RecoveryMethod2020 `blockchainAccountId`, ERC-1056 controller). */
  addresses: Set<string>;
}

export interface SignatureVerifierStats {
  /** What checks ES256K signatures on the fast path: libsecp256k1 (native addon) or OpenSSL (node:crypto). */
  engine: 'libsecp256k1' | 'openssl';
  /** Signatures checked with a known public key (libsecp256k1, or a node:crypto key object), no recovery. */
  fastPath: number;
  /** Signatures that needed a public-key recovery (first sight of an address-only key). */
  recoveries: number;
  /** Tokens already verified under the very same DID document object (a credential presented again). */
  memoHits: number;
}

// SubjectPublicKeyInfo prefixes (RFC 5480) for secp256k1 points: id-ecPublicKey + secp256k1 OID.
const SPKI_SECP256K1_COMPRESSED = Buffer.from('3036301006072a8648ce3d020106052b8104000a032200', 'hex');
const SPKI_SECP256K1_UNCOMPRESSED = Buffer.from('3056301006072a8648ce3d020106052b8104000a034200', 'hex');
// RFC 8410: id-Ed25519.
const SPKI_ED25519 = Buffer.from('302a300506032b6570032100', 'hex');

function secp256k1Key(point: Buffer): Secp256k1Key | undefined {
  const prefix =
    point.length === 33 && (point[0] === 2 || point[0] === 3)
      ? SPKI_SECP256K1_COMPRESSED
      : point.length === 65 && point[0] === 4
        ? SPKI_SECP256K1_UNCOMPRESSED
        : undefined;
  if (!prefix) return undefined;
  try {
    // OpenSSL refuses a point that is not on the curve, so libsecp256k1 only ever sees valid points too.
    const key = createPublicKey({ key: Buffer.concat([prefix, point]), format: 'der', type: 'spki' });
    return { key, point: new Uint8Array(point) };
  } catch {
    return undefined; // not a point on the curve
  }
}

/** One ES256K signature (r‖s, low s already checked) over `data` under `k`. */
function secp256k1Verify(engine: Libsecp256k1 | undefined, data: Buffer, rs: Buffer, k: Secp256k1Key): boolean {
  if (engine) {
    const digest = new Uint8Array(createHash('sha256').update(data).digest());
    try {
      return engine.ecdsaVerify(new Uint8Array(rs), digest, k.point);
    } catch {
      return false; // r or s not below the group order
    }
  }
  return cryptoVerify('sha256', data, { key: k.key, dsaEncoding: 'ieee-p1363' }, rs);
}

function ed25519Key(raw: Buffer): KeyObject | undefined {
  if (raw.length !== 32) return undefined;
  try {
    return createPublicKey({ key: Buffer.concat([SPKI_ED25519, raw]), format: 'der', type: 'spki' });
  } catch {
    return undefined;
  }
}

function rawKeyBytes(vm: VerificationMethod): Buffer | undefined {
  try {
    if (typeof vm.publicKeyHex === 'string') return Buffer.from(vm.publicKeyHex.replace(/^0x/, ''), 'hex');
    if (typeof vm.publicKeyBase64 === 'string') return Buffer.from(vm.publicKeyBase64, 'base64');
    if (typeof vm.publicKeyBase58 === 'string') {
      const hex = decodeBase58(vm.publicKeyBase58).toString(16);
      return Buffer.from(hex.length % 2 ? `0${hex}` : hex, 'hex');
    }
  } catch {
    return undefined;
  }
  return undefined;
}

function keysOf(vm: VerificationMethod, out: AuthorisedKeys): void {
  const jwk = vm.publicKeyJwk;
  if (jwk && typeof jwk === 'object') {
    try {
      const key = createPublicKey({ key: jwk as import('node:crypto').JsonWebKey, format: 'jwk' });
      if (key.asymmetricKeyType === 'ed25519') out.ed25519.push(key);
      else if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'secp256k1') {
        const spki = key.export({ format: 'der', type: 'spki' });
        out.secp256k1.push({ key, point: new Uint8Array(spki.subarray(spki.length - 65)) });
      }
    } catch {
      // an unusable key authorises nothing
    }
  }
  const raw = rawKeyBytes(vm);
  if (raw) {
    if (/Ed25519/.test(vm.type)) {
      const k = ed25519Key(raw.length < 32 ? Buffer.concat([Buffer.alloc(32 - raw.length), raw]) : raw);
      if (k) out.ed25519.push(k);
    } else {
      const k = secp256k1Key(raw);
      if (k) out.secp256k1.push(k);
    }
  }
  // CAIP-10 `eip155:<chain>:<address>`, or the legacy `<address>@eip155:<chain>` form.
  const account = typeof vm.blockchainAccountId === 'string' ? vm.blockchainAccountId : undefined;
  const address = /0x[0-9a-fA-F]{40}/.exec(
    account ?? (typeof vm.ethereumAddress === 'string' ? vm.ethereumAddress : ''),
  );
  if (address) out.addresses.add(address[0].toLowerCase());
}

function authorisedKeys(doc: DIDDocument, purpose: ProofPurpose): AuthorisedKeys {
  const out: AuthorisedKeys = { secp256k1: [], ed25519: [], addresses: new Set() };
  const byId = new Map<string, VerificationMethod>();
  for (const vm of doc.verificationMethod ?? []) {
    byId.set(vm.id, vm);
    // relative references ("#controller") are resolved against the document id (DID Core §3.2.2)
    if (vm.id.startsWith('#')) byId.set(`${doc.id}${vm.id}`, vm);
  }
  for (const ref of doc[purpose] ?? []) {
    const vm = typeof ref === 'string' ? (byId.get(ref) ?? byId.get(`${doc.id}${ref}`)) : ref;
    if (vm) keysOf(vm, out);
  }
  return out;
}

/** What checking one ES256K/ES256K-R signature takes (see `SignatureVerifier.plan`). */
interface SignaturePlan {
  data: Buffer;
  /** r‖s, low-s checked. */
  rs: Buffer;
  recovery: number | undefined;
  keys: Secp256k1Key[];
  unknown: string[];
}

/**
 * Checks JWS signatures against DID documents with node:crypto key objects (about 4× faster than the
 * pure-JS curve for secp256k1). Key objects are cached per DID document object: a resolver that returns the same
 * document until the chain changes it (the event-invalidated cache) pays the key parsing once per document version.
 *
 * did:ethr documents often name only an address (EcdsaSecp256k1RecoveryMethod2020). The first signature from such an
 * address is checked by recovering the public key (slow, pure JS); the recovered key is kept per address (a key has one
 * address, so this binding never goes stale) and later signatures take the fast path.
 *
 * ES256K goes through libsecp256k1 where its addon loads (node:crypto otherwise); `verifyAsync` runs those checks on a
 * `Secp256k1Worker` thread when one is given, with the same verdicts.
 */
export class SignatureVerifier {
  private readonly byDoc = new WeakMap<DIDDocument, Partial<Record<ProofPurpose, AuthorisedKeys>>>();
  private readonly keyByAddress: LRUCache<string, Secp256k1Key>;
  /** token → the document (and purpose) it verified under; a hit needs the identical document object. */
  private readonly verified: LRUCache<string, { doc: DIDDocument; purpose: ProofPurpose }>;
  readonly stats: SignatureVerifierStats;
  private readonly engine: Libsecp256k1 | undefined;
  private readonly worker: Secp256k1Worker | undefined;

  /**
   * `engine: 'openssl'` checks ES256K with node:crypto even when libsecp256k1 is there (tests compare the two).
   * `worker`: where `verifyAsync` runs libsecp256k1 (not with `engine: 'openssl'`).
   */
  constructor(
    options: { maxAddresses?: number; maxVerifiedTokens?: number; engine?: 'openssl'; worker?: Secp256k1Worker } = {},
  ) {
    this.engine = options.engine === 'openssl' ? undefined : libsecp256k1;
    this.worker = this.engine ? options.worker : undefined;
    this.stats = { engine: this.engine ? 'libsecp256k1' : 'openssl', fastPath: 0, recoveries: 0, memoHits: 0 };
    this.keyByAddress = new LRUCache({ max: options.maxAddresses ?? 100_000 });
    this.verified = new LRUCache({ max: options.maxVerifiedTokens ?? 10_000 });
  }

  /**
   * True when `jwt`'s signature was made by a key that `doc` authorises for `purpose`.
   * A credential presented again is not re-verified while its issuer's document is the same object: the verdict is a
   * function of the token and the document's keys only. A new document version (key rotation) misses and re-verifies.
   */
  verify(jwt: ParsedJwt, doc: DIDDocument, purpose: ProofPurpose): boolean {
    if (this.remembered(jwt, doc, purpose)) return true;
    const plan = this.plan(jwt, doc, purpose);
    const valid =
      typeof plan === 'boolean'
        ? plan
        : plan.keys.some((k) => this.counted(secp256k1Verify(this.engine, plan.data, plan.rs, k))) ||
          this.recover(plan);
    if (valid) this.verified.set(jwt.raw, { doc, purpose });
    return valid;
  }

  /**
   * `verify`, with the ES256K checks under known keys on the signature worker when there is one (the event loop
   * stays free for other requests meanwhile); the same verdicts. The rare first-sight key recovery stays here.
   */
  async verifyAsync(jwt: ParsedJwt, doc: DIDDocument, purpose: ProofPurpose): Promise<boolean> {
    const worker = this.worker;
    if (!worker) return this.verify(jwt, doc, purpose);
    if (this.remembered(jwt, doc, purpose)) return true;
    const plan = this.plan(jwt, doc, purpose);
    let valid: boolean;
    if (typeof plan === 'boolean') valid = plan;
    else {
      valid = false;
      const digest = new Uint8Array(createHash('sha256').update(plan.data).digest());
      const rs = new Uint8Array(plan.rs);
      for (const k of plan.keys) {
        if (this.counted(await worker.verify(rs, digest, k.point))) {
          valid = true;
          break;
        }
      }
      if (!valid) valid = this.recover(plan);
    }
    if (valid) this.verified.set(jwt.raw, { doc, purpose });
    return valid;
  }

  private remembered(jwt: ParsedJwt, doc: DIDDocument, purpose: ProofPurpose): boolean {
    const seen = this.verified.get(jwt.raw);
    if (seen && seen.doc === doc && seen.purpose === purpose) {
      this.stats.memoHits++;
      return true;
    }
    return false;
  }

  private counted(valid: boolean): boolean {
    if (valid) this.stats.fastPath++;
    return valid;
  }

  /**
   * What a signature check needs, or the verdict when no secp256k1 check is needed (EdDSA, malformed, high-s): the
   * secp256k1 keys to try (the document's own, then those already recovered for its addresses) and the addresses
   * whose key is not known yet.
   */
  private plan(jwt: ParsedJwt, doc: DIDDocument, purpose: ProofPurpose): boolean | SignaturePlan {
    let cached = this.byDoc.get(doc);
    if (!cached) {
      cached = {};
      this.byDoc.set(doc, cached);
    }
    let keys = cached[purpose];
    if (!keys) {
      keys = authorisedKeys(doc, purpose);
      cached[purpose] = keys;
    }
    const data = Buffer.from(jwt.signingInput, 'utf8');
    let rs: Buffer;
    let recovery: number | undefined;
    switch (jwt.header.alg) {
      case 'EdDSA':
        return keys.ed25519.some((k) => cryptoVerify(null, data, k, jwt.signature));
      case 'ES256K':
        if (jwt.signature.length !== 64) return false;
        rs = jwt.signature;
        break;
      case 'ES256K-R': {
        if (jwt.signature.length !== 65) return false;
        const v = jwt.signature[64]!;
        recovery = v >= 27 ? v - 27 : v;
        if (recovery > 1) return false;
        rs = jwt.signature.subarray(0, 64);
        break;
      }
      default:
        return false;
    }
    const s = BigInt(`0x${rs.subarray(32).toString('hex')}`);
    if (s === 0n || s > SECP256K1_HALF_N) return false; // malleable high-s twin (did-jwt refuses it too)
    const candidates = [...keys.secp256k1];
    const unknown: string[] = [];
    for (const address of keys.addresses) {
      const key = this.keyByAddress.get(address);
      if (key) candidates.push(key);
      else unknown.push(address);
    }
    return { data, rs, recovery, keys: candidates, unknown };
  }

  /** First signature seen from these addresses: recover the signer's key and see whether it is one of them. */
  private recover({ data, rs, recovery, unknown }: SignaturePlan): boolean {
    if (unknown.length === 0) return false;
    const digest = createHash('sha256').update(data).digest();
    const r = `0x${rs.subarray(0, 32).toString('hex')}`;
    const sHex = `0x${rs.subarray(32).toString('hex')}`;
    for (const bit of recovery === undefined ? [0, 1] : [recovery]) {
      let publicKey: string;
      try {
        publicKey = SigningKey.recoverPublicKey(digest, Signature.from({ r, s: sHex, v: 27 + bit }));
      } catch {
        continue;
      }
      this.stats.recoveries++;
      const address = computeAddress(publicKey).toLowerCase();
      if (!unknown.includes(address)) continue;
      const key = secp256k1Key(Buffer.from(publicKey.slice(2), 'hex'));
      // Recovery yields a key the signature verifies under; check it with node:crypto anyway before trusting it.
      if (key && cryptoVerify('sha256', data, { key: key.key, dsaEncoding: 'ieee-p1363' }, rs)) {
        this.keyByAddress.set(address, key);
        return true;
      }
    }
    return false;
  }
}
