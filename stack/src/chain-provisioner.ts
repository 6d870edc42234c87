import { randomBytes } from 'node:crypto';
import { buildDeviceBatch, type DeviceLeafInput } from '@tessera/contracts';
import type { DeviceIdentity } from '@tessera/device-agent';
import { deviceIdOf, generateDeviceSecret, secretCommitment } from '@tessera/protocol';
import { computeAddress, type TransactionResponse } from 'ethers';
import type { InProcessStack } from './device-harness.js';

/** What the harness provisions: a generated device's characteristics and fingerprint (firmware-sim's GeneratedDevice). */
export interface DeviceToProvision {
  characteristics: { serial: string };
  fingerprint: string;
}

/** A provisioned device as firmware-sim runs it: what it is, and its secret and DID key. */
export interface ProvisionedDevice<G extends DeviceToProvision> {
  generated: G;
  identity: DeviceIdentity;
}

/** A fresh secp256k1 key without the HD-wallet derivation (`Wallet.createRandom` costs a PBKDF2 per device). */
function freshKey(): { privateKey: string; address: string } {
  const privateKey = `0x${randomBytes(32).toString('hex')}`;
  return { privateKey, address: computeAddress(privateKey) };
}

/**
 * Provision directly on the chain and into the verifier's vault, as the manufacturer, owner and operator at once
 * (the admin account holds those roles in the in-process stack): one `registerBatch` per `batchSize` devices, one
 * `commissionFromBatch` per device (sent pipelined, fees fixed up front so nothing is estimated per device).
 */
export class ChainProvisioner {
  readonly kind = 'chain';

  constructor(
    private readonly stack: InProcessStack,
    private readonly options: { batchSize?: number } = {},
  ) {}

