import { secp256k1 } from '@noble/curves/secp256k1';
import { sha256 } from '@noble/hashes/sha2';
import { keccak_256 } from '@noble/hashes/sha3';
import { bytesToHex, hexToBytes } from '@noble/hashes/utils';

/** A holder's DID, key and credentials: the shape of a Tessera wallet file (the root admin wallet has it). */
export interface HolderKey {
  did: string;
  /** secp256k1 private key, 0x hex. */
  privateKey: string;
  credentials: string[];
  createdAt?: string;
}

const enc = new TextEncoder();

export function b64url(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

export function fromB64url(s: string): Uint8Array {
  const bin = atob(s.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (s.length % 4)) % 4));
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}

/** The did:ethr of a secp256k1 key on chain `chainId` (the account is the last 20 bytes of the key's keccak hash). */
export function ethrDidOf(privateKeyHex: string, chainId: number): string {
  const pub = secp256k1.getPublicKey(hexToBytes(privateKeyHex.replace(/^0x/, '')), false);
  const address = bytesToHex(keccak_256(pub.slice(1)).slice(-20));
  return `did:ethr:0x${chainId.toString(16)}:0x${address}`;
}

/** A fresh holder key and its DID. */
export function newHolder(chainId: number): HolderKey {
  const privateKey = `0x${bytesToHex(secp256k1.utils.randomPrivateKey())}`;
  return { did: ethrDidOf(privateKey, chainId), privateKey, credentials: [], createdAt: new Date().toISOString() };
}

/** An ES256K JWT (64-byte r||s signature over the SHA-256 of the signing input, low S), as did-jwt makes them. */
export function signJwt(
  holder: Pick<HolderKey, 'did' | 'privateKey'>,
  payload: Record<string, unknown>,
  typ = 'JWT',
): string {
  const header = b64url(enc.encode(JSON.stringify({ alg: 'ES256K', typ })));
  const body = b64url(enc.encode(JSON.stringify({ iat: Math.floor(Date.now() / 1000), ...payload, iss: holder.did })));
  const input = `${header}.${body}`;
  const sig = secp256k1.sign(sha256(enc.encode(input)), hexToBytes(holder.privateKey.replace(/^0x/, '')), {
    lowS: true,
  });
  return `${input}.${b64url(sig.toCompactRawBytes())}`;
}

/** A compact ES256K JWS with the header and payload as given (no `iss` added): OpenID4VCI proofs. */
export function signJws(
  holder: Pick<HolderKey, 'privateKey'>,
  header: Record<string, unknown>,
  payload: Record<string, unknown>,
): string {
  const input = `${b64url(enc.encode(JSON.stringify({ alg: 'ES256K', ...header })))}.${b64url(enc.encode(JSON.stringify(payload)))}`;
  const sig = secp256k1.sign(sha256(enc.encode(input)), hexToBytes(holder.privateKey.replace(/^0x/, '')), {
    lowS: true,
  });
  return `${input}.${b64url(sig.toCompactRawBytes())}`;
}

