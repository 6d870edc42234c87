import {
  createECDH,
  createHash,
  createPrivateKey,
  createPublicKey,
  type JsonWebKey,
  KeyObject,
  sign as cryptoSign,
  verify as cryptoVerify,
} from 'node:crypto';
import {
  ACCESS_TOKEN_TTL_S,
  type BitstringStatusListEntry,
  err,
  ok,
  type Result,
  SECP256K1_HALF_N,
  SECP256K1_N,
  TesseraError,
} from '@tessera/protocol';
import { type Libsecp256k1, libsecp256k1, randomBase64url, type Secp256k1Worker } from '@tessera/runtime';
import { computeAddress } from 'ethers';

/** RFC 9068 §2.1: the media type of JWT access tokens, so a credential or presentation JWT is never taken for one. */
export const ACCESS_TOKEN_TYP = 'at+jwt';
/** Tokens are small (a few grants and the claims that met the policy); anything bigger is refused unparsed. */
const MAX_ACCESS_TOKEN_BYTES = 8 * 1024;

/** One resource and action a token opens, as the policy granted it. */
export interface Scope {
  resource: string;
  action: string;
}

/** What a credential that met the policy contributes to a token: enough to re-check its status later. */
export interface GrantedCredential {
  types: string[];
  issuer: string;
  claims: Record<string, unknown>;
  expiresAt?: number;
  status: BitstringStatusListEntry[];
}

/** A verified access token: who holds it, what it opens, and the credentials it was granted on. */
export interface AccessGrant {
  tokenId: string;
  holder: string;
  scopes: Scope[];
  credentials: GrantedCredential[];
  /** Seconds since the epoch. */
  issuedAt: number;
  expiresAt: number;
  /** When the holder presented (renewed tokens keep it): a session is renewed only up to its maximum age. */
  sessionStartedAt?: number;
}

export type AccessTokenAlg = 'ES256K' | 'ES256';

export interface AccessTokenOptions {
  /** The verifier's DID: `iss` and `aud` of every token (tokens are for services behind this verifier). */
  did: string;
  /**
   * ES256K: the secp256k1 private key (0x hex) of the verifier's DID, so anyone can check tokens against the DID
   * document. ES256: a P-256 private key (JWK or KeyObject) dedicated to tokens, published in the verifier metadata;
   * OpenSSL signs P-256 about ten times faster than secp256k1. Replicas must share the key.
   */
  privateKey?: string | JsonWebKey | KeyObject;
  /** For a verify-only instance (a service in another process): secp256k1 point (0x hex) or P-256 public JWK. */
  publicKey?: string | JsonWebKey;
  ttlSeconds?: number;
  /** Milliseconds since the epoch; injectable for tests. */
  now?: () => number;
  /** ES256K through OpenSSL even when libsecp256k1 is there (tests compare the two). */
  engine?: 'openssl';
  /** ES256K with libsecp256k1: `issueAsync` signs on this worker thread (`Secp256k1Worker.start()`). */
  worker?: Secp256k1Worker;
}

const b64json = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

const SPKI_SECP256K1_UNCOMPRESSED = Buffer.from('3056301006072a8648ce3d020106052b8104000a034200', 'hex');
const SPKI_SECP256K1_COMPRESSED = Buffer.from('3036301006072a8648ce3d020106052b8104000a032200', 'hex');

function hexBytes(hex: string, what: string): Buffer {
  const clean = hex.replace(/^0x/, '');
  if (!/^[0-9a-fA-F]*$/.test(clean) || clean.length % 2 !== 0) {
    throw new TesseraError('ERR_CONFIG_INVALID', `${what} must be hex`);
  }
  return Buffer.from(clean, 'hex');
}

function verifyLibsecp256k1(lib: Libsecp256k1, data: Buffer, sig: Buffer, point: Uint8Array): boolean {
  try {
    return lib.ecdsaVerify(new Uint8Array(sig), new Uint8Array(createHash('sha256').update(data).digest()), point);
  } catch {
    return false; // r or s not below the group order
  }
}

/**
 * Short-lived access tokens (RFC 9068 JWT profile; ES256K with the verifier's DID key, or ES256 with a dedicated P-256
 * key), signed and checked through node:crypto, bound
 * to the holder (`sub`) and to the scopes the policy granted. Stateless, so every replica and every service that knows
 * the verifier's public key checks them without a store; they are refused after `exp`, and a guard given the status
 * lists also refuses them once a credential they were granted on is revoked or suspended.
 */
export class AccessTokens {
  readonly did: string;
  readonly ttlSeconds: number;
  /** The public key as a JWK, published in the verifier metadata. */
  readonly publicJwk: JsonWebKey;
  /** ES256K with the DID key, or ES256 with a dedicated P-256 key; the only algorithm `verify` accepts. */
  readonly alg: AccessTokenAlg;
  private readonly privateKey?: KeyObject;
  private readonly publicKey: KeyObject;
  /** ES256K only, when libsecp256k1 is there: the raw private scalar and the SEC 1 public point. */
  private readonly secp?: { lib: Libsecp256k1; d?: Uint8Array; point: Uint8Array };
  private readonly kid: string;
  private readonly now: () => number;
  /** ES256K signing on the worker thread, when given one. */
  private readonly workerSign?: (digest: Uint8Array) => Promise<Uint8Array>;

