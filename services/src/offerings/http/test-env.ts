/**
 * The token-offering HTTP API as its tests run it: real anvil with the stack's contracts, the real issuer
 * signing the credentials, the real verifier (the stack's verifier part: trust list, default policies, status lists
 * pushed by the issuer's events) handing out access tokens for real presentations, SQLite, the outbox, HTTP on an
 * ephemeral port. `useOfferingsHttp()` registers the before/after hooks of the calling test file and returns the
 * environment, filled once `before` has run.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
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
  SecurityToken__factory,
  startAnvil,
} from '@tessera/contracts';
import { buildIssuer, type Issuer, openIssuerDatabase, pushStatusChanges, statusListReader } from '@tessera/issuer';
import { CREDENTIAL_TYPE_NAMES, silentLogger } from '@tessera/protocol';
import { errorHandler } from '@tessera/runtime/http';
import {
  CachedDidResolver,
  createVerifier,
  DEFAULT_POLICY_FILE,
  loadPolicyFile,
  parseTrustList,
  type Verifier,
} from '@tessera/verifier';
import { ES256KSigner } from 'did-jwt';
import { createVerifiableCredentialJwt, createVerifiablePresentationJwt } from 'did-jwt-vc';
import { type JsonRpcProvider, parseEther, Wallet } from 'ethers';
import express from 'express';
import type { DataSource } from 'typeorm';
import { OfferingPayments } from '../payments.js';
import { OfferingService } from '../service.js';
import { OfferingStore, offeringsDatabaseParts } from '../store.js';
import { offeringUrn } from '../terms.js';
import { ensureAttester, tokenDeployer } from './part.js';
import { buildOfferingsRouter, OFFERING_CERTIFICATION_CREDENTIAL } from './router.js';
import { connectRevocations, type RevocationLink } from './revocations.js';

export interface Actor {
  wallet: Wallet;
  did: string;
}

export interface OfferingsHttpEnv {
  chain: AnvilChain;
  provider: JsonRpcProvider;
  funder: Wallet;
  contracts: Record<ContractName, string>;
  db: DataSource;
  issuer: Issuer;
  verifier: Verifier;
  outbox: Outbox;
  store: OfferingStore;
  service: OfferingService;
  revocations: RevocationLink;
  base: string;
  /** The offerings' clock, ms (the verifier and the chain keep real time). */
  clock: number;
  /** The issuer's clock, ms: set back to issue a credential that has already expired; undefined = real time. */
  issuerClock: number | undefined;
  /** Stop following the issuer's status events (a process that is down), and follow them again. */
  disconnect(): void;
  reconnect(): void;
}

/** The budget of relayed transfers per holder, offering and hour in these tests (small, so exceeding it is cheap). */
export const RELAYED_TRANSFERS_IN_TESTS = 4;

export const actor = (): Actor => {
  const wallet = new Wallet(Wallet.createRandom().privateKey);
  return { wallet, did: `did:ethr:0x7a69:${wallet.address.toLowerCase()}` };
};

const env = {} as OfferingsHttpEnv;

export async function fund(a: Actor) {
  const r = await (await env.funder.sendTransaction({ to: a.wallet.address, value: parseEther('1') })).wait();
  assert.equal(r?.status, 1);
}

