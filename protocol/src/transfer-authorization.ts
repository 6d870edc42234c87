import { TypedDataEncoder } from 'ethers';

/**
 * A transfer of security tokens signed by the holder off chain and submitted by someone else (the platform's relayer,
 * who pays the gas): EIP-3009 `transferWithAuthorization`, an EIP-712 typed message over the token's domain (name =
 * the token's name, version "1", the chain, the token's address). The wallet computes it from what it is shown, the
 * service checks it before relaying, and the token checks it again on chain, where each nonce works once.
 */
export interface TransferAuthorization {
  /** The holder's address: the signer. */
  from: string;
  to: string;
  /** Token base units, decimal. */
  value: string;
  /** Unix seconds; valid strictly after. */
  validAfter: number;
  /** Unix seconds; valid strictly before. */
  validBefore: number;
  /** A random 32-byte value (0x + 64 hex digits), used once per holder. */
  nonce: string;
}

/** What the offerings service answers once a relayed transfer is mined (and the wallet reads). */
export interface TransferReceipt {
  offeringId: string;
  from: string;
  to: string;
  /** Token base units, decimal. */
  value: string;
  nonce: string;
  txHash: string | null;
  blockNumber: number | null;
}

export interface TransferAuthorizationDomain {
  /** The token's name (its `name()`). */
  name: string;
  chainId: number;
  /** The token's address. */
  verifyingContract: string;
}

export const TRANSFER_WITH_AUTHORIZATION_TYPES = {
  TransferWithAuthorization: [
    { name: 'from', type: 'address' },
    { name: 'to', type: 'address' },
    { name: 'value', type: 'uint256' },
    { name: 'validAfter', type: 'uint256' },
    { name: 'validBefore', type: 'uint256' },
    { name: 'nonce', type: 'bytes32' },
  ],
};

/** The EIP-712 domain object of a token (version "1"). */
export const transferAuthorizationDomain = (d: TransferAuthorizationDomain) => ({
  name: d.name,
  version: '1',
  chainId: d.chainId,
  verifyingContract: d.verifyingContract,
});

/** The EIP-712 digest the holder signs. */
export function transferAuthorizationDigest(d: TransferAuthorizationDomain, a: TransferAuthorization): string {
  return TypedDataEncoder.hash(transferAuthorizationDomain(d), TRANSFER_WITH_AUTHORIZATION_TYPES, a);
}
