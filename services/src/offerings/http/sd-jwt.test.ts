/**
 * Investors present over OpenID4VP in either format, through the one credential core: an SD-JWT VC disclosing only
 * what the subscription policy asks is taken like a JWT VC (the offering reads the core's normalised claims), its
 * investment limit travels in the clear so it cannot be kept back, and a claim the policy needs that the holder hides
 * is refused. Real anvil, the real issuer (both formats) and verifier, Tessera's wallet library, HTTP.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type PresentationConsent, presentOpenid4vp, TesseraWallet } from '@tessera/wallet';
import { createJWT } from 'did-jwt';
import { greenBondTerms } from '../testing.js';
import { actor, call, code, issue, issuerOrgClaims, tokenFor, useOfferingsHttp } from './test-env.js';

const env = useOfferingsHttp();
const ID = 'gb-sd-jwt-2030';
const SUBSCRIBE = `/offerings/${ID}/subscriptions`;
const dirs: string[] = [];

/** A wallet holding an AccreditedInvestorCredential with `claims`, in the format asked, delivered by the issuer. */
async function investorWallet(claims: Record<string, unknown>, format: 'jwt_vc_json' | 'dc+sd-jwt') {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-offerings-wallet-'));
  dirs.push(dir);
  const w = TesseraWallet.init(dir, { chainId: Number(env.chain.chainId), passphrase: 'offerings-test-passphrase' });
  assert.ok(w.ok);
  const issued = await env.issuer.issue({ type: 'AccreditedInvestorCredential', subject: w.value.did, claims });
  assert.ok(issued.ok, JSON.stringify(!issued.ok && issued.error));
  const delivered = await env.issuer.deliver(issued.value.id, { format, holderKid: `${w.value.did}#controller` });
  assert.ok(delivered.ok, JSON.stringify(!delivered.ok && delivered.error));
  const held =
    format === 'dc+sd-jwt'
      ? w.value.addSdJwtCredential(delivered.value.credential)
      : w.value.addCredential(delivered.value.credential);
  assert.ok(held.ok, JSON.stringify(!held.ok && held.error));
  return { wallet: w.value, credential: delivered.value.credential };
}

/** The wallet answers the verifier's OpenID4VP request for subscribing; the access token and what it was asked. */
async function presentFor(wallet: TesseraWallet, format: 'jwt_vc_json' | 'dc+sd-jwt') {
  let asked: PresentationConsent | undefined;
  const r = await presentOpenid4vp(
    wallet,
    `${env.base}/verifier`,
    { resource: SUBSCRIBE, action: 'POST' },
    {
      responseMode: 'direct_post',
      preferFormat: format,
      confirm: (c) => {
        asked = c;
        return true;
      },
    },
  );
  assert.ok(r.ok, JSON.stringify(!r.ok && r.error));
  return { token: r.value.access_token, asked: asked! };
}

const investor = (jurisdiction: string, over: Record<string, unknown> = {}) => ({
  jurisdiction,
  investorType: 'individual',
  accreditationLevel: 'accredited',
  kycLevel: 'standard',
  ...over,
});

