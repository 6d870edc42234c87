import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { createHmac } from 'node:crypto';
import { request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { Bitstring, ERROR_CODES, type ErrorCode, statusListEntry } from '@tessera/protocol';
import { httpError } from '@tessera/runtime/http';
import { createJWT, verifyJWT } from 'did-jwt';
import { createVerifiableCredentialJwt, createVerifiablePresentationJwt } from 'did-jwt-vc';
import express from 'express';
import { parsePolicySet } from '@tessera/protocol';
import { createVerifier, type Verifier } from '../core.js';
import { type TestActor, type TestChain, publishTestStatusList, startTestChain, testActor } from '../vc/testing.js';
import { parseTrustList } from '../vc/trust.js';
import { MemoryNonceStore } from '../vc/nonce-store.js';
import type { RequestBudgetLimits } from './request-budget.js';

const REVOCATION = 'https://issuer.tessera.test/status-lists/1/revocation';
const SUSPENSION = 'https://issuer.tessera.test/status-lists/1/suspension';
const CONTEXT = ['https://www.w3.org/2018/credentials/v1'];
const ORDERS = (meter: string) => `/energy/meters/${meter}/orders`;

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
const parts = (jwt: string) => jwt.split('.') as [string, string, string];
const decode = (part: string) => JSON.parse(Buffer.from(part, 'base64url').toString()) as Record<string, unknown>;
const nowS = () => Math.floor(Date.now() / 1000);

let tc: TestChain;
let server: Server;
let base: string;
let core: Verifier;
const verifierActor = testActor();
const certifier = testActor();
const rogue = testActor();
const alice = testActor();
const bob = testActor();
/** What the issuer has published; `onStatusChange` makes the verifier fetch it. */
const published = { revocation: Bitstring.create(), suspension: Bitstring.create() };
let clockOffsetMs = 0; // the access tokens' clock, moved forward to expire them
let nextIndex = 1;

before(async () => {
  tc = await startTestChain();
  const trust = parseTrustList({
    EnergyProsumerCredential: [certifier.did],
    AccreditedInvestorCredential: [certifier.did],
  });
  assert.ok(trust.ok);
  const policies = parsePolicySet({
    version: 1,
    policies: [
      {
        id: 'energy.order.place',
        resource: '/energy/meters/:meterId/orders',
        actions: ['POST'],
        require: [
          { credentialType: 'EnergyProsumerCredential', claims: [{ claim: 'meterId', equalsParam: 'meterId' }] },
        ],
      },
    ],
  });
  assert.ok(policies.ok);
  core = createVerifier(
    {
      did: verifierActor.did,
      privateKey: verifierActor.wallet.privateKey,
      policies: policies.value,
      trust: trust.value,
    },
    {
      resolver: tc.resolver,
      fetchStatusList: async (url) =>
        publishTestStatusList(
          certifier,
          url,
          url === REVOCATION ? 'revocation' : 'suspension',
          url === REVOCATION ? published.revocation : published.suspension,
        ),
      now: () => Date.now() + clockOffsetMs,
    },
  );
  await core.onStatusChange([REVOCATION, SUSPENSION]);

  // A service guarded by the router's middleware, as the energy market mounts it.
  const app = express();
  app.use('/verifier', core.router);
  app.post('/energy/meters/:meterId/orders', core.guard({ resource: ORDERS(':meterId') }), (req, res) => {
    res.status(201).json({ holder: req.accessGrant?.holder, meterId: req.accessGrant?.credentials[0]?.claims.meterId });
  });
  app.get('/energy/meters/:meterId/orders', core.guard({ resource: ORDERS(':meterId') }), (_req, res) => {
    res.json([]);
  });
  // The meter comes from the query string here, not from a route parameter.
  app.post(
    '/orders',
    core.guard({
      resource: ORDERS(':meterId'),
      action: 'POST',
      params: (req) => ({ meterId: typeof req.query.meter === 'string' ? req.query.meter : undefined }),
    }),
    (req, res) => {
      res.status(201).json({ holder: req.accessGrant?.holder });
    },
  );
  app.use(((e, _req, res, _next) => {
    const m = httpError(e);
    res.status(m.status).json(m.body);
  }) as express.ErrorRequestHandler);
  server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  await new Promise((resolve) => server?.close(resolve));
  await core?.stop();
  await tc?.close();
});

interface VcOptions {
  issuer?: TestActor;
  subject?: TestActor;
  type?: string;
  meterId?: string;
  exp?: number;
  nbf?: number;
}

/** A credential with a revocation and a suspension entry at its own index. */
async function issue(o: VcOptions = {}): Promise<{ jwt: string; index: number }> {
  const index = nextIndex++;
  const jwt = await createVerifiableCredentialJwt(
    {
      sub: (o.subject ?? alice).did,
      nbf: o.nbf ?? nowS() - 60,
      exp: o.exp ?? nowS() + 3600,
      vc: {
        '@context': CONTEXT,
        type: ['VerifiableCredential', o.type ?? 'EnergyProsumerCredential'],
        credentialSubject:
          o.type === 'AccreditedInvestorCredential'
            ? { jurisdiction: 'DE', kycLevel: 'standard' }
            : { meterId: o.meterId ?? 'DE0001', role: 'prosumer' },
        credentialStatus: [
          statusListEntry(REVOCATION, index, 'revocation'),
          statusListEntry(SUSPENSION, index, 'suspension'),
        ],
      } as never,
    },
    { did: (o.issuer ?? certifier).did, signer: (o.issuer ?? certifier).signer, alg: 'ES256K' },
  );
  return { jwt, index };
}

async function call(method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  const text = await res.text();
  // biome-ignore lint/suspicious/noExplicitAny: test reads arbitrary JSON response fields
  return { status: res.status, body: (text ? JSON.parse(text) : undefined) as Record<string, any> };
}

async function requestFor(meter = 'DE0001') {
  const r = await call('POST', '/verifier/presentation-requests', { resource: ORDERS(meter), action: 'POST' });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body as { nonce: string; audience: string; expiresAt: number };
}

async function presentation(
  credentials: string[],
  o: { holder?: TestActor; nonce?: string; audience?: string; exp?: number; meter?: string } = {},
) {
  const holder = o.holder ?? alice;
  const req = o.nonce ? { nonce: o.nonce, audience: verifierActor.did } : await requestFor(o.meter);
  return createVerifiablePresentationJwt(
    {
      vp: { '@context': CONTEXT, type: ['VerifiablePresentation'], verifiableCredential: credentials },
      ...(o.exp === undefined ? {} : { exp: o.exp }),
    } as never,
    { did: holder.did, signer: holder.signer, alg: 'ES256K' },
    { challenge: req.nonce, domain: o.audience ?? req.audience },
  );
}

/** Submit and expect a refusal with `code`, at the status the registry gives it. */
async function refused(vp: unknown, code: ErrorCode, path = '/verifier/presentations') {
  const r = await call('POST', path, { vp });
  assert.equal(r.body?.error?.code, code, JSON.stringify(r.body));
  assert.equal(r.status, ERROR_CODES[code].status);
  assert.equal(typeof r.body.error.message, 'string');
  assert.equal(r.body.access_token, undefined);
}

async function tokenFor(meter = 'DE0001', holder = alice): Promise<string> {
  const { jwt } = await issue({ meterId: meter, subject: holder });
  const r = await call('POST', '/verifier/presentations', { vp: await presentation([jwt], { holder, meter }) });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body.access_token as string;
}

const order = (meter: string, token?: string) =>
  call('POST', ORDERS(meter), { kWh: 1 }, token === undefined ? {} : { authorization: `Bearer ${token}` });

describe('verifier HTTP: the wallet flow', () => {
  it('issues a request, accepts the presentation, and the token opens the gated route', async () => {
    const req = await call('POST', '/verifier/presentation-requests', { resource: ORDERS('DE0001'), action: 'POST' });
    assert.equal(req.status, 201);
    assert.equal(req.body.audience, verifierActor.did);
    assert.ok(req.body.expiresAt > nowS());
    assert.deepEqual(req.body.requirements[0].credentialType, 'EnergyProsumerCredential');
    assert.equal(req.body.openid4vp.nonce, req.body.nonce);
    assert.equal(req.body.openid4vp.dcql_query.credentials[0].meta.type_values[0][1], 'EnergyProsumerCredential');

    const { jwt } = await issue();
    const vp = await presentation([jwt], { nonce: req.body.nonce });
    const granted = await call('POST', '/verifier/presentations', { vp });
    assert.equal(granted.status, 200, JSON.stringify(granted.body));
    assert.equal(granted.body.token_type, 'Bearer');
    assert.equal(granted.body.holder, alice.did);
    assert.deepEqual(granted.body.scopes, [{ resource: ORDERS('DE0001'), action: 'POST' }]);
    assert.ok(granted.body.expires_in > 0 && granted.body.expires_in <= 300);

    const placed = await order('DE0001', granted.body.access_token);
    assert.equal(placed.status, 201, JSON.stringify(placed.body));
    assert.deepEqual(placed.body, { holder: alice.did, meterId: 'DE0001' });
  });

  it('accepts the OpenID4VP field name vp_token', async () => {
    const { jwt } = await issue();
    const r = await call('POST', '/verifier/presentations', { vp_token: await presentation([jwt]) });
    assert.equal(r.status, 200, JSON.stringify(r.body));
  });

  it("signs tokens that did-jwt verifies against the verifier's did:ethr on chain", async () => {
    const token = await tokenFor();
    const v = await verifyJWT(token, { resolver: tc.resolver, audience: verifierActor.did });
    assert.equal(v.issuer, verifierActor.did);
    assert.equal(v.payload.sub, alice.did);
  });

  it('publishes metadata with formats, endpoints and the token key', async () => {
    const r = await call('GET', '/verifier/.well-known/openid4vp-verifier');
    assert.equal(r.status, 200);
    assert.equal(r.body.audience, verifierActor.did);
    assert.deepEqual(r.body.vp_formats_supported.jwt_vp_json.alg_values_supported, ['ES256K', 'ES256K-R', 'EdDSA']);
    assert.equal(r.body.access_token.jwk.crv, 'secp256k1');
  });

  it('describes itself in OpenAPI 3.1, with the refusal codes of each endpoint', async () => {
    const r = await call('GET', '/verifier/openapi.json');
    assert.equal(r.status, 200);
    assert.equal(r.body.openapi, '3.1.0');
    assert.deepEqual(Object.keys(r.body.paths).sort(), [
      '/.well-known/openid4vp-verifier',
      '/presentation-requests',
      '/presentations',
      '/tokens/renew',
      '/tokens/sign-out',
      '/verify',
    ]);
    // generated from the schemas that validate: the body's rules are the router's
    const body = r.body.components.schemas.PresentationRequestBody;
    assert.equal(body.additionalProperties, false);
    assert.deepEqual(body.required.sort(), ['action', 'resource']);
    assert.equal(body.properties.resource.maxLength, 256);
    const responses = r.body.paths['/presentations'].post.responses;
    assert.match(responses['401'].description, /ERR_VC_REVOKED/);
    assert.match(responses['413'].description, /ERR_JWT_TOO_LARGE/);
    assert.match(responses['403'].description, /ERR_POLICY_DENIED/);
  });
});

describe('verifier HTTP: access tokens at the gated route', () => {
  it('refuses a request without a token, and a token that is not a Bearer JWT of ours', async () => {
    const none = await order('DE0001');
    assert.equal(none.status, 401);
    assert.equal(none.body.error.code, 'ERR_AUTH_REQUIRED');
    for (const header of ['Basic YWxpY2U6c2VjcmV0', 'Bearer not-a-jwt', 'Bearer a.b.c']) {
      const r = await call('POST', ORDERS('DE0001'), {}, { authorization: header });
      assert.equal(r.status, 401);
      assert.equal(r.body.error.code, 'ERR_AUTH_INVALID', header);
    }
  });

  it('refuses a token for another meter, and for another action', async () => {
    const token = await tokenFor('DE0001');
    const other = await order('DE0002', token);
    assert.equal(other.status, 403);
    assert.equal(other.body.error.code, 'ERR_FORBIDDEN');
    const get = await call('GET', ORDERS('DE0001'), undefined, { authorization: `Bearer ${token}` });
    assert.deepEqual([get.status, get.body.error.code], [403, 'ERR_FORBIDDEN'], 'granted for POST, not GET');
    const app = await order('DE0001', token);
    assert.equal(app.status, 201, 'the same token still opens its own meter');
  });

  it('fills the resource from params(req), and refuses when a parameter is missing', async () => {
    const token = await tokenFor('DE0003');
    const auth = { authorization: `Bearer ${token}` };
    assert.equal((await call('POST', '/orders?meter=DE0003', {}, auth)).status, 201);
    const other = await call('POST', '/orders?meter=DE0004', {}, auth);
    assert.deepEqual([other.status, other.body.error.code], [403, 'ERR_FORBIDDEN']);
    const missing = await call('POST', '/orders', {}, auth);
    assert.deepEqual([missing.status, missing.body.error.code], [403, 'ERR_FORBIDDEN']);
  });

  it('refuses a tampered token, a token signed by another key, and HS256 keyed with our public key', async () => {
    const token = await tokenFor('DE0001');
    const [h, p, s] = parts(token);
    const payload = decode(p) as { tessera: { scopes: { resource: string }[] } };
    payload.tessera.scopes[0]!.resource = ORDERS('DE0002');
    const tampered = await order('DE0002', `${h}.${b64(payload)}.${s}`);
    assert.equal(tampered.body.error.code, 'ERR_AUTH_INVALID');

    const forgedInput = `${h}.${b64(payload)}`;
    const rogueSig = String(await rogue.signer(forgedInput));
    assert.equal((await order('DE0002', `${forgedInput}.${rogueSig}`)).body.error.code, 'ERR_AUTH_INVALID');

    const hsInput = `${b64({ alg: 'HS256', typ: 'at+jwt' })}.${b64(payload)}`;
    const key = verifierActor.wallet.signingKey.publicKey;
    const hs = `${hsInput}.${createHmac('sha256', key).update(hsInput).digest('base64url')}`;
    assert.equal((await order('DE0002', hs)).body.error.code, 'ERR_AUTH_INVALID');
    const noneToken = `${b64({ alg: 'none', typ: 'at+jwt' })}.${b64(payload)}.`;
    assert.equal((await order('DE0002', noneToken)).body.error.code, 'ERR_AUTH_INVALID');
  });

  it('refuses an expired token', async () => {
    const token = await tokenFor('DE0001');
    assert.equal((await order('DE0001', token)).status, 201);
    clockOffsetMs = 301_000; // past the 300 s lifetime
    try {
      const r = await order('DE0001', token);
      assert.equal(r.status, 401);
      assert.equal(r.body.error.code, 'ERR_AUTH_EXPIRED');
    } finally {
      clockOffsetMs = 0;
    }
  });

  it('refuses a token once a credential it was granted on is revoked (pushed status, no cache to expire)', async () => {
    const { jwt, index } = await issue({ meterId: 'DE0007' });
    const r = await call('POST', '/verifier/presentations', { vp: await presentation([jwt], { meter: 'DE0007' }) });
    assert.equal(r.status, 200);
    assert.equal((await order('DE0007', r.body.access_token)).status, 201);
    published.suspension.set(index, true);
    await core.onStatusChange([SUSPENSION]);
    assert.equal((await order('DE0007', r.body.access_token)).body.error.code, 'ERR_VC_SUSPENDED');
    published.revocation.set(index, true);
    await core.onStatusChange([REVOCATION]);
    assert.equal((await order('DE0007', r.body.access_token)).body.error.code, 'ERR_VC_REVOKED');
  });
});

describe('verifier HTTP: every refusal through HTTP, with its code and status', () => {
  it('refuses a replayed presentation', async () => {
    const { jwt } = await issue();
    const vp = await presentation([jwt]);
    assert.equal((await call('POST', '/verifier/presentations', { vp })).status, 200);
    await refused(vp, 'ERR_VP_NONCE');
  });

  it('refuses a nonce this verifier never issued, and a wrong audience', async () => {
    const { jwt } = await issue();
    await refused(await presentation([jwt], { nonce: 'made-up-nonce' }), 'ERR_VP_NONCE');
    await refused(
      await presentation([jwt], { audience: 'did:ethr:0x7a69:0x000000000000000000000000000000000000beef' }),
      'ERR_VP_AUDIENCE',
    );
  });

  it('refuses alg none and algorithm confusion', async () => {
    const { jwt } = await issue();
    const [, p] = parts(await presentation([jwt]));
    await refused(`${b64({ alg: 'none', typ: 'JWT' })}.${p}.`, 'ERR_JWT_ALG_UNSUPPORTED');
    const [, vcp] = parts(jwt);
    const input = `${b64({ alg: 'HS256', typ: 'JWT' })}.${vcp}`;
    const forged = `${input}.${createHmac('sha256', certifier.wallet.signingKey.compressedPublicKey).update(input).digest('base64url')}`;
    await refused(await presentation([forged]), 'ERR_JWT_ALG_UNSUPPORTED');
  });

  it('refuses tampered payloads', async () => {
    const { jwt } = await issue();
    const [h, p, s] = parts(jwt);
    const payload = decode(p) as { vc: { credentialSubject: Record<string, unknown> } };
    payload.vc.credentialSubject.meterId = 'DE9999';
    await refused(await presentation([`${h}.${b64(payload)}.${s}`]), 'ERR_JWT_SIGNATURE');
  });

  it('refuses expired and not-yet-valid credentials, and an expired presentation', async () => {
    await refused(
      await presentation([(await issue({ exp: nowS() - 3600, nbf: nowS() - 7200 })).jwt]),
      'ERR_VC_EXPIRED',
    );
    await refused(await presentation([(await issue({ nbf: nowS() + 3600 })).jwt]), 'ERR_VC_NOT_YET_VALID');
    await refused(await presentation([(await issue()).jwt], { exp: nowS() - 3600 }), 'ERR_VP_EXPIRED');
  });

  it('refuses a presenter who is not the subject, an untrusted issuer, and an unknown DID', async () => {
    await refused(await presentation([(await issue({ subject: bob })).jwt]), 'ERR_VC_SUBJECT_MISMATCH');
    await refused(await presentation([(await issue({ issuer: rogue })).jwt]), 'ERR_VC_UNTRUSTED_ISSUER');
    const stranger: TestActor = { ...testActor(), did: 'did:ethr:0x539:0x000000000000000000000000000000000000dEaD' };
    const { nonce } = await requestFor();
    const vp = await createJWT(
      {
        vp: { '@context': CONTEXT, type: ['VerifiablePresentation'], verifiableCredential: [(await issue()).jwt] },
        nonce,
        aud: verifierActor.did,
      },
      { issuer: stranger.did, signer: stranger.signer },
      { alg: 'ES256K' },
    );
    await refused(vp, 'ERR_DID_NOT_FOUND');
  });

  it('refuses revoked and suspended credentials', async () => {
    const revoked = await issue();
    published.revocation.set(revoked.index, true);
    const suspended = await issue();
    published.suspension.set(suspended.index, true);
    await core.onStatusChange([REVOCATION, SUSPENSION]);
    await refused(await presentation([revoked.jwt]), 'ERR_VC_REVOKED');
    await refused(await presentation([suspended.jwt]), 'ERR_VC_SUSPENDED');
  });

  it('refuses a malformed JWT, an oversized JWT and a presentation without credentials', async () => {
    await refused('not.a.jwt', 'ERR_JWT_MALFORMED');
    await refused(42, 'ERR_JWT_MALFORMED');
    await refused(`${'a'.repeat(20_000)}.b.c`, 'ERR_JWT_TOO_LARGE');
    await refused(await presentation([]), 'ERR_VP_NO_CREDENTIAL');
  });

  it('refuses a credential type the policy does not accept, and a credential for another meter', async () => {
    await refused(
      await presentation([(await issue({ type: 'AccreditedInvestorCredential' })).jwt]),
      'ERR_POLICY_DENIED',
    );
    const r = await call('POST', '/verifier/presentations', {
      vp: await presentation([(await issue({ meterId: 'DE0002' })).jwt], { meter: 'DE0001' }),
    });
    assert.equal(r.status, 403);
    assert.equal(r.body.error.code, 'ERR_POLICY_DENIED');
    assert.match(r.body.error.message, /meterId must equal/);
  });

  it('issues no presentation request for what no policy grants', async () => {
    const r = await call('POST', '/verifier/presentation-requests', {
      resource: '/admin/everything',
      action: 'DELETE',
    });
    assert.equal(r.status, 403);
    assert.equal(r.body.error.code, 'ERR_POLICY_DENIED');
  });

  it('refuses malformed JSON, an oversized body, a wrong media type and an invalid body', async () => {
    const malformed = await call('POST', '/verifier/presentations', '{"vp": ');
    assert.deepEqual([malformed.status, malformed.body.error.code], [400, 'ERR_JSON_MALFORMED']);
    const big = await call('POST', '/verifier/presentations', { vp: 'x'.repeat(70 * 1024) });
    assert.deepEqual([big.status, big.body.error.code], [413, 'ERR_BODY_TOO_LARGE']);
    const text = await fetch(`${base}/verifier/presentations`, {
      method: 'POST',
      body: 'vp=abc',
      headers: { 'content-type': 'text/plain' },
    });
    assert.equal(text.status, 415);
    assert.equal(((await text.json()) as { error: { code: string } }).error.code, 'ERR_UNSUPPORTED_MEDIA_TYPE');
    const invalid = await call('POST', '/verifier/presentation-requests', { resource: ORDERS('DE0001') });
    assert.deepEqual([invalid.status, invalid.body.error.code], [422, 'ERR_VALIDATION']);
    const extra = await call('POST', '/verifier/presentations', { vp: 'a.b.c', admin: true });
    assert.deepEqual([extra.status, extra.body.error.code], [422, 'ERR_VALIDATION']);
  });
});

describe('verifier HTTP: JSON bodies (own reader for the common case, express.json for the rest)', () => {
  const requestBody = JSON.stringify({ resource: ORDERS('DE0001'), action: 'POST' });
  it('reads a UTF-8 body with or without charset, a BOM, leading whitespace, and a chunked or gzip body', async () => {
    for (const [body, type] of [
      [requestBody, 'application/json; charset=utf-8'],
      [requestBody, 'Application/JSON'],
      [`\uFEFF${requestBody}`, 'application/json'],
      [` \r\n\t${requestBody}`, 'application/json'],
    ] as const) {
      const r = await call('POST', '/verifier/presentation-requests', body, { 'content-type': type });
      assert.equal(r.status, 201, `${type} ${JSON.stringify(body.slice(0, 8))}: ${JSON.stringify(r.body)}`);
    }
    const chunked = await fetch(`${base}/verifier/presentation-requests`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: new Blob([requestBody]).stream(),
      duplex: 'half',
    } as RequestInit);
    assert.equal(chunked.status, 201);
    const gzip = await fetch(`${base}/verifier/presentation-requests`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' },
      body: gzipSync(requestBody),
    });
    assert.equal(gzip.status, 201);
  });

  it('refuses a non-object JSON body, broken JSON, an empty body and another charset, as express.json does', async () => {
    for (const body of ['"just a string"', '42', '{"resource": ', ' nope']) {
      const r = await call('POST', '/verifier/presentation-requests', body);
      assert.deepEqual([r.status, r.body.error.code], [400, 'ERR_JSON_MALFORMED'], body);
    }
    const empty = await call('POST', '/verifier/presentations', '');
    assert.deepEqual([empty.status, empty.body.error.code], [422, 'ERR_VALIDATION']);
    const latin1 = await call('POST', '/verifier/presentation-requests', requestBody, {
      'content-type': 'application/json; charset=latin1',
    });
    assert.deepEqual([latin1.status, latin1.body.error.code], [415, 'ERR_UNSUPPORTED_MEDIA_TYPE']);
  });
});

