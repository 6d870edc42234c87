/**
 * The token-offering HTTP API end to end (issue 8): real anvil with the stack's contracts, the real issuer signing the
 * credentials, the real verifier (the stack's verifier part: trust list, default policies, status lists pushed by the
 * issuer's events) handing out access tokens for real presentations, SQLite, the outbox, HTTP on an ephemeral port.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  ANVIL_FUNDER_KEY,
  type AnvilChain,
  type ContractName,
  EligibilityRegistry__factory,
  ensureDeployed,
  makeProvider,
  openDatabase,
  Outbox,
  outboxDatabaseParts,
  readEligibility,
  SecurityToken__factory,
  startAnvil,
} from '@tessera/contracts';
import { buildIssuer, type Issuer, openIssuerDatabase } from '@tessera/issuer';
import { httpError, silentLogger } from '@tessera/protocol';
import { CachedDidResolver } from '@tessera/verifier';
import { ES256KSigner } from 'did-jwt';
import { createVerifiableCredentialJwt, createVerifiablePresentationJwt } from 'did-jwt-vc';
import { type JsonRpcProvider, parseEther, Wallet } from 'ethers';
import express from 'express';
import type { DataSource } from 'typeorm';
import { startVerifierPart, type VerifierPart } from '../../stack/verifier-part.js';
import { OfferingService } from '../service.js';
import { OfferingStore, offeringsDatabaseParts } from '../store.js';
import { offeringUrn } from '../terms.js';
import { greenBondTerms } from '../testing.js';
import { ensureAttester, tokenDeployer } from './part.js';
import { buildOfferingsRouter, OFFERING_CERTIFICATION_CREDENTIAL } from './router.js';
import { connectRevocations, type RevocationLink, reconcileRevocations } from './revocations.js';

interface Actor {
  wallet: Wallet;
  did: string;
}

let chain: AnvilChain;
let provider: JsonRpcProvider;
let funder: Wallet;
let contracts: Record<ContractName, string>;
let dir: string;
let issuerDb: DataSource;
let db: DataSource;
let issuer: Issuer;
let verifier: VerifierPart;
let outbox: Outbox;
let service: OfferingService;
let revocations: RevocationLink;
let server: Server;
let base: string;
/** The offerings' clock (the verifier and the chain keep real time). */
let clock = Date.now();
/** The issuer's clock: set back to issue a credential that has already expired. */
let issuerClock: number | undefined;

const actor = (): Actor => {
  const wallet = new Wallet(Wallet.createRandom().privateKey);
  return { wallet, did: `did:ethr:0x7a69:${wallet.address.toLowerCase()}` };
};

