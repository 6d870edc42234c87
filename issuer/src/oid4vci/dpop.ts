import { createHash } from 'node:crypto';
import { err, ok, type Result } from '@tessera/protocol';
import { decodeJwsPart as decodePart, jwkThumbprint, verifyJwsWithJwk } from '@tessera/runtime';
import type { Oid4vciState } from './state.js';

/** How far a DPoP proof's `iat` may be from now (RFC 9449 §11.1 leaves the window to the server), in seconds. */
export const DPOP_MAX_AGE_S = 60;
/** Algorithms a DPoP proof (and a proof key given as a JWK) may use: asymmetric only, never `none` or HMAC. */
export const DPOP_ALGS = ['ES256', 'ES256K', 'EdDSA'] as const;
const MAX_DPOP_BYTES = 4096;

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

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
  if (typeof p.htm !== 'string' || p.htm.toUpperCase() !== expect.method.toUpperCase())
    return bad('is for another method');
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
  if (!(await seen.put('dpop-jti', `${jkt}:${p.jti}`, {}, 2 * DPOP_MAX_AGE_S * 1000)))
    return bad('was used before (jti)');
  return ok(jkt);
}