  constructor(o: AccessTokenOptions) {
    this.did = o.did;
    this.ttlSeconds = o.ttlSeconds ?? ACCESS_TOKEN_TTL_S;
    this.now = o.now ?? Date.now;
    if (typeof o.privateKey === 'string') {
      const d = hexBytes(o.privateKey, 'the verifier private key');
      if (d.length !== 32) throw new TesseraError('ERR_CONFIG_INVALID', 'the verifier private key must be 32 bytes');
      const ecdh = createECDH('secp256k1');
      ecdh.setPrivateKey(d);
      const point = ecdh.getPublicKey();
      this.privateKey = createPrivateKey({
        key: {
          kty: 'EC',
          crv: 'secp256k1',
          d: d.toString('base64url'),
          x: point.subarray(1, 33).toString('base64url'),
          y: point.subarray(33).toString('base64url'),
        },
        format: 'jwk',
      });
      // did:ethr in address form: the key must be the DID's controller, or `kid` would name a key that is not ours.
      const address = computeAddress(`0x${d.toString('hex')}`).toLowerCase();
      if (o.did.startsWith('did:ethr:') && !o.did.toLowerCase().endsWith(address)) {
        throw new TesseraError('ERR_CONFIG_INVALID', `the verifier private key does not control ${o.did}`);
      }
      this.publicKey = createPublicKey(this.privateKey);
    } else if (o.privateKey !== undefined) {
      this.privateKey =
        o.privateKey instanceof KeyObject ? o.privateKey : createPrivateKey({ key: o.privateKey, format: 'jwk' });
      this.publicKey = createPublicKey(this.privateKey);
    } else if (typeof o.publicKey === 'string') {
      const point = hexBytes(o.publicKey, 'the verifier public key');
      const prefix = point.length === 33 ? SPKI_SECP256K1_COMPRESSED : SPKI_SECP256K1_UNCOMPRESSED;
      this.publicKey = createPublicKey({ key: Buffer.concat([prefix, point]), format: 'der', type: 'spki' });
    } else if (o.publicKey !== undefined) {
      this.publicKey = createPublicKey({ key: o.publicKey, format: 'jwk' });
    } else {
      throw new TesseraError('ERR_CONFIG_INVALID', 'access tokens need the verifier private or public key');
    }
    const curve = this.publicKey.asymmetricKeyDetails?.namedCurve;
    if (curve === 'secp256k1') this.alg = 'ES256K';
    else if (curve === 'prime256v1') this.alg = 'ES256';
    else throw new TesseraError('ERR_CONFIG_INVALID', 'the access token key must be secp256k1 or P-256');
    this.kid = this.alg === 'ES256K' ? `${o.did}#controller` : `${o.did}#access-token-key`;
    this.publicJwk = this.publicKey.export({ format: 'jwk' });
    if (this.alg === 'ES256K' && libsecp256k1 && o.engine !== 'openssl') {
      const jwk = this.privateKey?.export({ format: 'jwk' });
      this.secp = {
        lib: libsecp256k1,
        ...(jwk?.d ? { d: new Uint8Array(Buffer.from(jwk.d, 'base64url')) } : {}),
        point: new Uint8Array(
          Buffer.concat([
            Buffer.of(4),
            Buffer.from(this.publicJwk.x!, 'base64url'),
            Buffer.from(this.publicJwk.y!, 'base64url'),
          ]),
        ),
      };
      if (this.secp.d && o.worker) this.workerSign = o.worker.signer(this.secp.d);
    }
  }

  /** Sign a token for `holder` opening `scopes`; it expires no later than the first of `credentials` to expire. */
  issue(
    holder: string,
    scopes: Scope[],
    credentials: GrantedCredential[],
    o: { sessionStartedAt?: number } = {},
  ): { token: string; grant: AccessGrant } {
    const { input, grant } = this.unsigned(holder, scopes, credentials, o.sessionStartedAt);
    return { token: `${input}.${this.sign(Buffer.from(input)).toString('base64url')}`, grant };
  }

  /** `issue`, signed on the worker thread when there is one (the same token, the event loop free meanwhile). */
  async issueAsync(
    holder: string,
    scopes: Scope[],
    credentials: GrantedCredential[],
    o: { sessionStartedAt?: number } = {},
  ): Promise<{ token: string; grant: AccessGrant }> {
    if (!this.workerSign) return this.issue(holder, scopes, credentials, o);
    const { input, grant } = this.unsigned(holder, scopes, credentials, o.sessionStartedAt);
    const signature = await this.workerSign(new Uint8Array(createHash('sha256').update(input).digest()));
    return { token: `${input}.${Buffer.from(signature).toString('base64url')}`, grant };
  }

