import { parseDid } from '../did.js';
import { err, ok, type Result } from '../result.js';

/**
 * The signed statement of authentication method 1 (§5.1.2.1): at the URL an `A1` message names, a flattened JWS JSON
 * serialization (RFC 7515 §7.2.2) whose payload links the sending blockchain address to the originator's name and to
 * that URL, signed with the key of that address. Tessera adds the originator's `did` to the payload, so a receiver can
 * check the signing key against the DID document on chain (docs/whiteflag.md).
 */

/** Statements are small JSON objects; anything bigger is refused before it is parsed. */
export const MAX_STATEMENT_BYTES = 8 * 1024;
/**
 * The signature algorithm: ECDSA on secp256k1 with SHA-256 (RFC 8812), the curve of EVM accounts. The standard's
 * Annex C example says ES256 (P-256); an EVM account cannot sign with P-256, so the algorithm follows the chain.
 */
export const STATEMENT_ALG = 'ES256K';

export interface WhiteflagStatementPayload {
  /** The sending blockchain address (0x hex for an EVM chain). */
  addr: string;
  /** The originator's self-chosen name. */
  orgname: string;
  /** Exactly the URL of the `A1` message's `VerificationData`. */
  url: string;
  /** Tessera: the originator's DID, whose document must list the signing key. */
  did?: string;
  /** §5.1.2.1: the extended public key of deterministic addresses (not used by Tessera). */
  extpubkey?: string;
}

/** RFC 7515 §7.2.2: the flattened JWS JSON serialization, every member base64url. */
export interface FlattenedJws {
  protected: string;
  payload: string;
  signature: string;
}

export interface ParsedStatement {
  jws: FlattenedJws;
  header: { alg: string; [k: string]: unknown };
  payload: WhiteflagStatementPayload;
  /** `protected.payload.signature`: the compact form JWS libraries verify. */
  compact: string;
}

const B64URL = /^[A-Za-z0-9_-]+$/;
const bad = (message: string) => err('ERR_WHITEFLAG_AUTH_FAILED', `the signed statement is invalid: ${message}`);

function decodeJson(part: string): unknown {
  return JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
}

/** The flattened form of a compact JWS. */
export function flattenJws(compact: string): FlattenedJws {
  const [p, payload, signature] = compact.split('.');
  return { protected: p ?? '', payload: payload ?? '', signature: signature ?? '' };
}

/**
 * Read a statement as fetched from its URL: size, shape, base64url members, a JSON header whose `alg` is ES256K (no
 * `none`, no other curve: RFC 8725 §3.1) and a payload with `addr`, `orgname` and `url` (and, when present, a DID).
 * The signature itself is checked against the DID document by the caller.
 */
export function parseStatement(text: string): Result<ParsedStatement> {
  if (Buffer.byteLength(text) > MAX_STATEMENT_BYTES) return bad(`larger than ${MAX_STATEMENT_BYTES} bytes`);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return bad('not JSON');
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return bad('not a JSON object');
  const j = json as Record<string, unknown>;
  const members = ['protected', 'payload', 'signature'] as const;
  for (const m of members)
    if (typeof j[m] !== 'string' || !B64URL.test(j[m] as string)) return bad(`'${m}' must be base64url`);
  const jws = { protected: j['protected'], payload: j['payload'], signature: j['signature'] } as FlattenedJws;
  let header: unknown;
  let payload: unknown;
  try {
    header = decodeJson(jws.protected);
    payload = decodeJson(jws.payload);
  } catch {
    return bad('the protected header or the payload is not base64url JSON');
  }
  if (typeof header !== 'object' || header === null) return bad('the protected header is not an object');
  const alg = (header as Record<string, unknown>)['alg'];
  if (alg !== STATEMENT_ALG) return bad(`algorithm '${String(alg)}' refused; statements are signed with ES256K`);
  if (typeof payload !== 'object' || payload === null) return bad('the payload is not an object');
  const p = payload as Record<string, unknown>;
  for (const k of ['addr', 'orgname', 'url'] as const)
    if (typeof p[k] !== 'string' || (p[k] as string).length === 0 || (p[k] as string).length > 512)
      return bad(`the payload needs '${k}' (a non-empty string of at most 512 characters)`);
  if (p['did'] !== undefined && (typeof p['did'] !== 'string' || !parseDid(p['did']).ok))
    return bad("'did' must be a DID");
  return ok({
    jws,
    header: header as ParsedStatement['header'],
    payload: p as unknown as WhiteflagStatementPayload,
    compact: `${jws.protected}.${jws.payload}.${jws.signature}`,
  });
}
