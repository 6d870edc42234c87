import { TRANSFER_WITH_AUTHORIZATION_TYPES, transferAuthorizationDomain } from '@tessera/protocol';
import {
  type ContractTransactionResponse,
  hexlify,
  parseEther,
  randomBytes,
  Signature,
  type Signer,
  type TransactionResponse,
  Wallet,
} from 'ethers';
import { EligibilityRegistry__factory, PlainERC20__factory } from './generated/index.js';
import { countryCode, deploySecurityToken, identityHash } from './security-token.js';

export interface TokenGas {
  /** setEligibility for a wallet without a record: what onboarding an investor costs on chain. */
  onboarding: bigint;
  /** SecurityToken transfer between two eligible holders that both already hold tokens. */
  compliantTransfer: bigint;
  /** The same to an eligible wallet that holds nothing yet (its balance slot goes from zero to non-zero). */
  compliantTransferToNewHolder: bigint;
  /**
   * transferWithAuthorization (EIP-3009) between the same kind of holders, signed by the sender and sent by another
   * account: the compliant transfer plus the signature check and the nonce's fresh slot.
   */
  relayedTransfer: bigint;
  /** PlainERC20 transfer between two holders that both already hold tokens (the baseline). */
  plainTransfer: bigint;
  /** PlainERC20 transfer to a wallet that holds nothing yet. */
  plainTransferToNewHolder: bigint;
  /** PlainERC20 approve of a new spender: one fresh storage slot and an event, the floor of any on-chain record. */
  plainFreshSlotWrite: bigint;
  /** SecurityToken mint to an eligible wallet that holds nothing yet. */
  mintToNewHolder: bigint;
  /** removeEligibility (credential revoked); includes the storage refund. */
  removal: bigint;
}

const mined = async (tx: Promise<ContractTransactionResponse | TransactionResponse>) => {
  const r = await (await tx).wait();
  if (r?.status !== 1) throw new Error('transaction failed');
  return r.gasUsed;
};

/**
 * Measure, on a real chain, what the compact eligibility design costs next to a plain ERC-20, every figure from a
 * transaction of this run (gas includes the 21,000 base cost). `funder` pays for fresh holder wallets and deploys
 * a fresh EligibilityRegistry, SecurityToken and PlainERC20, so earlier state cannot make a slot warm or non-zero.
 *
 * @example const g = await measureTokenGas(wallet); g.compliantTransfer // ≈ 49,000
 */
export async function measureTokenGas(funder: Signer): Promise<TokenGas> {
  const provider = funder.provider;
  if (!provider) throw new Error('the funder must be connected to a provider');
  const me = await funder.getAddress();
  const holders = Array.from({ length: 3 }, () => new Wallet(Wallet.createRandom().privateKey, provider));
  for (const h of holders) await mined(funder.sendTransaction({ to: h.address, value: parseEther('1') }));
  const [alice, bob, carol] = holders as [Wallet, Wallet, Wallet];

  const registry = await new EligibilityRegistry__factory(funder).deploy();
  await registry.waitForDeployment();
  const token = await deploySecurityToken(funder, {
    name: 'Green Bond 2030',
    symbol: 'GB30',
    decimals: 0,
    registry: await registry.getAddress(),
    requiredCredentials: 1,
    allowedCountries: ['DE', 'FR'],
  });
  await mined(token.setAgent(me, true));
  const plain = await new PlainERC20__factory(funder).deploy('Plain', 'PLN');
  await plain.waitForDeployment();

  const expiry = Math.floor(Date.now() / 1000) + 365 * 86_400;
  const onboard = (w: Wallet, country: string) =>
    mined(registry.setEligibility(w.address, identityHash(`did:ethr:${w.address}`), countryCode(country), 1, expiry));
  const onboarding = await onboard(alice, 'DE');
  await onboard(bob, 'FR');
  await onboard(carol, 'DE');

  const mintToNewHolder = await mined(token.mint(alice.address, 1000));
  await mined(token.mint(bob.address, 1000));
  await mined(plain.mint(alice.address, 1000));
  await mined(plain.mint(bob.address, 1000));

  const compliantTransfer = await mined(token.connect(alice).transfer(bob.address, 10));
  const plainTransfer = await mined(plain.connect(alice).transfer(bob.address, 10));
  const compliantTransferToNewHolder = await mined(token.connect(alice).transfer(carol.address, 10));
  const plainTransferToNewHolder = await mined(plain.connect(alice).transfer(carol.address, 10));
  const { chainId } = await provider.getNetwork();
  const domain = transferAuthorizationDomain({
    name: await token.name(),
    chainId: Number(chainId),
    verifyingContract: await token.getAddress(),
  });
  const auth = {
    from: alice.address,
    to: bob.address,
    value: '10',
    validAfter: 0,
    validBefore: ((await provider.getBlock('latest'))?.timestamp ?? Math.floor(Date.now() / 1000)) + 3600,
    nonce: hexlify(randomBytes(32)),
  };
  const sig = Signature.from(await alice.signTypedData(domain, TRANSFER_WITH_AUTHORIZATION_TYPES, auth));
  const relayedTransfer = await mined(
    token.transferWithAuthorization(
      auth.from,
      auth.to,
      auth.value,
      auth.validAfter,
      auth.validBefore,
      auth.nonce,
      sig.v,
      sig.r,
      sig.s,
    ),
  );
  const removal = await mined(registry.removeEligibility(carol.address));
  const plainFreshSlotWrite = await mined(plain.connect(alice).approve(carol.address, 1));
  return {
    plainFreshSlotWrite,
    onboarding,
    compliantTransfer,
    compliantTransferToNewHolder,
    relayedTransfer,
    plainTransfer,
    plainTransferToNewHolder,
    mintToNewHolder,
    removal,
  };
}
