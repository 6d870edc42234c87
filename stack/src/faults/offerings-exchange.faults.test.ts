/**
 * kill -9 at seeded random points during an offering's allocation (its tokens minted to six investors through the
 * outbox) and while two organisations exchange signed messages through the hosted API. After each kill the stack is
 * started again on the same data directory and the invariants are checked:
 *   - every message acknowledged (201) is in the database exactly once, and the exchange trail still verifies;
 *   - the allocation, asked again, finishes: each subscription allocated once, minted once (one outbox row, mined),
 *     the token's supply on chain is the sum of the allocations in the database and each wallet holds its own;
 *   - no outbox write is left pending, /healthz is green.
 * The seed is printed (TESSERA_FAULT_SEED=<seed> repeats the same injection points).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { makeProvider, SecurityToken__factory } from '@tessera/contracts';
import { ethrDid } from '@tessera/protocol';
import { OFFERING_CERTIFICATION_CREDENTIAL, offeringUrn, SUPPLIER_QUESTIONNAIRE } from '@tessera/services';
import {
  authoriseHostedKey,
  type HolderKey,
  httpJson,
  issuerRequest,
  loginWithCredentials,
  present,
  readHolderFile,
  receiveOffer,
  TesseraWallet,
} from '@tessera/wallet';
import { ES256KSigner, hexToBytes } from 'did-jwt';
import { createVerifiableCredentialJwt } from 'did-jwt-vc';
import { Wallet } from 'ethers';
import { accessToken, http, seeded } from '../testing/fault-flows.js';
import { faultReport, freePort, readSqlite } from '../testing/fault-report.js';
import { stackProcesses } from '../testing/stack-process.js';

const { start, tmp, health } = stackProcesses();
const report = faultReport('offerings-exchange');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('faults: kill -9 during an offering allocation and while messages are exchanged', () => {
  it('loses no acknowledged message, keeps the trail verifiable, and allocates and mints every subscription once', async () => {
    const seed = Number(process.env.TESSERA_FAULT_SEED ?? Math.floor(Math.random() * 2 ** 31));
    console.log(`faults offerings-exchange: seed ${seed} (TESSERA_FAULT_SEED=${seed} repeats the injection points)`);
    const random = seeded(seed);
    const dir = tmp();
    const file = join(dir, 'tessera.sqlite');
    const env = { TESSERA_HTTP_PORT: String(await freePort()) };
    let s = await start(dir, env);
    const issuer = `${s.http}/issuer`;
    const exchange = `${s.http}/services/exchange`;
    const offerings = `${s.http}/services/offerings`;
    const admin = await loginWithCredentials(issuer, readHolderFile(join(dir, 'root-admin-wallet.json')));
    const holder = async (type: string, claims: object, key = Wallet.createRandom()) => {
      const did = ethrDid(31337, key.address);
      const r = await issuerRequest(issuer, 'POST', '/credentials', {
        token: admin,
        body: { type, subject: did, claims },
      });
      assert.equal(r.status, 201, r.text);
      return { did, privateKey: key.privateKey, credentials: [r.json.jwt as string] } satisfies HolderKey;
    };

    // the exchange: two organisations with wallets, DataPartner credentials and hosted keys authorised on chain
    const wallets: Record<'buyer' | 'supplier', TesseraWallet> = {} as never;
    const xTokens: Record<string, string> = {};
    const exchangeToken = async (who: 'buyer' | 'supplier') => {
      const granted = await present(wallets[who], `${s.http}/verifier`, { resource: '/data/exchange', action: '*' });
      assert.ok(granted.ok, JSON.stringify(granted));
      xTokens[who] = granted.value.access_token;
    };
    for (const who of ['buyer', 'supplier'] as const) {
      const w = TesseraWallet.init(join(dir, `wallet-${who}`), { chainId: 31337 });
      assert.ok(w.ok);
      wallets[who] = w.value;
      const issued = await httpJson<{ id: string }>(`${issuer}/credentials`, {
        method: 'POST',
        token: admin,
        body: {
          type: 'DataPartnerCredential',
          subject: w.value.did,
          claims: { organisationName: `${who} SA`, registrationId: `RCS-${who}`, dataspace: 'tessera' },
        },
      });
      assert.ok(issued.ok, JSON.stringify(issued));
      const offer = await httpJson<{ code: string; redeemUrl: string }>(
        `${issuer}/credentials/${issued.value.body.id}/offer`,
        { method: 'POST', token: admin, body: {} },
      );
      assert.ok(offer.ok);
      assert.ok((await receiveOffer(w.value, `${offer.value.body.redeemUrl}?code=${offer.value.body.code}`)).ok);
      await exchangeToken(who);
      const authorised = await authoriseHostedKey(w.value, `${exchange}/partners/hosted-key`);
      assert.ok(authorised.ok, JSON.stringify(authorised));
      assert.equal((await http('POST', `${exchange}/partners`, {}, xTokens[who])).status, 200);
    }
    const acked = new Set<string>();
    const messages = async (running: () => boolean) => {
      while (running()) {
        const r = await http(
          'POST',
          `${exchange}/messages/hosted`,
          { to: wallets.supplier.did, body: { kind: 'request', questionnaire: SUPPLIER_QUESTIONNAIRE } },
          xTokens.buyer,
        );
        report.inject('message-sent');
        if (r.status === 201) acked.add(r.body.id as string);
        else if (r.status === 0) return;
        else assert.fail(`a message refused while the stack runs: ${r.status} ${JSON.stringify(r.body)}`);
      }
    };

    // the offering: created, certified, six investors subscribe (1,800 units for 1,000: the book allows 2×)
    const id = `gb-faults-${randomBytes(3).toString('hex')}`;
    const closesAt = Date.now() + 25_000;
    const terms = {
      id,
      name: 'Faults Rooftop Solar Green Bond',
      kind: 'green-bond',
      token: { name: 'Faults Solar GB', symbol: 'FSGB', decimals: 0 },
      amount: 1000,
      unitPrice: { amount: 100_00, currency: 'EUR' },
      minSubscription: 10,
      maxSubscription: 600,
      maxOversubscription: 2,
      opensAt: new Date(Date.now() - 86_400_000).toISOString(),
      closesAt: new Date(closesAt).toISOString(),
      allowedJurisdictions: ['FR', 'DE', 'IT'],
      documents: [{ title: 'prospectus', sha256: 'a'.repeat(64), mediaType: 'application/pdf' }],
    };
    const org = await holder('OfferingIssuerCredential', {
      legalName: 'Faults Bonds SA',
      registrationId: 'RCS Marseille 999 999 999',
      jurisdiction: 'FR',
    });
    const created = await http('POST', offerings, { terms }, await accessToken(s, org, '/offerings', 'POST'));
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const certifierAccount = Wallet.createRandom();
    const certifier = await holder(
      'CertifierCredential',
      {
        legalName: 'Faults Assurance BV',
        registrationId: 'KvK 99999999',
        jurisdiction: 'NL',
        certifiesOfferings: true,
        accreditsInvestors: true,
      },
      certifierAccount,
    );
    const certification = await createVerifiableCredentialJwt(
      {
        sub: offeringUrn(id),
        jti: `urn:uuid:cert-${id}`,
        nbf: Math.floor(Date.now() / 1000) - 60,
        exp: Math.floor(Date.now() / 1000) + 365 * 86_400,
        vc: {
          '@context': ['https://www.w3.org/2018/credentials/v1'],
          type: ['VerifiableCredential', OFFERING_CERTIFICATION_CREDENTIAL],
          credentialSubject: { scheme: 'Climate Bonds Standard v4', documentsSha256: ['a'.repeat(64)] },
        },
      } as never,
      { did: certifier.did, signer: ES256KSigner(hexToBytes(certifier.privateKey)), alg: 'ES256K' },
    );
    const certified = await http(
      'POST',
      `${offerings}/${id}/certification`,
      { credential: certification },
      await accessToken(s, certifier, `/offerings/${id}/certification`, 'POST'),
    );
    assert.equal(certified.status, 200, JSON.stringify(certified.body));
    const investors: { key: HolderKey; address: string }[] = [];
    for (let i = 0; i < 6; i++) {
      const account = Wallet.createRandom();
      const key = await holder(
        'AccreditedInvestorCredential',
        { jurisdiction: 'FR', investorType: 'individual', accreditationLevel: 'accredited', kycLevel: 'standard' },
        account,
      );
      const sub = await http(
        'POST',
        `${offerings}/${id}/subscriptions`,
        { quantity: 300 },
        await accessToken(s, key, `/offerings/${id}/subscriptions`, 'POST'),
      );
      assert.equal(sub.status, 201, JSON.stringify(sub.body));
      investors.push({ key, address: account.address.toLowerCase() });
    }

    const killAndRestart = async (work: Promise<unknown>, stop: () => void) => {
      s.child.kill('SIGKILL');
      await new Promise((r) => (s.child.exitCode !== null || s.child.signalCode ? r(null) : s.child.once('exit', r)));
      report.inject('kill-9');
      stop();
      await work;
      // every message acknowledged before the kill survived it, once
      const rows = await readSqlite<{ id: string }>(file, 'SELECT id FROM tessera_exchange_message');
      const n = new Map<string, number>();
      for (const r of rows) n.set(r.id, (n.get(r.id) ?? 0) + 1);
      assert.deepEqual(
        [...acked].filter((m) => n.get(m) !== 1),
        [],
        'every acknowledged message is in the database once',
      );
      report.check('acknowledged-messages-present-once', acked.size);
      s = await start(dir, env);
      for (const who of ['buyer', 'supplier'] as const) await exchangeToken(who);
      const trail = await http('GET', `${exchange}/trail/verify`, undefined, xTokens.buyer);
      assert.equal(trail.status, 200, JSON.stringify(trail.body));
      assert.equal(trail.body.verified, true, JSON.stringify(trail.body));
      report.check('trail-verifies-after-kill');
    };

    // 1. a kill while messages are exchanged
    {
      let running = true;
      const work = messages(() => running);
      await sleep(300 + Math.floor(random() * 2000));
      await killAndRestart(work, () => {
        running = false;
      });
    }

    // 2. a kill during the allocation (messages go on meanwhile)
    while (Date.now() < closesAt + 1000) await sleep(200);
    const allocateWith = (token: string) => http('POST', `${offerings}/${id}/allocation`, undefined, token);
    const allocate = async () => allocateWith(await accessToken(s, org, `/offerings/${id}/allocation`, 'POST'));
    {
      // the organisation signs in first: the kill is meant for the allocation, not for the sign-in before it
      const token = await accessToken(s, org, `/offerings/${id}/allocation`, 'POST');
      let running = true;
      const work = Promise.all([
        messages(() => running),
        allocateWith(token).then((r) =>
          report.inject(r.status === 0 ? 'kill-9-before-allocation-answered' : 'allocation-answered-before-kill'),
        ),
      ]);
      await sleep(Math.floor(random() * 600));
      await killAndRestart(work, () => {
        running = false;
      });
    }
    let allocated = await allocate();
    for (let i = 0; i < 40 && allocated.status === 200 && allocated.body.mint?.pending > 0; i++) {
      await sleep(250);
      allocated = await allocate();
    }
    assert.equal(allocated.status, 200, JSON.stringify(allocated.body));
    assert.deepEqual(allocated.body.mint, { minted: 6, pending: 0, failed: [] }, JSON.stringify(allocated.body));
    report.check('allocation-finished-after-kill');

    // every subscription allocated once and minted once; the supply is the database's allocations
    const subs = await readSqlite<{ wallet: string; allocated: number; mint_key: string }>(
      file,
      `SELECT wallet, allocated, mint_key FROM tessera_offering_subscription WHERE offering_id = '${id}'`,
    );
    assert.equal(subs.length, 6);
    const mints = await readSqlite<{ id: string; status: string }>(
      file,
      `SELECT id, status FROM tessera_outbox WHERE id IN (${subs.map((x) => `'${x.mint_key}'`).join(',')})`,
    );
    assert.deepEqual(
      mints.map((m) => m.status),
      subs.map(() => 'mined'),
      'one mined outbox row per allocation',
    );
    report.check('allocations-minted-once', subs.length);
    const tokenAddress = created.body.token?.address ?? created.body.tokenAddress;
    assert.match(String(tokenAddress), /^0x[0-9a-fA-F]{40}$/, JSON.stringify(created.body));
    const provider = makeProvider(s.chain, 31337);
    try {
      const token = SecurityToken__factory.connect(String(tokenAddress), provider);
      const total = subs.reduce((a, x) => a + BigInt(x.allocated), 0n);
      assert.equal(total, 1000n, 'the whole issue is allocated');
      assert.equal(await token.totalSupply(), total, 'the supply on chain is the sum of the allocations');
      for (const x of subs)
        assert.equal(await token.balanceOf(x.wallet), BigInt(x.allocated), `${x.wallet} holds its own`);
      report.check('token-supply-equals-allocations');
    } finally {
      provider.destroy();
    }

    // nothing left pending; health says so
    let h = await health(s.http);
    for (
      let i = 0;
      i < 40 && Number(h.body.parts.outbox?.pending ?? 0) + Number(h.body.parts.outbox?.signed ?? 0) > 0;
      i++
    ) {
      await sleep(250);
      h = await health(s.http);
    }
    assert.equal(h.status, 200, JSON.stringify(h.body));
    const open = await readSqlite<{ n: number }>(
      file,
      "SELECT COUNT(*) AS n FROM tessera_outbox WHERE status IN ('pending', 'signed', 'failed')",
    );
    assert.equal(open[0]!.n, 0, 'no outbox write pending or failed');
    report.check('nothing-pending');
    s.child.kill('SIGKILL');
  });
});
