import assert from 'node:assert/strict';
import { createHmac, generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  ANVIL_FUNDER_KEY,
  type AnvilChain,
  EthereumDIDRegistry__factory,
  ensureDeployed,
  makeProvider,
  startAnvil,
} from '@tessera/contracts';
import { Bitstring, type ErrorCode, type Result, statusListEntry, statusListSubject } from '@tessera/protocol';
import { Secp256k1Worker } from '@tessera/runtime';
import { createJWT, EdDSASigner, ES256KSigner } from 'did-jwt';
import { createVerifiableCredentialJwt, createVerifiablePresentationJwt } from 'did-jwt-vc';
import { Resolver } from 'did-resolver';
import { getResolver } from 'ethr-did-resolver';
import { encodeBytes32String, type JsonRpcProvider, parseEther, Wallet } from 'ethers';
import { PolicyEngine } from '../policy/engine.js';
import { loadPolicyFile } from '../policy/load.js';
import { MemoryNonceStore } from './nonce-store.js';
import { InMemoryStatusListProvider } from './status.js';
import { parseTrustList, type TrustList } from './trust.js';
import { PresentationVerifier, type VerifiedPresentation } from './verify.js';

const AUDIENCE = 'https://verifier.tessera.test';
const REVOCATION_LIST = 'https://issuer.tessera.test/status/revocation/1';
const SUSPENSION_LIST = 'https://issuer.tessera.test/status/suspension/1';
const CONTEXT = ['https://www.w3.org/2018/credentials/v1'];

interface Actor {
  wallet: Wallet;
  did: string;
  signer: ReturnType<typeof ES256KSigner>;
}
const actor = (wallet: Wallet = Wallet.createRandom() as unknown as Wallet): Actor => ({
  wallet,
  did: `did:ethr:0x7a69:${wallet.address.toLowerCase()}`,
  signer: ES256KSigner(Buffer.from(wallet.privateKey.slice(2), 'hex')),
});

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
const parts = (jwt: string) => jwt.split('.') as [string, string, string];
const decode = (part: string) => JSON.parse(Buffer.from(part, 'base64url').toString()) as Record<string, unknown>;
const nowS = () => Math.floor(Date.now() / 1000);

let chain: AnvilChain;
let provider: JsonRpcProvider;
let registry: string;
let resolver: Resolver;
let dir: string;
const certifier = actor(); // trusted for EnergyProsumerCredential and AccreditedInvestorCredential
const dataAuthority = actor(); // trusted for DataPartnerCredential only
const rogue = actor(); // trusted for nothing
const alice = actor();
const bob = actor();
let trust: TrustList;
let statusLists: InMemoryStatusListProvider;
let verifier: PresentationVerifier;
let signatureWorker: Secp256k1Worker | undefined;
let nextIndex = 1;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tessera-vc-'));
  chain = await startAnvil({});
  provider = makeProvider(chain.rpcUrl, chain.chainId);
  const deployer = new Wallet(ANVIL_FUNDER_KEY, provider);
  const deployed = await ensureDeployed({
    provider,
    deployer,
    chainId: chain.chainId,
    file: join(dir, 'deployments.json'),
    allowDeploy: true,
  });
  registry = deployed.EthereumDIDRegistry;
  // ethr-did-resolver's typings point at ethers' CommonJS build; the runtime object is the same ethers 6 provider.
  const network = { name: '0x7a69', chainId: 31337, provider: provider as never, registry };
  resolver = new Resolver(getResolver({ networks: [network] }));
  const t = parseTrustList({
    EnergyProsumerCredential: [certifier.did],
    AccreditedInvestorCredential: [certifier.did],
    DataPartnerCredential: [dataAuthority.did, 'did:ethr:0x539:0x000000000000000000000000000000000000dEaD'],
  });
  assert.ok(t.ok);
  trust = t.value;
  statusLists = new InMemoryStatusListProvider();
  statusLists.putBits(REVOCATION_LIST, 'revocation', Bitstring.create());
  statusLists.putBits(SUSPENSION_LIST, 'suspension', Bitstring.create());
  // The shared verifier is configured as the stack configures it: ES256K checks on the libsecp256k1 worker thread.
  // The verifiers that tests build for themselves below check on the calling thread; both paths meet every refusal.
  signatureWorker = Secp256k1Worker.start();
  verifier = new PresentationVerifier({
    resolver,
    trust,
    statusLists,
    nonces: new MemoryNonceStore(),
    audience: AUDIENCE,
    ...(signatureWorker ? { signatureWorker } : {}),
  });
});

