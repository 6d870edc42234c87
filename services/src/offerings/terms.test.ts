import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { bookCap, parseTerms } from './terms.js';
import { greenBondTerms } from './testing.js';

describe('offering terms', () => {
  it('accepts a green bond and fills the defaults', () => {
    const r = parseTerms(greenBondTerms({ maxOversubscription: undefined }));
    assert.ok(r.ok, JSON.stringify(!r.ok && r.error));
    assert.equal(r.value.maxOversubscription, 1);
    assert.equal(r.value.certificationRequired, true);
    assert.deepEqual(r.value.investorTypes, ['individual', 'entity']);
    assert.equal(bookCap(r.value), 1000);
  });

  it('lists every field problem with ERR_OFFERING_TERMS_INVALID (cross-field rules wait until the fields are valid)', () => {
    const r = parseTerms(
      greenBondTerms({
        minSubscription: 700,
        maxSubscription: 600,
        closesAt: '2020-01-01T00:00:00Z',
        allowedJurisdictions: ['FR', 'XX'],
        documents: [],
        amount: 0,
      }),
    );
    assert.equal(r.ok, false);
    assert.equal(!r.ok && r.error.code, 'ERR_OFFERING_TERMS_INVALID');
    const paths = (!r.ok ? (r.error.details as { path: string }[]) : []).map((i) => i.path).sort();
    assert.deepEqual(paths, ['allowedJurisdictions.1', 'amount', 'documents']);
  });

  it('checks the cross-field rules once the fields are valid', () => {
    const r = parseTerms(
      greenBondTerms({ minSubscription: 700, maxSubscription: 600, closesAt: '2020-01-01T00:00:00Z' }),
    );
    assert.equal(r.ok, false);
    const paths = (!r.ok ? (r.error.details as { path: string }[]) : []).map((i) => i.path).sort();
    assert.deepEqual(paths, ['closesAt', 'minSubscription']);
    const over = parseTerms(greenBondTerms({ maxSubscription: 1001 }));
    assert.equal(!over.ok && over.error.code, 'ERR_OFFERING_TERMS_INVALID');
    const dup = parseTerms(greenBondTerms({ allowedJurisdictions: ['FR', 'FR'] }));
    assert.equal(!dup.ok && (dup.error.details as { path: string }[])[0]?.path, 'allowedJurisdictions');
  });

  it('refuses unknown fields, fractional amounts and a bad document hash', () => {
    for (const bad of [
      { ...greenBondTerms(), extra: 1 },
      greenBondTerms({ amount: 10.5 }),
      greenBondTerms({ unitPrice: { amount: 1.5, currency: 'EUR' } }),
      greenBondTerms({ documents: [{ title: 'prospectus', sha256: 'A'.repeat(64) }] }),
      greenBondTerms({ id: 'Bad Id' }),
    ]) {
      const r = parseTerms(bad);
      assert.equal(r.ok, false, JSON.stringify(bad).slice(0, 120));
    }
  });
});
