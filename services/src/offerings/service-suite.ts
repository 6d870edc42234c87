import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  ANVIL_FUNDER_KEY,
  type AnvilChain,
  type EligibilityRegistry,
  EligibilityRegistry__factory,
  makeProvider,
  Outbox,
  OutboxEntity,
  outboxDatabaseParts,
  readEligibility,
  type SecurityToken,
  SecurityToken__factory,
  startAnvil,
} from '@tessera/contracts';
import { type JsonRpcProvider, parseEther, Wallet } from 'ethers';
import type { DatabaseParts } from '@tessera/contracts';
import type { DataSource } from 'typeorm';
import { OfferingPayments } from './payments.js';
import { deployOfferingToken, OfferingService } from './service.js';
import { offeringsDatabaseParts, OfferingStore } from './store.js';
import { addMonths, offeringUrn } from './terms.js';
import { CERTIFIER, greenBondTerms, ISSUER, investorCredential } from './testing.js';

/**
 * The offerings conformance suite, run against every database the stack supports (SQLite in `npm test`, PostgreSQL in
 * `npm run test:services`), always on a real anvil.
 */
export function offeringServiceSuite(
  name: string,
  openDb: (parts: DatabaseParts) => Promise<DataSource>,
  closeDb: (ds: DataSource) => Promise<void>,
) {
  let chain: AnvilChain;
  let provider: JsonRpcProvider;
  let db: DataSource;
  let funder: Wallet;
  let issuerKey: Wallet;
  let relayer: Wallet;
  let registry: EligibilityRegistry;
  let outbox: Outbox;
  let service: OfferingService;
  let clock = Date.now();

  const did = (w: { address: string }) => `did:ethr:0x7a69:${w.address.toLowerCase()}`;
  const code = (r: { ok: boolean; error?: { code: string } }) => (r.ok ? 'ok' : r.error!.code);

  async function funded(): Promise<Wallet> {
    const w = new Wallet(Wallet.createRandom().privateKey, provider);
    const r = await (await funder.sendTransaction({ to: w.address, value: parseEther('1') })).wait();
    assert.equal(r?.status, 1);
    return w;
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

  before(async () => {
    chain = await startAnvil({});
    provider = makeProvider(chain.rpcUrl, chain.chainId);
    funder = new Wallet(ANVIL_FUNDER_KEY, provider);
    issuerKey = await funded();
    relayer = await funded();
    registry = await new EligibilityRegistry__factory(funder).deploy();
    await registry.waitForDeployment();
    await (await registry.setAttester(relayer.address, true)).wait();
    db = await openDb({
      entities: [...outboxDatabaseParts.entities, ...offeringsDatabaseParts.entities],
      migrations: [...outboxDatabaseParts.migrations, ...offeringsDatabaseParts.migrations],
    });
    outbox = new Outbox({ dataSource: db, signer: relayer, provider, chainId: chain.chainId });
    service = new OfferingService({
      store: new OfferingStore(db),
      outbox,
      registryAddress: await registry.getAddress(),
      provider,
      now: () => new Date(clock),
    });
  });

  after(async () => {
    await outbox?.stop();
    if (db) await closeDb(db);
    provider?.destroy();
    await chain?.stop();
  });

  describe(`token offering, end to end on ${name} and anvil`, () => {
    it('offering created and certified, two investors subscribe, allocation mints, holders trade, revocation blocks', async () => {
      clock = Date.now();
      const created = await service.createOffering(ISSUER, greenBondTerms({}, clock));
      assert.ok(created.ok, JSON.stringify(!created.ok && created.error));
      assert.equal(code(await service.createOffering(ISSUER, greenBondTerms({}, clock))), 'ERR_OFFERING_EXISTS');
      const id = created.value.id;

      const [alice, bob, carol, stranger] = [await funded(), await funded(), await funded(), await funded()];
      const aliceCred = investorCredential(did(alice), { id: 'urn:uuid:alice-ai' });
      const bobCred = investorCredential(did(bob), { id: 'urn:uuid:bob-ai', claims: { jurisdiction: 'DE' } });
      const sub = (w: Wallet, quantity: number, credential = investorCredential(did(w))) =>
        service.subscribe({ offeringId: id, wallet: w.address, quantity, credential });

      assert.equal(code(await sub(alice, 600, aliceCred)), 'ERR_OFFERING_NOT_CERTIFIED');
      const certified = await service.certify(id, {
        certifier: CERTIFIER,
        credentialId: 'urn:uuid:cbi-cert-1',
        subject: offeringUrn(id),
        scheme: 'Climate Bonds Standard v4',
      });
      assert.ok(certified.ok);
      assert.ok(service.isCertified(certified.value));
      const token = await deployOfferingToken(issuerKey, created.value, await registry.getAddress(), relayer.address);
      assert.ok((await service.attachToken(id, token)).ok);

      assert.equal(code(await sub(alice, 600, aliceCred)), 'ok');
      assert.equal(code(await sub(bob, 600, bobCred)), 'ok');

      // refused: no credential, expired, disallowed jurisdiction, tickets outside the terms, twice, a wallet of another identity
      assert.equal(
        code(await service.subscribe({ offeringId: id, wallet: carol.address, quantity: 50, credential: undefined })),
        'ERR_AUTH_REQUIRED',
      );
      const nowS = Math.floor(clock / 1000);
      assert.equal(
        code(await sub(carol, 50, investorCredential(did(carol), { expiresAt: nowS - 1 }))),
        'ERR_VC_EXPIRED',
      );
      assert.equal(
        code(await sub(carol, 50, investorCredential(did(carol), { claims: { jurisdiction: 'US' } }))),
        'ERR_OFFERING_JURISDICTION',
      );
      assert.equal(code(await sub(carol, 601)), 'ERR_OFFERING_ABOVE_MAXIMUM');
      assert.equal(code(await sub(carol, 9)), 'ERR_OFFERING_BELOW_MINIMUM');
      assert.equal(code(await sub(alice, 10, aliceCred)), 'ERR_OFFERING_ALREADY_SUBSCRIBED');
      assert.equal(
        code(
          await service.subscribe({
            offeringId: id,
            wallet: alice.address,
            quantity: 50,
            credential: investorCredential(did(carol)),
          }),
        ),
        'ERR_CONFLICT',
      );
      const saved = clock;
      clock = Date.parse(created.value.terms.opensAt) - 1;
      assert.equal(code(await sub(carol, 50)), 'ERR_OFFERING_NOT_OPEN');
      clock = Date.parse(created.value.terms.closesAt);
      assert.equal(code(await sub(carol, 50)), 'ERR_OFFERING_CLOSED');
      clock = saved;
      assert.equal(
        code(
          await service.subscribe({ offeringId: 'nope', wallet: carol.address, quantity: 50, credential: undefined }),
        ),
        'ERR_OFFERING_NOT_FOUND',
      );

      const before = await service.get(id);
      assert.ok(before.ok);
      assert.equal(before.value.subscribed, 1200, 'refused subscriptions took nothing from the book');
      assert.equal(before.value.remaining, 800);

      // allocation at close: 1,200 subscribed for 1,000 → pro rata 500 each
      assert.equal(code(await service.allocate(id)), 'ERR_OFFERING_STATE');
      clock = Date.parse(created.value.terms.closesAt) + 1000;
      const alloc = await service.allocate(id);
      assert.ok(alloc.ok);
      assert.deepEqual(
        alloc.value.map((a) => a.allocated),
        [500, 500],
      );
      assert.equal(code(await sub(carol, 50)), 'ERR_OFFERING_CLOSED');

      const minted = await service.mintAllocations(id);
      assert.ok(minted.ok, JSON.stringify(!minted.ok && minted.error));
      assert.deepEqual(minted.value, { minted: 2, pending: 0, failed: [] });
      const t: SecurityToken = SecurityToken__factory.connect(token, provider);
      assert.equal(await t.balanceOf(alice.address), 500n);
      assert.equal(await t.balanceOf(bob.address), 500n);
      // a retry mints nothing more (outbox keys)
      const again = await service.mintAllocations(id);
      assert.ok(again.ok);
      assert.equal(again.value.minted, 2);
      assert.equal(await t.totalSupply(), 1000n);
      const rec = await readEligibility(registry, alice.address);
      assert.equal(rec.country, 'FR');
      assert.equal(rec.credentials & 1, 1);

      // secondary transfers between eligible holders; not to an unverified address
      await (await t.connect(alice).transfer(bob.address, 100)).wait();
      assert.equal(await t.balanceOf(bob.address), 600n);
      await reverts(t.connect(alice).transfer(stranger.address, 1), 'NotEligible');

      // a buyer on the secondary market is onboarded without subscribing; the token still applies its jurisdictions
      const dave = await funded();
      const us = await funded();
      assert.equal(code(await service.onboardInvestor(dave.address, undefined)), 'ERR_AUTH_REQUIRED');
      const onboarded = await service.onboardInvestor(
        dave.address,
        investorCredential(did(dave), { claims: { jurisdiction: 'IT' } }),
      );
      assert.ok(onboarded.ok);
      assert.ok(
        (await service.onboardInvestor(us.address, investorCredential(did(us), { claims: { jurisdiction: 'US' } }))).ok,
      );
      await outbox.flush();
      assert.equal((await outbox.get(onboarded.value.key))?.status, 'mined');
      await (await t.connect(bob).transfer(dave.address, 50)).wait();
      await reverts(t.connect(bob).transfer(us.address, 1), 'JurisdictionNotAllowed');
      const holdings = await service.holdings(id);
      assert.ok(holdings.ok);
      assert.deepEqual(Object.fromEntries(holdings.value.map((h) => [h.wallet, h.balance])), {
        [alice.address.toLowerCase()]: '400',
        [bob.address.toLowerCase()]: '550',
        [dave.address.toLowerCase()]: '50',
      });
      assert.equal(holdings.value.find((h) => h.wallet === dave.address.toLowerCase())?.investor, did(dave));

      // revoking Alice's credential removes her record: her next transfer reverts, and none can reach her
      const revoked = await service.revokeCredential('urn:uuid:alice-ai');
      assert.ok(revoked.ok);
      assert.deepEqual(revoked.value.wallets, [alice.address.toLowerCase()]);
      await outbox.flush();
      assert.equal((await readEligibility(registry, alice.address)).expiry, 0);
      assert.equal(await t.detectTransferRestriction(alice.address, bob.address, 1), 2n);
      await reverts(t.connect(alice).transfer(bob.address, 1), 'NotEligible');
      await reverts(t.connect(bob).transfer(alice.address, 1), 'NotEligible');
      await (await t.connect(bob).transfer(bob.address, 1)).wait(); // bob is unaffected
      // the revoked credential cannot put the wallet back on chain
      const second = await service.createOffering(
        ISSUER,
        greenBondTerms({ id: 'gb-second', certificationRequired: false }, clock),
      );
      assert.ok(second.ok);
      assert.equal(
        code(
          await service.subscribe({
            offeringId: 'gb-second',
            wallet: alice.address,
            quantity: 50,
            credential: aliceCred,
          }),
        ),
        'ERR_VC_REVOKED',
      );
    });

    it('concurrent subscriptions never overfill the book', async () => {
      clock = Date.now();
      const created = await service.createOffering(
        ISSUER,
        greenBondTerms(
          {
            id: 'gb-race',
            amount: 100,
            maxSubscription: 100,
            minSubscription: 10,
            maxOversubscription: 1,
            certificationRequired: false,
          },
          clock,
        ),
      );
      assert.ok(created.ok);
      const wallets = Array.from({ length: 15 }, () => Wallet.createRandom());
      const results = await Promise.all(
        wallets.map((w) =>
          service.subscribe({
            offeringId: 'gb-race',
            wallet: w.address,
            quantity: 10,
            credential: investorCredential(did(w)),
          }),
        ),
      );
      const codes = results.map(code);
      assert.equal(codes.filter((c) => c === 'ok').length, 10);
      assert.equal(codes.filter((c) => c === 'ERR_OFFERING_SOLD_OUT').length, 5);
      const o = await service.get('gb-race');
      assert.ok(o.ok);
      assert.equal(o.value.subscribed, 100);
      assert.equal((await service.listSubscriptions('gb-race')).length, 10);
    });

    it('reconcile queues an eligibility write lost between the database commit and the outbox', async () => {
      clock = Date.now();
      const w = await funded();
      const onboarded = await service.onboardInvestor(w.address, investorCredential(did(w), { id: 'urn:uuid:lost-1' }));
      assert.ok(onboarded.ok);
      // the crash: the row is committed, the outbox never got the write
      await db.getRepository(OutboxEntity).delete({ id: onboarded.value.key });
      assert.deepEqual(await service.reconcile(), { queued: 1 });
      assert.deepEqual(await service.reconcile(), { queued: 0 }, 'idempotent');
      await outbox.flush();
      assert.equal((await readEligibility(registry, w.address)).country, 'FR');
      // and a wallet bound to one identity is refused to another
      const other = investorCredential(`did:ethr:0x7a69:0x${'cd'.repeat(20)}`);
      assert.equal(code(await service.onboardInvestor(w.address, other)), 'ERR_CONFLICT');
    });

    it('refuses to mint before allocation and without a token', async () => {
      clock = Date.now();
      const created = await service.createOffering(
        ISSUER,
        greenBondTerms({ id: 'gb-notoken', certificationRequired: false }, clock),
      );
      assert.ok(created.ok);
      assert.equal(code(await service.mintAllocations('gb-notoken')), 'ERR_OFFERING_STATE');
      clock = Date.parse(created.value.terms.closesAt) + 1;
      assert.ok((await service.allocate('gb-notoken')).ok);
      assert.equal(code(await service.mintAllocations('gb-notoken')), 'ERR_OFFERING_STATE');
      assert.equal(code(await service.mintAllocations('nope')), 'ERR_OFFERING_NOT_FOUND');
    });

    it('keeps coupon and redemption records with amounts beyond 32 bits exact', async () => {
      clock = Date.now();
      const base = greenBondTerms(
        {
          id: 'gb-big',
          amount: 1_000_000,
          maxSubscription: 1_000_000,
          maxOversubscription: 1,
          certificationRequired: false,
          token: { name: 'Big GB', symbol: 'BIGGB', decimals: 2 },
        },
        clock,
      );
      const terms = {
        ...base,
        maturesAt: addMonths(base.closesAt, 12).toISOString(),
        coupon: { rateBps: 500, perYear: 1 as const },
      };
      const created = await service.createOffering(ISSUER, terms);
      assert.ok(created.ok, JSON.stringify(!created.ok && created.error));
      const token = await deployOfferingToken(issuerKey, created.value, await registry.getAddress(), relayer.address);
      assert.ok((await service.attachToken('gb-big', token)).ok);
      const [alice, bob] = [await funded(), await funded()];
      for (const [w, q] of [
        [alice, 700_000],
        [bob, 300_000],
      ] as const) {
        const r = await service.subscribe({
          offeringId: 'gb-big',
          wallet: w.address,
          quantity: q,
          credential: investorCredential(did(w)),
        });
        assert.ok(r.ok, JSON.stringify(!r.ok && r.error));
      }
      clock = Date.parse(terms.closesAt) + 1;
      assert.ok((await service.allocate('gb-big')).ok);
      assert.deepEqual(await service.mintAllocations('gb-big'), {
        ok: true,
        value: { minted: 2, pending: 0, failed: [] },
      });

      const payments = new OfferingPayments({
        store: new OfferingStore(db),
        outbox,
        provider,
        registryAddress: await registry.getAddress(),
        holdings: (id, atBlock) => service.holdings(id, atBlock),
        now: () => new Date(clock),
      });
      clock = Date.parse(terms.maturesAt);
      const coupon = await payments.recordCoupon('gb-big', 1);
      assert.ok(coupon.ok, JSON.stringify(!coupon.ok && coupon.error));
      const byWallet = (rows: { wallet: string; balance: string; amount: number }[]) =>
        Object.fromEntries(rows.map((r) => [r.wallet, [r.balance, r.amount]]));
      // 700,000 units × 100.00 EUR × 5 % = 350,000,000 cents
      const expected = {
        [alice.address.toLowerCase()]: ['70000000', 350_000_000],
        [bob.address.toLowerCase()]: ['30000000', 150_000_000],
      };
      assert.deepEqual(byWallet(await payments.couponPayments('gb-big', 1)), expected, 'read back from the database');
      const redeemed = await payments.redeem('gb-big');
      assert.ok(redeemed.ok, JSON.stringify(!redeemed.ok && redeemed.error));
      assert.deepEqual(byWallet(await payments.redemptionPayments('gb-big')), {
        [alice.address.toLowerCase()]: ['70000000', 7_000_000_000],
        [bob.address.toLowerCase()]: ['30000000', 3_000_000_000],
      });
      assert.equal(await SecurityToken__factory.connect(token, provider).totalSupply(), 0n);
      const after = await service.get('gb-big');
      assert.equal(after.ok && after.value.status, 'redeemed');
    });
  });
}
