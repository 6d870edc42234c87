import { type ClaimsOf, err, ok, parseDid, type Result, validateShownClaims } from '@tessera/protocol';
import { normaliseDid } from '@tessera/verifier';
import { type OfferingTerms, offeringUrn } from './terms.js';

/**
 * The checks of the offering domain, as pure functions of their inputs and the time: a subscription against the
 * terms and the investor's (already verified) credential, and a certification against the offering.
 */

/**
 * A credential the verifier has already checked (signature, trusted issuer, expiry, status, holder binding): the
 * fields of the verifier's `VerifiedCredential` this domain needs. Times are unix seconds.
 */
export interface VerifiedInvestorCredential {
  /** `jti`: identifies the credential for revocation. */
  id?: string;
  issuer: string;
  /** The investor's DID. */
  subject: string;
  types: string[];
  claims: Record<string, unknown>;
  expiresAt?: number;
}

export type InvestorClaims = ClaimsOf<'AccreditedInvestorCredential'>;

/** The eligibility bits written on chain (EligibilityRegistry credentials field); one per verified fact. */
export const CREDENTIAL_BITS = {
  /** Holds a verified AccreditedInvestor credential: what every offering's token requires. */
  ACCREDITED_INVESTOR: 1 << 0,
  KYC_STANDARD: 1 << 1,
  KYC_ENHANCED: 1 << 2,
  LEVEL_QUALIFIED: 1 << 3,
  LEVEL_PROFESSIONAL: 1 << 4,
  LEVEL_INSTITUTIONAL: 1 << 5,
  ENTITY: 1 << 6,
} as const;

/** The bits an investor's claims earn (KYC levels are cumulative: enhanced implies standard). */
export function credentialBits(c: InvestorClaims): number {
  const B = CREDENTIAL_BITS;
  let bits = B.ACCREDITED_INVESTOR;
  if (c.kycLevel === 'standard' || c.kycLevel === 'enhanced') bits |= B.KYC_STANDARD;
  if (c.kycLevel === 'enhanced') bits |= B.KYC_ENHANCED;
  if (c.accreditationLevel === 'qualified') bits |= B.LEVEL_QUALIFIED;
  if (c.accreditationLevel === 'professional') bits |= B.LEVEL_PROFESSIONAL;
  if (c.accreditationLevel === 'institutional') bits |= B.LEVEL_INSTITUTIONAL;
  if (c.investorType === 'entity') bits |= B.ENTITY;
  return bits;
}

export interface InvestorFacts {
  did: string;
  credentialId: string;
  claims: InvestorClaims;
  /** Unix seconds. */
  expiresAt: number;
}

const YEAR_S = 365 * 86_400;

/** What the offering domain decides on; `investmentLimit` is optional and an SD-JWT VC carries it in the clear. */
export const INVESTOR_CLAIMS_NEEDED = ['jurisdiction', 'investorType', 'accreditationLevel', 'kycLevel'] as const;

/**
 * Check that a verified credential is a live AccreditedInvestor credential at `nowS`, whatever the offering:
 * right type, claims valid, not expired, subject a DID. What onboarding a secondary-market buyer needs.
 */
export function checkAccreditedInvestor(
  credential: VerifiedInvestorCredential | undefined,
  nowS: number,
): Result<InvestorFacts> {
  if (!credential) return err('ERR_AUTH_REQUIRED', 'an AccreditedInvestor credential is required');
  if (!credential.types.includes('AccreditedInvestorCredential')) {
    return err(
      'ERR_OFFERING_INVESTOR_NOT_ACCREDITED',
      `the credential is a ${credential.types.join(', ') || 'credential'}, not an AccreditedInvestorCredential`,
    );
  }
  // The claims the verified credential shows (the core's normalised claims: a JWT VC's credentialSubject, or an SD-JWT
  // VC's disclosed and clear claims); the subscription policy asks for every one of these, and the limit is in the clear.
  const claims = validateShownClaims('AccreditedInvestorCredential', credential.claims, INVESTOR_CLAIMS_NEEDED);
  if (!claims.ok) return claims;
  // VC Data Model 1.1 §7.2 (exp): the verifier checked it; we check again at the moment it is used.
  const expiresAt = credential.expiresAt ?? nowS + YEAR_S;
  if (expiresAt <= nowS) {
    return err(
      'ERR_VC_EXPIRED',
      `the AccreditedInvestor credential expired at ${new Date(expiresAt * 1000).toISOString()}`,
    );
  }
  if (!parseDid(credential.subject).ok) return err('ERR_VC_MALFORMED', 'the credential subject is not a DID');
  return ok({
    // one spelling per DID, so that the wallets of one identity share the on-chain identity hash
    did: normaliseDid(credential.subject),
    credentialId: credential.id ?? `${credential.issuer}#${credential.subject}#${expiresAt}`,
    claims: claims.value,
    // the on-chain record never outlives the credential, nor a year (accreditation is re-confirmed yearly)
    expiresAt: Math.min(expiresAt, nowS + YEAR_S),
  });
}

