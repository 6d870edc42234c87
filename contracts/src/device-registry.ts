import { DEVICE_STATES, type DeviceState } from '@tessera/protocol';
import { AbiCoder, ZeroAddress, concat, getAddress, keccak256 } from 'ethers';
import type { DeviceRegistry } from './generated/index.js';

/**
 * Off-chain half of DeviceRegistry.sol's batch registration: the leaf of a device and the Merkle tree of a batch,
 * built exactly as the contract checks them (double-hashed leaves, sorted-pair inner nodes, the OpenZeppelin
 * MerkleProof convention). The manufacturer (through the issuer) keeps the tree; a device's proof is handed over with
 * the device and presented once, when its record is materialised.
 */

/** One device as committed in a batch leaf. All bytes32 values are 0x-prefixed hex. */
export interface DeviceLeafInput {
  deviceId: string;
  /** The characteristics fingerprint (protocol `deviceFingerprint`). */
  fingerprint: string;
  /** The salted secret commitment (protocol `secretCommitment`). */
  commitment: string;
  /** The owner the record starts with once materialised. */
  initialOwner: string;
}

/** Solidity enum DeviceRegistry.State, by number. */
export const DeviceRegistryState = {
  Unknown: 0,
  Registered: 1,
  Active: 2,
  Suspended: 3,
  Revoked: 4,
  Decommissioned: 5,
} as const;

const coder = AbiCoder.defaultAbiCoder();

/** keccak256(bytes.concat(keccak256(abi.encode(deviceId, fingerprint, commitment, initialOwner)))), as leafOf(). */
export function deviceLeaf(d: DeviceLeafInput): string {
  const inner = keccak256(
    coder.encode(
      ['bytes32', 'bytes32', 'bytes32', 'address'],
      [d.deviceId, d.fingerprint, d.commitment, getAddress(d.initialOwner)],
    ),
  );
  return keccak256(inner);
}

const hashPair = (a: string, b: string) =>
  BigInt(a) < BigInt(b) ? keccak256(concat([a, b])) : keccak256(concat([b, a]));

export interface DeviceBatchTree {
  root: string;
  leaves: string[];
  /** proofs[i] proves leaves[i] (same order as the input devices). */
  proofs: string[][];
}

/**
 * Build the Merkle tree of a batch. An odd node at the end of a level is carried up unchanged (it has no sibling
 * and so no proof element at that level). O(n log n) for all proofs together.
 */
export function buildDeviceBatch(devices: readonly DeviceLeafInput[]): DeviceBatchTree {
  if (devices.length === 0) throw new Error('a batch needs at least one device');
  const leaves = devices.map(deviceLeaf);
  if (new Set(leaves).size !== leaves.length) throw new Error('a batch must not contain the same device twice');
  const proofs: string[][] = leaves.map(() => []);
  // positions[i] is the index of device i's ancestor in the current level.
  let positions = leaves.map((_, i) => i);
  let level = leaves;
  while (level.length > 1) {
    const next: string[] = [];
    for (let i = 0; i < level.length; i += 2) {
      next.push(i + 1 < level.length ? hashPair(level[i]!, level[i + 1]!) : level[i]!);
    }
    positions = positions.map((p, i) => {
      const sibling = p ^ 1;
      if (sibling < level.length) proofs[i]!.push(level[sibling]!);
      return p >> 1;
    });
    level = next;
  }
  return { root: level[0]!, leaves, proofs };
}

/** What the handshake verifier reads from the chain about one device (DeviceRegistry.deviceStatus, one eth_call). */
export interface DeviceChainStatus {
  state: DeviceState;
  /** The did:ethr identity address bound at commissioning, or undefined before. */
  identity?: string;
  fingerprint: string;
  commitment: string;
}

/**
 * Read a device's state, identity, fingerprint and commitment in one call. A device never registered, or registered
 * in a batch but not yet materialised, reads as `Unknown` (and must be refused: on-chain state decides).
 */
export async function readDeviceStatus(
  registry: Pick<DeviceRegistry, 'deviceStatus'>,
  deviceId: string,
): Promise<DeviceChainStatus> {
  const s = await registry.deviceStatus(deviceId);
  const state = DEVICE_STATES[Number(s.state)];
  if (state === undefined) throw new Error(`DeviceRegistry returned an unknown state ${s.state}`);
  return {
    state,
    ...(s.identity === ZeroAddress ? {} : { identity: s.identity.toLowerCase() }),
    fingerprint: s.fingerprint,
    commitment: s.commitment,
  };
}
