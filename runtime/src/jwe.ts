import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  type JsonWebKey,
  randomBytes,
} from 'node:crypto';

/** Content encryption algorithms of the JWEs Tessera reads and writes (RFC 7518 §5.3). */
export const JWE_ENCS = ['A128GCM', 'A256GCM'] as const;
export type JweEnc = (typeof JWE_ENCS)[number];
const KEY_BITS: Record<JweEnc, number> = { A128GCM: 128, A256GCM: 256 };
/** Most bytes of a compact JWE this module opens. */
export const MAX_JWE_BYTES = 512 * 1024;

const b64 = (b: Buffer | string) => Buffer.from(b).toString('base64url');
const len32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
};
const lengthPrefixed = (b: Buffer) => Buffer.concat([len32(b.length), b]);

/** RFC 7518 §4.6.2: the Concat KDF (NIST SP 800-56A §5.8.1) with SHA-256, for direct key agreement. */
function concatKdf(z: Buffer, enc: JweEnc, apu: Buffer, apv: Buffer): Buffer {
  const bits = KEY_BITS[enc];
  const otherInfo = Buffer.concat([
    lengthPrefixed(Buffer.from(enc)),
    lengthPrefixed(apu),
    lengthPrefixed(apv),
    len32(bits),
  ]);
  return createHash('sha256')
    .update(Buffer.concat([len32(1), z, otherInfo]))
    .digest()
    .subarray(0, bits / 8);
}

/** A fresh P-256 key pair for ECDH-ES, as JWKs (the public one carries `use: enc`, `alg: ECDH-ES` and `kid`). */
export function generateEncryptionKey(kid: string): { publicJwk: JsonWebKey; privateJwk: JsonWebKey } {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return {
    publicJwk: { ...publicKey.export({ format: 'jwk' }), use: 'enc', alg: 'ECDH-ES', kid },
    privateJwk: privateKey.export({ format: 'jwk' }),
  };
}

/**
 * Encrypt `plaintext` to the P-256 public key `jwk` as a compact JWE (RFC 7516 §7.1) with `alg` ECDH-ES (direct key
 * agreement, RFC 7518 §4.6) and `enc` A128GCM or A256GCM.
 */
export function encryptJwe(
  plaintext: string,
  jwk: JsonWebKey,
  o: { enc?: JweEnc; kid?: string; apu?: string; apv?: string } = {},
): string {
  const enc = o.enc ?? 'A128GCM';
  if (jwk.kty !== 'EC' || jwk.crv !== 'P-256') throw new Error('the encryption key must be an EC P-256 JWK');
  const recipient = createPublicKey({
    key: { kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y } as JsonWebKey,
    format: 'jwk',
  });
  const ephemeral = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const epk = ephemeral.publicKey.export({ format: 'jwk' });
  const header = {
    alg: 'ECDH-ES',
    enc,
    epk: { kty: 'EC', crv: 'P-256', x: epk.x, y: epk.y },
    ...((o.kid ?? jwk.kid) ? { kid: o.kid ?? jwk.kid } : {}),
    ...(o.apu ? { apu: o.apu } : {}),
    ...(o.apv ? { apv: o.apv } : {}),
  };
  const z = diffieHellman({ privateKey: ephemeral.privateKey, publicKey: recipient });
  const key = concatKdf(
    z,
    enc,
    o.apu ? Buffer.from(o.apu, 'base64url') : Buffer.alloc(0),
    o.apv ? Buffer.from(o.apv, 'base64url') : Buffer.alloc(0),
  );
  const protectedHeader = b64(JSON.stringify(header));
  const iv = randomBytes(12);
  const cipher = createCipheriv(enc === 'A128GCM' ? 'aes-128-gcm' : 'aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(protectedHeader, 'ascii'));
  const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return `${protectedHeader}..${b64(iv)}.${b64(ciphertext)}.${b64(cipher.getAuthTag())}`;
}

/**
 * Open a compact JWE made with ECDH-ES and A128GCM/A256GCM for the P-256 private key `privateJwk`.
 *
 * @returns the plaintext and the protected header, or an Error saying why not (never the key).
 */
export function decryptJwe(
  jwe: string,
  privateJwk: JsonWebKey,
): { plaintext: string; header: Record<string, unknown> } | Error {
  if (typeof jwe !== 'string' || jwe.length > MAX_JWE_BYTES) return new Error('not a compact JWE of acceptable size');
  const parts = jwe.split('.');
  if (parts.length !== 5) return new Error('a compact JWE has five parts (RFC 7516 §7.1)');
  const [h, encryptedKey, iv, ct, tag] = parts as [string, string, string, string, string];
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(Buffer.from(h, 'base64url').toString('utf8')) as Record<string, unknown>;
  } catch {
    return new Error('the JWE header is not JSON');
  }
  if (header.alg !== 'ECDH-ES') return new Error(`JWE alg ${String(header.alg)} is not ECDH-ES`);
  const enc = header.enc as JweEnc;
  if (!(JWE_ENCS as readonly string[]).includes(enc))
    return new Error(`JWE enc ${String(header.enc)} is not supported`);
  if (encryptedKey !== '') return new Error('direct key agreement has an empty encrypted key');
  if (header.zip !== undefined) return new Error('compressed JWEs are not accepted');
  const epk = header.epk as JsonWebKey | undefined;
  if (!epk || epk.kty !== 'EC' || epk.crv !== 'P-256') return new Error('the JWE has no P-256 ephemeral key (epk)');
  try {
    const publicKey = createPublicKey({
      key: { kty: 'EC', crv: 'P-256', x: epk.x, y: epk.y } as JsonWebKey,
      format: 'jwk',
    });
    const privateKey = createPrivateKey({ key: privateJwk, format: 'jwk' });
    const z = diffieHellman({ privateKey, publicKey });
    const key = concatKdf(
      z,
      enc,
      typeof header.apu === 'string' ? Buffer.from(header.apu, 'base64url') : Buffer.alloc(0),
      typeof header.apv === 'string' ? Buffer.from(header.apv, 'base64url') : Buffer.alloc(0),
    );
    const decipher = createDecipheriv(
      enc === 'A128GCM' ? 'aes-128-gcm' : 'aes-256-gcm',
      key,
      Buffer.from(iv, 'base64url'),
    );
    decipher.setAAD(Buffer.from(h, 'ascii'));
    decipher.setAuthTag(Buffer.from(tag, 'base64url'));
    const plaintext = Buffer.concat([decipher.update(Buffer.from(ct, 'base64url')), decipher.final()]).toString('utf8');
    return { plaintext, header };
  } catch {
    return new Error('the JWE does not decrypt with this key');
  }
}
