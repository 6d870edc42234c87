import { timingSafeEqual } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { writeFileAtomic } from '@tessera/runtime';
import {
  DEVICE_COMMITMENT_SALT_BYTES,
  deviceSecretAad as aadOf,
  secretCommitment,
  seal,
  TesseraError,
  unseal,
} from '@tessera/protocol';

/**
 * Where the verifier keeps device pre-shared secrets: sealed at rest (AES-256-GCM with protocol `seal`, the AAD names
 * the device, so a sealed secret cannot be moved to another device's slot), unsealed only for one computation.
 * The issuer's DB-backed store implements the same interface.
 */
export interface DeviceSecretVault {
  /** The secret and the salt of its on-chain commitment, or undefined for a device the vault does not know. */
  get(deviceId: string): Promise<{ secret: Buffer; salt: Buffer } | undefined>;
  put(deviceId: string, secret: Uint8Array, salt: Uint8Array): Promise<void>;
  delete(deviceId: string): Promise<void>;
  /** Device ids with a stored secret (enrol them with the broker at start). */
  list(): Promise<string[]>;
}

interface VaultFile {
  version: 1;
  devices: Record<string, { salt: string; sealed: string }>;
}

/**
 * A file-backed vault: one JSON file (mode 0600), each secret sealed separately under a 32-byte key that lives
 * elsewhere (the stack's master key or an external KMS). Writes are atomic (temp file + rename).
 */
export class FileDeviceSecretVault implements DeviceSecretVault {
  private data: VaultFile;

  constructor(
    private readonly path: string,
    private readonly key: Uint8Array,
  ) {
    if (key.length !== 32) throw new TesseraError('ERR_CONFIG_INVALID', 'the device vault key must be 32 bytes');
    if (existsSync(path)) {
      const mode = statSync(path).mode & 0o777;
      if (mode & 0o077) throw new TesseraError('ERR_DATA_DIR', `${path} is readable by others; chmod 600 it`);
      this.data = JSON.parse(readFileSync(path, 'utf8')) as VaultFile;
    } else this.data = { version: 1, devices: {} };
  }

  async get(deviceId: string): Promise<{ secret: Buffer; salt: Buffer } | undefined> {
    const e = this.data.devices[deviceId.toLowerCase()];
    if (!e) return undefined;
    return { secret: unseal(this.key, e.sealed, aadOf(deviceId)), salt: Buffer.from(e.salt, 'hex') };
  }

  async put(deviceId: string, secret: Uint8Array, salt: Uint8Array): Promise<void> {
    if (salt.length !== DEVICE_COMMITMENT_SALT_BYTES) throw new Error('the commitment salt must be 32 bytes');
    this.data.devices[deviceId.toLowerCase()] = {
      salt: Buffer.from(salt).toString('hex'),
      sealed: seal(this.key, secret, aadOf(deviceId)),
    };
    this.flush();
  }

  async delete(deviceId: string): Promise<void> {
    delete this.data.devices[deviceId.toLowerCase()];
    this.flush();
  }

  async list(): Promise<string[]> {
    return Object.keys(this.data.devices);
  }

  private flush(): void {
    writeFileAtomic(this.path, `${JSON.stringify(this.data)}\n`, 0o600);
  }
}

/** Does the unsealed secret match the salted commitment the chain holds? (constant time over the digests) */
export function secretMatchesCommitment(salt: Uint8Array, secret: Uint8Array, commitment: string): boolean {
  let mine: Buffer;
  try {
    mine = Buffer.from(secretCommitment(salt, secret).slice(2), 'hex');
  } catch {
    return false;
  }
  const theirs = Buffer.from(commitment.replace(/^0x/, ''), 'hex');
  return theirs.length === mine.length && timingSafeEqual(mine, theirs);
}
