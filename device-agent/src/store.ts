import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import {
  DEVICE_ID_PATTERN,
  DEVICE_SECRET_BYTES,
  type DeviceCharacteristics,
  deviceFingerprint,
  seal,
  TesseraError,
  unseal,
} from '@tessera/protocol';
import { computeAddress, Wallet } from 'ethers';
import { z } from 'zod';
import type { DeviceIdentity } from './initiator.js';

/**
 * The device's key and secret on disk (never stored in clear). Layout of the state directory (0700):
 *
 *   master.key    32 random bytes, hex (0600): the sealing key; an external key (TPM, env) may replace it
 *   device.json   public facts: device id, DID, chain id, characteristics, broker URL, plus the sealed DID private
 *                 key and the sealed pre-shared secret (AES-256-GCM, AAD names the slot and the device) (0600)
 *   final.json    written when the verifier said the device is revoked or decommissioned: `run` stops at once (0600)
 *
 * Every file is written atomically with mode 0600; loading refuses files that others can read.
 */

/** What the manufacturer/owner hands the device once (the provisioning file): the secret is in clear here. */
export const ProvisioningSchema = z
  .object({
    deviceId: z.string().regex(DEVICE_ID_PATTERN),
    /** 0x-hex or base64url of ≥ 32 bytes. */
    secret: z.string().min(43),
    chainId: z.number().int().positive(),
    characteristics: z.record(z.string(), z.string()),
    brokerUrl: z.string().url().optional(),
    /** The DID key; generated on the device when absent (then the owner commissions its address). */
    privateKey: z
      .string()
      .regex(/^0x[0-9a-fA-F]{64}$/)
      .optional(),
  })
  .strict();
export type Provisioning = z.infer<typeof ProvisioningSchema>;

interface DeviceFile {
  version: 1;
  deviceId: string;
  did: string;
  address: string;
  chainId: number;
  characteristics: Record<string, string>;
  brokerUrl?: string;
  sealedKey: string;
  sealedSecret: string;
}

