import { encodeBytes32String, solidityPackedKeccak256 } from 'ethers';

// Loaded on its own by the wallet CLI (`@tessera/contracts/did-delegate`): ethers only, no bindings, no database.

/**
 * What an identity's owner signs to let another key act for it (ERC-1056 "Add Delegate" meta-transaction):
 * keccak256(0x19 0x00 registry nonce[owner] identity "addDelegate" delegateType delegate validity). Every field is
 * explicit so a wallet can recompute the digest from what it is shown instead of signing an opaque hash.
 */
export interface AddDelegateRequest {
  registry: string;
  /** nonce[identityOwner(identity)] at the time of signing. */
  nonce: bigint;
  identity: string;
  /** 'veriKey' (signs JWTs for the identity) or 'sigAuth'. */
  delegateType: 'veriKey' | 'sigAuth';
  delegate: string;
  validitySeconds: number;
}

export function addDelegateDigest(r: AddDelegateRequest): string {
  return solidityPackedKeccak256(
    ['bytes1', 'bytes1', 'address', 'uint256', 'address', 'string', 'bytes32', 'address', 'uint256'],
    [
      '0x19',
      '0x00',
      r.registry,
      r.nonce,
      r.identity,
      'addDelegate',
      encodeBytes32String(r.delegateType),
      r.delegate,
      r.validitySeconds,
    ],
  );
}
