import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { get as httpGet, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ANVIL_FUNDER_KEY, type AnvilChain, ensureDeployed, makeProvider, startAnvil } from '@tessera/contracts';
import { CREDENTIAL_TYPE_NAMES, decodeStatusList, ethrDid, OFFER_PROOF_TYP } from '@tessera/protocol';
import { createJWT, ES256KSigner, hexToBytes } from 'did-jwt';
import { createVerifiablePresentationJwt } from 'did-jwt-vc';
import { type JsonRpcProvider, Wallet } from 'ethers';
import type { DataSource } from 'typeorm';
import { buildIssuer, type Issuer } from '../issuer.js';
import type { HolderKeyFile } from '@tessera/protocol';
import { readHolderFile } from '@tessera/wallet';
import { ensureRootAdmin, ROOT_ADMIN_WALLET_FILE } from '../root-admin.js';
import type { StoreBackend } from '../issuer-suite.js';
import { openIssuerDatabase } from '../store.js';
import { issuerTestCore } from '../testing/core.js';
import { buildIssuerApp } from './app.js';

const PERSON = `did:ethr:0x7a69:0x${'d4'.repeat(20)}`;
const PROSUMER = { meterId: 'DE000777', role: 'prosumer', nameplateKw: 7.5 };

/** The HTTP API's conformance suite, run on every store (SQLite in app.test.ts, PostgreSQL in app.services.test.ts). */
export function issuerHttpSuite(backend: StoreBackend): void {
  describe(`issuer HTTP API on ${backend.name}`, () => {
    let chain: AnvilChain;
    let provider: JsonRpcProvider;
    let ds: DataSource;
    let issuer: Issuer;
    let server: Server;
    let base: string;
    let dataDir: string;
    let root: HolderKeyFile;
    const clock = { offsetMs: 0 };
    let auth: Awaited<ReturnType<typeof issuerTestCore>>;

    before(async () => {
      dataDir = mkdtempSync(join(tmpdir(), 'tessera-issuer-http-'));
      chain = await startAnvil({});
      provider = makeProvider(chain.rpcUrl, chain.chainId);
      const addresses = await ensureDeployed({
        provider,
        deployer: new Wallet(ANVIL_FUNDER_KEY, provider),
        chainId: chain.chainId,
        file: join(dataDir, 'deployments.json'),
        allowDeploy: true,
      });
      ds = await openIssuerDatabase(await backend.freshDatabase(dataDir));
      issuer = await buildIssuer(
        { dataDir, publicBaseUrl: 'https://issuer.example' },
        { dataSource: ds, provider, chainId: chain.chainId, registryAddress: addresses.EthereumDIDRegistry },
      );
      const boot = await ensureRootAdmin(issuer, { dataDir, chainId: chain.chainId });
      assert.ok(boot.created);
      root = readHolderFile(boot.file);
      auth = await issuerTestCore(issuer, { chainId: chain.chainId, now: () => Date.now() + clock.offsetMs });
      const app = buildIssuerApp(
        {
          maxBodyBytes: 16 * 1024,
          authRequestsPerMinute: 100,
          statusEventStreams: { perSource: 2, total: 3 },
        },
        { issuer, auth: auth.core, now: () => new Date(Date.now() + clock.offsetMs) },
      );
      server = app.listen(0, '127.0.0.1');
      await new Promise((r) => server.once('listening', r));
      base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    after(async () => {
      server?.close();
      await auth?.stop();
      if (ds?.isInitialized) await ds.destroy();
      provider?.destroy();
      await chain?.stop();
      rmSync(dataDir, { recursive: true, force: true });
      await backend.cleanup();
    });

    const call = async (
      method: string,
      path: string,
      opts: { token?: string; body?: unknown; raw?: string; type?: string } = {},
    ) => {
      const headers: Record<string, string> = {};
      if (opts.token) headers.authorization = `Bearer ${opts.token}`;
      let body: string | undefined;
      if (opts.raw !== undefined) body = opts.raw;
      else if (opts.body !== undefined) body = JSON.stringify(opts.body);
      if (body !== undefined) headers['content-type'] = opts.type ?? 'application/json';
      const res = await fetch(base + path, { method, headers, ...(body === undefined ? {} : { body }) });
      const text = await res.text();
      // biome-ignore lint/suspicious/noExplicitAny: the tests read response bodies loosely
      let json: any;
      try {
        json = JSON.parse(text);
      } catch {
        json = undefined;
      }
      return { status: res.status, json, text, headers: res.headers };
    };

    const present = async (
      wallet: { did: string; privateKey: string; credentials: string[] },
      opts: { nonce?: string; audience?: string; alg?: string } = {},
    ) => {
      let nonce = opts.nonce;
      let audience = opts.audience;
      if (nonce === undefined) {
        const c = await call('POST', '/auth/challenge');
        assert.equal(c.status, 201);
        nonce = c.json.nonce as string;
        audience ??= c.json.audience as string;
      }
      const jwt = await createVerifiablePresentationJwt(
        {
          vp: {
            '@context': ['https://www.w3.org/2018/credentials/v1'],
            type: ['VerifiablePresentation'],
            verifiableCredential: wallet.credentials,
          },
          nonce,
          aud: audience ?? 'https://issuer.example',
        },
        { did: wallet.did, signer: ES256KSigner(hexToBytes(wallet.privateKey)), alg: 'ES256K' },
      );
      return { jwt, nonce };
    };
    const login = async (wallet: { did: string; privateKey: string; credentials: string[] }) => {
      const { jwt } = await present(wallet);
      const r = await call('POST', '/auth/token', { body: { presentation: jwt } });
      assert.equal(r.status, 200, r.text);
      return r.json.accessToken as string;
    };
    /** A fresh holder key with the given role credentials issued by the root admin over the API. */
    const holderWith = async (adminToken: string, types: string[]) => {
      const key = Wallet.createRandom();
      const did = ethrDid(chain.chainId, key.address);
      const credentials: string[] = [];
      for (const type of types) {
        const r = await call('POST', '/credentials', {
          token: adminToken,
          body: { type, subject: did, claims: { name: `${type} holder` } },
        });
        assert.equal(r.status, 201, r.text);
        credentials.push(r.json.jwt);
      }
      return { did, privateKey: key.privateKey, credentials };
    };

    it('creates the root admin wallet once, 0600, with an Admin credential for its DID', async () => {
      const file = join(dataDir, ROOT_ADMIN_WALLET_FILE);
      assert.equal(statSync(file).mode & 0o777, 0o600);
      assert.equal(root.credentials.length, 1);
      const again = await ensureRootAdmin(issuer, { dataDir, chainId: chain.chainId });
      assert.equal(again.created, false);
      assert.equal(readHolderFile(file).credentials.length, 1);
    });

    it('walks through: admin issues an EnergyProsumer credential, operator suspends, resumes and revokes it', async () => {
      const admin = await login(root);
      const issued = await call('POST', '/credentials', {
        token: admin,
        body: { type: 'EnergyProsumerCredential', subject: PERSON, claims: PROSUMER },
      });
      assert.equal(issued.status, 201, issued.text);
      assert.equal(issued.json.status, 'active');
      const listed = await call(
        'GET',
        `/credentials?type=EnergyProsumerCredential&subject=${encodeURIComponent(PERSON)}`,
        {
          token: admin,
        },
      );
      assert.equal(listed.status, 200);
      assert.deepEqual(
        listed.json.items.map((c: { id: string }) => c.id),
        [issued.json.id],
      );

      const denied = await call('POST', `/credentials/${issued.json.id}/suspend`, { token: admin });
      assert.equal(denied.status, 403, 'an Admin does not suspend');
      assert.equal(denied.json.error.code, 'ERR_POLICY_DENIED', 'the route policy names the role it needs');

      const operator = await login(await holderWith(admin, ['OperatorCredential']));
      const cannotIssue = await call('POST', '/credentials', {
        token: operator,
        body: { type: 'EnergyProsumerCredential', subject: PERSON, claims: PROSUMER },
      });
      assert.equal(cannotIssue.status, 403, 'an Operator does not issue');

      const { statusList, statusIndex } = issued.json as { statusList: number; statusIndex: number };
      const bit = async (purpose: string) => {
        const r = await call('GET', `/status-lists/${statusList}/${purpose}`);
        assert.equal(r.status, 200);
        assert.match(r.headers.get('content-type') ?? '', /application\/vc\+jwt/);
        const payload = JSON.parse(Buffer.from(r.text.split('.')[1]!, 'base64url').toString());
        const bits = decodeStatusList(payload.vc.credentialSubject.encodedList);
        assert.ok(bits.ok);
        return bits.value.get(statusIndex);
      };
      const s = await call('POST', `/credentials/${issued.json.id}/suspend`, {
        token: operator,
        body: { reason: 'audit' },
      });
      assert.equal(s.status, 200, s.text);
      assert.equal(s.json.credential.status, 'suspended');
      assert.equal(await bit('suspension'), true);
      const r = await call('POST', `/credentials/${issued.json.id}/resume`, { token: operator });
      assert.equal(r.json.credential.status, 'active');
      assert.equal(await bit('suspension'), false);
      const v = await call('POST', `/credentials/${issued.json.id}/revoke`, { token: operator });
      assert.equal(v.json.credential.status, 'revoked');
      assert.equal(await bit('revocation'), true);

      const trail = await call('GET', '/audit?limit=1000', { token: operator });
      assert.equal(trail.status, 200);
      const mine = trail.json.items.filter((e: { details: { id?: string } }) => e.details.id === issued.json.id);
      assert.deepEqual(
        mine.map((e: { what: string }) => e.what),
        ['credential.issue', 'credential.suspend', 'credential.resume', 'credential.revoke'],
      );
      assert.equal(mine[0].who, root.did, 'the admin who issued is recorded');
      const verify = await call('GET', '/audit/verify', { token: admin });
      assert.equal(verify.status, 200, verify.text);
      assert.equal(verify.json.head.seq, verify.json.length, 'every entry checked, up to the head');
    });

    it('lists every credential type with its kind, validity and the schema of its claims', async () => {
      const types = await call('GET', '/credential-types');
      assert.equal(types.status, 200, types.text);
      assert.deepEqual(Object.keys(types.json).sort(), [...CREDENTIAL_TYPE_NAMES].sort());
      assert.equal(types.json.DeviceIdentityCredential.kind, 'device');
      assert.equal(types.json.AdminCredential.claims.$ref, '/openapi.json#/components/schemas/AdminCredentialClaims');
    });

    it('refuses bad issue requests with stable codes and issues nothing', async () => {
      const admin = await login(root);
      const count = async () => (await call('GET', '/credentials?limit=500', { token: admin })).json.items.length;
      const before = await count();
      const bad = await call('POST', '/credentials', {
        token: admin,
        body: { type: 'EnergyProsumerCredential', subject: PERSON, claims: { meterId: 'x', role: 'trader' } },
      });
      assert.equal(bad.status, 422);
      assert.equal(bad.json.error.code, 'ERR_VC_CLAIMS_INVALID');
      const unknown = await call('POST', '/credentials', {
        token: admin,
        body: { type: 'SudoCredential', subject: PERSON, claims: {} },
      });
      assert.equal(unknown.status, 400);
      assert.equal(unknown.json.error.code, 'ERR_VC_TYPE_UNKNOWN');
      const malformed = await call('POST', '/credentials', { token: admin, raw: '{"type": "Admin' });
      assert.equal(malformed.status, 400);
      assert.equal(malformed.json.error.code, 'ERR_JSON_MALFORMED');
      const huge = await call('POST', '/credentials', {
        token: admin,
        body: { type: 'AdminCredential', subject: PERSON, claims: { name: 'x'.repeat(20_000) } },
      });
      assert.equal(huge.status, 413);
      assert.equal(huge.json.error.code, 'ERR_BODY_TOO_LARGE');
      const text = await call('POST', '/credentials', {
        token: admin,
        raw: 'type=AdminCredential',
        type: 'text/plain',
      });
      assert.equal(text.status, 415);
      assert.equal(text.json.error.code, 'ERR_UNSUPPORTED_MEDIA_TYPE');
      const noAuth = await call('POST', '/credentials', {
        body: { type: 'AdminCredential', subject: PERSON, claims: { name: 'x' } },
      });
      assert.equal(noAuth.status, 401);
      assert.equal(noAuth.json.error.code, 'ERR_AUTH_REQUIRED');
      assert.equal(await count(), before, 'nothing was issued');
      assert.equal(bad.text.includes('at '), false, 'no stack traces');
    });

    it('refuses replayed nonces, wrong audiences, alg none, other people’s credentials and unknown nonces', async () => {
      const { jwt } = await present(root);
      assert.equal((await call('POST', '/auth/token', { body: { presentation: jwt } })).status, 200);
      const replay = await call('POST', '/auth/token', { body: { presentation: jwt } });
      assert.equal(replay.status, 401);
      assert.equal(replay.json.error.code, 'ERR_VP_NONCE', 'the nonce was spent by the first sign-in');

      const wrongAud = await present(root, { audience: 'https://evil.example' });
      const aud = await call('POST', '/auth/token', { body: { presentation: wrongAud.jwt } });
      assert.equal(aud.json.error.code, 'ERR_VP_AUDIENCE');
      const retry = await present(root, { nonce: wrongAud.nonce, audience: auth.core.did });
      assert.equal(
        (await call('POST', '/auth/token', { body: { presentation: retry.jwt } })).status,
        200,
        'a misdirected presentation does not burn the nonce',
      );

      const unknown = await present(root, { nonce: 'never-issued', audience: auth.core.did });
      assert.equal(
        (await call('POST', '/auth/token', { body: { presentation: unknown.jwt } })).json.error.code,
        'ERR_VP_NONCE',
      );

      const none = (await present(root)).jwt.split('.');
      const unsigned = `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url')}.${none[1]}.`;
      const alg = await call('POST', '/auth/token', { body: { presentation: unsigned } });
      assert.equal(alg.json.error.code, 'ERR_JWT_ALG_UNSUPPORTED');

      const thief = Wallet.createRandom();
      const stolen = await present({
        did: ethrDid(chain.chainId, thief.address),
        privateKey: thief.privateKey,
        credentials: root.credentials,
      });
      const s = await call('POST', '/auth/token', { body: { presentation: stolen.jwt } });
      assert.equal(s.status, 401);
      assert.equal(s.json.error.code, 'ERR_VC_SUBJECT_MISMATCH');

      const forged = await present({ did: root.did, privateKey: thief.privateKey, credentials: root.credentials });
      assert.equal(
        (await call('POST', '/auth/token', { body: { presentation: forged.jwt } })).json.error.code,
        'ERR_JWT_SIGNATURE',
      );
      assert.equal(
        (await call('POST', '/auth/token', { body: { presentation: 'not.a.jwt' } })).json.error.code,
        'ERR_JWT_MALFORMED',
      );
    });

    it('refuses expired, logged-out and garbage tokens, and tokens whose role credential was revoked', async () => {
      const token = await login(root);
      assert.equal((await call('GET', '/credentials', { token })).status, 200);
      clock.offsetMs = 301_000;
      try {
        const expired = await call('GET', '/credentials', { token });
        assert.equal(expired.status, 401);
        assert.equal(expired.json.error.code, 'ERR_AUTH_EXPIRED');
      } finally {
        clock.offsetMs = 0;
      }
      const other = await login(root);
      assert.equal((await call('POST', '/auth/logout', { token: other })).status, 204);
      const loggedOut = await call('GET', '/credentials', { token: other });
      assert.equal(loggedOut.json.error.code, 'ERR_AUTH_INVALID', 'a signed-out token is refused');
      assert.equal((await call('GET', '/credentials', { token: 'tsa_garbage' })).json.error.code, 'ERR_AUTH_INVALID');

      const admin2 = await holderWith(token, ['AdminCredential', 'OperatorCredential']);
      const t2 = await login(admin2);
      const operator = await login(await holderWith(token, ['OperatorCredential']));
      const adminVcId = JSON.parse(Buffer.from(admin2.credentials[0]!.split('.')[1]!, 'base64url').toString()).jti;
      assert.equal((await call('POST', `/credentials/${adminVcId}/revoke`, { token: operator })).status, 200);
      const after = await call('GET', '/credentials', { token: t2 });
      assert.equal(after.status, 401);
      assert.equal(after.json.error.code, 'ERR_VC_REVOKED', 'a revoked admin loses access at once');
      const relogin = await present(admin2);
      assert.equal(
        (await call('POST', '/auth/token', { body: { presentation: relogin.jwt } })).json.error.code,
        'ERR_VC_REVOKED',
      );
    });

    it('hands a credential to a holder who is not the caller through a one-time offer', async () => {
      const admin = await login(root);
      const holder = Wallet.createRandom();
      const did = ethrDid(chain.chainId, holder.address);
      const issued = await call('POST', '/credentials', {
        token: admin,
        body: {
          type: 'AccreditedInvestorCredential',
          subject: did,
          claims: {
            jurisdiction: 'LU',
            investorType: 'entity',
            accreditationLevel: 'institutional',
            kycLevel: 'enhanced',
          },
        },
      });
      assert.equal(issued.status, 201, issued.text);
      const offer = await call('POST', `/credentials/${issued.json.id}/offer`, {
        token: admin,
        body: { ttlSeconds: 600 },
      });
      assert.equal(offer.status, 201, offer.text);
      assert.equal(offer.json.redeemUrl, 'https://issuer.example/offers/redeem');
      // The holder's presentation JWT carrying the code (say, phished through another flow) is no proof: 401, and the
      // offer stays redeemable by its subject.
      const presentation = await createJWT(
        { aud: 'https://issuer.example', nonce: offer.json.code, vp: { type: ['VerifiablePresentation'] } },
        { issuer: did, signer: ES256KSigner(hexToBytes(holder.privateKey)) },
        { alg: 'ES256K' },
      );
      const phished = await call('POST', '/offers/redeem', { body: { code: offer.json.code, proof: presentation } });
      assert.equal(phished.status, 401, phished.text);
      assert.equal(phished.json.error.code, 'ERR_PROOF_TYPE');
      const proof = await createJWT(
        { aud: 'https://issuer.example', nonce: offer.json.code },
        { issuer: did, signer: ES256KSigner(hexToBytes(holder.privateKey)) },
        { alg: 'ES256K', typ: OFFER_PROOF_TYP as unknown as 'JWT' }, // did-jwt types typ as 'JWT'
      );
      const got = await call('POST', '/offers/redeem', { body: { code: offer.json.code, proof } });
      assert.equal(got.status, 200, got.text);
      assert.equal(got.json.credential, issued.json.jwt);
      const again = await call('POST', '/offers/redeem', { body: { code: offer.json.code, proof } });
      assert.equal(again.status, 401);
      assert.equal(again.json.error.code, 'ERR_AUTH_REPLAYED');
      const operatorOnly = await call('POST', `/credentials/${issued.json.id}/offer`, {});
      assert.equal(operatorOnly.status, 401);
    });

    it('registers people and organisations, refuses duplicates and bad input, and shows their credentials', async () => {
      const admin = await login(root);
      const org = {
        did: `did:ethr:0x7a69:0x${'f6'.repeat(20)}`,
        kind: 'organisation',
        name: 'Grid Data Ltd',
        country: 'GB',
        registrationId: '01234567',
      };
      const created = await call('POST', '/parties', { token: admin, body: org });
      assert.equal(created.status, 201, created.text);
      assert.equal(created.json.createdBy, root.did);
      const dup = await call('POST', '/parties', { token: admin, body: org });
      assert.equal(dup.status, 409);
      assert.equal(dup.json.error.code, 'ERR_CONFLICT');
      const bad = await call('POST', '/parties', { token: admin, body: { did: 'nope', kind: 'person', name: '' } });
      assert.equal(bad.status, 422);
      assert.equal(bad.json.error.code, 'ERR_VALIDATION');
      await call('POST', '/credentials', {
        token: admin,
        body: {
          type: 'DataPartnerCredential',
          subject: org.did,
          claims: { organisationName: org.name, registrationId: org.registrationId, dataspace: 'energy-ds' },
        },
      });
      const one = await call('GET', `/parties/${encodeURIComponent(org.did)}`, { token: admin });
      assert.equal(one.status, 200, one.text);
      assert.deepEqual(
        one.json.credentials.map((c: { type: string }) => c.type),
        ['DataPartnerCredential'],
      );
      const orgs = await call('GET', '/parties?kind=organisation', { token: admin });
      assert.ok(orgs.json.some((p: { did: string }) => p.did === org.did));
      const trail = await call('GET', '/audit?limit=1000', { token: admin });
      assert.ok(
        trail.json.items.some(
          (e: { what: string; details: { did?: string } }) => e.what === 'party.register' && e.details.did === org.did,
        ),
      );
    });

    it('streams status changes as server-sent events naming the lists to refetch, without subjects', async () => {
      const admin = await login(root);
      const operator = await login(await holderWith(admin, ['OperatorCredential']));
      const issued = await call('POST', '/credentials', {
        token: admin,
        body: { type: 'EnergyProsumerCredential', subject: PERSON, claims: PROSUMER },
      });
      const controller = new AbortController();
      const res = await fetch(`${base}/status-events`, { signal: controller.signal });
      assert.equal(res.headers.get('content-type'), 'text/event-stream');
      const reader = res.body!.getReader();
      let text = '';
      const first = await reader.read(); // the opening comment: the subscription is in place
      text += Buffer.from(first.value!).toString();
      assert.equal((await call('POST', `/credentials/${issued.json.id}/suspend`, { token: operator })).status, 200);
      while (!text.includes('event: status')) {
        const chunk = await reader.read();
        assert.equal(chunk.done, false);
        text += Buffer.from(chunk.value!).toString();
      }
      while (!/event: status\ndata: .*\n\n/.test(text)) text += Buffer.from((await reader.read()).value!).toString();
      controller.abort();
      const data = JSON.parse(/event: status\ndata: (.*)\n/.exec(text)![1]!);
      assert.deepEqual(data.statusListCredentials, [
        `https://issuer.example/status-lists/${issued.json.statusList}/suspension`,
        `https://issuer.example/status-lists/${issued.json.statusList}/token`,
      ]);
      assert.equal(text.includes(PERSON), false, 'no subject in the public stream');
    });

    it('caps the public status event stream per source address (429) and in all (503); a closed stream frees its slot', async () => {
      // Sources are told apart by address: 127.0.0.0/8 is all loopback, so a client can bind 127.0.0.2 and 127.0.0.3.
      type Opened = { status: number; code?: string; retryAfter?: string; close(): void };
      const open = (localAddress: string) =>
        new Promise<Opened>((resolve, reject) => {
          const req = httpGet(`${base}/status-events`, { localAddress, agent: false }, (res) => {
            if (res.statusCode === 200) {
              resolve({ status: 200, close: () => req.destroy() });
              return;
            }
            let text = '';
            res.on('data', (c) => (text += c));
            res.on('end', () =>
              resolve({
                status: res.statusCode ?? 0,
                code: JSON.parse(text).error.code,
                retryAfter: String(res.headers['retry-after']),
                close: () => {},
              }),
            );
          });
          req.on('error', reject);
        });
      const opened: Opened[] = [];
      const tried: string[] = [];
      try {
        for (const address of ['127.0.0.1', '127.0.0.1', '127.0.0.1', '127.0.0.2', '127.0.0.3']) {
          const o = await open(address);
          opened.push(o);
          tried.push(`${address} ${o.status}${o.code ? ` ${o.code}` : ''}`);
        }
        assert.deepEqual(tried, [
          '127.0.0.1 200',
          '127.0.0.1 200',
          '127.0.0.1 429 ERR_RATE_LIMITED',
          '127.0.0.2 200',
          '127.0.0.3 503 ERR_CAPACITY',
        ]);
        assert.ok(Number(opened[2]!.retryAfter) > 0 && Number(opened[4]!.retryAfter) > 0);
        opened[0]!.close();
        // the server frees the slot when it sees the connection close; wait for that, not for a duration
        let again: Opened | undefined;
        for (let i = 0; i < 200; i++) {
          again = await open('127.0.0.3');
          opened.push(again);
          if (again.status === 200) break;
          await new Promise((r) => setTimeout(r, 10));
        }
        assert.equal(again?.status, 200);
      } finally {
        for (const o of opened) o.close();
      }
    });

    it('authenticates a device registration batch before it reads or parses the body', async () => {
      // about 400 KB of broken JSON, under the batch limit: parsed first, it would be a 400 ERR_JSON_MALFORMED
      const junk = `{"devices":[${'{"characteristics":'.repeat(20_000)}`;
      const anonymous = await call('POST', '/devices/batches', { raw: junk });
      assert.equal(anonymous.status, 401, anonymous.text);
      assert.equal(anonymous.json.error.code, 'ERR_AUTH_REQUIRED');
      const forged = await call('POST', '/devices/batches', { raw: junk, token: 'not.a.token' });
      assert.equal(forged.status, 401, forged.text);
    });

    it('rate-limits the unauthenticated login endpoints per source address', async () => {
      clock.offsetMs = 120_000; // a fresh window, whatever the other tests used
      try {
        const codes: number[] = [];
        for (let i = 0; i < 101; i++) codes.push((await call('POST', '/auth/challenge')).status);
        assert.equal(codes.filter((c) => c === 201).length, 100);
        const last = await call('POST', '/auth/challenge');
        assert.equal(last.status, 429);
        assert.equal(last.json.error.code, 'ERR_RATE_LIMITED');
        assert.ok(Number(last.headers.get('retry-after')) > 0);
        clock.offsetMs = 181_000; // the next window
        assert.equal((await call('POST', '/auth/challenge')).status, 201);
      } finally {
        clock.offsetMs = 0;
      }
    });

    it('counts the client named by X-Forwarded-For only when the request comes from a trusted proxy', async () => {
      const behind = buildIssuerApp(
        { authRequestsPerMinute: 2, trustedProxies: ['127.0.0.1'] },
        { issuer, auth: auth.core, now: () => new Date(Date.now() + clock.offsetMs) },
      );
      const proxied = behind.listen(0, '127.0.0.1');
      await new Promise((r) => proxied.once('listening', r));
      const port = (proxied.address() as AddressInfo).port;
      /** POST /auth/challenge from `localAddress` with the given X-Forwarded-For; the status. */
      const challenge = (localAddress: string, forwardedFor: string) =>
        new Promise<number>((resolve, reject) => {
          const req = httpRequest(
            {
              host: '127.0.0.1',
              port,
              path: '/auth/challenge',
              method: 'POST',
              localAddress,
              headers: { 'x-forwarded-for': forwardedFor },
            },
            (res) => {
              res.resume();
              res.on('end', () => resolve(res.statusCode ?? 0));
            },
          );
          req.on('error', reject);
          req.end();
        });
      try {
        // From the proxy: each client it names has its own budget.
        const seen: string[] = [];
        for (const client of ['203.0.113.1', '203.0.113.1', '203.0.113.1', '203.0.113.2']) {
          seen.push(`${client} ${await challenge('127.0.0.1', client)}`);
        }
        assert.deepEqual(seen, ['203.0.113.1 201', '203.0.113.1 201', '203.0.113.1 429', '203.0.113.2 201']);
        // From anywhere else the header is ignored: a client cannot pick a fresh budget by naming another address.
        const direct: number[] = [];
        for (const claimed of ['198.51.100.1', '198.51.100.2', '198.51.100.3']) {
          direct.push(await challenge('127.0.0.2', claimed));
        }
        assert.deepEqual(direct, [201, 201, 429]);
      } finally {
        proxied.close();
      }
    });

    it('serves OpenAPI 3.1 generated from the schemas it validates with, and 404s in the error shape', async () => {
      const spec = await call('GET', '/openapi.json');
      assert.equal(spec.json.openapi, '3.1.0');
      assert.ok(spec.json.paths['/credentials'].post);
      assert.ok(spec.json.components.schemas.EnergyProsumerCredentialClaims.properties.meterId);
      // the list query's bound is the route's: what the document says is refused, is
      const limit = spec.json.paths['/credentials'].get.parameters.find((p: { name: string }) => p.name === 'limit');
      assert.equal(limit.schema.maximum, 500);
      // the device id's pattern, and a malformed one answered as the lifecycle always has
      const id = spec.json.paths['/devices/{id}'].get.parameters.find((p: { name: string }) => p.name === 'id');
      assert.equal(id.schema.pattern, '^0x[0-9a-fA-F]{64}$');
      // the stack renders the document for every part at /docs/; the issuer serves no page of its own
      assert.equal((await call('GET', '/docs')).status, 404);
      const missing = await call('GET', '/nowhere');
      assert.equal(missing.status, 404);
      assert.equal(missing.json.error.code, 'ERR_NOT_FOUND');
      assert.equal((await call('GET', '/status-lists/999/revocation')).status, 404);
    });
  });
}
