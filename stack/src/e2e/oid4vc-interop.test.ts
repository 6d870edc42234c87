/**
 * Standard wallets against the whole stack (embedded anvil, SQLite, the issuer at /issuer, the verifier at /verifier):
 * a holder made only of the standard libraries' wallet-side functions receives an EnergyProsumerCredential in both
 * formats (jwt_vc_json, dc+sd-jwt) through both grants (pre-authorized code with a transaction code, authorization
 * code with PKCE), DPoP-bound, and presents it through both response modes (direct_post, direct_post.jwt) for an energy
 * order; and the refusals an attacker meets, each with its code.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { CredentialOfferObject, IssuerMetadataResult } from '@openid4vc/openid4vci';
import { type HolderKeyFile, silentLogger } from '@tessera/protocol';
import { httpJson, loginWithCredentials, readHolderFile } from '@tessera/wallet';
import { ES256KSigner, hexToBytes } from 'did-jwt';
import { createVerifiablePresentationJwt } from 'did-jwt-vc';
import { loadConfig } from '../config.js';
import { type RunningStack, startStack } from '../stack.js';
import { type LibraryHolder, libraryHolder, presentJwtVc, presentSdJwt } from './oid4vc-holder.js';

const M = 'DE-MALO-4711';
const ORDERS = `/energy/meters/${M}/orders`;

let dataDir: string;
let stack: RunningStack;
let issuerUrl: string;
let verifierUrl: string;
let holder: LibraryHolder;
let adminToken: string;
let credentialId: string;

type AdminWallet = HolderKeyFile;

/** A Tessera access token for `action` on `resource`, from a presentation of `admin`'s credentials to the verifier. */
async function signInFor(admin: AdminWallet, resource: string, action: string): Promise<string> {
  const req = await httpJson<{ nonce: string; audience: string }>(`${verifierUrl}/presentation-requests`, {
    body: { resource, action },
  });
  assert.ok(req.ok, JSON.stringify(req));
  const vp = await createVerifiablePresentationJwt(
    {
      vp: {
        '@context': ['https://www.w3.org/2018/credentials/v1'],
        type: ['VerifiablePresentation'],
        verifiableCredential: admin.credentials,
      },
      nonce: req.value.body.nonce,
      aud: req.value.body.audience,
    },
    { did: admin.did, signer: ES256KSigner(hexToBytes(admin.privateKey)), alg: 'ES256K' },
  );
  const token = await httpJson<{ access_token: string }>(`${verifierUrl}/presentations`, { body: { vp } });
  assert.ok(token.ok, JSON.stringify(token));
  return token.value.body.access_token;
}

async function asAdmin<T>(path: string, body?: unknown) {
  const r = await httpJson<T>(`${issuerUrl}${path}`, { method: 'POST', token: adminToken, body: body ?? {} });
  assert.ok(r.ok, `${path}: ${JSON.stringify(r)}`);
  return r.value.body;
}

interface OfferAnswer {
  code: string;
  txCode?: string;
  offer_uri: string;
  offer_uri_by_reference: string;
  qr_svg: string;
}

/** POST a form, as a wallet does at the token endpoint; the JSON answer and status. */
async function postForm(url: string, form: Record<string, string>, headers: Record<string, string> = {}) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(form).toString(),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

before(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'tessera-e2e-oid4vc-'));
  stack = await startStack(
    loadConfig({
      TESSERA_DATA_DIR: join(dataDir, 'stack'),
      TESSERA_HTTP_PORT: '0',
      TESSERA_MQTT_PORT: '0',
      TESSERA_LOG_LEVEL: 'silent',
    }),
    { log: silentLogger },
  );
  issuerUrl = `${stack.urls.http}/issuer`;
  verifierUrl = `${stack.urls.http}/verifier`;
  holder = libraryHolder({
    chainId: stack.chainId,
    rpcUrl: stack.urls.chainRpc,
    registry: stack.contracts.EthereumDIDRegistry,
  });
  adminToken = await loginWithCredentials(issuerUrl, readHolderFile(stack.issuer.rootAdmin.file));
  const vc = await asAdmin<{ id: string }>('/credentials', {
    type: 'EnergyProsumerCredential',
    subject: holder.did,
    claims: { meterId: M, role: 'prosumer', nameplateKw: 7.5 },
  });
  credentialId = vc.id;
});