describe('verifier HTTP: /verify for third parties', () => {
  it('reports a valid credential and a valid presentation without issuing a token', async () => {
    const { jwt } = await issue();
    const vc = await call('POST', '/verifier/verify', { jwt });
    assert.equal(vc.status, 200, JSON.stringify(vc.body));
    assert.deepEqual([vc.body.verified, vc.body.kind, vc.body.subject], [true, 'credential', alice.did]);
    const vp = await call('POST', '/verifier/verify', { vp: await presentation([jwt]) });
    assert.equal(vp.status, 200, JSON.stringify(vp.body));
    assert.deepEqual([vp.body.kind, vp.body.holder, vp.body.access_token], ['presentation', alice.did, undefined]);
  });

  it('reports refusals with their codes', async () => {
    const revoked = await issue();
    published.revocation.set(revoked.index, true);
    await core.onStatusChange([REVOCATION]);
    await refused(revoked.jwt, 'ERR_VC_REVOKED', '/verifier/verify');
    await refused((await issue({ issuer: rogue })).jwt, 'ERR_VC_UNTRUSTED_ISSUER', '/verifier/verify');
    await refused('x.y', 'ERR_JWT_MALFORMED', '/verifier/verify');
  });
});

describe('verifier HTTP: unauthenticated presentation requests are bounded', () => {
  /** A router of its own with a small store and small budgets; sources told apart by loopback address. */
  async function small(limits: RequestBudgetLimits, maxEntries: number) {
    const trust = parseTrustList({ EnergyProsumerCredential: [certifier.did] });
    const policies = parsePolicySet({
      version: 1,
      policies: [
        {
          id: 'energy.order.place',
          resource: '/energy/meters/:meterId/orders',
          actions: ['POST'],
          require: [{ credentialType: 'EnergyProsumerCredential' }],
        },
      ],
    });
    assert.ok(trust.ok && policies.ok);
    const v = createVerifier(
      {
        did: verifierActor.did,
        privateKey: verifierActor.wallet.privateKey,
        policies: policies.value,
        trust: trust.value,
        requestLimits: limits,
      },
      {
        resolver: tc.resolver,
        nonces: new MemoryNonceStore({ maxEntries }),
        fetchStatusList: async () => {
          throw new Error('no status lists here');
        },
        signatureWorker: false,
      },
    );
    const r = v.router;
    const app = express();
    app.use('/verifier', r);
    const s = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => s.once('listening', resolve));
    const port = (s.address() as AddressInfo).port;
    const ask = (localAddress: string) =>
      new Promise<{ status: number; code?: string; retryAfter?: string }>((resolve, reject) => {
        const body = JSON.stringify({ resource: ORDERS('DE0001'), action: 'POST' });
        const req = httpRequest(
          {
            host: '127.0.0.1',
            port,
            path: '/verifier/presentation-requests',
            method: 'POST',
            localAddress,
            agent: false,
            headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
          },
          (res) => {
            let text = '';
            res.on('data', (c) => (text += c));
            res.on('end', () => {
              const json = JSON.parse(text) as { error?: { code: string } };
              resolve({
                status: res.statusCode ?? 0,
                ...(json.error ? { code: json.error.code } : {}),
                ...(res.headers['retry-after'] ? { retryAfter: String(res.headers['retry-after']) } : {}),
              });
            });
          },
        );
        req.on('error', reject);
        req.end(body);
      });
    return {
      ask,
      close: async () => {
        await new Promise((resolve) => s.close(resolve));
        await v.stop();
      },
    };
  }
  const summary = (r: { status: number; code?: string }) => `${r.status}${r.code ? ` ${r.code}` : ''}`;

  it('limits the rate per source address (429 ERR_RATE_LIMITED with Retry-After), other sources unaffected', async () => {
    const v = await small({ perSourcePerWindow: 3, windowMs: 60_000, heldPerSource: 100, maxSources: 100 }, 100);
    try {
      const got = [];
      for (let i = 0; i < 4; i++) got.push(await v.ask('127.0.0.1'));
      assert.deepEqual(got.map(summary), ['201', '201', '201', '429 ERR_RATE_LIMITED']);
      assert.ok(Number(got[3]!.retryAfter) > 0);
      assert.equal(summary(await v.ask('127.0.0.2')), '201');
    } finally {
      await v.close();
    }
  });

  it('caps the nonces one source holds (429), and answers a full store with 503 ERR_CAPACITY, never a 500', async () => {
    const v = await small({ perSourcePerWindow: 100, windowMs: 60_000, heldPerSource: 2, maxSources: 100 }, 5);
    try {
      const got: string[] = [];
      for (const a of ['127.0.0.1', '127.0.0.1', '127.0.0.1', '127.0.0.2', '127.0.0.2', '127.0.0.3', '127.0.0.4'])
        got.push(`${a} ${summary(await v.ask(a))}`);
      assert.deepEqual(got, [
        '127.0.0.1 201',
        '127.0.0.1 201',
        '127.0.0.1 429 ERR_RATE_LIMITED',
        '127.0.0.2 201',
        '127.0.0.2 201',
        '127.0.0.3 201',
        '127.0.0.4 503 ERR_CAPACITY',
      ]);
      const full = await v.ask('127.0.0.5');
      assert.equal(full.status, 503);
      assert.ok(Number(full.retryAfter) > 0, 'Retry-After on a full store');
    } finally {
      await v.close();
    }
  });

  it('tracks a bounded number of source addresses (503 ERR_CAPACITY beyond it)', async () => {
    const v = await small({ perSourcePerWindow: 100, windowMs: 60_000, heldPerSource: 100, maxSources: 2 }, 100);
    try {
      const got = [];
      for (const a of ['127.0.0.1', '127.0.0.2', '127.0.0.3', '127.0.0.1']) got.push(summary(await v.ask(a)));
      assert.deepEqual(got, ['201', '201', '503 ERR_CAPACITY', '201']);
    } finally {
      await v.close();
    }
  });
});
