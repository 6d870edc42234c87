/**
 * A holder built only from the standard libraries' wallet-side functions (the OpenWallet Foundation's
 * @openid4vc/openid4vci, @openid4vc/openid4vp and @openid4vc/oauth2, @sd-jwt/sd-jwt-vc, did-jwt-vc, jose, ethers,
 * ethr-did-resolver), with no Tessera wallet code: what a standard wallet does against Tessera's issuer and verifier.
 */
import { createHash, generateKeyPairSync, type JsonWebKey, randomBytes, sign as cryptoSign } from 'node:crypto';
import { type CallbackContext, type Jwk, type JwtSigner, setGlobalConfig } from '@openid4vc/oauth2';
import { Openid4vciClient } from '@openid4vc/openid4vci';
import { Openid4vpClient } from '@openid4vc/openid4vp';
import { SDJwtVcInstance } from '@sd-jwt/sd-jwt-vc';
import { createVerifiablePresentationJwt } from 'did-jwt-vc';
import { Resolver } from 'did-resolver';
import { getResolver } from 'ethr-did-resolver';
import { SigningKey, Wallet, computeAddress, getBytes } from 'ethers';
import { CompactEncrypt, importJWK } from 'jose';

// The stack runs on http://127.0.0.1 in tests; a production wallet keeps the libraries' https-only default.
setGlobalConfig({ allowInsecureUrls: true });

const b64 = (b: Uint8Array | Buffer | string) => Buffer.from(b).toString('base64url');

export interface LibraryHolder {
  did: string;
  kid: string;
  callbacks: CallbackContext;
  vci: Openid4vciClient;
  vp: Openid4vpClient;
  /** A DPoP key (P-256) for the issuer's DPoP-bound tokens. */
  dpop: { signer: { method: 'jwk'; alg: string; publicJwk: Jwk } };
  signDid(input: string): string;
}

/** secp256k1 public key (SEC1 uncompressed) → JWK. */
function secpJwk(publicKey: string): Jwk {
  const bytes = getBytes(publicKey);
  return { kty: 'EC', crv: 'secp256k1', x: b64(bytes.slice(1, 33)), y: b64(bytes.slice(33, 65)) } as Jwk;
}

