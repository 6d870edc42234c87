import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  type BookState,
  CREDENTIAL_BITS as B,
  checkCertification,
  checkCertifier,
  checkInvestor,
  checkOfferingIssuer,
  checkTicket,
  credentialBits,
} from './rules.js';
import { type OfferingTerms, offeringUrn, parseTerms } from './terms.js';
import { CERTIFIER, greenBondTerms, ISSUER, investorCredential } from './testing.js';

const NOW = Date.parse('2026-06-15T12:00:00Z');
const nowS = NOW / 1000;
const terms = (over = {}): OfferingTerms => {
  const r = parseTerms(greenBondTerms(over, NOW));
  assert.ok(r.ok);
  return r.value;
};
const ALICE = 'did:ethr:0x7e57:0xaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa';
const code = (r: { ok: boolean; error?: { code: string } }) => (r.ok ? 'ok' : r.error!.code);
const book = (over: Partial<BookState> = {}): BookState => ({
  status: 'open',
  certified: true,
  subscribed: 0,
  cap: 2000,
  ...over,
});

describe('investor checks (AccreditedInvestor credential, already verified)', () => {
  it('accepts an accredited investor from an allowed jurisdiction', () => {
    const r = checkInvestor(terms(), investorCredential(ALICE, {}, nowS), nowS);
    assert.ok(r.ok);
    assert.equal(r.value.did, ALICE);
    assert.equal(r.value.claims.jurisdiction, 'FR');
  });

  it('refuses without a credential, with an expired one, another type, bad claims, a disallowed jurisdiction', () => {
    const t = terms();
    assert.equal(code(checkInvestor(t, undefined, nowS)), 'ERR_AUTH_REQUIRED');
    assert.equal(code(checkInvestor(t, investorCredential(ALICE, { expiresAt: nowS }, nowS), nowS)), 'ERR_VC_EXPIRED');
    assert.equal(
      code(checkInvestor(t, investorCredential(ALICE, { types: ['EnergyProsumerCredential'] }, nowS), nowS)),
      'ERR_OFFERING_INVESTOR_NOT_ACCREDITED',
    );
    assert.equal(
      code(checkInvestor(t, investorCredential(ALICE, { claims: { kycLevel: 'none' } }, nowS), nowS)),
      'ERR_VC_CLAIMS_INVALID',
    );
    assert.equal(
      code(checkInvestor(t, investorCredential(ALICE, { claims: { jurisdiction: 'US' } }, nowS), nowS)),
      'ERR_OFFERING_JURISDICTION',
    );
  });

  it('decides on the claims shown (an SD-JWT VC discloses some): each one it needs must be shown', () => {
    const t = terms();
    const full = investorCredential(ALICE, {}, nowS);
    const { accreditationLevel: _hidden, ...shown } = full.claims as Record<string, unknown>;
    const r = checkInvestor(t, { ...full, claims: shown }, nowS);
    assert.equal(code(r), 'ERR_VC_CLAIMS_INVALID');
    assert.match(!r.ok ? r.error.message : '', /accreditationLevel: not shown/);
    const { investmentLimit: _limit, ...noLimit } = full.claims as Record<string, unknown>;
    assert.equal(code(checkInvestor(t, { ...full, claims: noLimit }, nowS)), 'ok');
  });

  it('refuses an accreditation level or investor type the offering does not accept', () => {
    const t = terms({ acceptedAccreditation: ['professional', 'institutional'], investorTypes: ['entity'] });
    assert.equal(
      code(checkInvestor(t, investorCredential(ALICE, { claims: { accreditationLevel: 'accredited' } }, nowS), nowS)),
      'ERR_OFFERING_INVESTOR_NOT_ACCREDITED',
    );
    const pro = investorCredential(ALICE, { claims: { accreditationLevel: 'professional' } }, nowS);
    assert.equal(code(checkInvestor(t, pro, nowS)), 'ERR_OFFERING_INVESTOR_NOT_ACCREDITED');
    const proEntity = investorCredential(
      ALICE,
      { claims: { accreditationLevel: 'professional', investorType: 'entity' } },
      nowS,
    );
    assert.equal(code(checkInvestor(t, proEntity, nowS)), 'ok');
  });

  it('maps claims to the on-chain credential bits', () => {
    const bits = credentialBits({
      jurisdiction: 'FR',
      investorType: 'entity',
      accreditationLevel: 'institutional',
      kycLevel: 'enhanced',
    });
    assert.equal(bits, B.ACCREDITED_INVESTOR | B.KYC_STANDARD | B.KYC_ENHANCED | B.LEVEL_INSTITUTIONAL | B.ENTITY);
  });
});

