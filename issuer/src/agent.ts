import {
  createAgent,
  type ICredentialPlugin,
  type IDIDManager,
  type IKeyManager,
  type IResolver,
  type TAgent,
} from '@veramo/core';
import { CredentialProviderJWT } from '@veramo/credential-jwt';
import { CredentialPlugin } from '@veramo/credential-w3c';
import { DIDStore, KeyStore, PrivateKeyStore } from '@veramo/data-store';
import { DIDManager } from '@veramo/did-manager';
import { EthrDIDProvider } from '@veramo/did-provider-ethr';
import { DIDResolverPlugin } from '@veramo/did-resolver';
import { KeyManager } from '@veramo/key-manager';
import { KeyManagementSystem } from '@veramo/kms-local';
import type { JsonRpcProvider } from 'ethers';
import { getResolver } from 'ethr-did-resolver';
import type { DataSource } from 'typeorm';
import { CheckedSecretBox } from './keys.js';

type ResolverNetwork = NonNullable<
  Extract<Parameters<typeof getResolver>[0], { networks?: unknown }>['networks']
>[number];
type EthrNetwork = NonNullable<ConstructorParameters<typeof EthrDIDProvider>[0]['networks']>[number];

export type IssuerAgent = TAgent<IDIDManager & IKeyManager & IResolver & ICredentialPlugin>;

export interface AgentOptions {
  dataSource: DataSource;
  /** Secret-box key (64 hex) that encrypts private keys at rest; never stored in `dataSource`. */
  secretBoxKey: string;
  provider: JsonRpcProvider;
  chainId: number;
  /** Address of the ERC-1056 EthereumDIDRegistry on this chain. */
  registryAddress: string;
}

/** Veramo's provider name for did:ethr on a chain: `did:ethr:0x<chainId hex>` (the DID's network part). */
export const ethrProviderName = (chainId: number) => `did:ethr:0x${chainId.toString(16)}`;

/**
 * The Veramo agent behind the issuer: kms-local keys sealed with a secret box, DIDs from the ethr provider on the
 * configured chain (ERC-1056), resolution through the same provider, and W3C credentials in JWT form.
 */
export function createIssuerAgent(o: AgentOptions): IssuerAgent {
  // Veramo matches the network by the string after `did:ethr:`, so the chain id is given as hex text.
  const network = {
    chainId: `0x${o.chainId.toString(16)}`,
    // ethr-did-resolver is typed against ethers' CommonJS build; the object is the same provider at run time.
    provider: o.provider as unknown as ResolverNetwork['provider'],
    registry: o.registryAddress,
  };
  return createAgent<IDIDManager & IKeyManager & IResolver & ICredentialPlugin>({
    plugins: [
      new KeyManager({
        store: new KeyStore(o.dataSource),
        kms: {
          local: new KeyManagementSystem(new PrivateKeyStore(o.dataSource, new CheckedSecretBox(o.secretBoxKey))),
        },
      }),
      new DIDManager({
        store: new DIDStore(o.dataSource),
        defaultProvider: ethrProviderName(o.chainId),
        providers: {
          [ethrProviderName(o.chainId)]: new EthrDIDProvider({
            defaultKms: 'local',
            networks: [network as unknown as EthrNetwork],
          }),
        },
      }),
      new DIDResolverPlugin({ ...getResolver({ networks: [network] }) }),
      new CredentialPlugin([new CredentialProviderJWT()]),
    ],
  });
}
