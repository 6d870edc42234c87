import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ANVIL_FUNDER_KEY, EthereumDIDRegistry__factory, Keystore } from '@tessera/contracts';
import { Wallet } from 'ethers';
import express from 'express';
import { HostedKeyring } from './hosted-keys.js';
import { buildExchangeRouter } from './http.js';
import { signAck, signMessage } from './messages.js';
import { SUPPLIER_QUESTIONNAIRE } from './questionnaire.js';
import {
  type ExchangeFixture,
  newOrg,
  type Org,
  startExchangeFixture,
  startVerifier,
  type VerifierFixture,
} from './testing.js';

let fx: ExchangeFixture;
let vf: VerifierFixture;
let server: Server;
let base = '';
let keysDir = '';
const buyer = newOrg('Acme Buyer GmbH');
const supplier = newOrg('Solar Parts SARL');
const outsider = newOrg('Untrusted Ltd');
const tokens = new Map<Org, string>();

async function call(org: Org | undefined, method: string, path: string, body?: unknown) {
  const headers: Record<string, string> = {};
  if (body !== undefined) headers['content-type'] = 'application/json';
  const t = org && tokens.get(org);
  if (t) headers.authorization = `Bearer ${t}`;
  const r = await fetch(`${base}/data/exchange${path}`, {
    method,
    headers,
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  // biome-ignore lint/suspicious/noExplicitAny: the tests read whatever JSON the API answered
  return { status: r.status, body: (await r.json()) as Record<string, any> };
}

before(async () => {
  fx = await startExchangeFixture();
  fx.keyring.add(buyer).addPrivateKey(supplier.did, supplier.wallet.privateKey);
  const app = express();
  vf = await startVerifier(fx.resolver, app, () => base);
  // hosted keys on a registry of their own: the routes offer and relay the delegation; signing with them is tested
  // through the service's keyring
  keysDir = mkdtempSync(join(tmpdir(), 'tessera-exchange-keys-'));
  const registry = await new EthereumDIDRegistry__factory(new Wallet(ANVIL_FUNDER_KEY, fx.provider)).deploy();
  await registry.waitForDeployment();
  const hostedKeys = new HostedKeyring({
    keystore: Keystore.open(keysDir),
    outbox: fx.outbox,
    provider: fx.provider,
    registry: await registry.getAddress(),
  });
  app.use(
    '/data/exchange',
    buildExchangeRouter({ service: fx.service, requireCredentials: vf.core.guard, hostedKeys }),
  );
  server = app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  for (const org of [buyer, supplier]) {
    const t = await vf.token(org, [await vf.credential(org)]);
    assert.equal(t.status, 200, JSON.stringify(t.body));
    tokens.set(org, t.body.access_token as string);
  }
});
after(async () => {
  server?.close();
  await fx?.close();
  if (keysDir) rmSync(keysDir, { recursive: true, force: true });
});

describe('data exchange HTTP API behind the verifier guard', () => {
  it('refuses a caller without a DataPartner credential from a trusted certifier', async () => {
    assert.equal((await call(undefined, 'GET', '/partners')).body.error.code, 'ERR_AUTH_REQUIRED');
    // A credential from an issuer the verifier does not trust, or for another data space, gets no token.
    const untrusted = await vf.token(outsider, [await vf.credential(outsider, { dataspace: 'tessera' }, outsider)]);
    assert.equal((untrusted.body.error as { code: string }).code, 'ERR_VC_UNTRUSTED_ISSUER');
    const otherSpace = await vf.token(outsider, [await vf.credential(outsider, { dataspace: 'elsewhere' })]);
    assert.equal(
      (otherSpace.body.error as { code: string }).code,
      'ERR_POLICY_DENIED',
      JSON.stringify(otherSpace.body),
    );
    // A token for another resource does not open the exchange.
    const elsewhere = await vf.token(outsider, [await vf.credential(outsider)], '/data/other');
    assert.equal(elsewhere.status, 200);
    tokens.set(outsider, elsewhere.body.access_token as string);
    assert.equal((await call(outsider, 'GET', '/partners')).body.error.code, 'ERR_FORBIDDEN');
    tokens.delete(outsider);
  });

  it('exchanges signed messages and signed acknowledgements, and reports the trail', async () => {
    for (const org of [buyer, supplier]) {
      const r = await call(org, 'POST', '/partners', { name: org.name });
      assert.equal(r.status, 200, JSON.stringify(r.body));
    }
    assert.equal((await call(buyer, 'GET', '/partners')).body.partners.length, 2);
    // the exchange's own template, as a buyer (or the console's request form) starts from it
    const template = await call(buyer, 'GET', '/questionnaires/supplier-onboarding');
    assert.equal(template.status, 200, JSON.stringify(template.body));
    assert.deepEqual(template.body, SUPPLIER_QUESTIONNAIRE);
    assert.equal((await call(undefined, 'GET', '/questionnaires/supplier-onboarding')).status, 401);
    const jws = await signMessage(buyer, supplier.did, { kind: 'request', questionnaire: template.body });
    const sent = await call(buyer, 'POST', '/messages', { jws });
    assert.equal(sent.status, 201, JSON.stringify(sent.body));
    // Only its signer may submit it.
    assert.equal((await call(supplier, 'POST', '/messages', { jws })).body.error.code, 'ERR_EXCHANGE_BAD_SIGNATURE');
    const ack = await call(supplier, 'POST', `/messages/${sent.body.id}/ack`, {
      jws: await signAck(supplier, { id: sent.body.id, from: buyer.did, jws }),
    });
    assert.equal(ack.status, 200, JSON.stringify(ack.body));
    assert.equal(ack.body.status, 'acknowledged');

    const bad = await call(supplier, 'POST', '/messages/hosted', {
      to: buyer.did,
      body: { kind: 'answer', requestId: sent.body.id, answers: { legalName: 7 } },
    });
    assert.equal(bad.status, 422);
    assert.equal(bad.body.error.code, 'ERR_EXCHANGE_ANSWER_INVALID');

    const sigs = await call(buyer, 'GET', `/messages/${sent.body.id}/signatures`);
    assert.deepEqual([sigs.body.message.signer, sigs.body.ack.signer], [buyer.did, supplier.did]);
    const trail = await call(supplier, 'GET', '/trail');
    assert.deepEqual(
      trail.body.entries.map((e: { what: string }) => e.what),
      ['partner.register', 'message.request', 'message.ack'],
    );
    const verified = await call(buyer, 'GET', '/trail/verify');
    assert.equal(verified.status, 200, JSON.stringify(verified.body));
    assert.deepEqual(Object.keys(verified.body).sort(), ['anchored', 'head', 'length', 'verified']);
    assert.equal(verified.body.head.seq, verified.body.length);
    // a message not acknowledged yet: its sender's signature only
    const data = await call(buyer, 'POST', '/messages', {
      jws: await signMessage(buyer, supplier.did, { kind: 'data', label: 'Monthly volume', payload: { volume: 12 } }),
    });
    assert.equal(data.status, 201, JSON.stringify(data.body));
    const unacked = await call(supplier, 'GET', `/messages/${data.body.id}/signatures`);
    assert.equal(unacked.status, 200, JSON.stringify(unacked.body));
    assert.deepEqual(unacked.body, {
      message: { verified: true, signer: buyer.did, hash: data.body.hash, issuedAt: unacked.body.message.issuedAt },
      ack: null,
    });
    assert.equal((await call(buyer, 'GET', '/messages/nope-0000')).body.error.code, 'ERR_EXCHANGE_NOT_FOUND');
  });

  it("offers the hosted-key delegation and relays the owner's signature of it on chain", async () => {
    const offer = await call(buyer, 'POST', '/partners/hosted-key');
    assert.equal(offer.status, 200, JSON.stringify(offer.body));
    const address = buyer.wallet.address;
    assert.deepEqual(
      [
        offer.body.did,
        offer.body.owner,
        offer.body.request.identity,
        offer.body.request.delegateType,
        offer.body.active,
      ],
      [buyer.did, address, address, 'veriKey', false],
    );
    const bad = await call(buyer, 'POST', '/partners/hosted-key/confirm', {
      signature: supplier.wallet.signingKey.sign(offer.body.digest).serialized,
    });
    assert.equal(bad.body.error?.code, 'ERR_EXCHANGE_BAD_SIGNATURE');
    const confirmed = await call(buyer, 'POST', '/partners/hosted-key/confirm', {
      signature: buyer.wallet.signingKey.sign(offer.body.digest).serialized,
    });
    assert.equal(confirmed.status, 200, JSON.stringify(confirmed.body));
    assert.equal(confirmed.body.delegate, offer.body.request.delegate);
    assert.match(confirmed.body.txHash, /^0x[0-9a-f]{64}$/);
    assert.equal((await call(buyer, 'POST', '/partners/hosted-key')).body.active, true);
  });

  it('serves its OpenAPI 3.1 document, with the message kinds generated from the schemas', async () => {
    const spec = await call(undefined, 'GET', '/openapi.json');
    assert.equal(spec.status, 200);
    assert.equal(spec.body.openapi, '3.1.0');
    assert.equal(spec.body.servers[0].url, `${base}/data/exchange`);
    const schemas = spec.body.components.schemas;
    // generated from the discriminated union that validates message bodies: one variant per kind
    const kinds = (schemas.MessageBody.oneOf as { properties: { kind: { const?: string; enum?: string[] } } }[]).map(
      (b) => b.properties.kind.const ?? b.properties.kind.enum?.[0],
    );
    assert.deepEqual(kinds.sort(), [
      'answer',
      'consent.grant',
      'consent.revoke',
      'data',
      'decision',
      'forward',
      'request',
    ]);
    // Every reference resolves inside the document.
    for (const [, name] of JSON.stringify(spec.body).matchAll(/"#\/components\/schemas\/([^"]+)"/g)) {
      assert.ok(schemas[name!], `${name} is defined`);
    }
    for (const path of ['/messages', '/messages/{id}/ack', '/trail/verify', '/processes/{id}']) {
      assert.ok(spec.body.paths[path], path);
    }
  });
});
