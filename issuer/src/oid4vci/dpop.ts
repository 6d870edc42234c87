import { createHash, createPublicKey, type JsonWebKey, verify as cryptoVerify } from 'node:crypto';
import { err, ok, type Result } from '@tessera/protocol';
import type { Oid4vciState } from './state.js';

/** How far a DPoP proof's `iat` may be from now (RFC 9449 §11.1 leaves the window to the server), in seconds. */
export const DPOP_MAX_AGE_S = 60;
/** Algorithms a DPoP proof (and a proof key given as a JWK) may use: asymmetric only, never `none` or HMAC. */
export const DPOP_ALGS = ['ES256', 'ES256K', 'EdDSA'] as const;
const MAX_DPOP_BYTES = 4096;

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function decodePart(part: string | undefined): Record<string, unknown> | undefined {
  if (!part || !/^[A-Za-z0-9_-]+$/.test(part)) return undefined;
  try {
    const v = JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as unknown;
    return isRecord(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

/** The public JWK's members that RFC 7638 §3.2 hashes, or undefined when it is not an EC or OKP public key. */
function thumbprintMembers(jwk: Record<string, unknown>): Record<string, string> | undefined {
  if (jwk.d !== undefined) return undefined; // a private key never travels in a header
  if (jwk.kty === 'EC' && typeof jwk.crv === 'string' && typeof jwk.x === 'string' && typeof jwk.y === 'string') {
    return { crv: jwk.crv, kty: 'EC', x: jwk.x, y: jwk.y };
  }
  if (jwk.kty === 'OKP' && typeof jwk.crv === 'string' && typeof jwk.x === 'string') {
    return { crv: jwk.crv, kty: 'OKP', x: jwk.x };
  }
  return undefined;
}

/** RFC 7638 JWK thumbprint (SHA-256, base64url), the `jkt` a DPoP-bound token is bound to (RFC 9449 §6.1). */
export function jwkThumbprint(jwk: Record<string, unknown>): string | undefined {
  const m = thumbprintMembers(jwk);
  if (!m) return undefined;
  // Members in lexicographic order, no whitespace (RFC 7638 §3.3): the literal above is already in that order.
  return createHash('sha256').update(JSON.stringify(m)).digest('base64url');
}

/**
 * Verify a compact JWS with a public JWK (ES256 on P-256, ES256K on secp256k1, EdDSA on Ed25519; RFC 7518 §3.4 raw
 * r‖s signatures). The algorithm must agree with the key's curve, so a key cannot be used under another algorithm.
 */
export function verifyJwsWithJwk(
  jws: string,
  jwk: Record<string, unknown>,
): Result<{ header: Record<string, unknown>; payload: Record<string, unknown> }> {
  const parts = jws.split('.');
  if (parts.length !== 3) return err('ERR_JWT_MALFORMED', 'not a compact JWS');
  const header = decodePart(parts[0]);
  const payload = decodePart(parts[1]);
  if (!header || !payload) return err('ERR_JWT_MALFORMED', 'the JWS header or payload is not a base64url JSON object');
  const alg = header.alg;
  const curve = { ES256: 'P-256', ES256K: 'secp256k1', EdDSA: 'Ed25519' }[String(alg)];
  if (!curve || jwk.crv !== curve) return err('ERR_JWT_ALG_UNSUPPORTED', `algorithm ${String(alg)} does not fit the key`);
  const members = thumbprintMembers(jwk);
  if (!members) return err('ERR_JWT_MALFORMED', 'the key is not a public EC or OKP JWK');
  let ok_ = false;
  try {
    const key = createPublicKey({ key: members as JsonWebKey, format: 'jwk' });
    const sig = Buffer.from(parts[2] ?? '', 'base64url');
    const data = Buffer.from(`${parts[0]}.${parts[1]}`);
    ok_ =
      alg === 'EdDSA'
        ? cryptoVerify(null, data, key, sig)
        : cryptoVerify('sha256', data, { key, dsaEncoding: 'ieee-p1363' }, sig);
  } catch {
    ok_ = false;
  }
  if (!ok_) return err('ERR_JWT_SIGNATURE', 'the signature does not verify with the given key');
  return ok({ header, payload });
}

/**
 * Check a DPoP proof (RFC 9449 §4.3): `typ` dpop+jwt, an asymmetric algorithm, the public key in the header, a
 * signature by that key, `htm` and `htu` of this request, a fresh `iat`, a `jti` never seen before on any replica,
 * and, at a resource server, `ath` = the hash of the access token.
 *
 * @returns the key's thumbprint (`jkt`), or ERR_DPOP_INVALID saying which check failed.
 */
export async function verifyDpop(
  proof: unknown,
  expect: { method: string; url: string; accessToken?: string; now: Date },
  seen: Oid4vciState,
): Promise<Result<string>> {
  const bad = (why: string) => err('ERR_DPOP_INVALID', `the DPoP proof ${why} (RFC 9449 §4.3)`);
  if (typeof proof !== 'string' || proof.length > MAX_DPOP_BYTES) return bad('is missing or too large');
  const header = decodePart(proof.split('.')[0]);
  if (!header) return bad('is not a JWS');
  if (header.typ !== 'dpop+jwt') return bad('has not typ dpop+jwt');
  if (!(DPOP_ALGS as readonly string[]).includes(String(header.alg))) return bad('uses an algorithm not allowed');
  if (!isRecord(header.jwk)) return bad('carries no public key (jwk)');
  const verified = verifyJwsWithJwk(proof, header.jwk);
  if (!verified.ok) return bad(`does not verify: ${verified.error.message}`);
  const p = verified.value.payload;
  if (typeof p.htm !== 'string' || p.htm.toUpperCase() !== expect.method.toUpperCase()) return bad('is for another method');
  // RFC 9449 §4.3 step 9: compare without query and fragment.
  const strip = (u: string) => {
    try {
      const x = new URL(u);
      return `${x.origin}${x.pathname}`;
    } catch {
      return undefined;
    }
  };
  if (typeof p.htu !== 'string' || strip(p.htu) !== strip(expect.url)) return bad('is for another URL');
  const now = expect.now.getTime() / 1000;
  if (typeof p.iat !== 'number' || Math.abs(now - p.iat) > DPOP_MAX_AGE_S) return bad('is not fresh (iat)');
  if (typeof p.jti !== 'string' || p.jti.length < 8 || p.jti.length > 128) return bad('has no usable jti');
  if (expect.accessToken !== undefined) {
    const ath = createHash('sha256').update(expect.accessToken).digest('base64url');
    if (p.ath !== ath) return bad('is not bound to this access token (ath)');
  }
  const jkt = jwkThumbprint(header.jwk);
  if (!jkt) return bad('carries an unusable key');
  // Remembered for twice the acceptance window: a replay inside it is refused on every replica.
  if (!(await seen.put('dpop-jti', `${jkt}:${p.jti}`, {}, 2 * DPOP_MAX_AGE_S * 1000))) return bad('was used before (jti)');
  return ok(jkt);
}
