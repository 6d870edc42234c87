import { type Signer, dataSlice, keccak256, toUtf8Bytes } from 'ethers';
import type { EligibilityRegistry, SecurityToken } from './generated/index.js';
import { SecurityToken__factory } from './generated/index.js';

/**
 * Off-chain half of EligibilityRegistry.sol and SecurityToken.sol: how a record's fields are encoded, and the
 * ERC-1404 restriction codes by name.
 */

/** ISO 3166-1 alpha-2 as the contract's bytes2 (two ASCII bytes: "DE" → 0x4445). */
export function countryCode(alpha2: string): string {
  if (!/^[A-Z]{2}$/.test(alpha2)) throw new RangeError(`not an ISO 3166-1 alpha-2 code: '${alpha2}'`);
  return `0x${Buffer.from(alpha2, 'ascii').toString('hex')}`;
}

/** The record's identity link: the first 16 bytes of keccak256(DID), as the contract's bytes16. */
export function identityHash(did: string): string {
  return dataSlice(keccak256(toUtf8Bytes(did)), 0, 16);
}

/** ERC-1404 codes of SecurityToken.detectTransferRestriction, by name (the contract's constants). */
export const TransferRestriction = {
  SUCCESS: 0,
  PAUSED: 1,
  SENDER_NOT_ELIGIBLE: 2,
  RECEIVER_NOT_ELIGIBLE: 3,
  SENDER_EXPIRED: 4,
  RECEIVER_EXPIRED: 5,
  SENDER_FROZEN: 6,
  RECEIVER_FROZEN: 7,
  SENDER_MISSING_CREDENTIALS: 8,
  RECEIVER_MISSING_CREDENTIALS: 9,
  SENDER_JURISDICTION: 10,
  RECEIVER_JURISDICTION: 11,
  INSUFFICIENT_BALANCE: 12,
  AMOUNT_FROZEN: 13,
} as const;
export type TransferRestrictionName = keyof typeof TransferRestriction;

/** The custom error a transfer reverts with for each restriction code (what the pre-flight code predicts). */
export const RESTRICTION_ERROR: Record<number, string> = {
  1: 'TokenPaused',
  2: 'NotEligible',
  3: 'NotEligible',
  4: 'EligibilityExpired',
  5: 'EligibilityExpired',
  6: 'WalletFrozen',
  7: 'WalletFrozen',
  8: 'MissingCredentials',
  9: 'MissingCredentials',
  10: 'JurisdictionNotAllowed',
  11: 'JurisdictionNotAllowed',
  12: 'InsufficientBalance',
  13: 'AmountFrozen',
};

export interface SecurityTokenParams {
  name: string;
  symbol: string;
  decimals: number;
  registry: string;
  /** Credential bits every holder's record must carry. */
  requiredCredentials: number;
  /** ISO 3166-1 alpha-2 codes of the jurisdictions allowed to hold the token. */
  allowedCountries: readonly string[];
}

/** Deploy one offering's token; `signer` becomes its owner. */
export async function deploySecurityToken(signer: Signer, p: SecurityTokenParams): Promise<SecurityToken> {
  const token = await new SecurityToken__factory(signer).deploy(
    p.name,
    p.symbol,
    p.decimals,
    p.registry,
    p.requiredCredentials,
    p.allowedCountries.map(countryCode),
  );
  await token.waitForDeployment();
  return token;
}

export interface EligibilityRecord {
  identity: string;
  /** ISO 3166-1 alpha-2. */
  country: string;
  credentials: number;
  /** Unix seconds; 0 when there is no record. */
  expiry: number;
  frozen: boolean;
}

/** Read and decode the record of `wallet` (expiry 0: none). */
export async function readEligibility(registry: EligibilityRegistry, wallet: string): Promise<EligibilityRecord> {
  const [identity, country, credentials, expiry, frozen] = await registry.recordOf(wallet);
  return {
    identity,
    country: Buffer.from(country.slice(2), 'hex').toString('ascii').replace(/\0/g, ''),
    credentials: Number(credentials),
    expiry: Number(expiry),
    frozen,
  };
}