after(async () => {
  await stack?.stop();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true, maxRetries: 5 });
});

/** The library client's credential request: a fresh c_nonce, `n` jwt proofs by the holder's DID key, DPoP. */
async function retrieve(
  metadata: IssuerMetadataResult,
  accessToken: string,
  configurationId: string,
  dpop: unknown,
  n = 1,
): Promise<string[]> {
  const { c_nonce } = await holder.vci.requestNonce({ issuerMetadata: metadata });
  const proofs: string[] = [];
  for (let i = 0; i < n; i++) {
    const p = await holder.vci.createCredentialRequestJwtProof({
      issuerMetadata: metadata,
      credentialConfigurationId: configurationId,
      signer: { method: 'did', didUrl: holder.kid, alg: 'ES256K' },
      nonce: c_nonce,
    });
    proofs.push(p.jwt);
  }
  const r = await holder.vci.retrieveCredentials({
    issuerMetadata: metadata,
    accessToken,
    credentialConfigurationId: configurationId,
    proofs: { jwt: proofs },
    ...(dpop ? { dpop: dpop as never } : {}),
  });
  const credentials = (r.credentialResponse as { credentials?: { credential: string }[] }).credentials ?? [];
  return credentials.map((c) => c.credential);
}

const held: { jwt?: string; sd?: string } = {};