after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('subscribing with an SD-JWT VC or a JWT VC over OpenID4VP', () => {
  before(async () => {
    env.clock = Date.now();
    const org = actor();
    const orgVc = await issue('OfferingIssuerCredential', org, issuerOrgClaims());
    const t = await tokenFor(org, orgVc.jwt, '/offerings', 'POST');
    const terms = greenBondTerms(
      { id: ID, certificationRequired: false, allowedJurisdictions: ['FR', 'DE'] },
      env.clock,
    );
    const created = await call('POST', '/services/offerings', { terms }, t);
    assert.equal(created.status, 201, JSON.stringify(created.body));
  });

  it('takes an SD-JWT VC that discloses only what the policy asks, like a JWT VC', async () => {
    const sd = await investorWallet(investor('FR', { investorType: 'entity', kycLevel: 'enhanced' }), 'dc+sd-jwt');
    const { token, asked } = await presentFor(sd.wallet, 'dc+sd-jwt');
    assert.deepEqual(
      [...(asked.asks[0]?.claims ?? [])].sort(),
      ['accreditationLevel', 'investorType', 'jurisdiction', 'kycLevel'],
      'the policy asks for what the offering decides on',
    );
    const sub = await call('POST', `/services${SUBSCRIBE}`, { quantity: 100 }, token);
    assert.equal(sub.status, 201, JSON.stringify(sub.body));
    assert.equal(sub.body.jurisdiction, 'FR');
    assert.equal(sub.body.wallet, sd.wallet.did.split(':').at(-1)?.toLowerCase());

    const jwt = await investorWallet(investor('DE'), 'jwt_vc_json');
    const j = await presentFor(jwt.wallet, 'jwt_vc_json');
    const sub2 = await call('POST', `/services${SUBSCRIBE}`, { quantity: 100 }, j.token);
    assert.equal(sub2.status, 201, JSON.stringify(sub2.body));
    assert.equal(sub2.body.jurisdiction, 'DE');
  });

  it('keeps the investment limit in the clear: an SD-JWT VC cannot hide it to buy above it', async () => {
    const limited = await investorWallet(
      investor('DE', { investmentLimit: { amount: 1_000_000, currency: 'EUR' } }),
      'dc+sd-jwt',
    );
    // the limit is no disclosure: the issuer-signed part carries it
    const payload = JSON.parse(Buffer.from(limited.credential.split('~')[0]!.split('.')[1]!, 'base64url').toString());
    assert.deepEqual(payload.investmentLimit, { amount: 1_000_000, currency: 'EUR' });
    assert.equal(payload.jurisdiction, undefined, 'the other claims are disclosures');
    const { token } = await presentFor(limited.wallet, 'dc+sd-jwt');
    // 200 units × 100.00 € = 20,000.00 € > 10,000.00 €
    assert.equal(
      code(await call('POST', `/services${SUBSCRIBE}`, { quantity: 200 }, token)),
      'ERR_OFFERING_INVESTOR_LIMIT',
    );
    const ok = await call('POST', `/services${SUBSCRIBE}`, { quantity: 100 }, token);
    assert.equal(ok.status, 201, JSON.stringify(ok.body));
  });

  it('refuses an SD-JWT VC that hides a claim the policy needs', async () => {
    const hider = await investorWallet(investor('FR', { accreditationLevel: 'professional' }), 'dc+sd-jwt');
    const oid4vp = env.verifier.oid4vp!;
    const created = await oid4vp.createRequest({ resource: SUBSCRIBE, action: 'POST', responseMode: 'direct_post' });
    assert.ok(created.ok);
    const object = await oid4vp.requestObject(created.value.id);
    assert.ok(object.ok);
    const request = JSON.parse(Buffer.from(object.value.split('.')[1]!, 'base64url').toString()) as {
      nonce: string;
      state: string;
      client_id: string;
    };
    // every disclosure but accreditationLevel, and a key binding JWT over exactly that presentation
    const [issuerJwt, ...rest] = hider.credential.split('~');
    const disclosures = rest.filter((d) => d !== '');
    const kept = disclosures.filter(
      (d) => JSON.parse(Buffer.from(d, 'base64url').toString())[1] !== 'accreditationLevel',
    );
    assert.equal(kept.length, disclosures.length - 1);
    const presented = `${[issuerJwt, ...kept].join('~')}~`;
    const kb = await createJWT(
      {
        iat: Math.floor(Date.now() / 1000),
        aud: request.client_id,
        nonce: request.nonce,
        sd_hash: createHash('sha256').update(presented).digest('base64url'),
      },
      { issuer: hider.wallet.did, signer: hider.wallet.signer() },
      { alg: 'ES256K', typ: 'kb+jwt' as never },
    );
    const answer = await oid4vp.respond(created.value.id, {
      state: request.state,
      vp_token: JSON.stringify({ req0_sd: [`${presented}${kb}`] }),
    });
    assert.equal(answer.ok ? 'ok' : answer.error.code, 'ERR_POLICY_DENIED');
    assert.match(!answer.ok ? answer.error.message : '', /accreditationLevel/);
  });
});