after(async () => {
  await signatureWorker?.close();
  provider?.destroy();
  await chain?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

interface VcOptions {
  issuer?: Actor;
  subject?: Actor;
  type?: string;
  claims?: Record<string, unknown>;
  exp?: number;
  nbf?: number;
  index?: number;
  alg?: 'ES256K' | 'ES256K-R';
}

/** A credential as the issuer makes it: ES256K, with a revocation and a suspension entry at its own index. */
async function issue(o: VcOptions = {}): Promise<{ jwt: string; index: number }> {
  const issuer = o.issuer ?? certifier;
  const subject = o.subject ?? alice;
  const index = o.index ?? nextIndex++;
  const jwt = await createVerifiableCredentialJwt(
    {
      sub: subject.did,
      nbf: o.nbf ?? nowS() - 60,
      exp: o.exp ?? nowS() + 3600,
      jti: `urn:uuid:test-${index}`,
      vc: {
        '@context': CONTEXT,
        type: ['VerifiableCredential', o.type ?? 'EnergyProsumerCredential'],
        credentialSubject: o.claims ?? { meterId: 'DE0001', role: 'prosumer', nameplateKw: 6 },
        credentialStatus: [
          statusListEntry(REVOCATION_LIST, index, 'revocation'),
          statusListEntry(SUSPENSION_LIST, index, 'suspension'),
        ],
      } as never,
    },
    {
      did: issuer.did,
      signer: ES256KSigner(Buffer.from(issuer.wallet.privateKey.slice(2), 'hex'), o.alg === 'ES256K-R'),
      alg: o.alg ?? 'ES256K',
    },
  );
  return { jwt, index };
}

/** A presentation answering a fresh request of the verifier. */
async function present(
  credentials: string[],
  o: { holder?: Actor; nonce?: string; audience?: string; exp?: number; nbf?: number } = {},
  v: PresentationVerifier = verifier,
): Promise<string> {
  const holder = o.holder ?? alice;
  const nonce = o.nonce ?? (await v.createRequest()).nonce;
  return createVerifiablePresentationJwt(
    {
      vp: { '@context': CONTEXT, type: ['VerifiablePresentation'], verifiableCredential: credentials },
      ...(o.exp === undefined ? {} : { exp: o.exp }),
      ...(o.nbf === undefined ? {} : { nbf: o.nbf }),
    } as never,
    { did: holder.did, signer: holder.signer, alg: 'ES256K' },
    { challenge: nonce, domain: o.audience ?? AUDIENCE },
  );
}

/** Sign an arbitrary payload as `holder` (for presentations the libraries refuse to build). */
async function signedVp(payload: Record<string, unknown>, holder: Actor = alice): Promise<string> {
  return createJWT(payload, { issuer: holder.did, signer: holder.signer }, { alg: 'ES256K' });
}

function assertRefused(r: Result<VerifiedPresentation>, code: ErrorCode): void {
  assert.equal(r.ok, false, `expected refusal ${code}, got acceptance`);
  if (!r.ok) assert.equal(r.error.code, code, r.error.message);
}

describe('presentation verification: the happy path', () => {
  it('accepts a presentation of a trusted, valid, unrevoked credential held by its subject', async () => {
    const { jwt } = await issue();
    const r = await verifier.verifyPresentation(await present([jwt]));
    assert.ok(r.ok, JSON.stringify(r));
    assert.equal(r.value.holder, alice.did);
    assert.equal(r.value.credentials.length, 1);
    const [vc] = r.value.credentials;
    assert.deepEqual(vc?.types, ['EnergyProsumerCredential']);
    assert.equal(vc?.issuer, certifier.did);
    assert.equal(vc?.claims.meterId, 'DE0001');
  });

  it('recovers an address-only key once, then checks with the cached node:crypto key object', async () => {
    const v = new PresentationVerifier({
      resolver,
      trust,
      statusLists,
      nonces: new MemoryNonceStore(),
      audience: AUDIENCE,
    });
    const { jwt } = await issue();
    assert.ok((await v.verifyPresentation(await present([jwt], {}, v))).ok);
    const recoveries = v.signatures.stats.recoveries;
    const fast = v.signatures.stats.fastPath;
    assert.ok(recoveries >= 2, 'the first VP and VC signatures needed recovery');
    for (let i = 0; i < 3; i++) {
      const { jwt: again } = await issue();
      assert.ok((await v.verifyPresentation(await present([again], {}, v))).ok);
    }
    assert.equal(v.signatures.stats.recoveries, recoveries, 'no recovery for addresses seen before');
    assert.equal(v.signatures.stats.fastPath, fast + 6, 'three presentations, two signatures each, fast path');
  });

  it('does not re-verify a credential presented again while its issuer document is unchanged, and does after a change', async () => {
    // a resolver that hands out the same document object until told the DID changed (what the event cache does)
    const docs = new Map<string, Awaited<ReturnType<Resolver['resolve']>>>();
    const sameDoc = {
      resolve: async (did: string) => {
        let r = docs.get(did);
        if (!r) {
          r = await resolver.resolve(did);
          docs.set(did, r);
        }
        return r;
      },
    };
    const v = new PresentationVerifier({
      resolver: sameDoc,
      trust,
      statusLists,
      nonces: new MemoryNonceStore(),
      audience: AUDIENCE,
    });
    const { jwt } = await issue();
    assert.ok((await v.verifyPresentation(await present([jwt], {}, v))).ok);
    const before = { ...v.signatures.stats };
    assert.ok((await v.verifyPresentation(await present([jwt], {}, v))).ok);
    assert.equal(v.signatures.stats.memoHits, before.memoHits + 1, 'the credential signature is remembered');
    assert.equal(v.signatures.stats.fastPath, before.fastPath + 1, 'only the fresh presentation signature is checked');
    docs.delete(certifier.did); // the issuer's document changed: a new document object
    assert.ok((await v.verifyPresentation(await present([jwt], {}, v))).ok);
    assert.equal(v.signatures.stats.memoHits, before.memoHits + 1, 'no memo hit under a new document');
    assert.equal(v.signatures.stats.fastPath, before.fastPath + 3);
    // a tampered copy never hits the memo of the genuine token
    const [h, p, sig] = parts(jwt);
    const claims = decode(p) as { vc: { credentialSubject: Record<string, unknown> } };
    claims.vc.credentialSubject.meterId = 'DE4242';
    assertRefused(
      await v.verifyPresentation(await present([`${h}.${b64(claims)}.${sig}`], {}, v)),
      'ERR_JWT_SIGNATURE',
    );
  });

  it('accepts a holder whose did:ethr is its public key, checking it without any recovery', async () => {
    const w = new Wallet(Wallet.createRandom().privateKey);
    const keyHolder: Actor = { ...actor(w), did: `did:ethr:0x7a69:${w.signingKey.compressedPublicKey}` };
    const { jwt } = await issue({ subject: keyHolder });
    const recoveries = verifier.signatures.stats.recoveries;
    const r = await verifier.verifyPresentation(await present([jwt], { holder: keyHolder }));
    assert.ok(r.ok, JSON.stringify(r));
    assert.equal(r.value.holder, keyHolder.did);
    assert.equal(verifier.signatures.stats.recoveries, recoveries, 'publicKeyHex is used directly');
  });

  it('accepts ES256K-R signatures and several credentials in one presentation', async () => {
    const a = await issue({ alg: 'ES256K-R' });
    const b = await issue({ type: 'AccreditedInvestorCredential', claims: { jurisdiction: 'FR' } });
    const r = await verifier.verifyPresentation(await present([a.jwt, b.jwt]));
    assert.ok(r.ok, JSON.stringify(r));
    assert.equal(r.value.credentials.length, 2);
  });
});

describe('presentation verification: every refusal has its own code and is never accepted', () => {
  it('refuses alg none, for the presentation and for a credential inside', async () => {
    const { jwt } = await issue();
    const [, p] = parts(await present([jwt]));
    assertRefused(
      await verifier.verifyPresentation(`${b64({ alg: 'none', typ: 'JWT' })}.${p}.`),
      'ERR_JWT_ALG_UNSUPPORTED',
    );
    const [, vcp] = parts(jwt);
    const unsigned = `${b64({ alg: 'none' })}.${vcp}.`;
    assertRefused(await verifier.verifyPresentation(await present([unsigned])), 'ERR_JWT_ALG_UNSUPPORTED');
  });

  it("refuses algorithm confusion: an HS256 token keyed with the issuer's public key", async () => {
    const { jwt } = await issue();
    const [, vcp] = parts(jwt);
    const publicKey = certifier.wallet.signingKey.compressedPublicKey; // public: anyone can learn it
    for (const secret of [publicKey, publicKey.slice(2), Buffer.from(publicKey.slice(2), 'hex')]) {
      const input = `${b64({ alg: 'HS256', typ: 'JWT' })}.${vcp}`;
      const forged = `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
      assertRefused(await verifier.verifyPresentation(await present([forged])), 'ERR_JWT_ALG_UNSUPPORTED');
    }
    const [, vpp] = parts(await present([jwt]));
    const input = `${b64({ alg: 'HS256', typ: 'JWT' })}.${vpp}`;
    const forgedVp = `${input}.${createHmac('sha256', alice.wallet.signingKey.publicKey).update(input).digest('base64url')}`;
    assertRefused(await verifier.verifyPresentation(forgedVp), 'ERR_JWT_ALG_UNSUPPORTED');
  });

  it('refuses a tampered credential payload and a tampered presentation payload', async () => {
    const { jwt } = await issue();
    const [h, p, s] = parts(jwt);
    const payload = decode(p) as { vc: { credentialSubject: Record<string, unknown> } };
    payload.vc.credentialSubject.meterId = 'DE9999';
    assertRefused(await verifier.verifyPresentation(await present([`${h}.${b64(payload)}.${s}`])), 'ERR_JWT_SIGNATURE');

    const [vh, vp, vs] = parts(await present([jwt]));
    const vpPayload = decode(vp);
    vpPayload.iss = bob.did; // claim the presentation is Bob's, keep Alice's signature
    assertRefused(await verifier.verifyPresentation(`${vh}.${b64(vpPayload)}.${vs}`), 'ERR_JWT_SIGNATURE');
  });

  it('refuses a credential signed by another key than its issuer DID authorises', async () => {
    const { jwt } = await issue();
    const [h, p] = parts(jwt);
    const forged = `${h}.${p}.${String(await rogue.signer(`${h}.${p}`))}`; // same header and claims, rogue's signature
    assertRefused(await verifier.verifyPresentation(await present([forged])), 'ERR_JWT_SIGNATURE');
  });

  it('refuses an expired credential and an expired presentation', async () => {
    const { jwt } = await issue({ exp: nowS() - 3600, nbf: nowS() - 7200 });
    assertRefused(await verifier.verifyPresentation(await present([jwt])), 'ERR_VC_EXPIRED');
    const good = await issue();
    assertRefused(
      await verifier.verifyPresentation(await present([good.jwt], { exp: nowS() - 3600 })),
      'ERR_VP_EXPIRED',
    );
  });

  it('refuses a credential and a presentation that are not yet valid', async () => {
    const { jwt } = await issue({ nbf: nowS() + 3600 });
    assertRefused(await verifier.verifyPresentation(await present([jwt])), 'ERR_VC_NOT_YET_VALID');
    const good = await issue();
    assertRefused(
      await verifier.verifyPresentation(await present([good.jwt], { nbf: nowS() + 3600 })),
      'ERR_VP_NOT_YET_VALID',
    );
  });

  it('refuses a presentation for another audience, without spending the nonce', async () => {
    const { jwt } = await issue();
    const { nonce } = await verifier.createRequest();
    const elsewhere = await present([jwt], { nonce, audience: 'https://evil.example' });
    assertRefused(await verifier.verifyPresentation(elsewhere), 'ERR_VP_AUDIENCE');
    assert.ok((await verifier.verifyPresentation(await present([jwt], { nonce }))).ok, 'the nonce is still usable');
  });

  it('hands back what the request was for with its nonce, once, and nothing for a request without one', async () => {
    const { jwt } = await issue();
    const bound = await verifier.createRequest('{"resource":"/r","action":"POST"}');
    const vp = await present([jwt], { nonce: bound.nonce });
    const r = await verifier.verifyPresentation(vp);
    assert.ok(r.ok);
    assert.equal(r.value.request, '{"resource":"/r","action":"POST"}');
    assertRefused(await verifier.verifyPresentation(vp), 'ERR_VP_NONCE');
    const plain = await verifier.verifyPresentation(await present([jwt]));
    assert.ok(plain.ok);
    assert.equal(plain.value.request, undefined);
  });

  it('refuses a reused nonce, a nonce it never issued, a missing nonce and an expired nonce', async () => {
    const { jwt } = await issue();
    const vp = await present([jwt]);
    assert.ok((await verifier.verifyPresentation(vp)).ok);
    assertRefused(await verifier.verifyPresentation(vp), 'ERR_VP_NONCE');
    assertRefused(
      await verifier.verifyPresentation(await present([jwt], { nonce: 'made-up-by-the-wallet' })),
      'ERR_VP_NONCE',
    );
    const noNonce = await signedVp({
      vp: { '@context': CONTEXT, type: ['VerifiablePresentation'], verifiableCredential: [jwt] },
      aud: AUDIENCE,
    });
    assertRefused(await verifier.verifyPresentation(noNonce), 'ERR_VP_NONCE');

    let clock = Date.now();
    const v = new PresentationVerifier({
      resolver,
      trust,
      statusLists,
      nonces: new MemoryNonceStore({ now: () => clock }),
      audience: AUDIENCE,
      nonceTtlMs: 60_000,
      now: () => clock,
    });
    const late = await present([jwt], {}, v);
    clock += 60_001;
    assertRefused(await v.verifyPresentation(late), 'ERR_VP_NONCE');
  });

  it('refuses a presenter who is not the subject of the credential', async () => {
    const { jwt } = await issue({ subject: alice });
    assertRefused(await verifier.verifyPresentation(await present([jwt], { holder: bob })), 'ERR_VC_SUBJECT_MISMATCH');
  });

  it('refuses an untrusted issuer, and an issuer trusted only for another type', async () => {
    const { jwt } = await issue({ issuer: rogue });
    assertRefused(await verifier.verifyPresentation(await present([jwt])), 'ERR_VC_UNTRUSTED_ISSUER');
    const other = await issue({ issuer: dataAuthority, type: 'EnergyProsumerCredential' });
    assertRefused(await verifier.verifyPresentation(await present([other.jwt])), 'ERR_VC_UNTRUSTED_ISSUER');
  });

  it('per call: one named issuer instead of the trust list, a subject that is a thing, a status entry optional', async () => {
    // a credential about an offering, signed by a party the trust list does not name, without status
    const about = 'urn:tessera:offering:green-bond-1';
    const jwt = await createVerifiableCredentialJwt(
      {
        sub: about,
        nbf: nowS() - 60,
        exp: nowS() + 3600,
        vc: {
          '@context': CONTEXT,
          type: ['VerifiableCredential', 'OfferingCertificationCredential'],
          credentialSubject: { scheme: 'EU Green Bond Standard' },
        } as never,
      },
      { did: rogue.did, signer: ES256KSigner(Buffer.from(rogue.wallet.privateKey.slice(2), 'hex')), alg: 'ES256K' },
    );
    const codeOf = (r: Result<unknown>) => (r.ok ? 'ok' : r.error.code);
    // by default: a DID subject, a status entry and a trusted issuer are all required
    assert.equal(codeOf(await verifier.verifyCredential(jwt)), 'ERR_VC_MALFORMED');
    const named = { issuer: rogue.did, requireStatus: false, anySubject: true };
    const r = await verifier.verifyCredential(jwt, named);
    assert.ok(r.ok, JSON.stringify(r));
    assert.deepEqual(
      [r.value.subject, r.value.issuer, r.value.claims],
      [about, rogue.did, { scheme: 'EU Green Bond Standard' }],
    );
    // another issuer named: refused, whatever the trust list says
    assert.equal(
      codeOf(await verifier.verifyCredential(jwt, { ...named, issuer: certifier.did })),
      'ERR_VC_UNTRUSTED_ISSUER',
    );
    const trusted = await issue();
    assert.equal(
      codeOf(await verifier.verifyCredential(trusted.jwt, { issuer: rogue.did })),
      'ERR_VC_UNTRUSTED_ISSUER',
    );
    // each relaxation only by itself
    assert.equal(codeOf(await verifier.verifyCredential(jwt, { ...named, anySubject: false })), 'ERR_VC_MALFORMED');
    assert.equal(codeOf(await verifier.verifyCredential(jwt, { ...named, requireStatus: true })), 'ERR_VC_MALFORMED');
    // still the signature: the same payload signed by somebody else is refused
    const [h, p] = parts(jwt);
    const forged = `${h}.${p}.${parts(trusted.jwt)[2]}`;
    assert.notEqual(codeOf(await verifier.verifyCredential(forged, named)), 'ok');
    // a subject that is no URI at all stays malformed
    const noUri = await createVerifiableCredentialJwt(
      {
        sub: 'not a uri',
        vc: { '@context': CONTEXT, type: ['VerifiableCredential', 'X'], credentialSubject: { a: 1 } } as never,
      },
      { did: rogue.did, signer: ES256KSigner(Buffer.from(rogue.wallet.privateKey.slice(2), 'hex')), alg: 'ES256K' },
    );
    assert.equal(codeOf(await verifier.verifyCredential(noUri, named)), 'ERR_VC_MALFORMED');
  });

  it('refuses a revoked and a suspended credential as soon as the status list is pushed, and accepts it resumed', async () => {
    const revoked = await issue();
    assert.ok((await verifier.verifyPresentation(await present([revoked.jwt]))).ok);
    statusLists.setStatus(REVOCATION_LIST, revoked.index, true);
    assertRefused(await verifier.verifyPresentation(await present([revoked.jwt])), 'ERR_VC_REVOKED');

    const suspended = await issue();
    const bits = Bitstring.create();
    bits.set(suspended.index, true);
    statusLists.put(SUSPENSION_LIST, 'suspension', bits.encode()); // a whole list pushed, as the issuer publishes it
    assertRefused(await verifier.verifyPresentation(await present([suspended.jwt])), 'ERR_VC_SUSPENDED');
    statusLists.setStatus(SUSPENSION_LIST, suspended.index, false);
    assert.ok((await verifier.verifyPresentation(await present([suspended.jwt]))).ok, 'resumed');
  });

  it('installs status lists only from an authentic status list credential of the credential issuer', async () => {
    const url = 'https://issuer.tessera.test/status-lists/7/revocation';
    const publish = async (signer: Actor, bits: Bitstring, claimedIssuer: Actor = signer) => {
      const { id: _id, ...subject } = { ...statusListSubject(url, 'revocation', bits) };
      const jwt = await createVerifiableCredentialJwt(
        {
          jti: url,
          sub: `${url}#list`,
          vc: {
            '@context': CONTEXT,
            type: ['VerifiableCredential', 'BitstringStatusListCredential'],
            credentialSubject: subject,
          } as never,
        },
        { did: claimedIssuer.did, signer: signer.signer, alg: 'ES256K' },
      );
      return jwt;
    };
    const lists = new InMemoryStatusListProvider();
    const v = new PresentationVerifier({
      resolver,
      trust,
      statusLists: lists,
      nonces: new MemoryNonceStore(),
      audience: AUDIENCE,
    });
    const [, p] = parts((await issue({ index: 5 })).jwt);
    const payload = decode(p) as { vc: Record<string, unknown> };
    payload.vc.credentialStatus = statusListEntry(url, 5, 'revocation');
    const vcJwt = await createJWT(payload, { issuer: certifier.did, signer: certifier.signer }, { alg: 'ES256K' });

    const bits = Bitstring.create();
    const installed = await v.verifyStatusListCredential(await publish(certifier, bits), url);
    assert.ok(installed.ok, JSON.stringify(installed));
    lists.set(installed.value.url, installed.value.snapshot);
    assert.ok((await v.verifyPresentation(await present([vcJwt], {}, v))).ok);

    bits.set(5, true);
    const next = await v.verifyStatusListCredential(await publish(certifier, bits), url);
    assert.ok(next.ok);
    lists.set(url, next.value.snapshot);
    assertRefused(await v.verifyPresentation(await present([vcJwt], {}, v)), 'ERR_VC_REVOKED');

    // a list forged in the certifier's name, one served at another URL, and a genuine list by another issuer
    const forged = await v.verifyStatusListCredential(await publish(rogue, Bitstring.create(), certifier), url);
    assert.ok(!forged.ok && forged.error.code === 'ERR_JWT_SIGNATURE');
    const moved = await v.verifyStatusListCredential(await publish(certifier, Bitstring.create()), `${url}-other`);
    assert.ok(!moved.ok && moved.error.code === 'ERR_VC_MALFORMED');
    const foreign = await v.verifyStatusListCredential(await publish(rogue, Bitstring.create()), url);
    assert.ok(foreign.ok);
    lists.set(url, foreign.value.snapshot); // the rogue's all-clear list must not un-revoke the certifier's credential
    assertRefused(await v.verifyPresentation(await present([vcJwt], {}, v)), 'ERR_VC_STATUS_UNAVAILABLE');
  });

  it('refuses a credential whose status list is unknown', async () => {
    const { jwt } = await issue();
    const [, p] = parts(jwt);
    assert.ok(decode(p));
    const v = new PresentationVerifier({
      resolver,
      trust,
      statusLists: new InMemoryStatusListProvider(),
      nonces: new MemoryNonceStore(),
      audience: AUDIENCE,
    });
    assertRefused(await v.verifyPresentation(await present([jwt], {}, v)), 'ERR_VC_STATUS_UNAVAILABLE');
  });

  it('refuses an unknown DID: an issuer on a network this verifier does not know, and a deactivated holder', async () => {
    const ghost = actor();
    const ghostDid = 'did:ethr:0x539:0x000000000000000000000000000000000000dEaD';
    const ghostVc = await createVerifiableCredentialJwt(
      {
        sub: alice.did,
        vc: {
          '@context': CONTEXT,
          type: ['VerifiableCredential', 'DataPartnerCredential'],
          credentialSubject: { organisationName: 'Ghost' },
          credentialStatus: statusListEntry(REVOCATION_LIST, 0, 'revocation'),
        } as never,
      },
      { did: ghostDid, signer: ghost.signer, alg: 'ES256K' },
    );
    assertRefused(await verifier.verifyPresentation(await present([ghostVc])), 'ERR_DID_NOT_FOUND');

    // ERC-1056: changing the owner to the zero address deactivates the DID; the resolver reports it.
    const funder = new Wallet(ANVIL_FUNDER_KEY, provider);
    const carol = actor(new Wallet(Wallet.createRandom().privateKey, provider));
    await (await funder.sendTransaction({ to: carol.wallet.address, value: parseEther('1') })).wait();
    const { jwt } = await issue({ subject: carol });
    assert.ok((await verifier.verifyPresentation(await present([jwt], { holder: carol }))).ok, 'valid before');
    const reg = EthereumDIDRegistry__factory.connect(registry, carol.wallet);
    await (await reg.changeOwner(carol.wallet.address, '0x0000000000000000000000000000000000000000')).wait();
    assertRefused(await verifier.verifyPresentation(await present([jwt], { holder: carol })), 'ERR_DID_NOT_FOUND');
  });

  it('refuses malformed JWTs before any resolution', async () => {
    for (const bad of [
      '',
      'abc',
      'a.b',
      'a.b.c.d',
      '!!.e30.sig',
      `${b64({ alg: 'ES256K' })}.not-json.c2ln`,
      42,
      null,
    ]) {
      assertRefused(await verifier.verifyPresentation(bad), 'ERR_JWT_MALFORMED');
    }
    assertRefused(
      await verifier.verifyPresentation(`${b64([1, 2])}.${b64({})}.c2ln`),
      'ERR_JWT_MALFORMED', // header is JSON but not an object
    );
    assertRefused(
      await verifier.verifyPresentation(`${b64({ alg: 'ES256K', crit: ['b64'] })}.${b64({})}.c2ln`),
      'ERR_JWT_MALFORMED',
    );
    // a second spelling of the same signature (the unused low bits of the last base64url character set)
    const [vh, vpp, vs] = parts(await present([(await issue()).jwt]));
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const last = alphabet.indexOf(vs.at(-1)!);
    const respelled = `${vs.slice(0, -1)}${alphabet[last | 0b1111]}`;
    assert.deepEqual(Buffer.from(respelled, 'base64url'), Buffer.from(vs, 'base64url'), 'same bytes');
    assertRefused(await verifier.verifyPresentation(`${vh}.${vpp}.${respelled}`), 'ERR_JWT_MALFORMED');
    const notAVp = await signedVp({ aud: AUDIENCE, nonce: 'x' });
    assertRefused(await verifier.verifyPresentation(notAVp), 'ERR_VP_MALFORMED');
    const { jwt } = await issue();
    const [, p] = parts(jwt);
    const noVc = await createJWT(
      { ...decode(p), vc: undefined },
      { issuer: certifier.did, signer: certifier.signer },
      { alg: 'ES256K' },
    );
    assertRefused(await verifier.verifyPresentation(await present([noVc])), 'ERR_VC_MALFORMED');
    const otherIssuer = await createJWT(
      { ...decode(p), vc: { ...(decode(p).vc as object), issuer: rogue.did } },
      { issuer: certifier.did, signer: certifier.signer },
      { alg: 'ES256K' },
    );
    assertRefused(await verifier.verifyPresentation(await present([otherIssuer])), 'ERR_VC_MALFORMED');
    // a DID URL as subject would be a second spelling of the holder; a credential without status cannot be revoked
    const didUrlSubject = await createJWT(
      { ...decode(p), sub: `${alice.did}#controller` },
      { issuer: certifier.did, signer: certifier.signer },
      { alg: 'ES256K' },
    );
    assertRefused(await verifier.verifyPresentation(await present([didUrlSubject])), 'ERR_VC_MALFORMED');
    const noStatus = await createJWT(
      { ...decode(p), vc: { ...(decode(p).vc as object), credentialStatus: undefined } },
      { issuer: certifier.did, signer: certifier.signer },
      { alg: 'ES256K' },
    );
    const r = await verifier.verifyPresentation(await present([noStatus]));
    assertRefused(r, 'ERR_VC_MALFORMED');
    assert.match(!r.ok ? r.error.message : '', /credentialStatus/);
  });

  it('refuses an oversized JWT without parsing it', async () => {
    const { jwt } = await issue();
    const { nonce } = await verifier.createRequest();
    const big = await signedVp({
      vp: {
        '@context': CONTEXT,
        type: ['VerifiablePresentation'],
        verifiableCredential: [jwt],
        padding: 'x'.repeat(17 * 1024),
      },
      aud: AUDIENCE,
      nonce,
    });
    assertRefused(await verifier.verifyPresentation(big), 'ERR_JWT_TOO_LARGE');
    assertRefused(await verifier.verifyPresentation('a'.repeat(10_000_000)), 'ERR_JWT_TOO_LARGE');
  });

  it('refuses a presentation with no credential', async () => {
    const { nonce } = await verifier.createRequest();
    for (const verifiableCredential of [[], undefined]) {
      const vp = await signedVp({
        vp: { '@context': CONTEXT, type: ['VerifiablePresentation'], verifiableCredential },
        aud: AUDIENCE,
        nonce,
      });
      assertRefused(await verifier.verifyPresentation(vp), 'ERR_VP_NO_CREDENTIAL');
    }
  });

  it('refuses a credential type the policy does not accept (a valid DataPartnerCredential for an energy order)', async () => {
    const policies = loadPolicyFile(
      join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'policies', 'default.json'),
    );
    assert.ok(policies.ok);
    const engine = new PolicyEngine(policies.value, { trust });
    const order = { resource: '/energy/meters/DE0001/orders', action: 'POST' };

    const partner = await issue({
      issuer: dataAuthority,
      type: 'DataPartnerCredential',
      claims: { organisationName: 'Acme', registrationId: 'HRB-1', dataspace: 'tessera' },
    });
    const verified = await verifier.verifyPresentation(await present([partner.jwt]));
    assert.ok(verified.ok, 'the presentation itself is valid');
    const decision = engine.evaluate(order, verified.value.credentials);
    assert.ok(!decision.ok && decision.error.code === 'ERR_POLICY_DENIED', JSON.stringify(decision));
    assert.match(decision.error.message, /needs a credential of type EnergyProsumerCredential/);
    assert.ok(engine.evaluate({ resource: '/data/exchanges', action: 'POST' }, verified.value.credentials).ok);

    const prosumer = await issue();
    const ok = await verifier.verifyPresentation(await present([prosumer.jwt]));
    assert.ok(ok.ok);
    assert.ok(engine.evaluate(order, ok.value.credentials).ok, 'the right credential passes the same policy');
  });
});

