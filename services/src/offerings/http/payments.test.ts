/**
 * Coupons and redemption of a green bond over HTTP: the schedule from the terms, coupon records per holder
 * at the record date pro rata to holdings (withheld from a holder whose eligibility was removed), and redemption at
 * maturity (token paused, principal recorded, units burnt by the agent). Real anvil, issuer, verifier and SQLite.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SecurityToken__factory } from '@tessera/contracts';
import { addMonths } from '../terms.js';
import { greenBondTerms } from '../testing.js';
import {
  actor,
  call,
  certifierClaims,
  certify,
  code,
  fund,
  investorClaims,
  issue,
  issuerOrgClaims,
  reverts,
  tokenFor,
  useOfferingsHttp,
} from './test-env.js';

const env = useOfferingsHttp();

interface Payment {
  wallet: string;
  balance: string;
  amount: number;
  currency: string;
  status: string;
  blockNumber: number;
}

describe('coupons and redemption over HTTP', () => {
  const ID = 'gb-coupons-2028';
  const [org, certifier, alice, bob, carol] = [actor(), actor(), actor(), actor(), actor()];

  it('records coupons per holder of record and redeems at maturity', async () => {
    env.clock = Date.now();
    await fund(alice);
    const base = greenBondTerms({ id: ID, allowedJurisdictions: ['FR', 'DE'], maxOversubscription: 1 }, env.clock);
    // 3.50 % a year on 100.00 EUR, twice a year, for two years
    const terms = {
      ...base,
      maturesAt: addMonths(base.closesAt, 24).toISOString(),
      coupon: { rateBps: 350, perYear: 2 },
    };
    const orgVc = await issue('OfferingIssuerCredential', org, issuerOrgClaims());
    const created = await call(
      'POST',
      '/services/offerings',
      { terms },
      await tokenFor(org, orgVc.jwt, '/offerings', 'POST'),
    );
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const certifierVc = await issue('CertifierCredential', certifier, certifierClaims());
    assert.equal((await certify(certifier, certifierVc.jwt, ID)).status, 200);

    const schedule = await call('GET', `/services/offerings/${ID}/coupons`);
    const coupons = schedule.body.items as { number: number; recordAt: string; paysAt: string; perUnit: string }[];
    assert.deepEqual(
      coupons.map((c) => [c.number, c.perUnit]),
      [
        [1, '175'],
        [2, '175'],
        [3, '175'],
        [4, '175'],
      ],
    );
    assert.equal(coupons[3]!.paysAt, terms.maturesAt);

    // three investors subscribe 300, 200 and 100 units; allocation mints them
    const vcs = new Map<string, Awaited<ReturnType<typeof issue>>>();
    for (const [who, q, j] of [
      [alice, 300, 'FR'],
      [bob, 200, 'DE'],
      [carol, 100, 'FR'],
    ] as const) {
      const vc = await issue('AccreditedInvestorCredential', who, investorClaims(j));
      vcs.set(who.did, vc);
      const path = `/offerings/${ID}/subscriptions`;
      const sub = await call('POST', `/services${path}`, { quantity: q }, await tokenFor(who, vc.jwt, path, 'POST'));
      assert.equal(sub.status, 201, JSON.stringify(sub.body));
    }
    const issuerToken = (path: string) => tokenFor(org, orgVc.jwt, path, 'POST');
    const record = (n: number | string, token: string) =>
      call('POST', `/services/offerings/${ID}/coupons/${n}/record`, undefined, token);
    const record1 = await issuerToken(`/offerings/${ID}/coupons/1/record`);
    assert.equal(code(await record(1, record1)), 'ERR_OFFERING_STATE', 'nothing to record before allocation');
    env.clock = Date.parse(terms.closesAt) + 1000;
    const alloc = `/offerings/${ID}/allocation`;
    const allocated = await call('POST', `/services${alloc}`, undefined, await issuerToken(alloc));
    assert.deepEqual(allocated.body.mint, { minted: 3, pending: 0, failed: [] }, JSON.stringify(allocated.body));
    const token = SecurityToken__factory.connect(created.body.tokenAddress as string, env.provider);

    // Alice sells 50 units to Bob; Carol's credential is revoked: she keeps her units but is not eligible
    await (await token.connect(alice.wallet.connect(env.provider)).transfer(bob.wallet.address, 50)).wait();
    assert.ok((await env.issuer.revoke(vcs.get(carol.did)!.id, { actor: 'operator', reason: 'KYC expired' })).ok);
    await env.revocations.idle();
    await env.outbox.flush();

    // before the record date: refused; an unknown coupon: refused; another organisation: refused
    assert.equal(code(await record(1, record1)), 'ERR_OFFERING_STATE');
    env.clock = Date.parse(coupons[0]!.recordAt);
    const record9 = await issuerToken(`/offerings/${ID}/coupons/9/record`);
    assert.deepEqual(
      [(await record(9, record9)).status, code(await record(9, record9))],
      [404, 'ERR_OFFERING_COUPON_UNKNOWN'],
    );
    const other = actor();
    const otherVc = await issue('OfferingIssuerCredential', other, issuerOrgClaims({ legalName: 'Other SA' }));
    const otherToken = await tokenFor(other, otherVc.jwt, `/offerings/${ID}/coupons/1/record`, 'POST');
    assert.equal(code(await record(1, otherToken)), 'ERR_FORBIDDEN');
    assert.equal(code(await call('POST', `/services/offerings/${ID}/coupons/1/record`)), 'ERR_AUTH_REQUIRED');

    // coupon 1: 1.75 EUR a unit to each holder of record, pro rata to the holding; Carol's withheld
    const first = await record(1, record1);
    assert.equal(first.status, 200, JSON.stringify(first.body));
    const owed = (first.body.payments as Payment[]).map((p) => [p.wallet, p.balance, p.amount, p.status]);
    const w = (a: typeof alice) => a.wallet.address.toLowerCase();
    assert.deepEqual(
      owed,
      [
        [w(alice), '250', 250 * 175, 'due'],
        [w(bob), '250', 250 * 175, 'due'],
        [w(carol), '100', 100 * 175, 'withheld'],
      ].sort((x, y) => String(x[0]).localeCompare(String(y[0]))),
    );
    assert.ok((first.body.payments as Payment[]).every((p) => p.currency === 'EUR'));
    // recorded once: a later call (after more trades) returns the same record
    await (await token.connect(alice.wallet.connect(env.provider)).transfer(bob.wallet.address, 50)).wait();
    const again = await record(1, record1);
    assert.deepEqual(again.body.payments, first.body.payments);
    const listed = await call('GET', `/services/offerings/${ID}/coupons/1/payments`);
    assert.deepEqual(listed.body.items, first.body.payments);

    // redemption: not before maturity; then the token is paused, principal recorded, every unit burnt
    const redeem = `/offerings/${ID}/redemption`;
    const redeemToken = await issuerToken(redeem);
    assert.equal(code(await call('POST', `/services${redeem}`, undefined, redeemToken)), 'ERR_OFFERING_STATE');
    env.clock = Date.parse(terms.maturesAt);
    const redeemed = await call('POST', `/services${redeem}`, undefined, redeemToken);
    assert.equal(redeemed.status, 200, JSON.stringify(redeemed.body));
    assert.deepEqual(redeemed.body.burn, { burned: 3, pending: 0, failed: [] });
    assert.equal((redeemed.body.offering as { status: string }).status, 'redeemed');
    const principal = (redeemed.body.payments as Payment[]).map((p) => [p.wallet, p.balance, p.amount, p.status]);
    assert.deepEqual(
      principal,
      [
        [w(alice), '200', 200 * 100_00, 'due'],
        [w(bob), '300', 300 * 100_00, 'due'],
        [w(carol), '100', 100 * 100_00, 'withheld'],
      ].sort((x, y) => String(x[0]).localeCompare(String(y[0]))),
    );
    assert.equal(await token.totalSupply(), 0n);
    assert.equal(await token.paused(), true);
    await reverts(token.connect(alice.wallet.connect(env.provider)).transfer(bob.wallet.address, 0), 'TokenPaused');
    const twice = await call('POST', `/services${redeem}`, undefined, redeemToken);
    assert.deepEqual(twice.body.payments, redeemed.body.payments, 'idempotent');
    assert.deepEqual((await call('GET', `/services${redeem}`)).body.items, redeemed.body.payments);
    assert.deepEqual((await call('GET', `/services/offerings/${ID}/holdings`)).body.items, []);

    // the routes are in the OpenAPI document, the issuer's behind a bearer token
    const paths = (await call('GET', '/services/offerings/openapi.json')).body.paths as Record<
      string,
      Record<string, { security?: unknown[] }>
    >;
    assert.ok(paths['/{offeringId}/coupons']?.get);
    assert.ok(paths['/{offeringId}/coupons/{coupon}/record']?.post?.security);
    assert.ok(paths['/{offeringId}/coupons/{coupon}/payments']?.get);
    assert.ok(paths['/{offeringId}/redemption']?.post?.security);
  });
});
