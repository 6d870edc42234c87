import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { TesseraError, seal, unseal } from '@tessera/protocol';
import { SigningKey, Wallet, computeAddress } from 'ethers';
import { writeFileAtomic } from '@tessera/runtime';

interface StoredKey {
  address: string;
  publicKey: string;
  sealed: string;
  createdAt: string;
}

/**
 * The stack's own secp256k1 keys (its actors: relayer, issuer, operator, verifier…), sealed with AES-256-GCM under
 * a master key that never sits beside them in the same file: `keys/master.key` (0600) or `TESSERA_MASTER_KEY`.
 */
export class Keystore {
  private readonly file: string;
  private readonly keys: Record<string, StoredKey>;

  private constructor(
    private readonly dir: string,
    private readonly masterKey: Buffer,
  ) {
    this.file = join(dir, 'keystore.json');
    this.keys = existsSync(this.file) ? (JSON.parse(readFileSync(this.file, 'utf8')) as Record<string, StoredKey>) : {};
  }

  /**
   * Open (creating on first use) the keystore in `dir`. `masterKeyHex` (64 hex chars) overrides the key file.
   */
  static open(dir: string, masterKeyHex?: string): Keystore {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    let master: Buffer;
    if (masterKeyHex !== undefined) {
      if (!/^[0-9a-fA-F]{64}$/.test(masterKeyHex)) {
        throw new TesseraError('ERR_CONFIG_INVALID', 'TESSERA_MASTER_KEY must be 64 hex characters (32 bytes)');
      }
      master = Buffer.from(masterKeyHex, 'hex');
    } else {
      const keyFile = join(dir, 'master.key');
      if (!existsSync(keyFile)) writeFileAtomic(keyFile, randomBytes(32).toString('hex'), 0o600);
      const mode = statSync(keyFile).mode & 0o777;
      if (mode & 0o077) {
        throw new TesseraError(
          'ERR_DATA_DIR',
          `${keyFile} is readable by others (mode ${mode.toString(8)}); chmod 600 it`,
        );
      }
      master = Buffer.from(readFileSync(keyFile, 'utf8').trim(), 'hex');
      if (master.length !== 32) throw new TesseraError('ERR_DATA_DIR', `${keyFile} does not hold a 32-byte hex key`);
    }
    return new Keystore(dir, master);
  }

  has(name: string): boolean {
    return Object.hasOwn(this.keys, name);
  }

  names(): string[] {
    return Object.keys(this.keys).sort();
  }

  /** The key called `name`, created (and persisted before it is returned) on first use. */
  getOrCreate(name: string): Wallet {
    if (!/^[a-z][a-z0-9-]{0,63}$/.test(name)) throw new Error(`invalid key name '${name}'`);
    const stored = this.keys[name];
    if (stored) {
      let pk: Buffer;
      try {
        pk = unseal(this.masterKey, stored.sealed, `tessera-key:${name}`);
      } catch (cause) {
        throw new TesseraError(
          'ERR_DATA_DIR',
          `key '${name}' cannot be unsealed: wrong master key or corrupted keystore`,
          {
            cause,
          },
        );
      }
      return new Wallet(`0x${pk.toString('hex')}`);
    }
    const privateKey = randomBytes(32);
    const signingKey = new SigningKey(privateKey);
    this.keys[name] = {
      address: computeAddress(signingKey.publicKey).toLowerCase(),
      publicKey: signingKey.compressedPublicKey,
      sealed: seal(this.masterKey, privateKey, `tessera-key:${name}`),
      createdAt: new Date().toISOString(),
    };
    writeFileAtomic(this.file, `${JSON.stringify(this.keys, null, 2)}\n`, 0o600);
    return new Wallet(signingKey);
  }

  /** Public information only. */
  describe(name: string): { address: string; publicKey: string } | undefined {
    const k = this.keys[name];
    return k && { address: k.address, publicKey: k.publicKey };
  }

  get directory(): string {
    return this.dir;
  }
}
