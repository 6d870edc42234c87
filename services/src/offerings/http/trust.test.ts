/**
 * Who may create and certify an offering: an issuer organisation with an OfferingIssuerCredential, and a
 * certifier with a CertifierCredential, each from an issuer the verifier's trust list trusts for that type; every
 * refusal with its stable code. Real anvil, issuer, verifier and SQLite (test-env.ts).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ES256KSigner } from 'did-jwt';
import { createVerifiableCredentialJwt } from 'did-jwt-vc';
import { greenBondTerms } from '../testing.js';
import { reconcileRevocations } from './revocations.js';
import {
  type Actor,
  actor,
  call,
  certification,
  certifierClaims,
  certify,
  code,
  investorClaims,
  issue,
  issuerOrgClaims,
  present,
  tokenFor,
  useOfferingsHttp,
} from './test-env.js';

const env = useOfferingsHttp();

/** The same credential, signed by `rogue` instead of the trusted issuer (status entry and all). */
async function signedBy(rogue: Actor, jwt: string) {
  const p = JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString('utf8'));
  const { iss: _iss, ...payload } = p;
  return createVerifiableCredentialJwt(payload, {
    did: rogue.did,
    signer: ES256KSigner(Buffer.from(rogue.wallet.privateKey.slice(2), 'hex')),
    alg: 'ES256K',
  });
}

const create = (terms: unknown, token?: string) => call('POST', '/services/offerings', { terms }, token);

