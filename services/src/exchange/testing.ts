/**
 * Test fixture of the data exchange (not exported from the package): a real anvil with the ERC-1056 registry and
 * TesseraAnchor, a did:ethr resolver on it, SQLite with the outbox and the exchange tables, organisations with their
 * own DID keys, and (for HTTP) the real verifier: a certifier issues DataPartner credentials, the organisations
 * present them for the data-exchange policy of verifier/policies/default.json and get access tokens.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ANVIL_FUNDER_KEY,
  type AnvilChain,
  type DatabaseParts,
  ensureDeployed,
  makeProvider,
  openDatabase,
  Outbox,
  outboxDatabaseParts,
  startAnvil,
  TesseraAnchor__factory,
} from '@tessera/contracts';
import {
  createVerifier,
  DEFAULT_POLICY_FILE,
  loadPolicyFile,
  parseTrustList,
  type Verifier,
  type VerifierRouter,
} from '@tessera/verifier';
import { ES256KSigner, type Signer } from 'did-jwt';
import { createVerifiableCredentialJwt, createVerifiablePresentationJwt } from 'did-jwt-vc';
import { Resolver } from 'did-resolver';
import { getResolver } from 'ethr-did-resolver';
import { type JsonRpcProvider, parseEther, Wallet } from 'ethers';
import type { Express } from 'express';
import type { DataSource } from 'typeorm';
import { MemoryKeyring } from './keyring.js';
import { type Actor, DATA_PARTNER_CREDENTIAL, ExchangeService } from './service.js';
import { ExchangeStore, exchangeDatabaseParts } from './store.js';

export interface Org {
  name: string;
  wallet: Wallet;
  did: string;
  signer: Signer;
  /** What the guard hands the service for this organisation's access token. */
  actor: Actor;
}

export function newOrg(name: string, chainIdHex = '0x7a69', partner = true): Org {
  const wallet = new Wallet(Wallet.createRandom().privateKey);
  const did = `did:ethr:${chainIdHex}:${wallet.address.toLowerCase()}`;
  return {
    name,
    wallet,
    did,
    signer: ES256KSigner(Buffer.from(wallet.privateKey.slice(2), 'hex')),
    actor: {
      did,
      credentials: partner
        ? [
            {
              types: ['VerifiableCredential', DATA_PARTNER_CREDENTIAL],
              claims: { dataspace: 'tessera', name },
              expiresAt: Math.floor(Date.now() / 1000) + 3600,
            },
          ]
        : [],
    },
  };
}

export interface ExchangeFixture {
  chain: AnvilChain;
  provider: JsonRpcProvider;
  resolver: Resolver;
  db: DataSource;
  outbox: Outbox;
  anchorAddress: string;
  keyring: MemoryKeyring;
  service: ExchangeService;
  close(): Promise<void>;
}

export interface FixtureOptions {
  /** The database (SQLite in a temporary directory by default). */
  openDb?(parts: DatabaseParts): Promise<DataSource>;
  closeDb?(ds: DataSource): Promise<void>;
}