  private unsigned(holder: string, scopes: Scope[], credentials: GrantedCredential[], sessionStartedAt?: number) {
    if (!this.privateKey) throw new Error('this AccessTokens instance only verifies');
    const iat = Math.floor(this.now() / 1000);
    const grant: AccessGrant = {
      tokenId: randomBase64url(16),
      holder,
      scopes,
      credentials,
      issuedAt: iat,
      expiresAt: Math.min(iat + this.ttlSeconds, ...credentials.map((c) => c.expiresAt ?? Number.POSITIVE_INFINITY)),
      ...(sessionStartedAt === undefined ? {} : { sessionStartedAt }),
    };
    const header = b64json({ alg: this.alg, typ: ACCESS_TOKEN_TYP, kid: this.kid });
    const payload = b64json({
      iss: this.did,
      aud: this.did,
      sub: holder,
      jti: grant.tokenId,
      iat,
      exp: grant.expiresAt,
      scope: scopes.map((s) => `${s.action.toUpperCase()}:${s.resource}`).join(' '),
      tessera: { scopes, credentials, ...(sessionStartedAt === undefined ? {} : { sessionStartedAt }) },
    });
    return { input: `${header}.${payload}`, grant };
  }

  /** r‖s over `data`; ES256K signatures are low-s (libsecp256k1 signs low-s; OpenSSL's are normalised). */
  private sign(data: Buffer): Buffer {
    if (this.secp?.d) {
      const digest = new Uint8Array(createHash('sha256').update(data).digest());
      return Buffer.from(this.secp.lib.ecdsaSign(digest, this.secp.d).signature);
    }
    const sig = cryptoSign('sha256', data, { key: this.privateKey!, dsaEncoding: 'ieee-p1363' });
    const s = BigInt(`0x${sig.subarray(32).toString('hex')}`);
    if (this.alg === 'ES256K' && s > SECP256K1_HALF_N)
      sig.set(Buffer.from((SECP256K1_N - s).toString(16).padStart(64, '0'), 'hex'), 32);
    return sig;
  }

  /**
   * Check a token's form, signature (this verifier's key only, ES256K only), issuer, audience and lifetime.
   *
   * @returns the grant, or ERR_AUTH_INVALID (anything not a token we signed) or ERR_AUTH_EXPIRED.
   */
  verify(token: string): Result<AccessGrant> {
    if (token.length > MAX_ACCESS_TOKEN_BYTES) return err('ERR_AUTH_INVALID', 'the access token is too large');
    const parts = token.split('.');
    if (parts.length !== 3) return err('ERR_AUTH_INVALID', 'the access token is not a JWT');
    const [h, p, s] = parts as [string, string, string];
    let header: unknown;
    let payload: unknown;
    try {
      header = JSON.parse(Buffer.from(h, 'base64url').toString('utf8'));
      payload = JSON.parse(Buffer.from(p, 'base64url').toString('utf8'));
    } catch {
      return err('ERR_AUTH_INVALID', 'the access token is not a JWT');
    }
    // Algorithm pinned, never taken from the token (RFC 8725 §3.1): no `none`, no HMAC with our public key.
    if (!isRecord(header) || header.alg !== this.alg || header.typ !== ACCESS_TOKEN_TYP) {
      return err('ERR_AUTH_INVALID', `the access token must be an ${this.alg} ${ACCESS_TOKEN_TYP}`);
    }
    const sig = Buffer.from(s, 'base64url');
    if (sig.length !== 64 || sig.toString('base64url') !== s) {
      return err('ERR_AUTH_INVALID', 'the access token signature is malformed');
    }
    if (this.alg === 'ES256K' && BigInt(`0x${sig.subarray(32).toString('hex')}`) > SECP256K1_HALF_N) {
      return err('ERR_AUTH_INVALID', 'the access token signature is not low-s');
    }
    const good = this.secp
      ? verifyLibsecp256k1(this.secp.lib, Buffer.from(`${h}.${p}`), sig, this.secp.point)
      : cryptoVerify('sha256', Buffer.from(`${h}.${p}`), { key: this.publicKey, dsaEncoding: 'ieee-p1363' }, sig);
    if (!good) return err('ERR_AUTH_INVALID', 'the access token signature does not verify');
    if (!isRecord(payload) || payload.iss !== this.did || payload.aud !== this.did) {
      return err('ERR_AUTH_INVALID', 'the access token was not issued by this verifier');
    }
    const { sub, jti, iat, exp, tessera } = payload;
    if (
      typeof sub !== 'string' ||
      typeof jti !== 'string' ||
      typeof iat !== 'number' ||
      typeof exp !== 'number' ||
      !isRecord(tessera) ||
      !Array.isArray(tessera.scopes) ||
      !Array.isArray(tessera.credentials)
    ) {
      return err('ERR_AUTH_INVALID', 'the access token lacks its claims');
    }
    // Our own clock signed it: no skew allowance.
    if (exp <= this.now() / 1000) return err('ERR_AUTH_EXPIRED', 'the access token has expired');
    return ok({
      tokenId: jti,
      holder: sub,
      scopes: tessera.scopes as Scope[],
      credentials: tessera.credentials as GrantedCredential[],
      issuedAt: iat,
      expiresAt: exp,
      ...(typeof tessera.sessionStartedAt === 'number' ? { sessionStartedAt: tessera.sessionStartedAt } : {}),
    });
  }
}