describe('a standard wallet (library functions only) receives Tessera credentials (OpenID4VCI 1.0)', () => {
  let offer: OfferAnswer;
  let credentialOffer: CredentialOfferObject;
  let metadata: IssuerMetadataResult;

  it('resolves an offer by reference (with a transaction code) and the issuer metadata', async () => {
    offer = await asAdmin<OfferAnswer>(`/credentials/${encodeURIComponent(credentialId)}/offer`, { txCode: true });
    assert.match(offer.txCode ?? '', /^\d{6}$/);
    assert.match(offer.offer_uri_by_reference, /^openid-credential-offer:\/\/\?credential_offer_uri=/);
    assert.match(offer.qr_svg, /^<svg/);
    credentialOffer = await holder.vci.resolveCredentialOffer(offer.offer_uri_by_reference);
    assert.equal(credentialOffer.credential_issuer, issuerUrl);
    metadata = await holder.vci.resolveIssuerMetadata(credentialOffer.credential_issuer);
    assert.ok(metadata.credentialIssuer.credential_configurations_supported['EnergyProsumerCredential_sd_jwt']);
  });

  it('a wrong transaction code is refused with ERR_OID4VCI_TX_CODE and does not burn the code', async () => {
    const wrong = offer.txCode === '000000' ? '111111' : '000000';
    const r = await postForm(`${issuerUrl}/oid4vci/token`, {
      grant_type: 'urn:ietf:params:oauth:grant-type:pre-authorized_code',
      'pre-authorized_code': offer.code,
      tx_code: wrong,
    });
    assert.equal(r.status, 400);
    assert.equal(r.body.error, 'invalid_grant');
    assert.equal(r.body.error_code, 'ERR_OID4VCI_TX_CODE');
  });

  let accessToken: string;
  let dpop: unknown;
  it('the pre-authorized code grant with the right transaction code gives a DPoP-bound token', async () => {
    const t = await holder.vci.retrievePreAuthorizedCodeAccessTokenFromOffer({
      credentialOffer,
      issuerMetadata: metadata,
      txCode: offer.txCode!,
      dpop: holder.dpop as never,
    });
    assert.equal(t.accessTokenResponse.token_type, 'DPoP');
    accessToken = t.accessTokenResponse.access_token;
    dpop = t.dpop;
    const again = await postForm(`${issuerUrl}/oid4vci/token`, {
      grant_type: 'urn:ietf:params:oauth:grant-type:pre-authorized_code',
      'pre-authorized_code': offer.code,
      tx_code: offer.txCode!,
    });
    assert.equal(again.body.error_code, 'ERR_OID4VCI_GRANT_INVALID');
  });

  it('receives the credential as jwt_vc_json and, in a batch of two, as dc+sd-jwt bound to its DID', async () => {
    const [jwt] = await retrieve(metadata, accessToken, 'EnergyProsumerCredential_jwt', dpop);
    assert.ok(jwt);
    held.jwt = jwt;
    const sds = await retrieve(metadata, accessToken, 'EnergyProsumerCredential_sd_jwt', dpop, 2);
    assert.equal(sds.length, 2);
    assert.notEqual(sds[0], sds[1], 'each credential of a batch has its own salts and signature');
    held.sd = sds[0];
    const payload = JSON.parse(Buffer.from(held.sd!.split('~')[0]!.split('.')[1]!, 'base64url').toString());
    assert.equal(payload.vct, 'urn:tessera:vct:EnergyProsumerCredential');
    assert.deepEqual(payload.cnf, { kid: holder.kid });
    assert.equal(payload.meterId, undefined, 'subject claims are selectively disclosable, not in the clear');
    assert.match(payload.status.status_list.uri, /\/status-lists\/\d+\/token$/);
  });

  it('the authorization code grant with PKCE, for a signed-in caller, delivers their own credential', async () => {
    // The caller signs in at the issuer with their own role credential (here the root admin), then a standard
    // wallet asks for the admin's AdminCredential in SD-JWT form.
    const admin = readHolderFile(stack.issuer.rootAdmin.file);
    const offerObject = {
      credential_issuer: issuerUrl,
      credential_configuration_ids: ['AdminCredential_sd_jwt'],
      grants: { authorization_code: {} },
    } as unknown as CredentialOfferObject;
    const { authorizationRequestUrl, pkce } = await holder.vci.createAuthorizationRequestUrlFromOffer({
      credentialOffer: offerObject,
      issuerMetadata: metadata,
      clientId: 'tessera-interop-wallet',
      redirectUri: 'https://wallet.example/cb',
      scope: 'AdminCredential_sd_jwt',
    });
    // Without a sign-in the authorization endpoint refuses.
    const anonymous = await fetch(authorizationRequestUrl, { redirect: 'manual' });
    assert.equal(anonymous.status, 401);
    // The admin's sign-in token for the issuer's API does not open it: a sign-in for the authorization endpoint does.
    const wrongScope = await fetch(authorizationRequestUrl, {
      redirect: 'manual',
      headers: { authorization: `Bearer ${adminToken}` },
    });
    assert.equal(wrongScope.status, 403);
    const signIn = await signInFor(admin, '/oid4vci/authorize', 'GET');
    const res = await fetch(authorizationRequestUrl, {
      redirect: 'manual',
      headers: { authorization: `Bearer ${signIn}` },
    });
    assert.equal(res.status, 302, await res.text());
    const back = new URL(res.headers.get('location')!);
    const code = back.searchParams.get('code');
    assert.ok(code, back.href);
    const t = await holder.vci.retrieveAuthorizationCodeAccessTokenFromOffer({
      credentialOffer: offerObject,
      issuerMetadata: metadata,
      authorizationCode: code,
      pkceCodeVerifier: pkce!.codeVerifier,
      redirectUri: 'https://wallet.example/cb',
      dpop: holder.dpop as never,
    });
    // The admin's credential is bound to the admin's DID: only a proof by that DID's key receives it.
    const { c_nonce } = await holder.vci.requestNonce({ issuerMetadata: metadata });
    const foreign = await holder.vci.createCredentialRequestJwtProof({
      issuerMetadata: metadata,
      credentialConfigurationId: 'AdminCredential_sd_jwt',
      signer: { method: 'did', didUrl: holder.kid, alg: 'ES256K' },
      nonce: c_nonce,
    });
    await assert.rejects(
      holder.vci.retrieveCredentials({
        issuerMetadata: metadata,
        accessToken: t.accessTokenResponse.access_token,
        credentialConfigurationId: 'AdminCredential_sd_jwt',
        proofs: { jwt: [foreign.jwt] },
        dpop: t.dpop as never,
      }),
      (e: Error) => /invalid_proof/.test(e.message),
    );
    const adminKid = `${admin.did}#controller`;
    const signer = ES256KSigner(hexToBytes(admin.privateKey));
    const header = { alg: 'ES256K', typ: 'openid4vci-proof+jwt', kid: adminKid };
    // Both formats with the one token (the admin's wallet signs the key proofs with the admin's DID key).
    for (const [configuration, form] of [
      ['AdminCredential_sd_jwt', /~$/],
      ['AdminCredential_jwt', /^[\w-]+\.[\w-]+\.[\w-]+$/],
    ] as const) {
      const { c_nonce: n2 } = await holder.vci.requestNonce({ issuerMetadata: metadata });
      const payload = { aud: issuerUrl, nonce: n2, iat: Math.floor(Date.now() / 1000) };
      const input = `${Buffer.from(JSON.stringify(header)).toString('base64url')}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}`;
      const proof = `${input}.${await signer(input)}`;
      const r = await holder.vci.retrieveCredentials({
        issuerMetadata: metadata,
        accessToken: t.accessTokenResponse.access_token,
        credentialConfigurationId: configuration,
        proofs: { jwt: [proof] },
        dpop: t.dpop as never,
      });
      const got = (r.credentialResponse as { credentials: { credential: string }[] }).credentials;
      assert.equal(got.length, 1);
      assert.match(got[0]!.credential, form);
    }
  });
});

