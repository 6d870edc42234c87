/**
 * Test fixture for verifier tests: a real anvil with the ERC-1056 registry, a did:ethr resolver on it, and helpers that
 * issue credentials and answer presentation requests with real ES256K signatures. Not exported from the package.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ANVIL_FUNDER_KEY, type AnvilChain, ensureDeployed, makeProvider, startAnvil } from '@tessera/contracts';
import { type Bitstring, type StatusPurpose, statusListEntry, statusListSubject } from '@tessera/protocol';
import { ES256KSigner } from 'did-jwt';
import { createVerifiableCredentialJwt, createVerifiablePresentationJwt } from 'did-jwt-vc';
import { Resolver } from 'did-resolver';
import { getResolver } from 'ethr-did-resolver';
import { type JsonRpcProvider, Wallet } from 'ethers';

export interface TestActor {
  wallet: Wallet;
  did: string;
  signer: ReturnType<typeof ES256KSigner>;
}

export function testActor(wallet: Wallet = new Wallet(Wallet.createRandom().privateKey)): TestActor {
  return {
    wallet,
    did: `did:ethr:0x7a69:${wallet.address.toLowerCase()}`,
    signer: ES256KSigner(Buffer.from(wallet.privateKey.slice(2), 'hex')),
  };
}

export interface TestChain {
  chain: AnvilChain;
  provider: JsonRpcProvider;
  registry: string;
  resolver: Resolver;
  close(): Promise<void>;
}

export async function startTestChain(): Promise<TestChain> {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-vc-'));
  const chain = await startAnvil({});
  const provider = makeProvider(chain.rpcUrl, chain.chainId);
  const { EthereumDIDRegistry: registry } = await ensureDeployed({
    provider,
    deployer: new Wallet(ANVIL_FUNDER_KEY, provider),
    chainId: chain.chainId,
    file: join(dir, 'deployments.json'),
    allowDeploy: true,
  });
  // ethr-did-resolver's typings point at ethers' CommonJS build; the runtime object is the same ethers 6 provider.
  const network = { name: '0x7a69', chainId: chain.chainId, provider: provider as never, registry };
  const resolver = new Resolver(getResolver({ networks: [network] }));
  return {
    chain,
    provider,
    registry,
    resolver,
    close: async () => {
      provider.destroy();
      await chain.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const CONTEXT = ['https://www.w3.org/2018/credentials/v1'];

/** A credential as the issuer makes it: ES256K, one hour, a revocation entry at `index` of `statusList`. */
export async function issueTestCredential(o: {
  issuer: TestActor;
  subject: TestActor;
  type: string;
  claims: Record<string, unknown>;
  statusList: string;
  index: number;
}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return createVerifiableCredentialJwt(
    {
      sub: o.subject.did,
      nbf: now - 60,
      exp: now + 3600,
      vc: {
        '@context': CONTEXT,
        type: ['VerifiableCredential', o.type],
        credentialSubject: o.claims,
        credentialStatus: statusListEntry(o.statusList, o.index, 'revocation'),
      } as never,
    },
    { did: o.issuer.did, signer: o.issuer.signer, alg: 'ES256K' },
  );
}

/** The holder's answer to a presentation request. */
export async function presentTestCredentials(
  holder: TestActor,
  credentials: string[],
  request: { nonce: string; audience: string },
): Promise<string> {
  return createVerifiablePresentationJwt(
    { vp: { '@context': CONTEXT, type: ['VerifiablePresentation'], verifiableCredential: credentials } } as never,
    { did: holder.did, signer: holder.signer, alg: 'ES256K' },
    { challenge: request.nonce, domain: request.audience },
  );
}

/** A BitstringStatusListCredential JWT as the issuer publishes it (Veramo's JWT encoding: id → jti). */
export async function publishTestStatusList(
  issuer: TestActor,
  url: string,
  purpose: StatusPurpose,
  bits: Bitstring,
): Promise<string> {
  const { id: _id, ...subject } = statusListSubject(url, purpose, bits);
  return createVerifiableCredentialJwt(
    {
      jti: url,
      sub: `${url}#list`,
      vc: {
        '@context': CONTEXT,
        type: ['VerifiableCredential', 'BitstringStatusListCredential'],
        credentialSubject: subject,
      } as never,
    },
    { did: issuer.did, signer: issuer.signer, alg: 'ES256K' },
  );
}