describe('issuer organisations and certifiers are checked against the trust list', () => {
  const org = actor();
  const ID = 'gb-trust-2031';

  it('refuses to create an offering without a credential, with the wrong type, from an untrusted issuer or of a kind not allowed', async () => {
    env.clock = Date.now();
    const terms = greenBondTerms({ id: ID }, env.clock);
    assert.equal(code(await create(terms)), 'ERR_AUTH_REQUIRED');

    // an AdminCredential is not an issuer organisation's credential any more
    const admin = await issue('AdminCredential', org, { name: 'Ada Admin' });
    assert.equal(code(await present(org, admin.jwt, '/offerings', 'POST')), 'ERR_POLICY_DENIED');
    const investor = await issue('AccreditedInvestorCredential', org, investorClaims('FR'));
    assert.equal(code(await present(org, investor.jwt, '/offerings', 'POST')), 'ERR_POLICY_DENIED');

    // the right type, but signed by a DID the trust list does not name for it
    const real = await issue('OfferingIssuerCredential', org, issuerOrgClaims());
    const rogue = await signedBy(actor(), real.jwt);
    const untrusted = await present(org, rogue, '/offerings', 'POST');
    assert.deepEqual([untrusted.status, code(untrusted)], [401, 'ERR_VC_UNTRUSTED_ISSUER']);

    // a credential for equity offerings only does not create a green bond
    const equityOnly = await issue('OfferingIssuerCredential', org, issuerOrgClaims({ offeringKinds: ['equity'] }));
    const narrow = await create(terms, await tokenFor(org, equityOnly.jwt, '/offerings', 'POST'));
    assert.deepEqual([narrow.status, code(narrow)], [403, 'ERR_OFFERING_ISSUER_NOT_AUTHORISED']);

    // a revoked one opens nothing
    const revoked = await issue('OfferingIssuerCredential', org, issuerOrgClaims());
    assert.ok((await env.issuer.revoke(revoked.id, { actor: 'operator', reason: 'licence withdrawn' })).ok);
    assert.equal(code(await present(org, revoked.jwt, '/offerings', 'POST')), 'ERR_VC_REVOKED');

    const greenBonds = await issue('OfferingIssuerCredential', org, issuerOrgClaims({ offeringKinds: ['green-bond'] }));
    const created = await create(terms, await tokenFor(org, greenBonds.jwt, '/offerings', 'POST'));
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal(created.body.issuer, org.did);
  });

  it('accepts a certification only from a certifier the trust list trusts, signed by that certifier, in its schemes', async () => {
    env.clock = Date.now();
    const path = `/offerings/${ID}/certification`;
    const certifier = actor();
    const cert = await certification(certifier, ID);
    assert.equal(code(await call('POST', `/services${path}`, { credential: cert })), 'ERR_AUTH_REQUIRED');

    // wrong type: an investor's or an issuer organisation's credential does not make a certifier
    const investor = await issue('AccreditedInvestorCredential', certifier, investorClaims('FR'));
    assert.equal(code(await present(certifier, investor.jwt, path, 'POST')), 'ERR_POLICY_DENIED');
    const orgVc = await issue('OfferingIssuerCredential', certifier, issuerOrgClaims({ legalName: 'Not A Certifier' }));
    assert.equal(code(await present(certifier, orgVc.jwt, path, 'POST')), 'ERR_POLICY_DENIED');

    // a CertifierCredential from an issuer the trust list does not trust for it
    const real = await issue('CertifierCredential', certifier, certifierClaims());
    const untrusted = await present(certifier, await signedBy(actor(), real.jwt), path, 'POST');
    assert.deepEqual([untrusted.status, code(untrusted)], [401, 'ERR_VC_UNTRUSTED_ISSUER']);

    // a certifier that only accredits investors does not certify offerings
    const accreditor = await issue('CertifierCredential', certifier, certifierClaims({ certifiesOfferings: false }));
    assert.equal(code(await present(certifier, accreditor.jwt, path, 'POST')), 'ERR_POLICY_DENIED');

    // trusted, but the certification is signed by somebody else (an untrusted certifier)
    const stranger = actor();
    const notTheirs = await certify(certifier, real.jwt, ID, await certification(stranger, ID));
    assert.deepEqual([notTheirs.status, code(notTheirs)], [403, 'ERR_OFFERING_CERTIFIER_NOT_TRUSTED']);

    // trusted for another scheme only
    const euOnly = await issue(
      'CertifierCredential',
      certifier,
      certifierClaims({ schemes: ['EU Green Bond Standard'] }),
    );
    const scheme = await certify(certifier, euOnly.jwt, ID);
    assert.deepEqual([scheme.status, code(scheme)], [403, 'ERR_OFFERING_CERTIFIER_NOT_TRUSTED']);

    // a revoked CertifierCredential
    const revoked = await issue('CertifierCredential', certifier, certifierClaims());
    assert.ok((await env.issuer.revoke(revoked.id, { actor: 'operator', reason: 'accreditation lost' })).ok);
    assert.equal(code(await present(certifier, revoked.jwt, path, 'POST')), 'ERR_VC_REVOKED');

    const before = await call('GET', `/services/offerings/${ID}`);
    assert.equal(before.body.certified, false, 'no refusal left a badge behind');
    const ok = await certify(certifier, real.jwt, ID, cert);
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    assert.equal(ok.body.certified, true);
    assert.equal((ok.body.certification as { certifier: string }).certifier, certifier.did);

    // the badge shows only while the certifier's credential verifies: suspended → withdrawn, resumed → back
    const badge = async () => (await call('GET', `/services/offerings/${ID}`)).body.certified;
    const settle = () => env.revocations.idle();
    assert.ok((await env.issuer.suspend(real.id, { actor: 'operator', reason: 'audit' })).ok);
    await settle();
    assert.equal(await badge(), false, 'suspended certifier: no badge');
    assert.ok((await env.issuer.resume(real.id, { actor: 'operator', reason: 'audit passed' })).ok);
    await settle();
    assert.equal(await badge(), true);

    // revoked while nobody listened: the next start withdraws it
    env.disconnect();
    try {
      assert.ok((await env.issuer.revoke(real.id, { actor: 'operator', reason: 'accreditation lost' })).ok);
      assert.equal(await badge(), true, 'nobody listened');
      const caughtUp = await reconcileRevocations({
        issuer: env.issuer,
        service: env.service,
        store: env.store,
        outbox: env.outbox,
        registryAddress: env.contracts.EligibilityRegistry,
        provider: env.provider,
      });
      assert.equal(caughtUp.badges, 1);
      assert.equal(await badge(), false);
    } finally {
      env.reconnect();
    }
  });
});
