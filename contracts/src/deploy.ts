import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TesseraError } from '@tessera/protocol';
import { type JsonRpcProvider, type Wallet, getCreateAddress, keccak256 } from 'ethers';
import registryPackage from 'ethr-did-registry';
import { loadArtifact } from './artifacts.js';
import { writeFileAtomic } from '@tessera/runtime';
import { waitForReceipt } from './chain.js';

export interface DeploymentRecord {
  address: string;
  txHash: string;
  blockNumber?: number;
  deployedAt?: string;
  /** Set while a deployment is signed and stored but not yet known to be mined. */
  pending?: { nonce: number; rawTx: string };
}

export type Deployments = Record<string, DeploymentRecord>;

/** What the stack deploys, in order. The ERC-1056 registry comes from the artifact shipped in ethr-did-registry. */
export interface Deployable {
  name: string;
  bytecode(): string;
}

export const DEPLOYABLES: Deployable[] = [
  { name: 'EthereumDIDRegistry', bytecode: () => registryPackage.EthereumDIDRegistry.bytecode },
  { name: 'TesseraAnchor', bytecode: () => loadArtifact('TesseraAnchor').bytecode },
  { name: 'DeviceRegistry', bytecode: () => loadArtifact('DeviceRegistry').bytecode },
  // One registry of eligible investor wallets, shared by every offering's SecurityToken (tokens are per offering).
  { name: 'EligibilityRegistry', bytecode: () => loadArtifact('EligibilityRegistry').bytecode },
  // The energy market's prepaid credit (n€) and per-period settlement; the deployer (the outbox account) is its operator.
  { name: 'EnergyCredit', bytecode: () => loadArtifact('EnergyCredit').bytecode },
];

export type ContractName =
  | 'EthereumDIDRegistry'
  | 'TesseraAnchor'
  | 'DeviceRegistry'
  | 'EligibilityRegistry'
  | 'EnergyCredit';

export interface EnsureDeployedOptions {
  provider: JsonRpcProvider;
  deployer: Wallet;
  chainId: number;
  /** File that records the addresses per chain id (`<dataDir>/deployments.json`). */
  file: string;
  /** Embedded chain: deploy what is missing. External chain: only verify, and fail clearly. */
  allowDeploy: boolean;
  /** Addresses given by configuration (for example TESSERA_DID_REGISTRY_ADDRESS) win over the file. */
  overrides?: Partial<Record<ContractName, string>>;
  log?(msg: string): void;
}

function readAll(file: string): Record<string, Deployments> {
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as Record<string, Deployments>) : {};
}

/**
 * Make sure every contract is deployed on this chain, deploying only what is missing. Idempotent: a restart does not
 * redeploy, and a crash in the middle of a deployment is finished from the stored signed transaction (so it neither
 * deploys twice nor loses the address).
 */
export async function ensureDeployed(opts: EnsureDeployedOptions): Promise<Record<ContractName, string>> {
  const { provider, deployer, chainId, file } = opts;
  const all = readAll(file);
  all[String(chainId)] ??= {};
  const mine: Deployments = all[String(chainId)]!;
  const persist = () => writeFileAtomic(file, `${JSON.stringify(all, null, 2)}\n`);
  const out: Partial<Record<ContractName, string>> = {};

  for (const d of DEPLOYABLES) {
    const name = d.name as ContractName;
    const override = opts.overrides?.[name];
    if (override) {
      if ((await provider.getCode(override)) === '0x') {
        throw new TesseraError(
          name === 'EthereumDIDRegistry' ? 'ERR_CHAIN_NO_REGISTRY' : 'ERR_CHAIN_NO_CONTRACT',
          `no ${name} contract at the configured address ${override} on chain ${chainId}`,
        );
      }
      out[name] = override.toLowerCase();
      continue;
    }
    let rec = mine[name];
    if (rec?.pending) {
      if ((await provider.getCode(rec.address)) !== '0x') {
        rec = { address: rec.address, txHash: rec.txHash, deployedAt: new Date().toISOString() };
      } else if ((await provider.getTransactionCount(deployer.address, 'latest')) <= rec.pending.nonce) {
        opts.log?.(`finishing interrupted deployment of ${name} at ${rec.address}`);
        await provider.broadcastTransaction(rec.pending.rawTx).catch(() => undefined);
        const receipt = await waitForReceipt(provider, rec.txHash);
        rec =
          receipt.status === 1
            ? { address: rec.address, txHash: rec.txHash, blockNumber: receipt.blockNumber }
            : undefined;
      } else {
        rec = undefined; // its nonce went elsewhere: the deployment never happened
      }
      if (rec) mine[name] = rec;
      else delete mine[name];
      persist();
    }
    if (rec && (await provider.getCode(rec.address)) !== '0x') {
      out[name] = rec.address;
      continue;
    }
    if (!opts.allowDeploy) {
      throw new TesseraError(
        name === 'EthereumDIDRegistry' ? 'ERR_CHAIN_NO_REGISTRY' : 'ERR_CHAIN_NO_CONTRACT',
        rec
          ? `${name} recorded at ${rec.address} has no code on chain ${chainId} (was the chain reset?)`
          : `no ${name} is known on chain ${chainId}: deploy it with 'npm run deploy' or set its address in the configuration`,
      );
    }
    if (rec) opts.log?.(`${name} recorded at ${rec.address} has no code (chain reset?); deploying again`);
    const nonce = await provider.getTransactionCount(deployer.address, 'pending');
    const address = getCreateAddress({ from: deployer.address, nonce }).toLowerCase();
    const data = d.bytecode();
    const gasLimit = await provider.estimateGas({ from: deployer.address, data });
    const fee = await provider.getFeeData();
    const rawTx = await deployer.signTransaction({
      data,
      nonce,
      chainId,
      type: 2,
      gasLimit: (gasLimit * 12n) / 10n,
      maxFeePerGas: fee.maxFeePerGas,
      maxPriorityFeePerGas: fee.maxPriorityFeePerGas,
    });
    const txHash = keccak256(rawTx);
    mine[name] = { address, txHash, pending: { nonce, rawTx } };
    persist(); // recorded before it is sent
    await provider.broadcastTransaction(rawTx);
    const receipt = await waitForReceipt(provider, txHash);
    if (receipt.status !== 1) {
      throw new TesseraError('ERR_CHAIN_TX_FAILED', `deployment of ${name} failed (tx ${txHash})`);
    }
    mine[name] = { address, txHash, blockNumber: receipt.blockNumber, deployedAt: new Date().toISOString() };
    persist();
    opts.log?.(`deployed ${name} at ${address} (block ${receipt.blockNumber}, gas ${receipt.gasUsed})`);
    out[name] = address;
  }
  return out as Record<ContractName, string>;
}

export function deploymentsFile(dataDir: string): string {
  return join(dataDir, 'deployments.json');
}
