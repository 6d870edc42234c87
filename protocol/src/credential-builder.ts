import { claimsInClear } from './credentials.js';
import type { BitstringStatusListEntry } from './status-list.js';

/** The VC Data Model 1.1 base context every credential Tessera signs carries (§4.1). */
export const VC_CONTEXT_V1 = 'https://www.w3.org/2018/credentials/v1';

/** What a credential says, before anyone signs it. */
export interface CredentialDraft {
  /** `urn:uuid:…` for issued credentials, the list URL for a status list, `urn:tessera:device-session:…`. */
  id: string;
  /** The specific VC type (after `VerifiableCredential`): a `CredentialType`, or a status list's type. */
  type: string;
  /** The issuer's DID. */
  issuer: string;
  /** The subject's DID; absent for a credential about no DID (a status list). */
  subject?: string;
  /** `credentialSubject` without its `id`. */
  claims: Record<string, unknown>;
  /** Seconds since the epoch. */
  issuedAt: number;
  /** Seconds since the epoch; absent for a credential that does not expire (a status list, refreshed instead). */
  expiresAt?: number;
  /** VC Data Model 1.1 §4.9: where its revocation and suspension are published (one entry per list). */
  status?: readonly BitstringStatusListEntry[];
}

/** A VC Data Model 1.1 credential without its proof. */
export interface UnsignedCredential {
  '@context': string[];
  id: string;
  type: string[];
  issuer: { id: string };
  issuanceDate: string;
  expirationDate?: string;
  credentialSubject: Record<string, unknown>;
  credentialStatus?: BitstringStatusListEntry[];
}

const iso = (s: number) => new Date(s * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');

/**
 * The one builder of every credential Tessera signs (the issuer's credentials and status lists, the device session
 * credential): the W3C form, which the issuer's agent signs as a JWT. `credentialJwtClaims` gives the same credential
 * in its JWT encoding for signers that sign the claims set themselves.
 */
export function buildCredential(d: CredentialDraft): UnsignedCredential {
  return {
    '@context': [VC_CONTEXT_V1],
    id: d.id,
    type: ['VerifiableCredential', d.type],
    issuer: { id: d.issuer },
    issuanceDate: iso(d.issuedAt),
    ...(d.expiresAt === undefined ? {} : { expirationDate: iso(d.expiresAt) }),
    credentialSubject: { ...(d.subject === undefined ? {} : { id: d.subject }), ...d.claims },
    ...(d.status && d.status.length > 0 ? { credentialStatus: [...d.status] } : {}),
  };
}

/**
 * The JWT claims set of a credential (VC Data Model 1.1 §6.3.1): `iss`, `sub`, `nbf`, `exp` and `jti` carry the
 * issuer, subject, issuance, expiry and id, and `vc` the rest, as did-jwt-vc and Veramo encode it.
 */
export function credentialJwtClaims(d: CredentialDraft): Record<string, unknown> {
  return {
    iss: d.issuer,
    ...(d.subject === undefined ? {} : { sub: d.subject }),
    nbf: d.issuedAt,
    iat: d.issuedAt,
    ...(d.expiresAt === undefined ? {} : { exp: d.expiresAt }),
    jti: d.id,
    vc: {
      '@context': [VC_CONTEXT_V1],
      type: ['VerifiableCredential', d.type],
      credentialSubject: d.claims,
      ...(d.status && d.status.length > 0 ? { credentialStatus: [...d.status] } : {}),
    },
  };
}

/**
 * The same credential as an SD-JWT VC (SD-JWT VC §3.2): `iss`, `vct`, `iat`, `exp`, `cnf` (the holder's key, RFC 7800)
 * and `status` (its Token Status List entry) in the clear; `disclosable` names the subject claims to be made
 * selectively disclosable, which the SD-JWT encoder turns into disclosures: all of them but those the type keeps in
 * the clear (`claimsInClear`: limits and allow-lists, which a holder must not be able to hide).
 */
export function sdJwtVcClaims(
  d: CredentialDraft,
  o: {
    vct: string;
    cnf: { kid: string } | { jwk: Record<string, unknown> };
    tokenStatus: { idx: number; uri: string };
  },
): { payload: Record<string, unknown>; disclosable: string[] } {
  return {
    payload: {
      iss: d.issuer,
      vct: o.vct,
      iat: d.issuedAt,
      ...(d.expiresAt === undefined ? {} : { exp: d.expiresAt }),
      cnf: o.cnf,
      status: { status_list: o.tokenStatus },
      ...d.claims,
    },
    disclosable: Object.keys(d.claims).filter((k) => !claimsInClear(d.type).includes(k)),
  };
}
