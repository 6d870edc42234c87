/**
 * Gas of bulk device registration on DeviceRegistry (report gas per device for batches of 1, 100 and 1,000).
 * Baseline, same run and chain: one transaction per device, which is what a batch of one is.
 * Gas is deterministic up to calldata zero bytes, so one measurement per size is enough.
 */
import { type BenchReport, ratio } from '@tessera/runtime';
import { Wallet } from 'ethers';
import type { BenchContext } from '@tessera/runtime';
import { ANVIL_FUNDER_KEY, startAnvil } from '../src/anvil.js';
import { makeProvider } from '../src/chain.js';
import { measureRegistrationGas } from '../src/device-registry-gas.js';

export async function run(ctx: BenchContext): Promise<BenchReport> {
  const chain = await startAnvil({});
  const provider = makeProvider(chain.rpcUrl, chain.chainId);
  try {
    ctx.progress('device-registration', 0, 1);
    const rows = await measureRegistrationGas(new Wallet(ANVIL_FUNDER_KEY, provider), [1, 100, 1000]);
    ctx.progress('device-registration', 1, 1);
    const by = (n: number) => rows.find((r) => r.devices === n)!;
    const perTx = by(1).gasPerDevice; // one registration transaction per device
    const figures: Record<string, number> = {};
    const baselines: Record<string, number> = {};
    const ratios: Record<string, number> = {};
    for (const n of [1, 100, 1000]) {
      const key = `gas_per_device_batch_${n}`;
      figures[key] = Math.round(by(n).gasPerDevice * 10) / 10;
      baselines[key] = perTx;
      ratios[key] = ratio(by(n).gasPerDevice, perTx, false);
    }
    figures.gas_per_batch_tx = Number(by(1000).batchGas);
    figures.gas_to_materialize_one_of_1000 = Number(by(1000).materializeGas);
    return {
      bench: 'device-registration',
      figures,
      baselines,
      ratios,
      machine: ctx.machine,
      notes: [
        'registerBatch stores only the Merkle root: its gas does not depend on the batch size',
        `each device is materialised once, when commissioned, with its proof (${by(1000).proofLength} hashes at 1,000): ` +
          `${by(1000).materializeGas} gas, paid in the commissioning transaction that is per device anyway`,
      ],
    };
  } finally {
    provider.destroy();
    await chain.stop();
  }
}
