import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

/**
 * Authenticated encryption for secrets at rest (private keys, device pre-shared secrets): AES-256-GCM with a
 * random 96-bit IV. `aad` binds the ciphertext to its purpose (for example the key name), so a sealed value
 * cannot be moved to another slot. Format: base64url(iv | tag | ciphertext), prefixed with a version.
 */
const VERSION = 'v1.';

export function seal(key: Uint8Array, plaintext: Uint8Array, aad: string): string {
  if (key.length !== 32) throw new Error('sealing key must be 32 bytes');
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(aad, 'utf8'));
  const ct = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return VERSION + Buffer.concat([iv, cipher.getAuthTag(), ct]).toString('base64url');
}

/** Throws when the key, the AAD or the ciphertext is wrong (GCM tag mismatch). */
export function unseal(key: Uint8Array, sealed: string, aad: string): Buffer {
  if (key.length !== 32) throw new Error('sealing key must be 32 bytes');
  if (!sealed.startsWith(VERSION)) throw new Error('unknown sealed-value version');
  const raw = Buffer.from(sealed.slice(VERSION.length), 'base64url');
  if (raw.length < 28) throw new Error('sealed value too short');
  const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, 12));
  decipher.setAAD(Buffer.from(aad, 'utf8'));
  decipher.setAuthTag(raw.subarray(12, 28));
  return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]);
}
