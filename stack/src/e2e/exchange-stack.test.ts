/**
 * The data exchange as `npm start` serves it (/services/exchange): two organisations with reference wallets get
 * DataPartner credentials from the stack's issuer, present them to the stack's verifier, authorise the stack's
 * hosted keys on chain as veriKey delegates of their DIDs (the wallet's `delegate` flow), then run a supplier
 * questionnaire through the hosted API (the same calls the HTML interface makes); signatures verify as the
 * organisations' DIDs and the trail verifies against its anchor on the stack's chain.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { addDelegateDigest } from '@tessera/contracts';
import { loginWithCredentials, readHolderFile } from '@tessera/wallet';
import { silentLogger } from '@tessera/protocol';
import { authoriseHostedKey, httpJson, present, receiveOffer, TesseraWallet } from '@tessera/wallet';
import { Wallet } from 'ethers';
import { SUPPLIER_QUESTIONNAIRE } from '@tessera/services';
import { loadConfig } from '../config.js';
import { type RunningStack, startStack } from '../stack.js';

let dataDir: string;
let stack: RunningStack;
let base: string;
const wallets: Record<'buyer' | 'supplier' | 'outsider', TesseraWallet> = {} as never;
const tokens: Record<string, string> = {};

const call = async (who: keyof typeof wallets, method: string, path: string, body?: unknown) => {
  const r = await fetch(`${base}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${tokens[who]}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: r.status, body: (await r.json()) as Record<string, any> };
};

before(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'tessera-e2e-exchange-'));
  stack = await startStack(
    loadConfig({
      TESSERA_DATA_DIR: join(dataDir, 'stack'),
      TESSERA_HTTP_PORT: '0',
      TESSERA_MQTT_PORT: '0',
      TESSERA_LOG_LEVEL: 'silent',
    }),
    { log: silentLogger },
  );
  base = `${stack.urls.http}/services/exchange`;
  const admin = await loginWithCredentials(`${stack.urls.http}/issuer`, readHolderFile(stack.issuer.rootAdmin.file));
  for (const who of ['buyer', 'supplier', 'outsider'] as const) {
    const w = TesseraWallet.init(join(dataDir, who), { chainId: stack.chainId });
    assert.ok(w.ok);
    wallets[who] = w.value;
  }
  for (const [who, name] of [
    ['buyer', 'Acme Buyer GmbH'],
    ['supplier', 'Solar Parts SARL'],
  ] as const) {
    const issued = await httpJson<{ id: string }>(`${stack.urls.http}/issuer/credentials`, {
      method: 'POST',
      token: admin,
      body: {
        type: 'DataPartnerCredential',
        subject: wallets[who].did,
        claims: { organisationName: name, registrationId: `RCS-${who}`, dataspace: 'tessera' },
      },
    });
    assert.ok(issued.ok, JSON.stringify(issued));
    const offer = await httpJson<{ code: string; redeemUrl: string }>(
      `${stack.urls.http}/issuer/credentials/${issued.value.body.id}/offer`,
      { method: 'POST', token: admin, body: {} },
    );
    assert.ok(offer.ok);
    assert.ok((await receiveOffer(wallets[who], `${offer.value.body.redeemUrl}?code=${offer.value.body.code}`)).ok);
    const granted = await present(wallets[who], `${stack.urls.http}/verifier`, {
      resource: '/data/exchange',
      action: '*',
    });
    assert.ok(granted.ok, JSON.stringify(granted));
    tokens[who] = granted.value.access_token;
  }
});

after(async () => {
  await stack?.stop();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true, maxRetries: 5 });
});

describe('data exchange mounted in the stack', () => {
  it('is listed with the stack and serves its OpenAPI document; its old HTML address leads to the console', async () => {
    assert.equal(stack.services.urls.exchange, base);
    const spec = (await (await fetch(`${base}/openapi.json`)).json()) as { paths: Record<string, unknown> };
    assert.ok(spec.paths['/partners/hosted-key/confirm']);
    // the exchange's pages are the console's: the old interface's address leads there
    for (const path of ['/ui/login', '/ui/']) {
      const ui = await fetch(`${base}${path}`, { redirect: 'manual' });
      assert.equal(ui.status, 303);
      assert.equal(ui.headers.get('location'), '/#/exchange');
    }
  });

  it('refuses an organisation without a DataPartner credential', async () => {
    const refused = await present(wallets.outsider, `${stack.urls.http}/verifier`, {
      resource: '/data/exchange',
      action: '*',
    });
    assert.equal(refused.ok, false);
    tokens.outsider = 'not-a-token';
    assert.equal((await call('outsider', 'GET', '/partners')).status, 401);
  });

  it('refuses a delegation signed by a key that does not own the DID, and signs nothing before one is mined', async () => {
    const offer = await call('buyer', 'POST', '/partners/hosted-key', {});
    assert.equal(offer.status, 200, JSON.stringify(offer.body));
    assert.equal(offer.body.active, false);
    assert.equal(offer.body.request.identity.toLowerCase(), wallets.buyer.did.split(':').at(-1));
    const r = offer.body.request;
    const forged = Wallet.createRandom().signingKey.sign(addDelegateDigest({ ...r, nonce: BigInt(r.nonce) }));
    const refused = await call('buyer', 'POST', '/partners/hosted-key/confirm', { signature: forged.serialized });
    assert.equal(refused.status, 401, JSON.stringify(refused.body));
    assert.equal(refused.body.error.code, 'ERR_EXCHANGE_BAD_SIGNATURE');
    const malformed = await call('buyer', 'POST', '/partners/hosted-key/confirm', { signature: '0x1234' });
    assert.equal(malformed.body.error.code, 'ERR_VALIDATION');
    // no delegation yet: the hosted API has no key to sign with
    await call('buyer', 'POST', '/partners', { name: 'Acme Buyer GmbH' });
    const early = await call('buyer', 'POST', '/messages/hosted', {
      to: wallets.supplier.did,
      body: { kind: 'request', questionnaire: SUPPLIER_QUESTIONNAIRE },
    });
    assert.equal(early.body.error.code, 'ERR_EXCHANGE_BAD_SIGNATURE');
    // and the wallet refuses to sign a delegation of an identity that is not its own
    const other = wallets.buyer.signDelegation({
      ...r,
      nonce: BigInt(r.nonce),
      identity: Wallet.createRandom().address,
    });
    assert.equal(other.ok, false);
    assert.equal(!other.ok && other.error.code, 'ERR_WALLET_DELEGATION_REFUSED');
  });

  it('runs a questionnaire through hosted keys the organisations authorised on chain, signatures as their DIDs', async () => {
    for (const who of ['buyer', 'supplier'] as const) {
      const authorised = await authoriseHostedKey(wallets[who], `${base}/partners/hosted-key`);
      assert.ok(authorised.ok, JSON.stringify(authorised));
      assert.match(authorised.value.txHash ?? '', /^0x[0-9a-f]{64}$/);
      // asking again is harmless: already active
      const again = await authoriseHostedKey(wallets[who], `${base}/partners/hosted-key`);
      assert.ok(again.ok && again.value.alreadyActive);
      assert.equal((await call(who, 'POST', '/partners', {})).status, 200);
    }
    const sent = await call('buyer', 'POST', '/messages/hosted', {
      to: wallets.supplier.did,
      body: { kind: 'request', questionnaire: SUPPLIER_QUESTIONNAIRE },
    });
    assert.equal(sent.status, 201, JSON.stringify(sent.body));
    const ack = await call('supplier', 'POST', `/messages/${sent.body.id}/ack/hosted`);
    assert.equal(ack.status, 200, JSON.stringify(ack.body));
    const answer = await call('supplier', 'POST', '/messages/hosted', {
      to: wallets.buyer.did,
      body: {
        kind: 'answer',
        requestId: sent.body.id,
        answers: {
          legalName: 'Solar Parts SARL',
          vatId: 'FR40303265045',
          employees: 42,
          iso14001: true,
          country: 'FR',
        },
      },
    });
    assert.equal(answer.status, 201, JSON.stringify(answer.body));
    const sigs = await call('buyer', 'GET', `/messages/${sent.body.id}/signatures`);
    assert.deepEqual([sigs.body.message.signer, sigs.body.ack.signer], [wallets.buyer.did, wallets.supplier.did]);

    const anchored = await stack.services.exchange.service.anchorTrail();
    assert.ok(anchored.ok, JSON.stringify(anchored));
    assert.ok((anchored.value.blockNumber ?? 0) > 0);
    const verified = await call('buyer', 'GET', '/trail/verify');
    assert.equal(verified.status, 200, JSON.stringify(verified.body));
    assert.equal(verified.body.verified, true);
  });
});