describe('ticket checks', () => {
  const inv = () => {
    const r = checkInvestor(terms(), investorCredential(ALICE, {}, nowS), nowS);
    assert.ok(r.ok);
    return r.value;
  };
  it('accepts a ticket within the terms and the dates', () => {
    assert.equal(code(checkTicket(terms(), book(), 100, inv(), new Date(NOW))), 'ok');
  });

  it('refuses outside the dates, below the minimum, above the maximum, beyond the book, when closed or uncertified', () => {
    const t = terms();
    const at = (ms: number) => new Date(ms);
    assert.equal(code(checkTicket(t, book(), 100, inv(), at(Date.parse(t.opensAt) - 1))), 'ERR_OFFERING_NOT_OPEN');
    assert.equal(code(checkTicket(t, book(), 100, inv(), at(Date.parse(t.closesAt)))), 'ERR_OFFERING_CLOSED');
    assert.equal(code(checkTicket(t, book(), 9, inv(), at(NOW))), 'ERR_OFFERING_BELOW_MINIMUM');
    assert.equal(code(checkTicket(t, book(), 601, inv(), at(NOW))), 'ERR_OFFERING_ABOVE_MAXIMUM');
    assert.equal(code(checkTicket(t, book({ subscribed: 1950 }), 51, inv(), at(NOW))), 'ERR_OFFERING_SOLD_OUT');
    assert.equal(code(checkTicket(t, book({ subscribed: 1950 }), 50, inv(), at(NOW))), 'ok');
    assert.equal(code(checkTicket(t, book({ status: 'allocated' }), 50, inv(), at(NOW))), 'ERR_OFFERING_CLOSED');
    assert.equal(code(checkTicket(t, book({ certified: false }), 50, inv(), at(NOW))), 'ERR_OFFERING_NOT_CERTIFIED');
    assert.equal(code(checkTicket(t, book(), 10.5, inv(), at(NOW))), 'ERR_VALIDATION');
  });

  it("refuses a ticket priced above the credential's investment limit in the offering's currency", () => {
    const r = checkInvestor(
      terms(),
      investorCredential(ALICE, { claims: { investmentLimit: { amount: 50_000_00, currency: 'EUR' } } }, nowS),
      nowS,
    );
    assert.ok(r.ok);
    assert.equal(code(checkTicket(terms(), book(), 500, r.value, new Date(NOW))), 'ok'); // 50,000.00 EUR
    assert.equal(code(checkTicket(terms(), book(), 501, r.value, new Date(NOW))), 'ERR_OFFERING_INVESTOR_LIMIT');
  });
});

describe('certification', () => {
  const cert = (over = {}) => ({
    certifier: CERTIFIER,
    credentialId: 'urn:uuid:cert-1',
    subject: offeringUrn('gb-marseille-2030'),
    scheme: 'Climate Bonds Standard v4',
    documentsSha256: ['a'.repeat(64)],
    ...over,
  });
  it('accepts a certification about this offering by another organisation', () => {
    assert.equal(code(checkCertification(terms(), ISSUER, cert(), nowS)), 'ok');
  });
  it('refuses another subject, self-certification, an unlisted certifier, an expired one, other documents', () => {
    const t = terms();
    const bad = 'ERR_OFFERING_CERTIFICATION_INVALID';
    assert.equal(code(checkCertification(t, ISSUER, cert({ subject: offeringUrn('other') }), nowS)), bad);
    assert.equal(code(checkCertification(t, ISSUER, cert({ certifier: ISSUER }), nowS)), bad);
    assert.equal(
      code(checkCertification(terms({ certifiers: [ISSUER] }), CERTIFIER, cert({ certifier: ALICE }), nowS)),
      bad,
    );
    assert.equal(code(checkCertification(t, ISSUER, cert({ expiresAt: nowS }), nowS)), bad);
    assert.equal(code(checkCertification(t, ISSUER, cert({ documentsSha256: ['b'.repeat(64)] }), nowS)), bad);
  });
});