async function fund(a: Actor) {
  const r = await (await funder.sendTransaction({ to: a.wallet.address, value: parseEther('1') })).wait();
  assert.equal(r?.status, 1);
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tessera-offerings-http-'));
  chain = await startAnvil({});
  provider = makeProvider(chain.rpcUrl, chain.chainId);
  funder = new Wallet(ANVIL_FUNDER_KEY, provider);
  contracts = await ensureDeployed({
    provider,
    deployer: funder,
    chainId: chain.chainId,
    file: join(dir, 'deployments.json'),
    allowDeploy: true,
  });
  const relayer = new Wallet(Wallet.createRandom().privateKey, provider);
  await (await funder.sendTransaction({ to: relayer.address, value: parseEther('10') })).wait();
  // the registry was deployed by someone else, who handed its admin role to the relayer: ensureAttester appoints it
  const registry = EligibilityRegistry__factory.connect(contracts.EligibilityRegistry, funder);
  await (await registry.transferAdmin(relayer.address)).wait();

  issuerDb = await openIssuerDatabase({ sqlitePath: join(dir, 'issuer.sqlite') });
  issuer = await buildIssuer(
    { dataDir: dir, publicBaseUrl: 'https://issuer.tessera.test' },
    {
      dataSource: issuerDb,
      provider,
      chainId: chain.chainId,
      registryAddress: contracts.EthereumDIDRegistry,
      now: () => new Date(issuerClock ?? Date.now()),
    },
  );
  const resolver = new CachedDidResolver({ chainId: chain.chainId, provider, registry: contracts.EthereumDIDRegistry });
  const verifierActor = actor();
  verifier = await startVerifierPart({
    resolver,
    issuer,
    verifierDid: verifierActor.did,
    verifierPrivateKey: verifierActor.wallet.privateKey,
    publicUrl: 'http://127.0.0.1/verifier',
    log: silentLogger,
  });

  db = await openDatabase(
    { sqlitePath: join(dir, 'offerings.sqlite') },
    {
      entities: [...outboxDatabaseParts.entities, ...offeringsDatabaseParts.entities],
      migrations: [...outboxDatabaseParts.migrations, ...offeringsDatabaseParts.migrations],
    },
  );
  outbox = new Outbox({ dataSource: db, signer: relayer, provider, chainId: chain.chainId });
  assert.equal(await ensureAttester(contracts.EligibilityRegistry, outbox, provider, silentLogger), 'appointed');
  assert.equal(await ensureAttester(contracts.EligibilityRegistry, outbox, provider, silentLogger), 'already');
  const store = new OfferingStore(db);
  service = new OfferingService({
    store,
    outbox,
    registryAddress: contracts.EligibilityRegistry,
    provider,
    now: () => new Date(clock),
  });
  revocations = connectRevocations({
    issuer,
    service,
    store,
    outbox,
    registryAddress: contracts.EligibilityRegistry,
  });
  const router = buildOfferingsRouter({
    service,
    store,
    provider,
    requireCredentials: (o) => verifier.router.requireCredentials(o),
    resolver,
    deployToken: tokenDeployer({
      deployer: new Wallet(Wallet.createRandom().privateKey, provider),
      outbox,
      provider,
      registryAddress: contracts.EligibilityRegistry,
    }),
  });
  const app = express();
  app.use('/verifier', verifier.router);
  app.use('/services/offerings', router);
  app.use(((e, _req, res, _next) => {
    const m = httpError(e);
    res.status(m.status).json(m.body);
  }) as express.ErrorRequestHandler);
  server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  revocations?.stop();
  await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
  await verifier?.stop();
  await outbox?.stop();
  if (db?.isInitialized) await db.destroy();
  if (issuerDb?.isInitialized) await issuerDb.destroy();
  provider?.destroy();
  await chain?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

type Body = Record<string, unknown> & { error?: { code: string; message: string } };

async function call(method: string, path: string, body?: unknown, token?: string) {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: {
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, location: res.headers.get('location'), body: (await res.json()) as Body };
}
const code = (r: { status: number; body: Body }) => r.body.error?.code ?? `ok ${r.status}`;

/** Present `jwt` as `holder` for `action` on `resource` through the verifier; the verifier's answer. */
async function present(holder: Actor, jwt: string, resource: string, action: string) {
  const req = await call('POST', '/verifier/presentation-requests', { resource, action });
  assert.equal(req.status, 201, JSON.stringify(req.body));
  const vp = await createVerifiablePresentationJwt(
    {
      vp: {
        '@context': ['https://www.w3.org/2018/credentials/v1'],
        type: ['VerifiablePresentation'],
        verifiableCredential: [jwt],
      },
    } as never,
    { did: holder.did, signer: ES256KSigner(Buffer.from(holder.wallet.privateKey.slice(2), 'hex')), alg: 'ES256K' },
    { challenge: req.body.nonce as string, domain: req.body.audience as string },
  );
  return call('POST', '/verifier/presentations', { vp });
}

async function tokenFor(holder: Actor, jwt: string, resource: string, action: string): Promise<string> {
  const r = await present(holder, jwt, resource, action);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body.access_token as string;
}

async function issue(type: string, subject: Actor, claims: Record<string, unknown>, validitySeconds?: number) {
  const r = await issuer.issue({ type, subject: subject.did, claims, ...(validitySeconds ? { validitySeconds } : {}) });
  assert.ok(r.ok, JSON.stringify(!r.ok && r.error));
  return r.value;
}

const investorClaims = (jurisdiction: string) => ({
  jurisdiction,
  investorType: 'individual',
  accreditationLevel: 'accredited',
  kycLevel: 'standard',
});

/** A certification credential signed by the certifier's own DID key, about the offering. */
async function certification(certifier: Actor, offeringId: string, over: Record<string, unknown> = {}) {
  return createVerifiableCredentialJwt(
    {
      sub: offeringUrn(offeringId),
      jti: `urn:uuid:cert-${offeringId}`,
      nbf: Math.floor(Date.now() / 1000) - 60,
      exp: Math.floor(Date.now() / 1000) + 365 * 86_400,
      vc: {
        '@context': ['https://www.w3.org/2018/credentials/v1'],
        type: ['VerifiableCredential', OFFERING_CERTIFICATION_CREDENTIAL],
        credentialSubject: { scheme: 'Climate Bonds Standard v4', documentsSha256: ['a'.repeat(64)], ...over },
      },
    } as never,
    {
      did: certifier.did,
      signer: ES256KSigner(Buffer.from(certifier.wallet.privateKey.slice(2), 'hex')),
      alg: 'ES256K',
    },
  );
}

/** Expect a revert with the named custom error of the token. */
const reverts = (p: Promise<unknown>, name: string) =>
  assert.rejects(p, (e: unknown) => {
    const data = (e as { data?: string }).data;
    const got =
      (e as { revert?: { name?: string } }).revert?.name ??
      (data ? SecurityToken__factory.createInterface().parseError(data)?.name : undefined);
    assert.equal(got, name, `expected revert ${name}, got ${got ?? String(e).slice(0, 200)}`);
    return true;
  });

describe('token offerings over HTTP with the real issuer, verifier and chain', () => {
  const orgAdmin = actor();
  const certifier = actor();
  const [alice, bob, stranger] = [actor(), actor(), actor()];
  const ID = 'gb-http-2030';
  const subscriptions = `/offerings/${ID}/subscriptions`;

  it('creates, certifies, subscribes two investors, allocates and mints, trades, and revocation blocks a transfer', async () => {
    clock = Date.now();
    await fund(alice);
    await fund(bob);
    const adminVc = await issue('AdminCredential', orgAdmin, { name: 'Marseille Solar Bonds SA' });

    // create: without a credential, refused; with the issuer organisation's AdminCredential, the offering and its token
    const terms = greenBondTerms({ id: ID, allowedJurisdictions: ['FR', 'DE'] }, clock);
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

    // certify: a credential about another offering, or signed by the issuer itself, is refused; the certifier's is not
    const cert = `/services/offerings/${ID}/certification`;
    const other = await call('POST', cert, { credential: await certification(certifier, 'gb-other') });
    assert.equal(code(other), 'ERR_OFFERING_CERTIFICATION_INVALID');
    const self = await call('POST', cert, { credential: await certification(orgAdmin, ID) });
    assert.equal(code(self), 'ERR_OFFERING_CERTIFICATION_INVALID');
    const forged = (await certification(certifier, ID)).replace(/\.[^.]+$/, `.${'A'.repeat(86)}`);
    assert.equal(code(await call('POST', cert, { credential: forged })), 'ERR_OFFERING_CERTIFICATION_INVALID');
    const certified = await call('POST', cert, { credential: await certification(certifier, ID) });
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
    const otherVc = await issue('AdminCredential', otherAdmin, { name: 'Someone Else' });
    const otherToken = await tokenFor(otherAdmin, otherVc.jwt, alloc, 'POST');
    assert.equal(code(await call('POST', `/services${alloc}`, undefined, otherToken)), 'ERR_FORBIDDEN');
    assert.equal(code(await present(bob, bobVc.jwt, alloc, 'POST')), 'ERR_POLICY_DENIED');
    clock = Date.parse(terms.closesAt) + 1000;
    const allocated = await call('POST', `/services${alloc}`, undefined, allocToken);
    assert.equal(allocated.status, 200, JSON.stringify(allocated.body));
    assert.deepEqual(
      (allocated.body.allocations as { allocated: number }[]).map((x) => x.allocated),
      [500, 500],
    );
    assert.deepEqual(allocated.body.mint, { minted: 2, pending: 0, failed: [] });
    const token = SecurityToken__factory.connect(tokenAddress, provider);
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
    await (await token.connect(alice.wallet.connect(provider)).transfer(bob.wallet.address, 100)).wait();
    assert.equal(await token.balanceOf(bob.wallet.address), 600n);
    const toStranger = await check(alice, stranger, 1);
    assert.deepEqual(
      [toStranger.body.allowed, toStranger.body.code, toStranger.body.name, toStranger.body.revertsWith],
      [false, 3, 'RECEIVER_NOT_ELIGIBLE', 'NotEligible'],
    );
    await reverts(token.connect(alice.wallet.connect(provider)).transfer(stranger.wallet.address, 1), 'NotEligible');
    const holdings = await call('GET', `/services/offerings/${ID}/holdings`);
    assert.deepEqual(
      holdings.body.items,
      [
        { wallet: alice.wallet.address.toLowerCase(), balance: '400' },
        { wallet: bob.wallet.address.toLowerCase(), balance: '600' },
      ].sort((x, y) => x.wallet.localeCompare(y.wallet)),
    );

    // revoking Alice's credential at the issuer removes her eligibility on chain: her next transfer reverts
    const revoked = await issuer.revoke(aliceVc.id, { actor: 'operator', reason: 'accreditation withdrawn' });
    assert.ok(revoked.ok && revoked.value.changed);
    await revocations.idle();
    await outbox.flush();
    const registry = EligibilityRegistry__factory.connect(contracts.EligibilityRegistry, provider);
    assert.equal((await readEligibility(registry, alice.wallet.address)).expiry, 0);
    assert.equal((await readEligibility(registry, bob.wallet.address)).country, 'DE', 'Bob keeps his record');
    const blocked = await check(alice, bob, 1);
    assert.deepEqual([blocked.body.code, blocked.body.name], [2, 'SENDER_NOT_ELIGIBLE']);
    await reverts(token.connect(alice.wallet.connect(provider)).transfer(bob.wallet.address, 1), 'NotEligible');
    await (await token.connect(bob.wallet.connect(provider)).transfer(bob.wallet.address, 1)).wait();
    // and her old token no longer opens anything
    assert.equal(
      code(await call('GET', '/services/offerings/me/subscriptions', undefined, mineToken)),
      'ERR_VC_REVOKED',
    );

    // suspending Bob's credential freezes his wallet for every token; resuming it unfreezes it
    assert.ok((await issuer.suspend(bobVc.id, { actor: 'operator', reason: 'KYC review' })).ok);
    await revocations.idle();
    await outbox.flush();
    const frozen = await check(bob, bob, 1);
    assert.deepEqual([frozen.body.code, frozen.body.name], [6, 'SENDER_FROZEN']);
    await reverts(token.connect(bob.wallet.connect(provider)).transfer(bob.wallet.address, 1), 'WalletFrozen');
    assert.ok((await issuer.resume(bobVc.id, { actor: 'operator', reason: 'KYC review done' })).ok);
    await revocations.idle();
    await outbox.flush();
    assert.equal((await check(bob, bob, 1)).body.allowed, true);
    await (await token.connect(bob.wallet.connect(provider)).transfer(bob.wallet.address, 1)).wait();
  });

  describe('refusals', () => {
    const OPEN = 'gb-refusals';
    const path = `/offerings/${OPEN}/subscriptions`;
    let adminVcJwt: string;

    before(async () => {
      clock = Date.now();
      adminVcJwt = (await issue('AdminCredential', orgAdmin, { name: 'Marseille Solar Bonds SA' })).jwt;
      const t = await tokenFor(orgAdmin, adminVcJwt, '/offerings', 'POST');
      const terms = greenBondTerms(
        { id: OPEN, allowedJurisdictions: ['FR', 'DE'], certificationRequired: false, maxSubscription: 100 },
        clock,
      );
      assert.equal((await call('POST', '/services/offerings', { terms }, t)).status, 201);
    });

    const subscribe = (token: string | undefined, quantity = 50, extra: Record<string, unknown> = {}) =>
      call('POST', `/services${path}`, { quantity, ...extra }, token);

    it('refuses a subscription without a credential', async () => {
      clock = Date.now();
      assert.equal(code(await subscribe(undefined)), 'ERR_AUTH_REQUIRED');
      assert.equal(code(await subscribe('not-a-token')), 'ERR_AUTH_INVALID');
      // a credential of another type does not meet the policy
      const admin = actor();
      const vc = await issue('AdminCredential', admin, { name: 'Not An Investor' });
      assert.equal(code(await present(admin, vc.jwt, path, 'POST')), 'ERR_POLICY_DENIED');
    });

    it('refuses an expired credential', async () => {
      clock = Date.now();
      const carol = actor();
      issuerClock = Date.now() - 2 * 86_400_000;
      const vc = await issue('AccreditedInvestorCredential', carol, investorClaims('FR'), 86_400).finally(() => {
        issuerClock = undefined;
      });
      assert.ok(Date.parse(vc.expiresAt) < Date.now());
      assert.equal(code(await present(carol, vc.jwt, path, 'POST')), 'ERR_VC_EXPIRED');
    });

    it('refuses a revoked credential, at presentation and with a token obtained before', async () => {
      clock = Date.now();
      const dave = actor();
      const vc = await issue('AccreditedInvestorCredential', dave, investorClaims('FR'));
      const token = await tokenFor(dave, vc.jwt, path, 'POST');
      assert.ok((await issuer.revoke(vc.id, { actor: 'operator', reason: 'test' })).ok);
      assert.equal(code(await subscribe(token)), 'ERR_VC_REVOKED');
      assert.equal(code(await present(dave, vc.jwt, path, 'POST')), 'ERR_VC_REVOKED');
    });

    it('refuses a jurisdiction the offering does not allow, and one no policy allows', async () => {
      clock = Date.now();
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
      clock = Date.parse(terms.opensAt) - 86_400_000;
      assert.equal(code(await subscribe(token)), 'ERR_OFFERING_NOT_OPEN');
      clock = Date.parse(terms.closesAt) + 1;
      assert.equal(code(await subscribe(token)), 'ERR_OFFERING_CLOSED');
      clock = Date.now();
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
      const res = await fetch(`${base}/services/offerings${path}`, {
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

  it('removes at start the eligibility of a credential revoked while nobody listened', async () => {
    clock = Date.now();
    const gina = actor();
    const vc = await issue('AccreditedInvestorCredential', gina, investorClaims('FR'));
    const resource = '/offerings/gb-refusals/subscriptions';
    const sub = await call(
      'POST',
      `/services${resource}`,
      { quantity: 20 },
      await tokenFor(gina, vc.jwt, resource, 'POST'),
    );
    assert.equal(sub.status, 201, JSON.stringify(sub.body));
    await outbox.flush();
    const registry = EligibilityRegistry__factory.connect(contracts.EligibilityRegistry, provider);
    assert.notEqual((await readEligibility(registry, gina.wallet.address)).expiry, 0);
    revocations.stop();
    try {
      assert.ok((await issuer.revoke(vc.id, { actor: 'operator', reason: 'while the services were down' })).ok);
      assert.deepEqual(await reconcileRevocations(issuer, service), { removed: 1 });
      assert.deepEqual(await reconcileRevocations(issuer, service), { removed: 0 }, 'idempotent');
      await outbox.flush();
      assert.equal((await readEligibility(registry, gina.wallet.address)).expiry, 0);
    } finally {
      revocations = connectRevocations({
        issuer,
        service,
        store: new OfferingStore(db),
        outbox,
        registryAddress: contracts.EligibilityRegistry,
      });
    }
  });
});
