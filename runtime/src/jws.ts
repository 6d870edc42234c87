import { createHash, createPublicKey, type JsonWebKey, verify as cryptoVerify } from 'node:crypto';
import { err, ok, type Result } from '@tessera/protocol';

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A base64url JSON object (a JWS header or payload), or undefined. */
export function decodeJwsPart(part: string | undefined): Record<string, unknown> | undefined {
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
  const header = decodeJwsPart(parts[0]);
  const payload = decodeJwsPart(parts[1]);
  if (!header || !payload) return err('ERR_JWT_MALFORMED', 'the JWS header or payload is not a base64url JSON object');
  const alg = header.alg;
  const curve = { ES256: 'P-256', ES256K: 'secp256k1', EdDSA: 'Ed25519' }[String(alg)];
  if (!curve || jwk.crv !== curve)
    return err('ERR_JWT_ALG_UNSUPPORTED', `algorithm ${String(alg)} does not fit the key`);
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