describe('issuer organisations and certifiers (claims of their verified credentials)', () => {
  const org = { legalName: 'Marseille Solar Bonds SA', registrationId: 'RCS 1', jurisdiction: 'FR' };
  const issuerVc = (claims: Record<string, unknown>) => ({ types: ['OfferingIssuerCredential'], claims });
  const certifierVc = (claims: Record<string, unknown>) => ({
    types: ['CertifierCredential'],
    claims: { ...org, legalName: 'Green Assurance BV', certifiesOfferings: true, accreditsInvestors: false, ...claims },
  });

  it('lets an issuer organisation create the kinds its credential allows', () => {
    assert.equal(code(checkOfferingIssuer(issuerVc(org), 'green-bond')), 'ok');
    assert.equal(code(checkOfferingIssuer(issuerVc({ ...org, offeringKinds: ['green-bond'] }), 'green-bond')), 'ok');
    assert.equal(
      code(checkOfferingIssuer(issuerVc({ ...org, offeringKinds: ['equity', 'fund'] }), 'green-bond')),
      'ERR_OFFERING_ISSUER_NOT_AUTHORISED',
    );
    assert.equal(code(checkOfferingIssuer(undefined, 'bond')), 'ERR_AUTH_REQUIRED');
    assert.equal(
      code(checkOfferingIssuer({ types: ['AdminCredential'], claims: { name: 'Ada' } }, 'bond')),
      'ERR_AUTH_REQUIRED',
    );
    // what it shows must meet the schema; an SD-JWT VC may show no claim at all (offeringKinds is in the clear)
    assert.equal(
      code(checkOfferingIssuer(issuerVc({ ...org, jurisdiction: 'France' }), 'bond')),
      'ERR_VC_CLAIMS_INVALID',
    );
    assert.equal(code(checkOfferingIssuer(issuerVc({ ...org, extra: 1 }), 'bond')), 'ERR_VC_CLAIMS_INVALID');
    assert.equal(code(checkOfferingIssuer(issuerVc({}), 'green-bond')), 'ok');
    assert.equal(
      code(checkOfferingIssuer(issuerVc({ offeringKinds: ['fund'] }), 'green-bond')),
      'ERR_OFFERING_ISSUER_NOT_AUTHORISED',
    );
  });

  it('accepts a certification signed by the presenting certifier, within its schemes', () => {
    const c = { certifier: CERTIFIER, scheme: 'Climate Bonds Standard v4' };
    assert.equal(code(checkCertifier(certifierVc({}), CERTIFIER, c)), 'ok');
    assert.equal(code(checkCertifier(certifierVc({}), ISSUER, c)), 'ERR_OFFERING_CERTIFIER_NOT_TRUSTED');
    assert.equal(
      code(checkCertifier(certifierVc({ schemes: ['EU Green Bond Standard'] }), CERTIFIER, c)),
      'ERR_OFFERING_CERTIFIER_NOT_TRUSTED',
    );
    assert.equal(code(checkCertifier(certifierVc({ schemes: ['Climate Bonds Standard v4'] }), CERTIFIER, c)), 'ok');
    assert.equal(
      code(checkCertifier(certifierVc({ certifiesOfferings: false, accreditsInvestors: true }), CERTIFIER, c)),
      'ERR_OFFERING_CERTIFIER_NOT_TRUSTED',
    );
    assert.equal(code(checkCertifier(undefined, CERTIFIER, c)), 'ERR_AUTH_REQUIRED');
  });
});
