import type { Signer } from 'did-jwt';
import { err, MAX_JWT_BYTES, ok, type Result } from '@tessera/protocol';

/**
 * Algorithms a credential or presentation may be signed with. Everything else is refused before any key is looked at:
 * `none` (RFC 7519 §6, unsecured JWT) and every HMAC algorithm, so a token "signed" with an issuer's public key as an
 * HMAC secret (algorithm confusion) never reaches a verifier.
 */
export const ALLOWED_JWT_ALGS = ['ES256K', 'ES256K-R', 'EdDSA'] as const;
export type AllowedJwtAlg = (typeof ALLOWED_JWT_ALGS)[number];

export interface ParsedJwt {
  header: Record<string, unknown> & { alg: AllowedJwtAlg };
  payload: Record<string, unknown>;
  /** `base64url(header) "." base64url(payload)`, the bytes the signature covers (RFC 7515 §5.2). */
  signingInput: string;
  signature: Buffer;
  raw: string;
}

const B64URL = /^[A-Za-z0-9_-]*$/;

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function decodeJsonPart(part: string, what: string): Result<Record<string, unknown>> {
  if (part.length === 0 || !B64URL.test(part)) return err('ERR_JWT_MALFORMED', `JWT ${what} is not base64url`);
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
  } catch {
    return err('ERR_JWT_MALFORMED', `JWT ${what} is not JSON`);
  }
  if (!isRecord(value)) return err('ERR_JWT_MALFORMED', `JWT ${what} is not a JSON object`);
  return ok(value);
}

/**
 * Check size, structure and algorithm of a compact JWS, before any DID is resolved or any signature computed.
 *
 * @returns the decoded parts, or ERR_JWT_TOO_LARGE, ERR_JWT_MALFORMED or ERR_JWT_ALG_UNSUPPORTED.
 */
export function parseJwt(input: unknown, maxBytes: number = MAX_JWT_BYTES): Result<ParsedJwt> {
  if (typeof input !== 'string') return err('ERR_JWT_MALFORMED', 'a JWT must be a string');
  // Length in UTF-16 units bounds the byte length from below; check it first so a huge string is not scanned.
  if (input.length > maxBytes || Buffer.byteLength(input, 'utf8') > maxBytes) {
    return err('ERR_JWT_TOO_LARGE', `the JWT is larger than ${maxBytes} bytes`);
  }
  const parts = input.split('.');
  if (parts.length !== 3) return err('ERR_JWT_MALFORMED', 'a JWT has three dot-separated parts (RFC 7515 §7.1)');
  const [h, p, s] = parts as [string, string, string];
  const header = decodeJsonPart(h, 'header');
  if (!header.ok) return header;
  const alg = header.value.alg;
  if (typeof alg !== 'string' || !(ALLOWED_JWT_ALGS as readonly string[]).includes(alg)) {
    return err(
      'ERR_JWT_ALG_UNSUPPORTED',
      `JWT algorithm '${String(alg).slice(0, 20)}' is not allowed (allowed: ${ALLOWED_JWT_ALGS.join(', ')})`,
    );
  }
  // RFC 7515 §4.1.11: a recipient that does not understand a listed critical extension must reject the JWS.
  if (header.value.crit !== undefined)
    return err('ERR_JWT_MALFORMED', 'JWT critical header extensions are not supported');
  const payload = decodeJsonPart(p, 'payload');
  if (!payload.ok) return payload;
  if (s.length === 0 || !B64URL.test(s)) return err('ERR_JWT_MALFORMED', 'JWT signature is not base64url');
  const signature = Buffer.from(s, 'base64url');
  // Only the canonical encoding (RFC 7515 §2, no padding, zero trailing bits): one signature, one token string.
  if (signature.toString('base64url') !== s)
    return err('ERR_JWT_MALFORMED', 'JWT signature is not canonical base64url');
  return ok({
    header: header.value as ParsedJwt['header'],
    payload: payload.value,
    signingInput: `${h}.${p}`,
    signature,
    raw: input,
  });
}

/**
 * A compact JWS (RFC 7515 §7.1) of `payload` under `header`, signed by a did-jwt `Signer` that returns the base64url
 * signature (our ES256K signers do). For payloads this service builds itself (DeviceSessionCredentials, thousands a
 * minute): did-jwt-vc's createVerifiableCredentialJwt re-validates what we just built and encodes through
 * uint8arrays, a fifth of the verifier's time per device handshake.
 */
export async function signJwt(
  header: { alg: AllowedJwtAlg; typ?: string; kid?: string },
  payload: Record<string, unknown>,
  signer: Signer,
): Promise<string> {
  const input = `${b64json(header)}.${b64json(payload)}`;
  const signature = await signer(input);
  if (typeof signature !== 'string') throw new Error('the signer must return a base64url signature');
  return `${input}.${signature}`;
}

const b64json = (v: unknown) => Buffer.from(JSON.stringify(v), 'utf8').toString('base64url');