describe('keys come from the DID document on chain now (ERC-1056)', () => {
  it('accepts keys added as attributes (secp256k1 hex, Ed25519 base64) and refuses a rotated-out owner key', async () => {
    const funder = new Wallet(ANVIL_FUNDER_KEY, provider);
    const owner = new Wallet(Wallet.createRandom().privateKey, provider);
    await (await funder.sendTransaction({ to: owner.address, value: parseEther('1') })).wait();
    const issuer = actor(owner);
    const t = parseTrustList({ EnergyProsumerCredential: [issuer.did] });
    assert.ok(t.ok);
    const v = new PresentationVerifier({
      resolver,
      trust: t.value,
      statusLists,
      nonces: new MemoryNonceStore(),
      audience: AUDIENCE,
    });
    const reg = EthereumDIDRegistry__factory.connect(registry, owner);
    const accepted = async (jwt: string) => v.verifyPresentation(await present([jwt], {}, v));

    // the owner's own key (address only in the document: recovered once)
    const byOwner = await issue({ issuer });
    assert.ok((await accepted(byOwner.jwt)).ok);

    // a secp256k1 assertion key published as hex (publicKeyHex path, no recovery needed)
    const delegate = actor();
    await (
      await reg.setAttribute(
        owner.address,
        encodeBytes32String('did/pub/Secp256k1/veriKey/hex'),
        delegate.wallet.signingKey.compressedPublicKey,
        86_400,
      )
    ).wait();
    const byDelegate = await issue({ issuer: { ...issuer, signer: delegate.signer, wallet: delegate.wallet } });
    const r1 = await accepted(byDelegate.jwt);
    assert.ok(r1.ok, JSON.stringify(r1));

    // an Ed25519 key published as base64, used with EdDSA
    const ed = generateKeyPairSync('ed25519');
    const edPublic = Buffer.from(ed.publicKey.export({ format: 'jwk' }).x!, 'base64url');
    const edSecret = Buffer.from(ed.privateKey.export({ format: 'jwk' }).d!, 'base64url');
    await (
      await reg.setAttribute(owner.address, encodeBytes32String('did/pub/Ed25519/veriKey/base64'), edPublic, 86_400)
    ).wait();
    const [, p] = parts(byOwner.jwt);
    const edJwt = await createJWT(decode(p), { issuer: issuer.did, signer: EdDSASigner(edSecret) }, { alg: 'EdDSA' });
    const r2 = await accepted(edJwt);
    assert.ok(r2.ok, JSON.stringify(r2));
    // the same EdDSA token under a key the document does not list fails
    const stranger = generateKeyPairSync('ed25519').privateKey.export({ format: 'jwk' }).d!;
    const edForged = await createJWT(
      decode(p),
      { issuer: issuer.did, signer: EdDSASigner(Buffer.from(stranger, 'base64url')) },
      { alg: 'EdDSA' },
    );
    assertRefused(await accepted(edForged), 'ERR_JWT_SIGNATURE');

    // rotate the owner: the old key, whose public key the verifier has cached, no longer signs for this DID
    const next = new Wallet(Wallet.createRandom().privateKey, provider);
    await (await reg.changeOwner(owner.address, next.address)).wait();
    const byOldOwner = await issue({ issuer });
    assertRefused(await accepted(byOldOwner.jwt), 'ERR_JWT_SIGNATURE');
    const byNewOwner = await issue({
      issuer: { ...issuer, wallet: next, signer: ES256KSigner(Buffer.from(next.privateKey.slice(2), 'hex')) },
    });
    const r3 = await accepted(byNewOwner.jwt);
    assert.ok(r3.ok, JSON.stringify(r3));
  });
});
