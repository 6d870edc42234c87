import type { OfferingTermsInput } from './terms.js';
import type { VerifiedInvestorCredential } from './rules.js';

/** Test fixtures shared by the offering tests. */

export const ISSUER = 'did:ethr:0x7e57:0x1111111111111111111111111111111111111111';
export const CERTIFIER = 'did:ethr:0x7e57:0x2222222222222222222222222222222222222222';

export function greenBondTerms(over: Partial<OfferingTermsInput> = {}, now = Date.now()): OfferingTermsInput {
  return {
    id: 'gb-marseille-2030',
    name: 'Marseille Rooftop Solar Green Bond 2030',
    kind: 'green-bond',
    token: { name: 'Marseille Solar GB 2030', symbol: 'MSGB30', decimals: 0 },
    amount: 1000,
    unitPrice: { amount: 100_00, currency: 'EUR' },
    minSubscription: 10,
    maxSubscription: 600,
    maxOversubscription: 2,
    opensAt: new Date(now - 86_400_000).toISOString(),
    closesAt: new Date(now + 10 * 86_400_000).toISOString(),
    allowedJurisdictions: ['FR', 'DE', 'IT'],
    documents: [{ title: 'prospectus', sha256: 'a'.repeat(64), mediaType: 'application/pdf' }],
    ...over,
  };
}

export function investorCredential(
  did: string,
  over: { claims?: Record<string, unknown>; expiresAt?: number; id?: string; types?: string[] } = {},
  nowS = Math.floor(Date.now() / 1000),
): VerifiedInvestorCredential {
  return {
    id: over.id ?? `urn:uuid:cred-${did.slice(-6)}`,
    issuer: 'did:ethr:0x7e57:0x3333333333333333333333333333333333333333',
    subject: did,
    types: over.types ?? ['AccreditedInvestorCredential'],
    claims: {
      jurisdiction: 'FR',
      investorType: 'individual',
      accreditationLevel: 'accredited',
      kycLevel: 'standard',
      ...over.claims,
    },
    expiresAt: over.expiresAt ?? nowS + 180 * 86_400,
  };
}
