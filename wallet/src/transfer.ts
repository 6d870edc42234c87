import { randomBytes } from 'node:crypto';
import { err, ethrAddress, ok, type Result, type TransferAuthorization, type TransferReceipt } from '@tessera/protocol';
import { getAddress, isAddress, parseUnits } from 'ethers';
import { type FlowOptions, httpJson } from './flows.js';
import type { TesseraWallet } from './store.js';

/** What the wallet shows before it signs a transfer. */
export interface TransferConsent {
  offeringId: string;
  token: { address: string; name: string; symbol: string; decimals: number };
  from: string;
  to: string;
  /** Whole units as asked, and in the token's base units. */
  amount: string;
  value: string;
  validBefore: number;
  chainId: number;
}

interface OfferingView {
  id: string;
  tokenAddress: string | null;
  terms: { token: { name: string; symbol: string; decimals: number } };
}

/** A signed transfer authorisation: the body of `POST /services/offerings/:id/transfers`, for any relayer. */
export interface SignedTransfer {
  authorization: TransferAuthorization;
  signature: string;
}

export interface TransferRequest {
  offeringId: string;
  /** A did:ethr or an address. */
  to: string;
  /** Token units, decimal (at most the token's decimals). */
  amount: string;
  /** How long the signed authorisation stays valid (default 600 s). */
  validSeconds?: number;
  confirm?(consent: TransferConsent): Promise<boolean>;
}

/**
 * Move security tokens of an offering from this wallet to another investor without gas: the wallet signs an EIP-3009
 * TransferWithAuthorization over the token's EIP-712 domain (read from the offering: the token's address and name;
 * the chain of the wallet's DID), shows what it signs, and the offerings service relays it through its outbox. The
 * token checks both investors' eligibility on chain; a refusal comes back with its code.
 */
export async function transferTokens(
  wallet: TesseraWallet,
  stackUrl: string,
  request: TransferRequest,
  options: FlowOptions = {},
): Promise<Result<TransferReceipt>> {
  const signed = await signTransfer(wallet, stackUrl, request, options);
  if (!signed.ok) return signed;
  const sent = await httpJson<TransferReceipt>(
    `${offeringUrl(stackUrl, request.offeringId)}/transfers`,
    { method: 'POST', body: signed.value },
    options,
  );
  return sent.ok ? ok(sent.value.body) : sent;
}

const offeringUrl = (stackUrl: string, id: string) =>
  `${stackUrl.replace(/\/$/, '')}/services/offerings/${encodeURIComponent(id)}`;

/** `transferTokens` up to the signature: the signed authorisation, sent nowhere (any relayer may submit it). */
export async function signTransfer(
  wallet: TesseraWallet,
  stackUrl: string,
  request: TransferRequest,
  options: FlowOptions = {},
): Promise<Result<SignedTransfer>> {
  const to = request.to.startsWith('did:') ? ethrAddress(request.to) : request.to;
  if (to === undefined || !isAddress(to)) {
    return err('ERR_VALIDATION', `--to must be a did:ethr or an EVM address, not ${request.to.slice(0, 80)}`);
  }
  const from = ethrAddress(wallet.did);
  if (from === undefined) return err('ERR_VALIDATION', `the wallet DID ${wallet.did} has no address`);
  const got = await httpJson<OfferingView>(offeringUrl(stackUrl, request.offeringId), {}, options);
  if (!got.ok) return got;
  const offering = got.value.body;
  if (!offering.tokenAddress) return err('ERR_OFFERING_STATE', `offering ${offering.id} has no token yet`);
  const { name, symbol, decimals } = offering.terms.token;
  let value: bigint;
  try {
    value = parseUnits(request.amount, decimals);
  } catch {
    return err('ERR_VALIDATION', `--amount must be a number of ${symbol} units with at most ${decimals} decimals`);
  }
  if (value <= 0n) return err('ERR_VALIDATION', '--amount must be more than 0');
  const auth: TransferAuthorization = {
    from: getAddress(from),
    to: getAddress(to),
    value: value.toString(),
    validAfter: 0,
    validBefore: Math.floor(Date.now() / 1000) + (request.validSeconds ?? 600),
    nonce: `0x${randomBytes(32).toString('hex')}`,
  };
  const consent: TransferConsent = {
    offeringId: offering.id,
    token: { address: offering.tokenAddress, name, symbol, decimals },
    from: auth.from,
    to: auth.to,
    amount: request.amount,
    value: auth.value,
    validBefore: auth.validBefore,
    chainId: wallet.chainId,
  };
  if (request.confirm && !(await request.confirm(consent))) {
    return err('ERR_WALLET_DECLINED', 'the transfer was not signed');
  }
  const signature = wallet.signTransferAuthorization(
    { name, chainId: wallet.chainId, verifyingContract: offering.tokenAddress },
    auth,
  );
  if (!signature.ok) return signature;
  return ok({ authorization: auth, signature: signature.value });
}
