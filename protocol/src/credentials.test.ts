import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CREDENTIAL_TYPE_NAMES, CREDENTIAL_TYPES, isValidLei, validateClaims } from './credentials.js';

describe('credential types and claim schemas', () => {
  it('knows the credential types and the two offering roles, each with a default validity within its maximum', () => {
    assert.equal(CREDENTIAL_TYPE_NAMES.length, 11);
    for (const t of CREDENTIAL_TYPE_NAMES) {
      const spec = CREDENTIAL_TYPES[t];
      assert.ok(spec.defaultValiditySeconds > 0 && spec.defaultValiditySeconds <= spec.maxValiditySeconds, t);
    }
    assert.ok(CREDENTIAL_TYPES.DeviceSessionCredential.maxValiditySeconds <= 3600, 'session credentials are short');
  });

  it('refuses an unknown type with ERR_VC_TYPE_UNKNOWN', () => {
    const r = validateClaims('RootCredential', {});
    assert.equal(r.ok, false);
    assert.equal(!r.ok && r.error.code, 'ERR_VC_TYPE_UNKNOWN');
    const proto = validateClaims('toString', {});
    assert.equal(!proto.ok && proto.error.code, 'ERR_VC_TYPE_UNKNOWN', 'prototype keys are not types');
  });

  it('accepts a valid EnergyProsumer and lists every problem of an invalid one', () => {
    const good = validateClaims('EnergyProsumerCredential', { meterId: 'DE0001', role: 'prosumer', nameplateKw: 9.8 });
    assert.ok(good.ok);
    const bad = validateClaims('EnergyProsumerCredential', { meterId: '?', role: 'trader', extra: 1 });
    assert.equal(bad.ok, false);
    if (bad.ok) return;
    assert.equal(bad.error.code, 'ERR_VC_CLAIMS_INVALID');
    const paths = (bad.error.details as { path: string }[]).map((i) => i.path).sort();
    assert.ok(paths.includes('meterId') && paths.includes('role'), JSON.stringify(paths));
    assert.match(bad.error.message, /extra/, 'unknown claims are refused, not silently signed');
  });

  it('requires a producer to declare its nameplate capacity', () => {
    const r = validateClaims('EnergyProsumerCredential', { meterId: 'DE0001', role: 'producer' });
    assert.equal(!r.ok && r.error.code, 'ERR_VC_CLAIMS_INVALID');
    assert.ok(validateClaims('EnergyProsumerCredential', { meterId: 'DE0001', role: 'consumer' }).ok);
  });

  it('checks AccreditedInvestor jurisdictions against ISO 3166-1 alpha-2', () => {
    const base = { investorType: 'individual', accreditationLevel: 'accredited', kycLevel: 'enhanced' };
    assert.ok(validateClaims('AccreditedInvestorCredential', { ...base, jurisdiction: 'DE' }).ok);
    assert.equal(validateClaims('AccreditedInvestorCredential', { ...base, jurisdiction: 'XX' }).ok, false);
    assert.equal(validateClaims('AccreditedInvestorCredential', { ...base, jurisdiction: 'de' }).ok, false);
  });

  it('checks LEI check digits (ISO 17442) and needs an LEI or a registration id for a DataPartner', () => {
    const body = '5299000J2N45DDNE4Y';
    let rem = 0;
    for (const ch of `${body}00`)
      for (const d of /[0-9]/.test(ch) ? ch : String(ch.charCodeAt(0) - 55)) rem = (rem * 10 + Number(d)) % 97;
    const lei = body + String(98 - rem).padStart(2, '0');
    assert.ok(isValidLei(lei));
    assert.equal(isValidLei(`${body}${lei.endsWith('00') ? '01' : '00'}`), false);
    assert.ok(validateClaims('DataPartnerCredential', { organisationName: 'Acme', lei, dataspace: 'energy-ds' }).ok);
    const none = validateClaims('DataPartnerCredential', { organisationName: 'Acme', dataspace: 'energy-ds' });
    assert.equal(!none.ok && none.error.code, 'ERR_VC_CLAIMS_INVALID');
  });

  it('requires DIDs where a claim names another actor', () => {
    const r = validateClaims('DeviceOwnerCredential', { device: 'not-a-did' });
    assert.equal(!r.ok && r.error.code, 'ERR_VC_CLAIMS_INVALID');
    assert.ok(validateClaims('DeviceOwnerCredential', { device: 'did:ethr:0x7a69:0x' + '1'.repeat(40) }).ok);
  });

  it('describes issuer organisations and certifiers by legal name, LEI or registration id, and jurisdiction', () => {
    const org = { legalName: 'Marseille Solar Bonds SA', registrationId: 'RCS 123', jurisdiction: 'FR' };
    assert.ok(validateClaims('OfferingIssuerCredential', { ...org, offeringKinds: ['green-bond'] }).ok);
    const noId = validateClaims('OfferingIssuerCredential', { legalName: 'X', jurisdiction: 'FR' });
    assert.equal(!noId.ok && noId.error.code, 'ERR_VC_CLAIMS_INVALID');
    assert.equal(validateClaims('OfferingIssuerCredential', { ...org, lei: '5299000J2N45DDNE4Y00' }).ok, false);
    assert.equal(validateClaims('OfferingIssuerCredential', { ...org, offeringKinds: ['loan'] }).ok, false);
    const certifier = { ...org, certifiesOfferings: true, accreditsInvestors: true, schemes: ['Climate Bonds v4'] };
    assert.ok(validateClaims('CertifierCredential', certifier).ok);
    const idle = validateClaims('CertifierCredential', {
      ...certifier,
      certifiesOfferings: false,
      accreditsInvestors: false,
    });
    assert.equal(!idle.ok && idle.error.code, 'ERR_VC_CLAIMS_INVALID');
    assert.equal(validateClaims('CertifierCredential', { ...org, certifiesOfferings: true }).ok, false);
  });
});
