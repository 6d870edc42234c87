/**
 * Tessera's reference wallet speaks OpenID4VCI 1.0 and OpenID4VP 1.0 against the stack, checks who asks, and refuses
 * unsigned, wrongly signed and relayed requests; and a credential from a foreign issuer (a Veramo agent hosting its own
 * Bitstring Status List over HTTP) is accepted while trusted and unrevoked, and refused with ERR_VC_REVOKED once its
 * issuer revokes it there.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Keystore } from '@tessera/contracts';
import { Bitstring, silentLogger, statusListEntry, statusListSubject } from '@tessera/protocol';
import {
  checkRequestObject,
  httpJson,
  presentOpenid4vp,
  receiveCredentialOffer,
  receiveWithAuthorizationCode,
  TesseraWallet,
} from '@tessera/wallet';
import { createAgent, type ICredentialPlugin, type IDIDManager, type IKeyManager, type IResolver } from '@veramo/core';
import { CredentialProviderJWT } from '@veramo/credential-jwt';
import { CredentialPlugin } from '@veramo/credential-w3c';
import { DIDManager, MemoryDIDStore } from '@veramo/did-manager';
import { EthrDIDProvider } from '@veramo/did-provider-ethr';
import { DIDResolverPlugin } from '@veramo/did-resolver';
import { KeyManager, MemoryKeyStore, MemoryPrivateKeyStore } from '@veramo/key-manager';
import { KeyManagementSystem } from '@veramo/kms-local';
import { ES256KSigner, hexToBytes } from 'did-jwt';
import { getResolver } from 'ethr-did-resolver';
import { Wallet } from 'ethers';
import express from 'express';
import { loadConfig } from '../config.js';
import { type RunningStack, startStack } from '../stack.js';

const M = 'DE-MALO-5001';
const ORDERS = `/energy/meters/${M}/orders`;
const F = 'DE-MALO-6001';

let dataDir: string;
let stack: RunningStack;
let verifierUrl: string;
let wallet: TesseraWallet;
// the foreign issuer: its key (so its DID can go into the trust list before the stack starts) and its HTTP server
const foreignKey = Wallet.createRandom();
const foreignDid = `did:ethr:0x7a69:${foreignKey.address.toLowerCase()}`;
let foreignServer: Server;
let foreignUrl: string;
let foreignBits = Bitstring.create();

before(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'tessera-e2e-oid4vc-wallet-'));
  // The foreign issuer's status list is served before the stack starts (its URL goes into its credentials).
  const app = express();
  let listJwt = '';
  app.get('/status/1', (_req, res) => {
    res.type('application/vc+jwt').send(listJwt);
  });
  foreignServer = app.listen(0, '127.0.0.1');
  await new Promise((r) => foreignServer.once('listening', r));
  foreignUrl = `http://127.0.0.1:${(foreignServer.address() as AddressInfo).port}`;

  // The stack's own issuer is created at its first start; a trust list file names the foreign issuer beside it.
  // Every status list fetched over HTTP is refetched on each use (freshness bound 0 s), so the test does not wait.
  const trustFile = join(dataDir, 'trust.json');
  // The stack's issuer key is made here first (the stack adopts it from the key store), so its DID can be listed too.
  const issuerKey = Keystore.open(join(dataDir, 'stack', 'keys')).getOrCreate('issuer');
  const ownIssuer = `did:ethr:0x7a69:${issuerKey.address.toLowerCase()}`;
  writeFileSync(
    trustFile,
    JSON.stringify({ EnergyProsumerCredential: [foreignDid, ownIssuer], DataPartnerCredential: [ownIssuer] }),
  );
  stack = await startStack(
    loadConfig({
      TESSERA_DATA_DIR: join(dataDir, 'stack'),
      TESSERA_HTTP_PORT: '0',
      TESSERA_MQTT_PORT: '0',
      TESSERA_LOG_LEVEL: 'silent',
      TESSERA_TRUST_LIST_FILE: trustFile,
      TESSERA_STATUS_MAX_AGE_SECONDS: '0',
    }),
    { log: silentLogger },
  );
  verifierUrl = `${stack.urls.http}/verifier`;
  const created = TesseraWallet.init(join(dataDir, 'holder'), { chainId: stack.chainId });
  assert.ok(created.ok);
  wallet = created.value;

  // Foreign issuer: a Veramo agent on the same chain, signing its credentials and its status list.
  const network = { chainId: '0x7a69', rpcUrl: stack.urls.chainRpc, registry: stack.contracts.EthereumDIDRegistry };
  const agent = createAgent<IDIDManager & IKeyManager & IResolver & ICredentialPlugin>({
    plugins: [
      new KeyManager({
        store: new MemoryKeyStore(),
        kms: { local: new KeyManagementSystem(new MemoryPrivateKeyStore()) },
      }),
      new DIDManager({
        store: new MemoryDIDStore(),
        defaultProvider: 'did:ethr:0x7a69',
        providers: { 'did:ethr:0x7a69': new EthrDIDProvider({ defaultKms: 'local', networks: [network as never] }) },
      }),
      new DIDResolverPlugin({ ...getResolver({ networks: [network] }) }),
      new CredentialPlugin([new CredentialProviderJWT()]),
    ],
  });
  const pub = foreignKey.signingKey.publicKey.slice(2);
  await agent.didManagerImport({
    did: foreignDid,
    provider: 'did:ethr:0x7a69',
    controllerKeyId: pub,
    keys: [
      { kid: pub, kms: 'local', type: 'Secp256k1', privateKeyHex: foreignKey.privateKey.slice(2), publicKeyHex: pub },
    ],
    services: [],
  });
  const listUrl = `${foreignUrl}/status/1`;
  const signList = async () => {
    const vc = await agent.createVerifiableCredential({
      credential: {
        '@context': ['https://www.w3.org/2018/credentials/v1'],
        id: listUrl,
        type: ['VerifiableCredential', 'BitstringStatusListCredential'],
        issuer: { id: foreignDid },
        issuanceDate: new Date(Math.floor(Date.now() / 1000) * 1000).toISOString(),
        credentialSubject: { ...statusListSubject(listUrl, 'revocation', foreignBits) },
      },
      proofFormat: 'jwt',
    });
    listJwt = (vc.proof as { jwt: string }).jwt;
  };
  await signList();
  foreignRevoke = async (index: number) => {
    foreignBits = Bitstring.create();
    foreignBits.set(index, true);
    await signList();
  };
  const vc = await agent.createVerifiableCredential({
    credential: {
      '@context': ['https://www.w3.org/2018/credentials/v1'],
      type: ['VerifiableCredential', 'EnergyProsumerCredential'],
      issuer: { id: foreignDid },
      issuanceDate: new Date(Math.floor(Date.now() / 1000) * 1000).toISOString(),
      expirationDate: new Date(Date.now() + 3600_000).toISOString(),
      credentialSubject: { id: wallet.did, meterId: F, role: 'prosumer' },
      credentialStatus: statusListEntry(listUrl, 42, 'revocation') as never,
    },
    proofFormat: 'jwt',
  });
  foreignCredential = (vc.proof as { jwt: string }).jwt;
});

let foreignRevoke: (index: number) => Promise<void>;
let foreignCredential: string;

after(async () => {
  await stack?.stop();
  if (foreignServer?.listening) {
    const closed = new Promise((r) => foreignServer.close(r));
    foreignServer.closeAllConnections();
    await closed;
  }
  if (dataDir) rmSync(dataDir, { recursive: true, force: true, maxRetries: 5 });
});

describe("Tessera's wallet over OpenID4VCI and OpenID4VP", () => {
  it('receives both formats from an offer with a transaction code (wrong code refused, then the right one)', async () => {
    const vc = await stack.issuer.issuer.issue({
      type: 'EnergyProsumerCredential',
      subject: wallet.did,
      claims: { meterId: M, role: 'prosumer', nameplateKw: 5 },
    });
    assert.ok(vc.ok, JSON.stringify(vc));
    const offer = await stack.issuer.issuer.offer(vc.value.id, { txCode: true });
    assert.ok(offer.ok, JSON.stringify(offer));
    const { presentOffer } = await import('@tessera/issuer');
    const shown = await presentOffer(stack.issuer.issuer, offer.value, 'EnergyProsumerCredential');
    const wrong = await receiveCredentialOffer(wallet, shown.offer_uri_by_reference, {
      txCode: offer.value.txCode === '123456' ? '654321' : '123456',
    });
    assert.equal(wrong.ok ? 'ok' : wrong.error.code, 'ERR_OID4VCI_TX_CODE');
    const got = await receiveCredentialOffer(wallet, shown.offer_uri_by_reference, { txCode: offer.value.txCode! });
    assert.ok(got.ok, JSON.stringify(got));
    assert.deepEqual(got.value.map((c) => c.format ?? 'jwt_vc_json').sort(), ['dc+sd-jwt', 'jwt_vc_json']);
  });

  it('presents the SD-JWT VC over direct_post.jwt and the JWT VC over direct_post, showing who asks and for what', async () => {
    for (const [responseMode, preferFormat] of [
      ['direct_post.jwt', 'dc+sd-jwt'],
      ['direct_post', 'jwt_vc_json'],
    ] as const) {
      let shown: { verifier: string; resource?: string; asks: { claims: string[] }[] } | undefined;
      const r = await presentOpenid4vp(
        wallet,
        verifierUrl,
        { resource: ORDERS, action: 'POST' },
        {
          responseMode,
          preferFormat,
          confirm: (c) => {
            shown = c;
            return true;
          },
        },
      );
      assert.ok(r.ok, JSON.stringify(r));
      assert.equal(shown?.verifier, stack.identities.verifier.did);
      assert.equal(shown?.resource, ORDERS);
      assert.deepEqual(shown?.asks[0]?.claims, ['meterId', 'role']);
      const grant = await stack.verifier.core.authorize(r.value.access_token, ORDERS, 'POST');
      assert.ok(grant.ok);
      const claims = Object.keys(grant.value.credentials[0]!.claims).sort();
      // the SD-JWT VC discloses what the policy asks (the meter, and the role: only producers sell), not the nameplate
      assert.deepEqual(claims, preferFormat === 'dc+sd-jwt' ? ['meterId', 'role'] : ['meterId', 'nameplateKw', 'role']);
    }
  });

  it('an organisation fetches its own credential with the authorization code grant, signed in by OpenID4VP', async () => {
    const vc = await stack.issuer.issuer.issue({
      type: 'DataPartnerCredential',
      subject: wallet.did,
      claims: { organisationName: 'Grid Data Ltd', registrationId: 'HRB 12345', dataspace: 'energy-ds' },
    });
    assert.ok(vc.ok, JSON.stringify(vc));
    const offer = await stack.issuer.issuer.offer(vc.value.id);
    assert.ok(offer.ok);
    const { presentOffer } = await import('@tessera/issuer');
    const shown = await presentOffer(stack.issuer.issuer, offer.value, 'DataPartnerCredential');
    assert.ok((await receiveCredentialOffer(wallet, shown.offer_uri)).ok);
    // Without a sign-in the authorization endpoint refuses; the organisation signs in with its DataPartnerCredential.
    const anonymous = await receiveWithAuthorizationCode(
      wallet,
      `${stack.urls.http}/issuer`,
      ['DataPartnerCredential_sd_jwt'],
      {
        signIn: 'not-a-token',
      },
    );
    assert.equal(anonymous.ok, false);
    const signIn = await presentOpenid4vp(wallet, verifierUrl, { resource: '/oid4vci/authorize', action: 'GET' });
    assert.ok(signIn.ok, JSON.stringify(signIn));
    const got = await receiveWithAuthorizationCode(
      wallet,
      `${stack.urls.http}/issuer`,
      ['DataPartnerCredential_sd_jwt'],
      {
        signIn: signIn.value.access_token,
      },
    );
    assert.ok(got.ok, JSON.stringify(got));
    assert.equal(got.value.length, 1);
    assert.equal(got.value[0]!.format, 'dc+sd-jwt');
    assert.equal(got.value[0]!.claims.organisationName, 'Grid Data Ltd');
  });

  it('refuses an unsigned or wrongly signed request object, and a request relayed from another verifier', async () => {
    const created = await httpJson<{ request_uri: string; authorization_request: string }>(
      `${verifierUrl}/oid4vp/requests`,
      {
        body: { resource: ORDERS, action: 'POST' },
      },
    );
    assert.ok(created.ok);
    const jar = await (await fetch(created.value.body.request_uri)).text();
    const [h, p] = jar.split('.') as [string, string];
    const addressed = {
      verifierDid: stack.identities.verifier.did,
      origin: stack.urls.http,
      scope: { resource: ORDERS, action: 'POST' },
    };
    // the genuine one passes
    assert.ok(checkRequestObject(jar, addressed).ok);
    // unsigned (alg none, no signature)
    const none = `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'oauth-authz-req+jwt' })).toString('base64url')}.${p}.`;
    assert.equal(
      (checkRequestObject(none, addressed) as { error: { code: string } }).error.code,
      'ERR_OID4VP_REQUEST_SIGNATURE',
    );
    // signed by another key
    const other = Wallet.createRandom();
    const forged = `${h}.${p}.${await ES256KSigner(hexToBytes(other.privateKey))(`${h}.${p}`)}`;
    assert.equal(
      (checkRequestObject(forged, addressed) as { error: { code: string } }).error.code,
      'ERR_OID4VP_REQUEST_SIGNATURE',
    );
    // a hostile site relays the real verifier's request: the user addressed the hostile origin
    const relayed = checkRequestObject(jar, { ...addressed, origin: 'http://127.0.0.66:9' });
    assert.equal((relayed as { error: { code: string } }).error.code, 'ERR_OID4VP_VERIFIER_MISMATCH');
    // ... or claims to be another verifier
    const impostor = checkRequestObject(jar, {
      ...addressed,
      verifierDid: `did:ethr:0x7a69:${other.address.toLowerCase()}`,
    });
    assert.equal((impostor as { error: { code: string } }).error.code, 'ERR_OID4VP_VERIFIER_MISMATCH');
    // ... or for another resource than the user asked for (the order of someone else's meter)
    const elsewhere = checkRequestObject(jar, {
      ...addressed,
      scope: { resource: '/energy/meters/X/orders', action: 'POST' },
    });
    assert.equal((elsewhere as { error: { code: string } }).error.code, 'ERR_OID4VP_VERIFIER_MISMATCH');
  });
});

describe('a credential from a foreign issuer (Veramo, its own status list over HTTP)', () => {
  it('is accepted while trusted and unrevoked, over direct_post and direct_post.jwt', async () => {
    assert.ok(wallet.addCredential(foreignCredential).ok);
    for (const responseMode of ['direct_post', 'direct_post.jwt'] as const) {
      let shown: unknown;
      const r = await presentOpenid4vp(
        wallet,
        verifierUrl,
        { resource: `/energy/meters/${F}/orders`, action: 'POST' },
        {
          responseMode,
          confirm: (c) => {
            shown = c;
            return true;
          },
        },
      );
      assert.ok(r.ok, JSON.stringify(r));
      assert.equal((shown as { verifier: string }).verifier, stack.identities.verifier.did);
      assert.equal((shown as { resource: string }).resource, `/energy/meters/${F}/orders`);
    }
  });

  it('is refused with ERR_VC_REVOKED once its issuer revokes it on its own list', async () => {
    await foreignRevoke(42);
    const r = await presentOpenid4vp(wallet, verifierUrl, { resource: `/energy/meters/${F}/orders`, action: 'POST' });
    assert.equal(r.ok ? 'ok' : r.error.code, 'ERR_VC_REVOKED');
  });

  it('is refused with ERR_VC_STATUS_UNAVAILABLE only when no copy of the list can be had', async () => {
    const closed = new Promise((r) => foreignServer.close(r));
    foreignServer.closeAllConnections();
    await closed;
    const r = await presentOpenid4vp(wallet, verifierUrl, { resource: `/energy/meters/${F}/orders`, action: 'POST' });
    // the last good copy (revoked) is still within the stale bound: the answer stays the truthful one
    assert.equal(r.ok ? 'ok' : r.error.code, 'ERR_VC_REVOKED');
  });
});
