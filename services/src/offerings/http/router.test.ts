/**
 * The token-offering HTTP API end to end, in the environment of test-env.ts: real anvil, the real issuer
 * and verifier, SQLite, the outbox, HTTP on an ephemeral port.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { EligibilityRegistry__factory, readEligibility, SecurityToken__factory } from '@tessera/contracts';
import { TRANSFER_WITH_AUTHORIZATION_TYPES, transferAuthorizationDomain } from '@tessera/protocol';
import { hexlify, randomBytes } from 'ethers';
import { greenBondTerms } from '../testing.js';
import { reconcileRevocations } from './revocations.js';
import {
  type Actor,
  type Body,
  actor,
  call,
  certification,
  certifierClaims,
  certify,
  code,
  fund,
  investorClaims,
  issue,
  issuerOrgClaims,
  present,
  RELAYED_TRANSFERS_IN_TESTS,
  reverts,
  tokenFor,
  useOfferingsHttp,
} from './test-env.js';

const env = useOfferingsHttp();

describe('token offerings over HTTP with the real issuer, verifier and chain', () => {
  const orgAdmin = actor();
  const certifier = actor();
  const [alice, bob, stranger] = [actor(), actor(), actor()];
  const ID = 'gb-http-2030';
  const subscriptions = `/offerings/${ID}/subscriptions`;

  it('creates, certifies, subscribes two investors, allocates and mints, trades, and revocation blocks a transfer', async () => {
    env.clock = Date.now();
    await fund(alice);
    await fund(bob);
    const adminVc = await issue('OfferingIssuerCredential', orgAdmin, issuerOrgClaims());
    const certifierVc = await issue('CertifierCredential', certifier, certifierClaims());

    // create: without a credential, refused; with the issuer organisation's credential, the offering and its token
    const terms = greenBondTerms({ id: ID, allowedJurisdictions: ['FR', 'DE'] }, env.clock);
    assert.equal(code(await call('POST', '/services/offerings', { terms })), 'ERR_AUTH_REQUIRED');
    const createToken = await tokenFor(orgAdmin, adminVc.jwt, '/offerings', 'POST');
    assert.equal(
      code(await call('POST', '/services/offerings', { terms: { ...terms, amount: 0 } }, createToken)),
      'ERR_OFFERING_TERMS_INVALID',
    );
    const created = await call('POST', '/services/offerings', { terms }, createToken);
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal(created.body.issuer, orgAdmin.did);
    assert.equal(created.location, `/services/offerings/${ID}`);
    assert.equal(created.body.certified, false);
    const tokenAddress = created.body.tokenAddress as string;
    assert.match(tokenAddress, /^0x[0-9a-f]{40}$/);
    assert.equal(code(await call('POST', '/services/offerings', { terms }, createToken)), 'ERR_OFFERING_EXISTS');

    // subscriptions wait for the certification
    const aliceVc = await issue('AccreditedInvestorCredential', alice, investorClaims('FR'));
    const bobVc = await issue('AccreditedInvestorCredential', bob, investorClaims('DE'));
    const aliceToken = await tokenFor(alice, aliceVc.jwt, subscriptions, 'POST');
    const bobToken = await tokenFor(bob, bobVc.jwt, subscriptions, 'POST');
    assert.equal(
      code(await call('POST', `/services${subscriptions}`, { quantity: 600 }, aliceToken)),
      'ERR_OFFERING_NOT_CERTIFIED',
    );

    // certify: a credential about another offering, a forged one, or the issuer certifying itself (even with a
    // CertifierCredential) is refused; the trusted certifier's is not
    const other = await certify(certifier, certifierVc.jwt, ID, await certification(certifier, 'gb-other'));
    assert.equal(code(other), 'ERR_OFFERING_CERTIFICATION_INVALID');
    const orgAsCertifier = await issue('CertifierCredential', orgAdmin, certifierClaims({ legalName: 'Self' }));
    assert.equal(code(await certify(orgAdmin, orgAsCertifier.jwt, ID)), 'ERR_OFFERING_CERTIFICATION_INVALID');
    const forged = (await certification(certifier, ID)).replace(/\.[^.]+$/, `.${'A'.repeat(86)}`);
    assert.equal(code(await certify(certifier, certifierVc.jwt, ID, forged)), 'ERR_OFFERING_CERTIFICATION_INVALID');
    const certified = await certify(certifier, certifierVc.jwt, ID);
    assert.equal(certified.status, 200, JSON.stringify(certified.body));
    assert.equal(certified.body.certified, true);
    assert.equal((certified.body.certification as { certifier: string }).certifier, certifier.did);

    // two verified investors subscribe (1,200 units for 1,000: the book allows 2×)
    const a = await call('POST', `/services${subscriptions}`, { quantity: 600 }, aliceToken);
    assert.equal(a.status, 201, JSON.stringify(a.body));
    assert.equal(a.body.wallet, alice.wallet.address.toLowerCase());
    assert.equal(a.body.jurisdiction, 'FR');
    const b = await call('POST', `/services${subscriptions}`, { quantity: 600 }, bobToken);
    assert.equal(b.status, 201, JSON.stringify(b.body));
    assert.equal(
      code(await call('POST', `/services${subscriptions}`, { quantity: 10 }, aliceToken)),
      'ERR_OFFERING_ALREADY_SUBSCRIBED',
    );

    // the lists: every offering, and my own subscriptions
    const list = await call('GET', '/services/offerings');
    const listed = (list.body.items as { id: string; subscribed: number }[]).find((o) => o.id === ID);
    assert.equal(listed?.subscribed, 1200);
    const mineToken = await tokenFor(alice, aliceVc.jwt, '/offerings/me/subscriptions', 'GET');
    const mine = await call('GET', '/services/offerings/me/subscriptions', undefined, mineToken);
    assert.deepEqual(
      (mine.body.items as { offeringId: string; quantity: number }[]).map((s) => [s.offeringId, s.quantity]),
      [[ID, 600]],
    );

    // allocation: not before the close, not by another admin; then pro rata 500 each, minted through the outbox
    const alloc = `/offerings/${ID}/allocation`;
    const allocToken = await tokenFor(orgAdmin, adminVc.jwt, alloc, 'POST');
    assert.equal(code(await call('POST', `/services${alloc}`, undefined, allocToken)), 'ERR_OFFERING_STATE');
    const otherAdmin = actor();
    const otherVc = await issue('OfferingIssuerCredential', otherAdmin, issuerOrgClaims({ legalName: 'Someone Else' }));
    const otherToken = await tokenFor(otherAdmin, otherVc.jwt, alloc, 'POST');
    assert.equal(code(await call('POST', `/services${alloc}`, undefined, otherToken)), 'ERR_FORBIDDEN');
    assert.equal(code(await present(bob, bobVc.jwt, alloc, 'POST')), 'ERR_POLICY_DENIED');
    env.clock = Date.parse(terms.closesAt) + 1000;
    const allocated = await call('POST', `/services${alloc}`, undefined, allocToken);
    assert.equal(allocated.status, 200, JSON.stringify(allocated.body));
    assert.deepEqual(
      (allocated.body.allocations as { allocated: number }[]).map((x) => x.allocated),
      [500, 500],
    );
    assert.deepEqual(allocated.body.mint, { minted: 2, pending: 0, failed: [] });
    const token = SecurityToken__factory.connect(tokenAddress, env.provider);
    assert.equal(await token.balanceOf(alice.wallet.address), 500n);
    assert.equal(await token.balanceOf(bob.wallet.address), 500n);
    const again = await call('POST', `/services${alloc}`, undefined, allocToken);
    assert.equal((again.body.mint as { minted: number }).minted, 2, 'a retry mints nothing more');
    assert.equal(await token.totalSupply(), 1000n);

    // a transfer between the two investors goes through; the pre-flight says why one to a stranger would not
    const check = (from: Actor, to: Actor, amount: number) =>
      call(
        'GET',
        `/services/offerings/${ID}/transfer-check?from=${from.wallet.address}&to=${to.wallet.address}&amount=${amount}`,
      );
    assert.equal((await check(alice, bob, 100)).body.allowed, true);
    await (await token.connect(alice.wallet.connect(env.provider)).transfer(bob.wallet.address, 100)).wait();
    assert.equal(await token.balanceOf(bob.wallet.address), 600n);
    const toStranger = await check(alice, stranger, 1);
    assert.deepEqual(
      [toStranger.body.allowed, toStranger.body.code, toStranger.body.name, toStranger.body.revertsWith],
      [false, 3, 'RECEIVER_NOT_ELIGIBLE', 'NotEligible'],
    );
    await reverts(
      token.connect(alice.wallet.connect(env.provider)).transfer(stranger.wallet.address, 1),
      'NotEligible',
    );
    const holdings = await call('GET', `/services/offerings/${ID}/holdings`);
    assert.deepEqual(
      holdings.body.items,
      [
        { wallet: alice.wallet.address.toLowerCase(), balance: '400' },
        { wallet: bob.wallet.address.toLowerCase(), balance: '600' },
      ].sort((x, y) => x.wallet.localeCompare(y.wallet)),
    );

    // a transfer the holder signs (EIP-3009) and the relayer sends: Bob pays no gas; replay, forgery, expiry and an
    // ineligible receiver are refused with their codes before anything is sent
    const transfers = `/services/offerings/${ID}/transfers`;
    const { chainId } = await env.provider.getNetwork();
    const domain = transferAuthorizationDomain({
      name: await token.name(),
      chainId: Number(chainId),
      verifyingContract: tokenAddress,
    });
    const signed = async (signer: Actor, from: Actor, to: Actor, value: string, validBefore?: number) => {
      const authorization = {
        from: from.wallet.address,
        to: to.wallet.address,
        value,
        validAfter: 0,
        validBefore: validBefore ?? Math.floor(Date.now() / 1000) + 3600,
        nonce: hexlify(randomBytes(32)),
      };
      const signature = await signer.wallet.signTypedData(domain, TRANSFER_WITH_AUTHORIZATION_TYPES, authorization);
      return { authorization, signature };
    };
    const bobEth = await env.provider.getBalance(bob.wallet.address);
    const gift = await signed(bob, bob, alice, '50');
    const relayed = await call('POST', transfers, gift);
    assert.equal(relayed.status, 200, JSON.stringify(relayed.body));
    assert.equal(relayed.body.from, bob.wallet.address.toLowerCase());
    assert.match(relayed.body.txHash as string, /^0x[0-9a-f]{64}$/);
    assert.equal(await token.balanceOf(alice.wallet.address), 450n);
    assert.equal(await token.balanceOf(bob.wallet.address), 550n);
    assert.equal(await env.provider.getBalance(bob.wallet.address), bobEth, 'the relayer paid the gas');
    assert.equal(code(await call('POST', transfers, gift)), 'ERR_OFFERING_AUTHORIZATION_USED');
    const toNobody = await call('POST', transfers, await signed(bob, bob, stranger, '1'));
    assert.equal(code(toNobody), 'ERR_OFFERING_TRANSFER_RESTRICTED');
    assert.deepEqual((toNobody.body.error as { details?: unknown }).details, {
      code: 3,
      name: 'RECEIVER_NOT_ELIGIBLE',
      revertsWith: 'NotEligible',
    });
    assert.equal(
      code(await call('POST', transfers, await signed(bob, bob, alice, '100000'))),
      'ERR_OFFERING_TRANSFER_RESTRICTED',
    );
    assert.equal(
      code(await call('POST', transfers, await signed(alice, bob, alice, '1'))),
      'ERR_OFFERING_AUTHORIZATION_INVALID',
      "Alice cannot sign Bob's transfer",
    );
    const tampered = await signed(bob, bob, alice, '1');
    tampered.authorization.value = '2';
    assert.equal(code(await call('POST', transfers, tampered)), 'ERR_OFFERING_AUTHORIZATION_INVALID');
    const past = Math.floor(Date.now() / 1000) - 10;
    assert.equal(
      code(await call('POST', transfers, await signed(bob, bob, alice, '1', past))),
      'ERR_OFFERING_AUTHORIZATION_INVALID',
    );
    assert.equal(code(await call('POST', transfers, { ...gift, signature: '0x12' })), 'ERR_VALIDATION');
    const huge = { ...gift.authorization, value: `9${'0'.repeat(77)}` };
    assert.equal(code(await call('POST', transfers, { ...gift, authorization: huge })), 'ERR_VALIDATION');
    assert.equal(await token.balanceOf(bob.wallet.address), 550n, 'nothing else moved');
    // and back, so the rest of the story keeps its figures
    assert.equal((await call('POST', transfers, await signed(alice, alice, bob, '50'))).status, 200);
    // the relayer pays the gas, so each holder has a budget of relayed transfers per offering and hour (the refused
    // ones above never reached the outbox and do not count); Bob has used one
    for (let i = 1; i < RELAYED_TRANSFERS_IN_TESTS; i++) {
      assert.equal((await call('POST', transfers, await signed(bob, bob, alice, '1'))).status, 200);
    }
    const overBudget = await call('POST', transfers, await signed(bob, bob, alice, '1'));
    assert.deepEqual([overBudget.status, code(overBudget)], [429, 'ERR_RATE_LIMITED']);
    assert.equal(
      (await call('POST', transfers, await signed(alice, alice, bob, `${RELAYED_TRANSFERS_IN_TESTS - 1}`))).status,
      200,
      "Alice's budget is her own",
    );
    assert.equal(await token.balanceOf(bob.wallet.address), 600n);

    // revoking Alice's credential at the issuer removes her eligibility on chain: her next transfer reverts
    const revoked = await env.issuer.revoke(aliceVc.id, { actor: 'operator', reason: 'accreditation withdrawn' });
    assert.ok(revoked.ok && revoked.value.changed);
    await env.revocations.idle();
    await env.outbox.flush();
    const registry = EligibilityRegistry__factory.connect(env.contracts.EligibilityRegistry, env.provider);
    assert.equal((await readEligibility(registry, alice.wallet.address)).expiry, 0);
    assert.equal((await readEligibility(registry, bob.wallet.address)).country, 'DE', 'Bob keeps his record');
    const blocked = await check(alice, bob, 1);
    assert.deepEqual([blocked.body.code, blocked.body.name], [2, 'SENDER_NOT_ELIGIBLE']);
    await reverts(token.connect(alice.wallet.connect(env.provider)).transfer(bob.wallet.address, 1), 'NotEligible');
    await (await token.connect(bob.wallet.connect(env.provider)).transfer(bob.wallet.address, 1)).wait();
    // and her old token no longer opens anything
    assert.equal(
      code(await call('GET', '/services/offerings/me/subscriptions', undefined, mineToken)),
      'ERR_VC_REVOKED',
    );

    // suspending Bob's credential freezes his wallet for every token; resuming it unfreezes it
    assert.ok((await env.issuer.suspend(bobVc.id, { actor: 'operator', reason: 'KYC review' })).ok);
    await env.revocations.idle();
    await env.outbox.flush();
    const frozen = await check(bob, bob, 1);
    assert.deepEqual([frozen.body.code, frozen.body.name], [6, 'SENDER_FROZEN']);
    await reverts(token.connect(bob.wallet.connect(env.provider)).transfer(bob.wallet.address, 1), 'WalletFrozen');
    assert.ok((await env.issuer.resume(bobVc.id, { actor: 'operator', reason: 'KYC review done' })).ok);
    await env.revocations.idle();
    await env.outbox.flush();
    assert.equal((await check(bob, bob, 1)).body.allowed, true);
    await (await token.connect(bob.wallet.connect(env.provider)).transfer(bob.wallet.address, 1)).wait();
  });

  describe('refusals', () => {
    const OPEN = 'gb-refusals';
    const path = `/offerings/${OPEN}/subscriptions`;
    let adminVcJwt: string;

    before(async () => {
      env.clock = Date.now();
      adminVcJwt = (await issue('OfferingIssuerCredential', orgAdmin, issuerOrgClaims())).jwt;
      const t = await tokenFor(orgAdmin, adminVcJwt, '/offerings', 'POST');
      const terms = greenBondTerms(
        { id: OPEN, allowedJurisdictions: ['FR', 'DE'], certificationRequired: false, maxSubscription: 100 },
        env.clock,
      );
      assert.equal((await call('POST', '/services/offerings', { terms }, t)).status, 201);
    });

    const subscribe = (token: string | undefined, quantity = 50, extra: Record<string, unknown> = {}) =>
      call('POST', `/services${path}`, { quantity, ...extra }, token);

    it('refuses a subscription without a credential', async () => {
      env.clock = Date.now();
      assert.equal(code(await subscribe(undefined)), 'ERR_AUTH_REQUIRED');
      assert.equal(code(await subscribe('not-a-token')), 'ERR_AUTH_INVALID');
      // a credential of another type does not meet the policy
      const admin = actor();
      const vc = await issue('AdminCredential', admin, { name: 'Not An Investor' });
      assert.equal(code(await present(admin, vc.jwt, path, 'POST')), 'ERR_POLICY_DENIED');
    });

    it('refuses an expired credential', async () => {
      env.clock = Date.now();
      const carol = actor();
      env.issuerClock = Date.now() - 2 * 86_400_000;
      const vc = await issue('AccreditedInvestorCredential', carol, investorClaims('FR'), 86_400).finally(() => {
        env.issuerClock = undefined;
      });
      assert.ok(Date.parse(vc.expiresAt) < Date.now());
      assert.equal(code(await present(carol, vc.jwt, path, 'POST')), 'ERR_VC_EXPIRED');
    });

    it('refuses a revoked credential, at presentation and with a token obtained before', async () => {
      env.clock = Date.now();
      const dave = actor();
      const vc = await issue('AccreditedInvestorCredential', dave, investorClaims('FR'));
      const token = await tokenFor(dave, vc.jwt, path, 'POST');
      assert.ok((await env.issuer.revoke(vc.id, { actor: 'operator', reason: 'test' })).ok);
      assert.equal(code(await subscribe(token)), 'ERR_VC_REVOKED');
      assert.equal(code(await present(dave, vc.jwt, path, 'POST')), 'ERR_VC_REVOKED');
    });

    it('refuses a jurisdiction the offering does not allow, and one no policy allows', async () => {
      env.clock = Date.now();
      const erin = actor();
      const it_ = await issue('AccreditedInvestorCredential', erin, investorClaims('IT'));
      const res = await subscribe(await tokenFor(erin, it_.jwt, path, 'POST'));
      assert.deepEqual([res.status, code(res)], [403, 'ERR_OFFERING_JURISDICTION']);
      const sam = actor();
      const us = await issue('AccreditedInvestorCredential', sam, investorClaims('US'));
      assert.equal(code(await present(sam, us.jwt, path, 'POST')), 'ERR_POLICY_DENIED');
    });

    it('refuses outside the dates, above the maximum, and tokens for another wallet', async () => {
      const frank = actor();
      const vc = await issue('AccreditedInvestorCredential', frank, investorClaims('DE'));
      const token = await tokenFor(frank, vc.jwt, path, 'POST');
      const terms = greenBondTerms({ id: OPEN }, Date.now());
      env.clock = Date.parse(terms.opensAt) - 86_400_000;
      assert.equal(code(await subscribe(token)), 'ERR_OFFERING_NOT_OPEN');
      env.clock = Date.parse(terms.closesAt) + 1;
      assert.equal(code(await subscribe(token)), 'ERR_OFFERING_CLOSED');
      env.clock = Date.now();
      const above = await subscribe(token, 101);
      assert.deepEqual([above.status, code(above)], [422, 'ERR_OFFERING_ABOVE_MAXIMUM']);
      assert.equal(code(await subscribe(token, 5)), 'ERR_OFFERING_BELOW_MINIMUM');
      assert.equal(
        code(await subscribe(token, 50, { wallet: stranger.wallet.address })),
        'ERR_OFFERING_WALLET_NOT_HOLDER',
      );
      assert.equal(code(await subscribe(token, 1.5)), 'ERR_VALIDATION');
      // none of these took anything from the book; a valid ticket still goes through
      const ok = await subscribe(token, 100, { wallet: frank.wallet.address });
      assert.equal(ok.status, 201, JSON.stringify(ok.body));
      const o = await call('GET', `/services/offerings/${OPEN}`);
      assert.equal(o.body.subscribed, 100);
    });

    it('answers bad input with coded errors', async () => {
      const res = await fetch(`${env.base}/services/offerings${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"quantity":',
      });
      assert.deepEqual([res.status, ((await res.json()) as Body).error?.code], [400, 'ERR_JSON_MALFORMED']);
      assert.equal(code(await call('GET', '/services/offerings/nope-nope')), 'ERR_OFFERING_NOT_FOUND');
      assert.equal(code(await call('GET', '/services/offerings/NOPE')), 'ERR_VALIDATION');
      assert.equal(
        code(await call('GET', `/services/offerings/${OPEN}/transfer-check?from=0x1&to=0x2&amount=1`)),
        'ERR_VALIDATION',
      );
      const big = await call('POST', `/services/offerings/${OPEN}/certification`, { credential: 'x'.repeat(70_000) });
      assert.equal(code(big), 'ERR_BODY_TOO_LARGE');
      const doc = await call('GET', '/services/offerings/openapi.json');
      assert.equal(doc.body.openapi, '3.1.0');
      assert.ok((doc.body.paths as Record<string, unknown>)['/{offeringId}/subscriptions']);
    });
  });

  it('applies at start the revocations, suspensions and resumptions made while nobody listened', async () => {
    env.clock = Date.now();
    const resource = '/offerings/gb-refusals/subscriptions';
    const [gina, hank, ivy] = [actor(), actor(), actor()];
    const vcs = [];
    for (const who of [gina, hank, ivy]) {
      const vc = await issue('AccreditedInvestorCredential', who, investorClaims('FR'));
      const token = await tokenFor(who, vc.jwt, resource, 'POST');
      const sub = await call('POST', `/services${resource}`, { quantity: 20 }, token);
      assert.equal(sub.status, 201, JSON.stringify(sub.body));
      vcs.push(vc);
    }
    await env.outbox.flush();
    const registry = EligibilityRegistry__factory.connect(env.contracts.EligibilityRegistry, env.provider);
    const record = (a: Actor) => readEligibility(registry, a.wallet.address);
    assert.notEqual((await record(gina)).expiry, 0);
    const reconcile = () =>
      reconcileRevocations({
        issuer: env.issuer,
        service: env.service,
        store: env.store,
        outbox: env.outbox,
        registryAddress: env.contracts.EligibilityRegistry,
        provider: env.provider,
      });
    env.disconnect();
    try {
      const down = { actor: 'operator', reason: 'while the services were down' };
      assert.ok((await env.issuer.revoke(vcs[0]!.id, down)).ok);
      assert.ok((await env.issuer.suspend(vcs[1]!.id, down)).ok);
      assert.deepEqual(await reconcile(), { removed: 1, frozen: 1, unfrozen: 0, badges: 0 });
      await env.outbox.flush();
      assert.deepEqual(await reconcile(), { removed: 0, frozen: 0, unfrozen: 0, badges: 0 }, 'idempotent once mined');
      assert.equal((await record(gina)).expiry, 0, 'revoked: eligibility removed');
      assert.equal((await record(hank)).frozen, true, 'suspended: frozen');
      assert.equal((await record(ivy)).frozen, false, 'the others untouched');
      // the suspension is lifted while still down: the next start unfreezes
      assert.ok((await env.issuer.resume(vcs[1]!.id, down)).ok);
      assert.deepEqual(await reconcile(), { removed: 0, frozen: 0, unfrozen: 1, badges: 0 });
      await env.outbox.flush();
      assert.equal((await record(hank)).frozen, false, 'resumed: unfrozen');
      assert.notEqual((await record(hank)).expiry, 0);
    } finally {
      env.reconnect();
    }
  });
});
