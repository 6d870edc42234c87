import { randomBytes } from 'node:crypto';
import { hexlify, type Signer } from 'ethers';
import { buildDeviceBatch, type DeviceLeafInput } from './device-registry.js';
import { type DeviceRegistry, DeviceRegistry__factory } from './generated/index.js';

export interface RegistrationGas {
  /** Devices in the batch. */
  devices: number;
  /** Gas of the one registerBatch transaction (including the 21,000 base cost). */
  batchGas: bigint;
  /** batchGas / devices. */
  gasPerDevice: number;
  /** Gas to materialise one device of this batch later (paid once per device, when it is first needed). */
  materializeGas: bigint;
  /** Merkle proof length of that device. */
  proofLength: number;
}

const rand32 = () => hexlify(randomBytes(32));

/**
 * Measure what bulk registration costs on a real chain: for each batch size, one registerBatch transaction, and the
 * deferred cost of materialising one of its devices. Deploys a fresh DeviceRegistry with `signer` (which becomes
 * admin and manufacturer) unless `registry` is given; the signer must be able to grant itself MANUFACTURER (be admin)
 * or hold it already.
 *
 * @example measureRegistrationGas(wallet, [1, 100, 1000]) // [{ devices: 1000, gasPerDevice: 60.5, … }, …]
 */
export async function measureRegistrationGas(
  signer: Signer,
  sizes: readonly number[] = [1, 100, 1000],
  registry?: DeviceRegistry,
): Promise<RegistrationGas[]> {
  const me = await signer.getAddress();
  let reg = registry;
  if (!reg) {
    reg = await new DeviceRegistry__factory(signer).deploy();
    await reg.waitForDeployment();
  }
  if (!(await reg.hasRole(await reg.MANUFACTURER(), me))) {
    await (await reg.grantRole(await reg.MANUFACTURER(), me)).wait();
  }
  if ((await reg.batchCount()) === 0n) {
    // The very first batch also pays for the batch counter's first write (20,000 gas instead of 2,900); register a
    // throw-away batch so that one-time cost does not count against the first measured size.
    await (await reg.registerBatch(rand32(), 1)).wait();
  }
  const rows: RegistrationGas[] = [];
  for (const n of sizes) {
    const devices: DeviceLeafInput[] = Array.from({ length: n }, () => ({
      deviceId: rand32(),
      fingerprint: rand32(),
      commitment: rand32(),
      initialOwner: me,
    }));
    const tree = buildDeviceBatch(devices);
    const receipt = await (await reg.registerBatch(tree.root, n)).wait();
    if (receipt?.status !== 1) throw new Error(`registerBatch of ${n} devices failed`);
    const batchId = await reg.batchCount();
    const first = 0; // leaf 0 always has a sibling at every level: a full-depth proof, ceil(log2 n) hashes
    const d = devices[first]!;
    const m = await (
      await reg.materialize(batchId, d.deviceId, d.fingerprint, d.commitment, d.initialOwner, tree.proofs[first]!)
    ).wait();
    if (m?.status !== 1) throw new Error('materialize failed');
    rows.push({
      devices: n,
      batchGas: receipt.gasUsed,
      gasPerDevice: Number(receipt.gasUsed) / n,
      materializeGas: m.gasUsed,
      proofLength: tree.proofs[first]!.length,
    });
  }
  return rows;
}