/**
 * Check that a verified credential is an AccreditedInvestor credential this offering accepts at `nowS`:
 * `checkAccreditedInvestor`, then jurisdiction allowed, accreditation level and investor type accepted.
 */
export function checkInvestor(
  terms: OfferingTerms,
  credential: VerifiedInvestorCredential | undefined,
  nowS: number,
): Result<InvestorFacts> {
  const inv = checkAccreditedInvestor(credential, nowS);
  if (!inv.ok) return inv;
  const c = inv.value.claims;
  if (!terms.allowedJurisdictions.includes(c.jurisdiction)) {
    return err(
      'ERR_OFFERING_JURISDICTION',
      `jurisdiction ${c.jurisdiction} is not allowed by offering ${terms.id} (allowed: ${terms.allowedJurisdictions.join(', ')})`,
    );
  }
  if (!terms.acceptedAccreditation.includes(c.accreditationLevel)) {
    return err(
      'ERR_OFFERING_INVESTOR_NOT_ACCREDITED',
      `accreditation level '${c.accreditationLevel}' is not accepted (accepted: ${terms.acceptedAccreditation.join(', ')})`,
    );
  }
  if (!terms.investorTypes.includes(c.investorType)) {
    return err('ERR_OFFERING_INVESTOR_NOT_ACCREDITED', `investor type '${c.investorType}' is not accepted`);
  }
  return inv;
}

export interface BookState {
  /** 'open' until allocated (or cancelled). */
  status: string;
  certified: boolean;
  /** Units subscribed so far. */
  subscribed: number;
  /** The most the book may hold (`bookCap(terms)`). */
  cap: number;
}

/** Check a ticket of `quantity` units against the terms, the dates and what remains of the book. */
export function checkTicket(
  terms: OfferingTerms,
  book: BookState,
  quantity: number,
  investor: InvestorFacts,
  now: Date,
): Result<void> {
  if (book.status !== 'open') return err('ERR_OFFERING_CLOSED', `offering ${terms.id} is ${book.status}`);
  if (terms.certificationRequired && !book.certified) {
    return err('ERR_OFFERING_NOT_CERTIFIED', `offering ${terms.id} is not certified yet`);
  }
  const t = now.getTime();
  if (t < Date.parse(terms.opensAt)) return err('ERR_OFFERING_NOT_OPEN', `subscriptions open at ${terms.opensAt}`);
  if (t >= Date.parse(terms.closesAt)) return err('ERR_OFFERING_CLOSED', `subscriptions closed at ${terms.closesAt}`);
  if (!Number.isSafeInteger(quantity) || quantity < 1) {
    return err('ERR_VALIDATION', 'quantity must be a positive whole number of units');
  }
  if (quantity < terms.minSubscription) {
    return err(
      'ERR_OFFERING_BELOW_MINIMUM',
      `${quantity} units is below the minimum ticket of ${terms.minSubscription}`,
    );
  }
  if (quantity > terms.maxSubscription) {
    return err(
      'ERR_OFFERING_ABOVE_MAXIMUM',
      `${quantity} units is above the maximum ticket of ${terms.maxSubscription}`,
    );
  }
  const limit = investor.claims.investmentLimit;
  const price = quantity * terms.unitPrice.amount;
  if (limit && limit.currency === terms.unitPrice.currency && price > limit.amount) {
    return err(
      'ERR_OFFERING_INVESTOR_LIMIT',
      `${price} ${limit.currency} (minor units) exceeds the credential's investment limit of ${limit.amount}`,
    );
  }
  const remaining = book.cap - book.subscribed;
  if (quantity > remaining) {
    return err('ERR_OFFERING_SOLD_OUT', `${quantity} units requested, ${Math.max(remaining, 0)} remain`);
  }
  return ok(undefined);
}

/** A reference to a certification credential about an offering (for a green bond: the certifier's opinion). */
export interface Certification {
  certifier: string;
  /** The certification credential's id (`jti`). */
  credentialId: string;
  /** What the credential is about: must be `urn:tessera:offering:<id>`. */
  subject: string;
  /** For example "Climate Bonds Standard v4". */
  scheme?: string;
  /** SHA-256 of the document set the certifier reviewed; when given, it must match the offering's documents. */
  documentsSha256?: string[];
  /** Unix seconds; the badge shows only while it holds. */
  expiresAt?: number;
  /** The certifier's CertifierCredential (its revocation status key): revoking or suspending it withdraws the badge. */
  certifierCredentialId?: string;
  /** Set while that credential is revoked or suspended. */
  withdrawn?: boolean;
}