describe('a standard wallet presents to Tessera (OpenID4VP 1.0)', () => {
  async function createRequest(mode: 'direct_post' | 'direct_post.jwt', extra: Record<string, unknown> = {}) {
    const r = await httpJson<{
      authorization_request: string;
      transaction_secret: string;
      result_uri: string;
      client_id: string;
    }>(`${verifierUrl}/oid4vp/requests`, { body: { resource: ORDERS, action: 'POST', response_mode: mode, ...extra } });
    assert.ok(r.ok, JSON.stringify(r));
    return r.value.body;
  }

  async function answer(
    mode: 'direct_post' | 'direct_post.jwt',
    build: (req: Record<string, unknown>) => Promise<Record<string, string[]>>,
    extra: Record<string, unknown> = {},
  ) {
    const created = await createRequest(mode, extra);
    const parsed = holder.vp.parseOpenid4vpAuthorizationRequest({
      authorizationRequest: created.authorization_request,
    });
    const resolved = await holder.vp.resolveOpenId4vpAuthorizationRequest({
      authorizationRequestPayload: parsed.params as never,
    });
    assert.equal(`decentralized_identifier:${resolved.client.identifier}`, created.client_id);
    const req = resolved.authorizationRequestPayload as Record<string, unknown>;
    const vpToken = await build(req);
    const response = await holder.vp.createOpenid4vpAuthorizationResponse({
      authorizationRequestPayload: req as never,
      authorizationResponsePayload: { vp_token: vpToken } as never,
      ...(mode === 'direct_post.jwt'
        ? {
            jarm: {
              encryption: { nonce: String(req.nonce) },
              serverMetadata: {
                authorization_encryption_alg_values_supported: ['ECDH-ES'],
                authorization_encryption_enc_values_supported: ['A128GCM'],
              } as never,
            },
          }
        : {}),
    });
    const submitted = await holder.vp.submitOpenid4vpAuthorizationResponse({
      authorizationRequestPayload: req as never,
      authorizationResponsePayload: response.authorizationResponsePayload,
      ...(response.jarm ? { jarm: { responseJwt: response.jarm.responseJwt } } : {}),
    });
    const body = (await submitted.response.json()) as Record<string, unknown>;
    return { created, req, status: submitted.response.status, body };
  }

  for (const mode of ['direct_post', 'direct_post.jwt'] as const) {
    it(`an SD-JWT VC disclosing only the meter and its role, key-bound, over ${mode}, opens the order route`, async () => {
      const { status, body, req } = await answer(mode, async (r) => ({
        req0_sd: [
          await presentSdJwt(holder, held.sd!, ['meterId', 'role'], {
            nonce: String(r.nonce),
            aud: String(r.client_id),
          }),
        ],
      }));
      assert.equal(status, 200, JSON.stringify(body));
      const result = await fetch(String(body.redirect_uri));
      const token = (await result.json()) as { access_token: string; holder: string };
      assert.equal(result.status, 200, JSON.stringify(token));
      assert.equal(token.holder, holder.did);
      const allowed = await stack.verifier.core.authorize(token.access_token, ORDERS, 'POST');
      assert.ok(allowed.ok, JSON.stringify(allowed));
      assert.deepEqual(
        Object.keys(allowed.value.credentials[0]!.claims).sort(),
        ['meterId', 'role'],
        'only what the policy asks was disclosed',
      );
      void req;
    });

    it(`a jwt_vc_json presentation over ${mode} opens the order route`, async () => {
      const { status, body } = await answer(mode, async (r) => ({
        req0_jwt: [await presentJwtVc(holder, held.jwt!, { nonce: String(r.nonce), aud: String(r.client_id) })],
      }));
      assert.equal(status, 200, JSON.stringify(body));
      const token = (await (await fetch(String(body.redirect_uri))).json()) as { access_token: string };
      assert.ok((await stack.verifier.core.authorize(token.access_token, ORDERS, 'POST')).ok);
    });
  }

  it('cross-device: the initiator collects the token with its transaction secret; transaction data is bound', async () => {
    const order = { type: 'tessera_energy_order', meterId: M, side: 'bid', kwh: 3, priceCt: 21 };
    const { status, body, created, req } = await answer(
      'direct_post.jwt',
      async (r) => {
        const hashes = (r.transaction_data as string[]).map((t) => createHash('sha256').update(t).digest('base64url'));
        return {
          req0_sd: [
            await presentSdJwt(holder, held.sd!, ['meterId', 'role'], {
              nonce: String(r.nonce),
              aud: String(r.client_id),
              transaction_data_hashes: hashes,
            }),
          ],
        };
      },
      { flow: 'cross-device', transaction_data: [order] },
    );
    assert.equal(status, 200, JSON.stringify(body));
    assert.equal(body.redirect_uri, undefined);
    assert.equal((req.transaction_data as string[]).length, 1);
    const wrong = await fetch(`${created.result_uri}?response_code=${randomBytes(16).toString('base64url')}`);
    assert.equal(wrong.status, 202);
    const got = await fetch(`${created.result_uri}?response_code=${created.transaction_secret}`);
    assert.equal(got.status, 200);
  });
});