/** Register the hooks that start and stop the environment around the calling test file. */
export function useOfferingsHttp(): OfferingsHttpEnv {
  let dir: string;
  let issuerDb: DataSource;
  let server: Server;
  let unfollow: (() => void) | undefined;
  env.clock = Date.now();
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tessera-offerings-http-'));
    env.chain = await startAnvil({});
    const provider = makeProvider(env.chain.rpcUrl, env.chain.chainId);
    env.provider = provider;
    env.funder = new Wallet(ANVIL_FUNDER_KEY, provider);
    env.contracts = await ensureDeployed({
      provider,
      deployer: env.funder,
      chainId: env.chain.chainId,
      file: join(dir, 'deployments.json'),
      allowDeploy: true,
    });
    const relayer = new Wallet(Wallet.createRandom().privateKey, provider);
    await (await env.funder.sendTransaction({ to: relayer.address, value: parseEther('10') })).wait();
    // the registry was deployed by someone else, who handed its admin role to the relayer: ensureAttester appoints it
    const registry = EligibilityRegistry__factory.connect(env.contracts.EligibilityRegistry, env.funder);
    await (await registry.transferAdmin(relayer.address)).wait();

    issuerDb = await openIssuerDatabase({ sqlitePath: join(dir, 'issuer.sqlite') });
    env.issuer = await buildIssuer(
      { dataDir: dir, publicBaseUrl: 'https://issuer.tessera.test' },
      {
        dataSource: issuerDb,
        provider,
        chainId: env.chain.chainId,
        registryAddress: env.contracts.EthereumDIDRegistry,
        now: () => new Date(env.issuerClock ?? Date.now()),
      },
    );
    const resolver = new CachedDidResolver({
      chainId: env.chain.chainId,
      provider,
      registry: env.contracts.EthereumDIDRegistry,
    });
    // HTTP first, so the verifier knows its public URL (OpenID4VP requests name their response URI)
    const app = express();
    let verifierRouter: express.RequestHandler | undefined;
    let offeringsRouter: express.RequestHandler | undefined;
    app.use('/verifier', (req, res, next) => verifierRouter!(req, res, next));
    app.use('/services/offerings', (req, res, next) => offeringsRouter!(req, res, next));
    app.use(errorHandler(silentLogger, 'offerings-test'));
    server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    env.base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const verifierActor = actor();
    const trust = parseTrustList(Object.fromEntries(CREDENTIAL_TYPE_NAMES.map((t) => [t, [env.issuer.did]])));
    const policies = loadPolicyFile(DEFAULT_POLICY_FILE);
    assert.ok(trust.ok && policies.ok);
    env.verifier = createVerifier(
      {
        did: verifierActor.did,
        privateKey: verifierActor.wallet.privateKey,
        publicUrl: `${env.base}/verifier`,
        policies: policies.value,
        trust: trust.value,
      },
      { resolver, fetchStatusList: statusListReader(env.issuer) },
    );
    verifierRouter = env.verifier.router;
    unfollow = await pushStatusChanges(env.issuer, env.verifier);

    env.db = await openDatabase(
      { sqlitePath: join(dir, 'offerings.sqlite') },
      {
        entities: [...outboxDatabaseParts.entities, ...offeringsDatabaseParts.entities],
        migrations: [...outboxDatabaseParts.migrations, ...offeringsDatabaseParts.migrations],
      },
    );
    env.outbox = new Outbox({ dataSource: env.db, signer: relayer, provider, chainId: env.chain.chainId });
    const registryAddress = env.contracts.EligibilityRegistry;
    assert.equal(await ensureAttester(registryAddress, env.outbox, provider, silentLogger), 'appointed');
    assert.equal(await ensureAttester(registryAddress, env.outbox, provider, silentLogger), 'already');
    env.store = new OfferingStore(env.db);
    const now = () => new Date(env.clock);
    env.service = new OfferingService({
      store: env.store,
      outbox: env.outbox,
      registryAddress,
      provider,
      now,
      relayedTransfersPerHour: RELAYED_TRANSFERS_IN_TESTS,
    });
    const link = () =>
      connectRevocations({
        issuer: env.issuer,
        service: env.service,
        store: env.store,
        outbox: env.outbox,
        registryAddress,
      });
    env.revocations = link();
    env.disconnect = () => env.revocations.stop();
    env.reconnect = () => {
      env.revocations = link();
    };
    const payments = new OfferingPayments({
      store: env.store,
      outbox: env.outbox,
      provider,
      registryAddress,
      holdings: (id, atBlock) => env.service.holdings(id, atBlock),
      now,
    });
    const router = buildOfferingsRouter({
      service: env.service,
      payments,
      store: env.store,
      provider,
      requireCredentials: env.verifier.guard,
      verifyCredential: env.verifier.verifyCredential,
      deployToken: tokenDeployer({
        deployer: new Wallet(Wallet.createRandom().privateKey, provider),
        outbox: env.outbox,
        provider,
        registryAddress,
      }),
    });
    offeringsRouter = router;
  });

  after(async () => {
    env.revocations?.stop();
    await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
    unfollow?.();
    await env.verifier?.stop();
    await env.outbox?.stop();
    if (env.db?.isInitialized) await env.db.destroy();
    if (issuerDb?.isInitialized) await issuerDb.destroy();
    env.provider?.destroy();
    await env.chain?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
  return env;
}

export type Body = Record<string, unknown> & { error?: { code: string; message: string } };

export async function call(method: string, path: string, body?: unknown, token?: string) {
  const res = await fetch(`${env.base}${path}`, {
    method,
    headers: {
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, location: res.headers.get('location'), body: (await res.json()) as Body };
}
export const code = (r: { status: number; body: Body }) => r.body.error?.code ?? `ok ${r.status}`;

/** Present `jwt` as `holder` for `action` on `resource` through the verifier; the verifier's answer. */
export async function present(holder: Actor, jwt: string, resource: string, action: string) {
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

export async function tokenFor(holder: Actor, jwt: string, resource: string, action: string): Promise<string> {
  const r = await present(holder, jwt, resource, action);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body.access_token as string;
}

export async function issue(type: string, subject: Actor, claims: Record<string, unknown>, validitySeconds?: number) {
  const r = await env.issuer.issue({
    type,
    subject: subject.did,
    claims,
    ...(validitySeconds ? { validitySeconds } : {}),
  });
  assert.ok(r.ok, JSON.stringify(!r.ok && r.error));
  return r.value;
}

export const investorClaims = (jurisdiction: string) => ({
  jurisdiction,
  investorType: 'individual',
  accreditationLevel: 'accredited',
  kycLevel: 'standard',
});

/** A certification credential signed by the certifier's own DID key, about the offering. */
export async function certification(certifier: Actor, offeringId: string, over: Record<string, unknown> = {}) {
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
export const reverts = (p: Promise<unknown>, name: string) =>
  assert.rejects(p, (e: unknown) => {
    const data = (e as { data?: string }).data;
    const got =
      (e as { revert?: { name?: string } }).revert?.name ??
      (data ? SecurityToken__factory.createInterface().parseError(data)?.name : undefined);
    assert.equal(got, name, `expected revert ${name}, got ${got ?? String(e).slice(0, 200)}`);
    return true;
  });

/** Claims of an issuer organisation's OfferingIssuerCredential. */
export const issuerOrgClaims = (over: Record<string, unknown> = {}) => ({
  legalName: 'Marseille Solar Bonds SA',
  registrationId: 'RCS Marseille 123 456 789',
  jurisdiction: 'FR',
  ...over,
});

/** Claims of a certifier's CertifierCredential. */
export const certifierClaims = (over: Record<string, unknown> = {}) => ({
  legalName: 'Green Assurance BV',
  registrationId: 'KvK 12345678',
  jurisdiction: 'NL',
  certifiesOfferings: true,
  accreditsInvestors: true,
  ...over,
});

/** Certify `offeringId` as `certifier`: its CertifierCredential presented for a token, then the certification. */
export async function certify(certifier: Actor, certifierJwt: string, offeringId: string, credential?: string) {
  const path = `/offerings/${offeringId}/certification`;
  const token = await tokenFor(certifier, certifierJwt, path, 'POST');
  return call(
    'POST',
    `/services${path}`,
    { credential: credential ?? (await certification(certifier, offeringId)) },
    token,
  );
}
