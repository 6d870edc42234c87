import {
  encodeBytes32String,
  isHexString,
  type Provider,
  solidityPackedKeccak256,
  toUtf8Bytes,
  type Wallet,
  hexlify,
} from 'ethers';
import { type AddDelegateRequest, addDelegateDigest } from '@tessera/protocol';
import { EthereumDIDRegistry__factory } from './generated/index.js';

export { type AddDelegateRequest, addDelegateDigest };

const registryInterface = EthereumDIDRegistry__factory.createInterface();

/** An on-chain write ready for the outbox: the relayer pays, the identity's owner key authorises. */
export interface RegistryWrite {
  to: string;
  data: string;
}

/** Attribute values are raw bytes: hex strings as given, anything else as UTF-8 (as ethr-did-resolver encodes them). */
function attributeBytes(value: string): string {
  return isHexString(value) ? value : hexlify(toUtf8Bytes(value));
}

/**
 * A meta-transaction `setAttributeSigned` (ERC-1056 "Set Attribute"): the identity's owner signs
 * keccak256(0x19 0x00 registry nonce[owner] identity "setAttribute" name value validity) and anybody may send it,
 * so only the relayer account needs gas. The nonce is read now: enqueue one signed change per identity at a time.
 */
export async function signSetAttribute(opts: {
  provider: Provider;
  registry: string;
  owner: Wallet;
  identity?: string;
  name: string;
  value: string;
  validitySeconds: number;
}): Promise<RegistryWrite> {
  const identity = opts.identity ?? opts.owner.address;
  const registry = EthereumDIDRegistry__factory.connect(opts.registry, opts.provider);
  const nonce = await registry.nonce(opts.owner.address);
  const name = encodeBytes32String(opts.name);
  const value = attributeBytes(opts.value);
  const hash = solidityPackedKeccak256(
    ['bytes1', 'bytes1', 'address', 'uint256', 'address', 'string', 'bytes32', 'bytes', 'uint256'],
    ['0x19', '0x00', opts.registry, nonce, identity, 'setAttribute', name, value, opts.validitySeconds],
  );
  const sig = opts.owner.signingKey.sign(hash);
  return {
    to: opts.registry,
    data: registryInterface.encodeFunctionData('setAttributeSigned', [
      identity,
      sig.v,
      sig.r,
      sig.s,
      name,
      value,
      opts.validitySeconds,
    ]),
  };
}

/** Read the owner's nonce and build the request an owner will sign. */
export async function prepareAddDelegate(
  provider: Provider,
  o: Omit<AddDelegateRequest, 'nonce'>,
): Promise<AddDelegateRequest & { owner: string }> {
  const registry = EthereumDIDRegistry__factory.connect(o.registry, provider);
  const owner = await registry.identityOwner(o.identity);
  return { ...o, nonce: await registry.nonce(owner), owner };
}

/** The `addDelegateSigned` call for a signature over `addDelegateDigest(r)` (0x r‖s‖v, 65 bytes). */
export function addDelegateSignedWrite(
  r: AddDelegateRequest,
  signature: { v: number; r: string; s: string },
): RegistryWrite {
  return {
    to: r.registry,
    data: registryInterface.encodeFunctionData('addDelegateSigned', [
      r.identity,
      signature.v,
      signature.r,
      signature.s,
      encodeBytes32String(r.delegateType),
      r.delegate,
      r.validitySeconds,
    ]),
  };
}