function writePrivate(path: string, data: string): void {
  const tmp = join(dirname(path), `.${randomBytes(6).toString('hex')}.tmp`);
  const fd = openSync(tmp, 'w', 0o600);
  try {
    writeSync(fd, data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
}

function readPrivate(path: string): string {
  const mode = statSync(path).mode & 0o777;
  if (mode & 0o077)
    throw new TesseraError('ERR_DATA_DIR', `${path} is readable by others (mode ${mode.toString(8)}); chmod 600 it`);
  return readFileSync(path, 'utf8');
}

function decodeSecret(text: string): Buffer {
  const b = /^0x[0-9a-fA-F]+$/.test(text) ? Buffer.from(text.slice(2), 'hex') : Buffer.from(text, 'base64url');
  if (b.length < DEVICE_SECRET_BYTES)
    throw new TesseraError('ERR_VALIDATION', 'the device secret must be at least 32 bytes');
  return b;
}

const aad = (slot: string, deviceId: string) => `tessera.device-agent.${slot}.v1:${deviceId}`;

export class DeviceKeyStore {
  private constructor(
    readonly dir: string,
    private readonly masterKey: Buffer,
  ) {}

  /** Open (creating on first use) the state directory. `masterKeyHex` replaces master.key when given. */
  static open(dir: string, masterKeyHex?: string): DeviceKeyStore {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    chmodSync(dir, 0o700);
    if (masterKeyHex !== undefined) {
      if (!/^[0-9a-fA-F]{64}$/.test(masterKeyHex))
        throw new TesseraError('ERR_CONFIG_INVALID', 'the device master key must be 64 hex characters');
      return new DeviceKeyStore(dir, Buffer.from(masterKeyHex, 'hex'));
    }
    const keyFile = join(dir, 'master.key');
    if (!existsSync(keyFile)) writePrivate(keyFile, randomBytes(32).toString('hex'));
    const key = Buffer.from(readPrivate(keyFile).trim(), 'hex');
    if (key.length !== 32) throw new TesseraError('ERR_DATA_DIR', `${keyFile} does not hold a 32-byte hex key`);
    return new DeviceKeyStore(dir, key);
  }

  private get file(): string {
    return join(this.dir, 'device.json');
  }

  get enrolled(): boolean {
    return existsSync(this.file);
  }

  /** Enrol from a provisioning document: seal the secret and the DID key, write device.json (0600). */
  enrol(input: unknown): { deviceId: string; did: string; address: string } {
    const parsed = ProvisioningSchema.safeParse(input);
    if (!parsed.success) {
      throw new TesseraError('ERR_VALIDATION', 'the provisioning file fails its schema', {
        details: parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })),
      });
    }
    const p = parsed.data;
    const fp = deviceFingerprint(p.characteristics as unknown as DeviceCharacteristics);
    if (!fp.ok) throw new TesseraError('ERR_VALIDATION', fp.error.message, { details: fp.error.details });
    const secret = decodeSecret(p.secret);
    const privateKey = p.privateKey ?? Wallet.createRandom().privateKey;
    const address = computeAddress(privateKey).toLowerCase();
    const did = `did:ethr:0x${p.chainId.toString(16)}:${address}`;
    const file: DeviceFile = {
      version: 1,
      deviceId: p.deviceId,
      did,
      address,
      chainId: p.chainId,
      characteristics: p.characteristics,
      ...(p.brokerUrl ? { brokerUrl: p.brokerUrl } : {}),
      sealedKey: seal(this.masterKey, Buffer.from(privateKey.slice(2), 'hex'), aad('key', p.deviceId)),
      sealedSecret: seal(this.masterKey, secret, aad('secret', p.deviceId)),
    };
    writePrivate(this.file, `${JSON.stringify(file, null, 2)}\n`);
    rmSync(this.finalFile, { force: true }); // a new identity starts with no verdict
    secret.fill(0);
    return { deviceId: p.deviceId, did, address };
  }

  private get finalFile(): string {
    return join(this.dir, 'final.json');
  }

  /** Remember that the verifier said this device is revoked or decommissioned (both are final on chain). */
  recordFinal(code: 'ERR_DEVICE_REVOKED' | 'ERR_DEVICE_DECOMMISSIONED', at: Date = new Date()): void {
    writePrivate(this.finalFile, `${JSON.stringify({ code, at: at.toISOString() })}\n`);
  }

  /** The final verdict recorded by `recordFinal`, if any. */
  finalState(): { code: 'ERR_DEVICE_REVOKED' | 'ERR_DEVICE_DECOMMISSIONED'; at: string } | undefined {
    if (!existsSync(this.finalFile)) return undefined;
    const f = JSON.parse(readPrivate(this.finalFile)) as { code?: unknown; at?: unknown };
    return (f.code === 'ERR_DEVICE_REVOKED' || f.code === 'ERR_DEVICE_DECOMMISSIONED') && typeof f.at === 'string'
      ? { code: f.code, at: f.at }
      : undefined;
  }

  /** Load the identity; the fingerprint is measured from the stored characteristics (or `measured`, if given). */
  load(measured?: DeviceCharacteristics): DeviceIdentity & { brokerUrl?: string } {
    const f = JSON.parse(readPrivate(this.file)) as DeviceFile;
    const fp = deviceFingerprint(measured ?? (f.characteristics as unknown as DeviceCharacteristics));
    if (!fp.ok) throw new TesseraError('ERR_VALIDATION', fp.error.message);
    return {
      deviceId: f.deviceId,
      did: f.did,
      secret: unseal(this.masterKey, f.sealedSecret, aad('secret', f.deviceId)),
      privateKey: `0x${unseal(this.masterKey, f.sealedKey, aad('key', f.deviceId)).toString('hex')}`,
      fingerprint: fp.value,
      ...(f.brokerUrl ? { brokerUrl: f.brokerUrl } : {}),
    };
  }
}