describe('refusals, each with its code', () => {
  async function tokenFor(): Promise<{ metadata: IssuerMetadataResult; token: string; dpop: unknown }> {
    const offer = await asAdmin<OfferAnswer>(`/credentials/${encodeURIComponent(credentialId)}/offer`, {});
    const credentialOffer = await holder.vci.resolveCredentialOffer(offer.offer_uri);
    const metadata = await holder.vci.resolveIssuerMetadata(credentialOffer.credential_issuer);
    const t = await holder.vci.retrievePreAuthorizedCodeAccessTokenFromOffer({
      credentialOffer,
      issuerMetadata: metadata,
      dpop: holder.dpop as never,
    });
    return { metadata, token: t.accessTokenResponse.access_token, dpop: t.dpop };
  }

  async function credentialRequest(
    t: { metadata: IssuerMetadataResult; token: string; dpop: unknown },
    proofs: Record<string, unknown>,
  ): Promise<{ error?: string; error_code?: string }> {
    try {
      await holder.vci.retrieveCredentials({
        issuerMetadata: t.metadata,
        accessToken: t.token,
        credentialConfigurationId: 'EnergyProsumerCredential_sd_jwt',
        proofs: proofs as never,
        dpop: t.dpop as never,
      });
    } catch (e) {
      const m = /"error": "(\w+)"[\s\S]*"error_code": "(\w+)"/.exec(String((e as Error).message));
      if (m) return { error: m[1]!, error_code: m[2]! };
      throw e;
    }
    return {};
  }

  function proofJwt(header: Record<string, unknown>, payload: Record<string, unknown>): string {
    const input = `${Buffer.from(JSON.stringify(header)).toString('base64url')}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}`;
    return `${input}.${holder.signDid(input)}`;
  }
  const proofHeader = () => ({ alg: 'ES256K', typ: 'openid4vci-proof+jwt', kid: holder.kid });
  const nonce = async (m: IssuerMetadataResult) => (await holder.vci.requestNonce({ issuerMetadata: m })).c_nonce;
  const now = () => Math.floor(Date.now() / 1000);

  it('a proof without audience, or without nonce: ERR_OID4VCI_PROOF_INVALID', async () => {
    const t = await tokenFor();
    const noAud = await credentialRequest(t, {
      jwt: [proofJwt(proofHeader(), { nonce: await nonce(t.metadata), iat: now() })],
    });
    assert.equal(noAud.error_code, 'ERR_OID4VCI_PROOF_INVALID');
    const noNonce = await credentialRequest(t, { jwt: [proofJwt(proofHeader(), { aud: issuerUrl, iat: now() })] });
    assert.equal(noNonce.error_code, 'ERR_OID4VCI_PROOF_INVALID');
  });

  it('a reused nonce: ERR_OID4VCI_NONCE', async () => {
    const t = await tokenFor();
    const n = await nonce(t.metadata);
    const first = await credentialRequest(t, {
      jwt: [proofJwt(proofHeader(), { aud: issuerUrl, nonce: n, iat: now() })],
    });
    assert.equal(first.error_code, undefined);
    const again = await credentialRequest(t, {
      jwt: [proofJwt(proofHeader(), { aud: issuerUrl, nonce: n, iat: now() })],
    });
    assert.equal(again.error, 'invalid_nonce');
    assert.equal(again.error_code, 'ERR_OID4VCI_NONCE');
  });

  it('a wrong proof type (typ, or proof type): ERR_PROOF_TYPE', async () => {
    const t = await tokenFor();
    const typ = await credentialRequest(t, {
      jwt: [proofJwt({ ...proofHeader(), typ: 'JWT' }, { aud: issuerUrl, nonce: await nonce(t.metadata), iat: now() })],
    });
    assert.equal(typ.error_code, 'ERR_PROOF_TYPE');
    const kind = await credentialRequest(t, { ldp_vp: [{}] });
    assert.equal(kind.error_code, 'ERR_PROOF_TYPE');
  });

  async function presentRaw(mode: 'direct_post', vpToken: Record<string, string[]>) {
    const created = await httpJson<{ request_uri: string; client_id: string }>(`${verifierUrl}/oid4vp/requests`, {
      body: { resource: ORDERS, action: 'POST', response_mode: mode },
    });
    assert.ok(created.ok);
    const jar = await (await fetch(created.value.body.request_uri)).text();
    const req = JSON.parse(Buffer.from(jar.split('.')[1]!, 'base64url').toString()) as Record<string, string>;
    return {
      req,
      send: (token: Record<string, string[]>) =>
        postForm(req.response_uri!, { vp_token: JSON.stringify(token), state: req.state! }),
      vpToken,
    };
  }

  it('a vp_token for another query id: ERR_OID4VP_QUERY_MISMATCH', async () => {
    const { req, send } = await presentRaw('direct_post', {});
    const sd = await presentSdJwt(holder, held.sd!, ['meterId', 'role'], { nonce: req.nonce!, aud: req.client_id! });
    const r = await send({ req9_sd: [sd] });
    assert.equal(r.body.error_code, 'ERR_OID4VP_QUERY_MISMATCH');
  });

  it('tampered disclosures, and a disclosure not in the credential: ERR_SD_JWT_DISCLOSURE', async () => {
    {
      const { req, send } = await presentRaw('direct_post', {});
      const sd = await presentSdJwt(holder, held.sd!, ['meterId', 'role'], { nonce: req.nonce!, aud: req.client_id! });
      const [jwt, disclosure, ...rest] = sd.split('~');
      const decoded = JSON.parse(Buffer.from(disclosure!, 'base64url').toString()) as unknown[];
      decoded[2] = 'DE-MALO-0000';
      const tampered = [jwt, Buffer.from(JSON.stringify(decoded)).toString('base64url'), ...rest].join('~');
      const r = await send({ req0_sd: [tampered] });
      assert.equal(r.body.error_code, 'ERR_SD_JWT_DISCLOSURE');
    }
    {
      const { req, send } = await presentRaw('direct_post', {});
      const sd = await presentSdJwt(holder, held.sd!, ['meterId', 'role'], { nonce: req.nonce!, aud: req.client_id! });
      const parts = sd.split('~');
      const foreign = Buffer.from(JSON.stringify([randomBytes(16).toString('base64url'), 'accredited', true])).toString(
        'base64url',
      );
      parts.splice(1, 0, foreign);
      const r = await send({ req0_sd: [parts.join('~')] });
      assert.equal(r.body.error_code, 'ERR_SD_JWT_DISCLOSURE');
    }
  });

  it('an SD-JWT without key binding, where the policy needs the holder: ERR_SD_JWT_KEY_BINDING', async () => {
    const { req, send } = await presentRaw('direct_post', {});
    const sd = await presentSdJwt(holder, held.sd!, ['meterId', 'role'], { nonce: req.nonce!, aud: req.client_id! });
    const withoutKb = `${sd.slice(0, sd.lastIndexOf('~'))}~`;
    const r = await send({ req0_sd: [withoutKb] });
    assert.equal(r.body.error_code, 'ERR_SD_JWT_KEY_BINDING');
  });

  it('a revoked credential is refused in both formats (Token Status List and Bitstring Status List)', async () => {
    const other = await asAdmin<{ id: string }>('/credentials', {
      type: 'EnergyProsumerCredential',
      subject: holder.did,
      claims: { meterId: 'DE-MALO-4799', role: 'consumer' },
    });
    const offer = await asAdmin<OfferAnswer>(`/credentials/${encodeURIComponent(other.id)}/offer`, {});
    const credentialOffer = await holder.vci.resolveCredentialOffer(offer.offer_uri);
    const metadata = await holder.vci.resolveIssuerMetadata(credentialOffer.credential_issuer);
    const t = await holder.vci.retrievePreAuthorizedCodeAccessTokenFromOffer({
      credentialOffer,
      issuerMetadata: metadata,
      dpop: holder.dpop as never,
    });
    const [sd] = await retrieve(
      metadata,
      t.accessTokenResponse.access_token,
      'EnergyProsumerCredential_sd_jwt',
      t.dpop,
    );
    assert.ok((await stack.issuer.issuer.revoke(other.id, { actor: 'e2e operator' })).ok);
    const created = await httpJson<{ request_uri: string }>(`${verifierUrl}/oid4vp/requests`, {
      body: { resource: '/energy/meters/DE-MALO-4799/orders', action: 'POST' },
    });
    assert.ok(created.ok);
    const jar = await (await fetch(created.value.body.request_uri)).text();
    const req = JSON.parse(Buffer.from(jar.split('.')[1]!, 'base64url').toString()) as Record<string, string>;
    const p = await presentSdJwt(holder, sd!, ['meterId', 'role'], { nonce: req.nonce!, aud: req.client_id! });
    const r = await postForm(req.response_uri!, { vp_token: JSON.stringify({ req0_sd: [p] }), state: req.state! });
    assert.equal(r.body.error_code, 'ERR_VC_REVOKED');
  });
});