  async provision<G extends DeviceToProvision>(
    devices: readonly G[],
    progress?: (label: string, done: number, total: number) => void,
  ): Promise<ProvisionedDevice<G>[]> {
    const { registry, admin, vault, chainId } = this.stack;
    const batchSize = this.options.batchSize ?? 1000;
    const fee = await this.stack.provider.getFeeData();
    const overrides = {
      gasLimit: 500_000n,
      maxFeePerGas: (fee.maxFeePerGas ?? 2_000_000_000n) * 4n,
      maxPriorityFeePerGas: fee.maxPriorityFeePerGas ?? 1_000_000_000n,
    };
    const out: ProvisionedDevice<G>[] = [];
    let done = 0;
    for (let start = 0; start < devices.length; start += batchSize) {
      const chunk = devices.slice(start, start + batchSize);
      const leaves: DeviceLeafInput[] = [];
      const keys: { privateKey: string; address: string }[] = [];
      for (const g of chunk) {
        const secret = generateDeviceSecret();
        const salt = randomBytes(32);
        const key = freshKey();
        const deviceId = deviceIdOf(admin.address, g.characteristics.serial);
        await vault.put(deviceId, secret, salt);
        keys.push(key);
        leaves.push({
          deviceId,
          fingerprint: g.fingerprint,
          commitment: secretCommitment(salt, secret),
          initialOwner: admin.address,
        });
        out.push({
          generated: g,
          identity: {
            deviceId,
            did: `did:ethr:0x${chainId.toString(16)}:${key.address.toLowerCase()}`,
            secret,
            privateKey: key.privateKey,
            fingerprint: g.fingerprint,
          },
        });
      }
      // The verifier learns of each commissioning from the chain event; count them, so the fleet starts on a stack
      // that has caught up (and a scale run does not measure the tail of provisioning).
      const waiting = new Set(leaves.map((l) => l.deviceId.toLowerCase()));
      let caughtUp: () => void = () => undefined;
      const allSeen = new Promise<void>((resolve) => {
        caughtUp = resolve;
      });
      const onChange = (c: { deviceId: string; to: string }) => {
        if (c.to === 'Active' && waiting.delete(c.deviceId) && waiting.size === 0) caughtUp();
      };
      const watcher = this.stack.service.watcher;
      watcher.on('change', onChange);
      const tree = buildDeviceBatch(leaves);
      const receipt = await (await registry.registerBatch(tree.root, leaves.length, overrides)).wait();
      if (!receipt) throw new Error('registerBatch was not mined');
      const batchId = await registry.batchCount();
      // anvil mines one block per transaction by default (≈10 blocks/s here with two watchers subscribed); switch
      // to manual mining for the batch, so each block carries as many commissionings as its gas limit allows.
      const baseFee = (await this.stack.provider.getBlock('latest'))?.baseFeePerGas ?? 1_000_000_000n;
      const manual = await this.setAutomine(false);
      const sent: TransactionResponse[] = [];
      try {
        await this.sendCommissions(leaves, keys, tree, batchId, overrides, sent, (i) =>
          progress?.('commissioning', done + i, devices.length),
        );
        if (manual) {
          for (let mined = 0; mined < 100_000; mined++) {
            const pool = (await this.stack.provider.send('txpool_status', [])) as { pending: string };
            if (BigInt(pool.pending) === 0n) break;
            // Full blocks raise the EIP-1559 base fee 12.5 % each; left alone it outgrows the fee cap of the queued
            // commissionings after a few blocks and anvil drops them. Hold it where the batch started.
            await this.stack.provider.send('anvil_setNextBlockBaseFeePerGas', [`0x${baseFee.toString(16)}`]);
            await this.stack.provider.send('evm_mine', []);
          }
        }
      } finally {
        if (manual) await this.setAutomine(true);
      }
      for (const t of sent) {
        // A receipt now, or a loud failure (waiting for one that will never come would hang the run).
        const r = await this.stack.provider.getTransactionReceipt(t.hash);
        if (r?.status !== 1) throw new Error(`commissioning ${t.hash} ${r ? 'reverted' : 'was not mined'}`);
      }
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([allSeen, new Promise((r) => (timer = setTimeout(r, 120_000)))]);
      clearTimeout(timer);
      watcher.off('change', onChange);
      // The watcher enrols commissioned devices from the chain event; enrol here too (idempotent) in case it lagged.
      for (const l of leaves) await this.stack.service.responder.enrol(l.deviceId);
      done += chunk.length;
      progress?.('commissioning', done, devices.length);
    }
    return out;
  }

  /** anvil's evm_setAutomine; false when the chain does not have it (then every transaction is mined as sent). */
  private async setAutomine(on: boolean): Promise<boolean> {
    try {
      await this.stack.provider.send('evm_setAutomine', [on]);
      return true;
    } catch {
      return false;
    }
  }

  private async sendCommissions(
    leaves: DeviceLeafInput[],
    keys: { address: string }[],
    tree: { proofs: string[][] },
    batchId: bigint,
    overrides: Record<string, bigint>,
    sent: TransactionResponse[],
    progress: (done: number) => void,
  ): Promise<void> {
    for (let i = 0; i < leaves.length; i++) {
      const l = leaves[i]!;
      sent.push(
        await this.stack.registry.commissionFromBatch(
          batchId,
          l.deviceId,
          l.fingerprint,
          l.commitment,
          tree.proofs[i]!,
          keys[i]!.address,
          overrides,
        ),
      );
      if (i % 50 === 49) progress(i + 1);
    }
  }

  async revoke(deviceId: string): Promise<void> {
    const r = await (await this.stack.registry.revoke(deviceId)).wait();
    if (r?.status !== 1) throw new Error(`revoking ${deviceId} failed`);
  }

  async updateFirmware(deviceId: string, fingerprint: string): Promise<void> {
    const r = await (await this.stack.registry.updateFirmware(deviceId, fingerprint)).wait();
    if (r?.status !== 1) throw new Error(`the firmware update of ${deviceId} failed`);
  }
}