export function libraryHolder(o: { chainId: number; rpcUrl: string; registry: string }): LibraryHolder {
  const wallet = Wallet.createRandom();
  const key = new SigningKey(wallet.privateKey);
  const did = `did:ethr:0x${o.chainId.toString(16)}:${wallet.address.toLowerCase()}`;
  const kid = `${did}#controller`;
  const resolver = new Resolver(
    getResolver({
      networks: [{ chainId: o.chainId, rpcUrl: o.rpcUrl, registry: o.registry }],
    }),
  );
  const dpopKeys = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const dpopPublic = dpopKeys.publicKey.export({ format: 'jwk' }) as Jwk;

  const signDid = (input: string) => {
    const s = key.sign(createHash('sha256').update(input).digest());
    return b64(Buffer.concat([getBytes(s.r), getBytes(s.s)]));
  };

  const callbacks: CallbackContext = {
    fetch,
    hash: (data, alg) => {
      if (alg !== 'sha-256') throw new Error(`hash ${alg}`);
      return new Uint8Array(createHash('sha256').update(data).digest());
    },
    generateRandom: (n) => new Uint8Array(randomBytes(n)),
    clientAuthentication: () => {},
    signJwt: async (signer: JwtSigner, jwt) => {
      const header = { ...jwt.header };
      const input = `${b64(JSON.stringify(header))}.${b64(JSON.stringify(jwt.payload))}`;
      if (signer.method === 'jwk') {
        const sig = cryptoSign('sha256', Buffer.from(input), { key: dpopKeys.privateKey, dsaEncoding: 'ieee-p1363' });
        return { jwt: `${input}.${b64(sig)}`, signerJwk: signer.publicJwk };
      }
      return { jwt: `${input}.${signDid(input)}`, signerJwk: secpJwk(key.publicKey) };
    },
    verifyJwt: async (signer, jwt) => {
      // The verifier's request object: signed by a key of the DID in its client id, resolved on chain.
      if (signer.method !== 'did') return { verified: false };
      try {
        const did = signer.didUrl.split('#')[0]!;
        const doc = (await resolver.resolve(did)).didDocument;
        const accounts = (doc?.verificationMethod ?? [])
          .filter((m) => (doc?.assertionMethod ?? []).some((a) => (typeof a === 'string' ? a : a.id) === m.id))
          .map((m) => m.blockchainAccountId?.split(':').pop()?.toLowerCase())
          .filter((a): a is string => a !== undefined);
        // The signer's public key, recovered from the signature (did:ethr documents carry only the address).
        const [h, p, s] = jwt.compact.split('.') as [string, string, string];
        const digest = createHash('sha256').update(`${h}.${p}`).digest();
        const sig = Buffer.from(s, 'base64url');
        for (const v of [27, 28]) {
          const pub = SigningKey.recoverPublicKey(digest, {
            r: `0x${sig.subarray(0, 32).toString('hex')}`,
            s: `0x${sig.subarray(32).toString('hex')}`,
            v,
          });
          if (accounts.includes(computeAddress(pub).toLowerCase())) return { verified: true, signerJwk: secpJwk(pub) };
        }
        return { verified: false };
      } catch {
        return { verified: false };
      }
    },
    encryptJwe: async (encryptor, data) => {
      const jwk = encryptor.publicJwk as JsonWebKey;
      const keyLike = await importJWK(jwk as never, 'ECDH-ES');
      const jwe = await new CompactEncrypt(new TextEncoder().encode(data))
        .setProtectedHeader({ alg: 'ECDH-ES', enc: encryptor.enc, ...(encryptor.kid ? { kid: encryptor.kid } : {}) })
        .encrypt(keyLike);
      return { jwe, encryptionJwk: encryptor.publicJwk };
    },
    decryptJwe: async () => {
      throw new Error('not used');
    },
  };

  return {
    did,
    kid,
    callbacks,
    vci: new Openid4vciClient({ callbacks }),
    vp: new Openid4vpClient({ callbacks }),
    dpop: { signer: { method: 'jwk', alg: 'ES256', publicJwk: dpopPublic } },
    signDid,
  };
}

/** An SD-JWT presentation of `claims` only, with a key binding JWT for the verifier's nonce and client id. */
export async function presentSdJwt(
  holder: LibraryHolder,
  credential: string,
  claims: string[],
  kb: { nonce: string; aud: string; transaction_data_hashes?: string[] },
): Promise<string> {
  const sdjwt = new SDJwtVcInstance({
    hasher: (data, alg) => {
      if (alg !== 'sha-256') throw new Error(`hash ${alg}`);
      return new Uint8Array(
        createHash('sha256')
          .update(typeof data === 'string' ? data : Buffer.from(data))
          .digest(),
      );
    },
    kbSigner: (input: string) => holder.signDid(input),
    kbSignAlg: 'ES256K',
  });
  const frame = Object.fromEntries(claims.map((c) => [c, true]));
  return sdjwt.present(credential, frame as never, {
    kb: {
      payload: {
        iat: Math.floor(Date.now() / 1000),
        aud: kb.aud,
        nonce: kb.nonce,
        ...(kb.transaction_data_hashes
          ? { transaction_data_hashes: kb.transaction_data_hashes, transaction_data_hashes_alg: 'sha-256' }
          : {}),
      } as never,
    },
  });
}

/** A JWT VP (did-jwt-vc) of `credential` for the verifier's nonce and client id. */
export async function presentJwtVc(holder: LibraryHolder, credential: string, kb: { nonce: string; aud: string }) {
  return createVerifiablePresentationJwt(
    {
      vp: {
        '@context': ['https://www.w3.org/2018/credentials/v1'],
        type: ['VerifiablePresentation'],
        verifiableCredential: [credential],
      },
      nonce: kb.nonce,
      aud: kb.aud,
    } as never,
    {
      did: holder.did,
      signer: async (data) => holder.signDid(typeof data === 'string' ? data : Buffer.from(data).toString()),
      alg: 'ES256K',
    },
  );
}
