import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '@tessera/runtime';
import { TesseraError } from '@tessera/protocol';
import { SecretBox } from '@veramo/kms-local';

export const SECRET_BOX_KEY_FILE = 'issuer-kms.key';

/**
 * The secret-box key that encrypts the issuer's private keys in the database. It is kept outside the
 * database: given by configuration, or in `<dataDir>/issuer-kms.key` with mode 0600, created on first start.
 * A key file readable by others is refused.
 */
export async function loadSecretBoxKey(dataDir: string, configured?: string): Promise<string> {
  if (configured !== undefined) {
    if (!/^[0-9a-fA-F]{64}$/.test(configured)) {
      throw new TesseraError('ERR_CONFIG_INVALID', 'the issuer secret-box key must be 64 hex characters');
    }
    return configured.toLowerCase();
  }
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const file = join(dataDir, SECRET_BOX_KEY_FILE);
  if (!existsSync(file)) writeFileAtomic(file, `${await SecretBox.createSecretKey()}\n`, 0o600);
  const mode = statSync(file).mode & 0o777;
  if (mode & 0o077) {
    throw new TesseraError('ERR_DATA_DIR', `${file} is readable by others (mode ${mode.toString(8)}); chmod 600 it`);
  }
  const key = readFileSync(file, 'utf8').trim();
  if (!/^[0-9a-fA-F]{64}$/.test(key)) throw new TesseraError('ERR_DATA_DIR', `${file} does not hold a 64-hex key`);
  return key.toLowerCase();
}

/**
 * Veramo's SecretBox answers a wrong key or a corrupted ciphertext with an empty string instead of an error, and an
 * empty private key then signs garbage. This one refuses to return anything it could not authenticate.
 */
export class CheckedSecretBox extends SecretBox {
  override async decrypt(encryptedMessageHex: string): Promise<string> {
    const plain = await super.decrypt(encryptedMessageHex);
    if (plain.length === 0) {
      throw new TesseraError('ERR_CONFIG_INVALID', 'a sealed private key does not open with this secret-box key');
    }
    return plain;
  }
}