export async function startExchangeFixture(options: FixtureOptions = {}): Promise<ExchangeFixture> {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-exchange-'));
  const chain = await startAnvil({});
  const provider = makeProvider(chain.rpcUrl, chain.chainId);
  const funder = new Wallet(ANVIL_FUNDER_KEY, provider);
  const deployed = await ensureDeployed({
    provider,
    deployer: funder,
    chainId: chain.chainId,
    file: join(dir, 'deployments.json'),
    allowDeploy: true,
  });
  const relayer = new Wallet(Wallet.createRandom().privateKey, provider);
  assert.equal(
    (await (await funder.sendTransaction({ to: relayer.address, value: parseEther('1') })).wait())?.status,
    1,
  );
  const anchor = TesseraAnchor__factory.connect(deployed.TesseraAnchor, funder);
  assert.equal((await (await anchor.setWriter(relayer.address, true)).wait())?.status, 1);
  // ethr-did-resolver's typings point at ethers' CommonJS build; the runtime object is the same ethers 6 provider.
  const network = {
    name: '0x7a69',
    chainId: chain.chainId,
    provider: provider as never,
    registry: deployed.EthereumDIDRegistry,
  };
  const resolver = new Resolver(getResolver({ networks: [network] }));
  const parts: DatabaseParts = {
    entities: [...outboxDatabaseParts.entities, ...exchangeDatabaseParts.entities],
    migrations: [...outboxDatabaseParts.migrations, ...exchangeDatabaseParts.migrations],
  };
  const db = options.openDb
    ? await options.openDb(parts)
    : await openDatabase({ sqlitePath: join(dir, 'exchange.sqlite') }, parts);
  const outbox = new Outbox({ dataSource: db, signer: relayer, provider, chainId: chain.chainId });
  const keyring = new MemoryKeyring();
  const service = new ExchangeService({
    store: new ExchangeStore(db),
    resolver,
    outbox,
    anchorAddress: deployed.TesseraAnchor,
    provider,
    keyring,
  });
  return {
    chain,
    provider,
    resolver,
    db,
    outbox,
    anchorAddress: deployed.TesseraAnchor,
    keyring,
    service,
    close: async () => {
      service.stop();
      await outbox.stop();
      if (options.closeDb) await options.closeDb(db);
      else await db.destroy();
      provider.destroy();
      await chain.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const CONTEXT = ['https://www.w3.org/2018/credentials/v1'];
export const POLICY_FILE = DEFAULT_POLICY_FILE;

/** The real verifier in front of the exchange: certifier, trust list, default policies, access tokens. */
export interface VerifierFixture {
  /** The credential core; its `guard` protects the routes under test. */
  core: Verifier;
  router: VerifierRouter;
  certifier: Org;
  /** A DataPartner credential for `org` from the trusted certifier (or from `issuer`). */
  credential(org: Org, claims?: Record<string, unknown>, issuer?: Org): Promise<string>;
  /** Present credentials through the real router and return the access token for `resource`/`action`. */
  token(org: Org, credentials: string[], resource?: string): Promise<{ status: number; body: Record<string, unknown> }>;
}

export async function startVerifier(resolver: Resolver, app: Express, base: () => string): Promise<VerifierFixture> {
  const certifier = newOrg('Tessera Data Space Authority');
  const verifierOrg = newOrg('verifier');
  const trust = parseTrustList({ [DATA_PARTNER_CREDENTIAL]: [certifier.did] });
  assert.ok(trust.ok);
  const policy = loadPolicyFile(POLICY_FILE);
  assert.ok(policy.ok, JSON.stringify(!policy.ok && policy.error));
  const core = createVerifier(
    {
      did: verifierOrg.did,
      privateKey: verifierOrg.wallet.privateKey,
      policies: policy.value,
      trust: trust.value,
      // Status lists are the verifier's own tested concern; these credentials carry none.
      requireStatus: false,
    },
    {
      resolver,
      fetchStatusList: () => Promise.reject(new Error('this fixture publishes no status lists')),
      signatureWorker: false,
    },
  );
  const router = core.router;
  app.use('/verifier', router);
  const post = async (path: string, body: unknown) => {
    const r = await fetch(`${base()}/verifier${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: r.status, body: (await r.json()) as Record<string, unknown> };
  };
  return {
    core,
    router,
    certifier,
    credential: (org, claims = { dataspace: 'tessera' }, issuer = certifier) => {
      const now = Math.floor(Date.now() / 1000);
      return createVerifiableCredentialJwt(
        {
          sub: org.did,
          nbf: now - 60,
          exp: now + 3600,
          vc: {
            '@context': CONTEXT,
            type: ['VerifiableCredential', DATA_PARTNER_CREDENTIAL],
            credentialSubject: { name: org.name, ...claims },
          } as never,
        },
        { did: issuer.did, signer: issuer.signer, alg: 'ES256K' },
      );
    },
    token: async (org, credentials, resource = '/data/exchange') => {
      const req = await post('/presentation-requests', { resource, action: '*' });
      if (req.status !== 201) return req;
      const vp = await createVerifiablePresentationJwt(
        { vp: { '@context': CONTEXT, type: ['VerifiablePresentation'], verifiableCredential: credentials } } as never,
        { did: org.did, signer: org.signer, alg: 'ES256K' },
        { challenge: req.body.nonce as string, domain: req.body.audience as string },
      );
      return post('/presentations', { vp });
    },
  };
}