/** The payload of a JWT, unverified (for showing what a credential says; the server verifies). */
export function jwtPayload(jwt: string): Record<string, unknown> | undefined {
  try {
    const part = jwt.split('.')[1];
    if (!part) return undefined;
    const v = JSON.parse(new TextDecoder().decode(fromB64url(part)));
    return typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** What a credential JWT says about itself: types (without VerifiableCredential), claims, expiry, id. */
export function describeCredential(jwt: string): {
  id?: string;
  types: string[];
  claims: Record<string, unknown>;
  issuer?: string;
  expiresAt?: number;
} {
  const p = jwtPayload(jwt) ?? {};
  const vc = (p.vc ?? {}) as { type?: unknown; credentialSubject?: Record<string, unknown> };
  const types = (Array.isArray(vc.type) ? vc.type : []).filter(
    (t): t is string => typeof t === 'string' && t !== 'VerifiableCredential',
  );
  const { id: _id, ...claims } = vc.credentialSubject ?? {};
  return {
    ...(typeof p.jti === 'string' ? { id: p.jti } : {}),
    types,
    claims,
    ...(typeof p.iss === 'string' ? { issuer: p.iss } : {}),
    ...(typeof p.exp === 'number' ? { expiresAt: p.exp } : {}),
  };
}

// Wallet at rest: AES-256-GCM under a key derived from the passphrase with PBKDF2-SHA-256; only the DID is clear.
const PBKDF2_ITERATIONS = 310_000;

export interface SealedWallet {
  v: 1;
  did: string;
  kdf: { name: 'PBKDF2'; hash: 'SHA-256'; iterations: number; salt: string };
  iv: string;
  ciphertext: string;
}

async function derive(passphrase: string, salt: Uint8Array, iterations: number): Promise<CryptoKey> {
  const base = await crypto.subtle.importKey('raw', enc.encode(passphrase), 'PBKDF2', false, ['deriveKey']);
  return crypto.subtle.deriveKey(
    { name: 'PBKDF2', hash: 'SHA-256', salt: salt as BufferSource, iterations },
    base,
    { name: 'AES-GCM', length: 256 },
    false,
    ['encrypt', 'decrypt'],
  );
}

export async function seal(holder: HolderKey, passphrase: string): Promise<SealedWallet> {
  const salt = crypto.getRandomValues(new Uint8Array(16));
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const key = await derive(passphrase, salt, PBKDF2_ITERATIONS);
  const ct = await crypto.subtle.encrypt(
    { name: 'AES-GCM', iv: iv as BufferSource, additionalData: enc.encode(holder.did) as BufferSource },
    key,
    enc.encode(JSON.stringify(holder)) as BufferSource,
  );
  return {
    v: 1,
    did: holder.did,
    kdf: { name: 'PBKDF2', hash: 'SHA-256', iterations: PBKDF2_ITERATIONS, salt: b64url(salt) },
    iv: b64url(iv),
    ciphertext: b64url(new Uint8Array(ct)),
  };
}

/** The wallet, or undefined when the passphrase is wrong (AES-GCM's tag does not verify). */
export async function unseal(sealed: SealedWallet, passphrase: string): Promise<HolderKey | undefined> {
  const key = await derive(passphrase, fromB64url(sealed.kdf.salt), sealed.kdf.iterations);
  try {
    const pt = await crypto.subtle.decrypt(
      {
        name: 'AES-GCM',
        iv: fromB64url(sealed.iv) as BufferSource,
        additionalData: enc.encode(sealed.did) as BufferSource,
      },
      key,
      fromB64url(sealed.ciphertext) as BufferSource,
    );
    return JSON.parse(new TextDecoder().decode(pt)) as HolderKey;
  } catch {
    return undefined;
  }
}

/** Check an imported wallet file: a did:ethr whose key is the private key given. */
export function checkHolderFile(raw: unknown): HolderKey | string {
  const o = raw as Partial<HolderKey> | null;
  if (typeof o !== 'object' || o === null) return 'the file is not a JSON object';
  if (typeof o.did !== 'string' || !/^did:ethr:(0x[0-9a-f]+:)?0x[0-9a-fA-F]{40}$/.test(o.did))
    return 'the file has no did:ethr';
  if (typeof o.privateKey !== 'string' || !/^(0x)?[0-9a-fA-F]{64}$/.test(o.privateKey))
    return 'the file has no secp256k1 private key';
  if (!Array.isArray(o.credentials) || !o.credentials.every((c) => typeof c === 'string'))
    return 'the file has no credential list';
  const chain = /^did:ethr:(0x[0-9a-f]+):/.exec(o.did)?.[1];
  const derived = ethrDidOf(o.privateKey, chain ? Number.parseInt(chain, 16) : 1);
  if (derived.split(':').pop() !== o.did.split(':').pop()?.toLowerCase()) return 'the key is not the DID’s key';
  return {
    did: o.did,
    privateKey: o.privateKey,
    credentials: o.credentials,
    ...(o.createdAt ? { createdAt: o.createdAt } : {}),
  };
}
