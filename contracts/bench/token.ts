/**
 * Gas of the permissioned security token: a compliant transfer (both parties checked against the
 * EligibilityRegistry) and onboarding an investor (writing its eligibility record), next to a plain ERC-20 transfer
 * measured in the same run on the same chain. Gas is deterministic, so one measurement per figure is enough.
 */
import { type BenchReport, ratio } from '@tessera/runtime';
import { Wallet } from 'ethers';
import type { BenchContext } from '@tessera/runtime';
import { ANVIL_FUNDER_KEY, startAnvil } from '../src/anvil.js';
import { makeProvider } from '../src/chain.js';
import { measureTokenGas } from '../src/security-token-gas.js';

/** Targets (the ERC-3643 reference spends about 214,000 per transfer and 766,000 per onboarding). */
const TARGET_TRANSFER = 60_000;
const TARGET_ONBOARDING = 100_000;

export async function run(ctx: BenchContext): Promise<BenchReport> {
  const chain = await startAnvil({});
  const provider = makeProvider(chain.rpcUrl, chain.chainId);
  try {
    ctx.progress('token', 0, 1);
    const g = await measureTokenGas(new Wallet(ANVIL_FUNDER_KEY, provider));
    ctx.progress('token', 1, 1);
    const n = (x: bigint) => Number(x);
    return {
      bench: 'token',
      figures: {
        gas_per_transfer: n(g.compliantTransfer),
        gas_per_transfer_to_new_holder: n(g.compliantTransferToNewHolder),
        gas_per_relayed_transfer: n(g.relayedTransfer),
        gas_per_onboarding: n(g.onboarding),
        gas_per_mint_to_new_holder: n(g.mintToNewHolder),
        gas_per_eligibility_removal: n(g.removal),
      },
      baselines: {
        // a plain ERC-20 transfer between the same kind of holders, measured in this run
        gas_per_transfer: n(g.plainTransfer),
        gas_per_transfer_to_new_holder: n(g.plainTransferToNewHolder),
        // a relayed transfer does what a transfer does, plus the signature and the nonce
        gas_per_relayed_transfer: n(g.compliantTransfer),
        // the floor of writing any per-address record: a plain ERC-20 approve of a new spender (one fresh slot)
        gas_per_onboarding: n(g.plainFreshSlotWrite),
      },
      ratios: {
        gas_per_transfer: ratio(n(g.compliantTransfer), n(g.plainTransfer), false),
        gas_per_transfer_to_new_holder: ratio(n(g.compliantTransferToNewHolder), n(g.plainTransferToNewHolder), false),
        gas_per_relayed_transfer: ratio(n(g.relayedTransfer), n(g.compliantTransfer), false),
        gas_per_onboarding: ratio(n(g.onboarding), n(g.plainFreshSlotWrite), false),
      },
      machine: ctx.machine,
      notes: [
        `compliant transfer ${g.compliantTransfer} gas (target < ${TARGET_TRANSFER}) = plain ERC-20 ` +
          `${g.plainTransfer} + ${g.compliantTransfer - g.plainTransfer} for checking both parties`,
        `onboarding ${g.onboarding} gas (target < ${TARGET_ONBOARDING}): one storage slot per investor; its baseline ` +
          `is the floor of any per-address record, a plain ERC-20 approve to a new spender (${g.plainFreshSlotWrite})`,
        'ratios below 1 mean the figure costs more than its baseline (ratio = baseline / ours)',
      ],
    };
  } finally {
    provider.destroy();
    await chain.stop();
  }
}