/** Check a certification against the offering: right subject, acceptable certifier, not expired, same documents. */
export function checkCertification(
  terms: OfferingTerms,
  issuer: string,
  c: Certification,
  nowS: number,
): Result<Certification> {
  const bad = (m: string) => err('ERR_OFFERING_CERTIFICATION_INVALID', m);
  if (!parseDid(c.certifier).ok) return bad('the certifier is not a DID');
  if (typeof c.credentialId !== 'string' || c.credentialId.length < 1 || c.credentialId.length > 512) {
    return bad('the certification credential id must be 1 to 512 characters');
  }
  if (c.subject !== offeringUrn(terms.id))
    return bad(`the certification is about ${c.subject}, not ${offeringUrn(terms.id)}`);
  if (c.certifier === issuer) return bad('the issuer cannot certify its own offering');
  if (terms.certifiers.length > 0 && !terms.certifiers.includes(c.certifier)) {
    return bad(`${c.certifier} is not among the offering's certifiers`);
  }
  if (c.expiresAt !== undefined && c.expiresAt <= nowS) return bad('the certification has expired');
  if (c.documentsSha256) {
    const ours = new Set(terms.documents.map((d) => d.sha256));
    const missing = c.documentsSha256.filter((h) => !ours.has(h));
    if (missing.length > 0)
      return bad(`the certification covers documents the offering does not have: ${missing.join(', ')}`);
  }
  return ok(c);
}

/**
 * The claims a verified credential of `type` in an access grant shows (all of a JWT VC's; an SD-JWT VC's disclosed
 * ones and those in the clear, where the narrowing `offeringKinds` and `schemes` are), checked against protocol's
 * schema. The organisation's name is for messages only and may be kept back.
 */
function grantClaims<T extends 'OfferingIssuerCredential' | 'CertifierCredential'>(
  type: T,
  credential: { types: string[]; claims: Record<string, unknown> } | undefined,
): Result<Partial<ClaimsOf<T>> & { legalName: string }> {
  if (!credential?.types.includes(type)) return err('ERR_AUTH_REQUIRED', `a ${type} is required`);
  const shown = validateShownClaims(type, credential.claims, []);
  if (!shown.ok) return shown;
  return ok({ ...shown.value, legalName: shown.value.legalName ?? 'the organisation' } as Partial<ClaimsOf<T>> & {
    legalName: string;
  });
}

/**
 * May the organisation holding this (verified, trusted) OfferingIssuerCredential issue an offering of `kind`?
 * A credential that lists `offeringKinds` allows only those kinds.
 */
export function checkOfferingIssuer(
  credential: { types: string[]; claims: Record<string, unknown> } | undefined,
  kind: OfferingTerms['kind'],
): Result<Partial<ClaimsOf<'OfferingIssuerCredential'>>> {
  const claims = grantClaims('OfferingIssuerCredential', credential);
  if (!claims.ok) return claims;
  if (claims.value.offeringKinds && !claims.value.offeringKinds.includes(kind)) {
    return err(
      'ERR_OFFERING_ISSUER_NOT_AUTHORISED',
      `${claims.value.legalName} may issue ${claims.value.offeringKinds.join(', ')} offerings, not ${kind}`,
    );
  }
  return claims;
}

/**
 * Is the certification signed by the certifier who presented the (verified, trusted) CertifierCredential, and within
 * what that credential allows (certifying offerings; its schemes when it lists them)?
 */
export function checkCertifier(
  credential: { types: string[]; claims: Record<string, unknown> } | undefined,
  holder: string,
  c: Pick<Certification, 'certifier' | 'scheme'>,
): Result<Partial<ClaimsOf<'CertifierCredential'>>> {
  const claims = grantClaims('CertifierCredential', credential);
  if (!claims.ok) return claims;
  const refuse = (m: string) => err('ERR_OFFERING_CERTIFIER_NOT_TRUSTED', m);
  if (!claims.value.certifiesOfferings) return refuse(`${claims.value.legalName} is not a certifier of offerings`);
  if (normaliseDid(c.certifier) !== normaliseDid(holder)) {
    return refuse(`the certification is signed by ${c.certifier}, not by the presenting certifier ${holder}`);
  }
  const schemes = claims.value.schemes;
  if (schemes && (c.scheme === undefined || !schemes.includes(c.scheme))) {
    return refuse(`${claims.value.legalName} certifies under ${schemes.join(', ')}, not ${c.scheme ?? 'no scheme'}`);
  }
  return claims;
}
