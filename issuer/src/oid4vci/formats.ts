import { createHash, randomBytes } from 'node:crypto';
import {
  type CredentialDraft,
  type CredentialType,
  SD_JWT_VC_TYP,
  STATUS_LIST_TOKEN_TYP,
  sdJwtVcClaims,
  TOKEN_STATUS,
  vctOf,
} from '@tessera/protocol';
import { StatusList } from '@sd-jwt/jwt-status-list';
import { SDJwtVcInstance } from '@sd-jwt/sd-jwt-vc';

/** Signs `data` (the JWS signing input) with the issuer's key: a base64url ES256K signature (r‖s). */
export type IssuerSigner = (data: string) => Promise<string>;

const hasher = (data: string | ArrayBuffer, alg: string): Uint8Array => {
  if (alg.toLowerCase() !== 'sha-256') throw new Error(`hash algorithm ${alg} is not supported`);
  return new Uint8Array(
    createHash('sha256')
      .update(typeof data === 'string' ? data : Buffer.from(data))
      .digest(),
  );
};
/** RFC 9901 §4.2.1: a salt of at least 128 random bits. */
const saltGenerator = (length: number): string => randomBytes(Math.max(16, length)).toString('base64url');

export interface SdJwtVcInput {
  /** The credential as the issuer holds it (`buildCredential`'s draft): claims, issuance and expiry. */
  draft: CredentialDraft;
  type: CredentialType;
  /** The issuer's signing key (`<did>#controller`). */
  kid: string;
  /** The holder's key, by reference (RFC 7800 §3.4 `kid`, a DID URL) or by value (`jwk`). */
  cnf: { kid: string } | { jwk: Record<string, unknown> };
  status: { idx: number; uri: string };
}

/**
 * An SD-JWT VC (SD-JWT VC §3, RFC 9901) of a Tessera credential, from the one credential builder
 * (`sdJwtVcClaims`): every subject claim its own disclosure, so a holder can show "accredited, in an allowed
 * jurisdiction" and keep their name back. Encoded and signed with @sd-jwt/sd-jwt-vc.
 */
export async function issueSdJwtVc(input: SdJwtVcInput, sign: IssuerSigner): Promise<string> {
  const sdjwt = new SDJwtVcInstance({
    signer: sign,
    signAlg: 'ES256K',
    hasher,
    hashAlg: 'sha-256',
    saltGenerator,
  });
  const { payload, disclosable } = sdJwtVcClaims(input.draft, {
    vct: vctOf(input.type),
    cnf: input.cnf,
    tokenStatus: input.status,
  });
  return sdjwt.issue(payload as never, { _sd: disclosable } as never, {
    header: { typ: SD_JWT_VC_TYP, kid: input.kid },
  });
}

/**
 * A Status List Token (draft-ietf-oauth-status-list §5): the list's 2-bit values (0 valid, 1 invalid = revoked,
 * 2 suspended), zlib-compressed, signed by the issuer. `ttl` tells verifiers how long they may cache it.
 */
export async function signStatusListToken(
  o: {
    issuer: string;
    kid: string;
    uri: string;
    size: number;
    revoked: number[];
    suspended: number[];
    issuedAt: number;
    ttlSeconds: number;
  },
  sign: IssuerSigner,
): Promise<string> {
  const values = new Array<number>(o.size).fill(TOKEN_STATUS.VALID);
  for (const i of o.suspended) values[i] = TOKEN_STATUS.SUSPENDED;
  for (const i of o.revoked) values[i] = TOKEN_STATUS.INVALID;
  const list = new StatusList(values, 2);
  const header = { alg: 'ES256K', typ: STATUS_LIST_TOKEN_TYP, kid: o.kid };
  const payload = {
    sub: o.uri,
    iss: o.issuer,
    iat: o.issuedAt,
    ttl: o.ttlSeconds,
    status_list: { bits: 2, lst: list.compressStatusList() },
  };
  const input = `${b64(header)}.${b64(payload)}`;
  return `${input}.${await sign(input)}`;
}

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
