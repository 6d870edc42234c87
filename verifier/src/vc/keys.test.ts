import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'node:test';
import { createJWT, EdDSASigner, ES256KSigner } from 'did-jwt';
import type { DIDDocument } from 'did-resolver';
import { encodeBase58, Wallet } from 'ethers';
import { parseJwt } from './jwt.js';
import { SignatureVerifier } from './keys.js';

const DID = 'did:example:holder';

async function token(alg: 'ES256K' | 'ES256K-R' | 'EdDSA', signer: Parameters<typeof createJWT>[1]['signer']) {
  const jwt = await createJWT({ hello: 'world' }, { issuer: DID, signer }, { alg });
  const parsed = parseJwt(jwt);
  assert.ok(parsed.ok);
  return parsed.value;
}

const secp = () => {
  const w = new Wallet(Wallet.createRandom().privateKey);
  return { w, signer: ES256KSigner(Buffer.from(w.privateKey.slice(2), 'hex')) };
};
const ed = () => {
  const k = generateKeyPairSync('ed25519');
  const jwk = k.privateKey.export({ format: 'jwk' });
  return { x: jwk.x!, signer: EdDSASigner(Buffer.from(jwk.d!, 'base64url')) };
};

describe('SignatureVerifier: keys from DID documents (DID Core §5)', () => {
  it('reads secp256k1 and Ed25519 keys as JWK, hex, base58 and base64, by relative or absolute reference', async () => {
    const a = secp();
    const b = secp();
    const c = ed();
    const d = ed();
    const doc: DIDDocument = {
      id: DID,
      verificationMethod: [
        {
          id: '#jwk-secp',
          type: 'JsonWebKey2020',
          controller: DID,
          publicKeyJwk: {
            kty: 'EC',
            crv: 'secp256k1',
            x: Buffer.from(a.w.signingKey.publicKey.slice(4, 68), 'hex').toString('base64url'),
            y: Buffer.from(a.w.signingKey.publicKey.slice(68), 'hex').toString('base64url'),
          },
        },
        {
          id: `${DID}#hex-secp`,
          type: 'EcdsaSecp256k1VerificationKey2019',
          controller: DID,
          publicKeyHex: b.w.signingKey.publicKey.slice(2), // uncompressed 04…
        },
        {
          id: '#jwk-ed',
          type: 'JsonWebKey2020',
          controller: DID,
          publicKeyJwk: { kty: 'OKP', crv: 'Ed25519', x: c.x },
        },
        {
          id: '#b58-ed',
          type: 'Ed25519VerificationKey2018',
          controller: DID,
          publicKeyBase58: encodeBase58(Buffer.from(d.x, 'base64url')),
        },
      ],
      assertionMethod: ['#jwk-secp', `${DID}#hex-secp`, `${DID}#jwk-ed`, '#b58-ed'],
    };
    const v = new SignatureVerifier();
    assert.ok(v.verify(await token('ES256K', a.signer), doc, 'assertionMethod'), 'secp256k1 JWK');
    assert.ok(v.verify(await token('ES256K', b.signer), doc, 'assertionMethod'), 'secp256k1 hex');
    assert.ok(v.verify(await token('EdDSA', c.signer), doc, 'assertionMethod'), 'Ed25519 JWK');
    assert.ok(v.verify(await token('EdDSA', d.signer), doc, 'assertionMethod'), 'Ed25519 base58');
    assert.equal(v.stats.recoveries, 0);
    // a key of the other curve never verifies, whatever the header says
    assert.ok(!v.verify(await token('EdDSA', c.signer), { ...doc, assertionMethod: ['#jwk-secp'] }, 'assertionMethod'));
  });

  it('keeps proof purposes apart: an authentication-only key does not sign credentials', async () => {
    const k = secp();
    const doc: DIDDocument = {
      id: DID,
      verificationMethod: [
        {
          id: '#auth',
          type: 'EcdsaSecp256k1VerificationKey2019',
          controller: DID,
          publicKeyHex: k.w.signingKey.compressedPublicKey.slice(2),
        },
      ],
      authentication: ['#auth'],
      assertionMethod: [],
    };
    const v = new SignatureVerifier();
    const t = await token('ES256K', k.signer);
    assert.ok(v.verify(t, doc, 'authentication'));
    assert.ok(!v.verify(t, doc, 'assertionMethod'));
  });

  it('recovers an address-only key (ES256K and ES256K-R) once, and refuses other signers and high-s twins', async () => {
    const k = secp();
    const other = secp();
    const doc: DIDDocument = {
      id: DID,
      verificationMethod: [
        {
          id: '#controller',
          type: 'EcdsaSecp256k1RecoveryMethod2020',
          controller: DID,
          blockchainAccountId: `eip155:31337:${k.w.address}`,
        },
      ],
      assertionMethod: [
        {
          id: '#embedded',
          type: 'EcdsaSecp256k1RecoveryMethod2020',
          controller: DID,
          blockchainAccountId: `${other.w.address}@eip155:1`,
        },
        '#controller',
      ],
    };
    const v = new SignatureVerifier();
    assert.ok(v.verify(await token('ES256K', k.signer), doc, 'assertionMethod'));
    const recoveries = v.stats.recoveries;
    assert.ok(recoveries >= 1);
    assert.ok(v.verify(await token('ES256K', k.signer), doc, 'assertionMethod'));
    assert.equal(v.stats.recoveries, recoveries, 'the recovered key is reused');
    assert.ok(
      v.verify(
        await token('ES256K-R', ES256KSigner(Buffer.from(k.w.privateKey.slice(2), 'hex'), true)),
        doc,
        'assertionMethod',
      ),
    );
    assert.ok(v.verify(await token('ES256K', other.signer), doc, 'assertionMethod'), 'embedded legacy-form account');
    assert.ok(!v.verify(await token('ES256K', secp().signer), doc, 'assertionMethod'), 'a stranger');

    // s' = n - s is a valid signature too (ECDSA malleability); only the low-s form is accepted
    const t = await token('ES256K', k.signer);
    const n = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
    const s = BigInt(`0x${t.signature.subarray(32).toString('hex')}`);
    const high = Buffer.concat([
      t.signature.subarray(0, 32),
      Buffer.from((n - s).toString(16).padStart(64, '0'), 'hex'),
    ]);
    assert.ok(!v.verify({ ...t, raw: `${t.raw}x`, signature: high }, doc, 'assertionMethod'));
  });

  it('libsecp256k1 and OpenSSL agree: valid, tampered, wrong key, high-s, r or s out of range, zero', async () => {
    const k = secp();
    const stranger = secp();
    const doc = (hex: string): DIDDocument => ({
      id: DID,
      verificationMethod: [{ id: '#k', type: 'EcdsaSecp256k1VerificationKey2019', controller: DID, publicKeyHex: hex }],
      authentication: ['#k'],
    });
    const mine = doc(k.w.signingKey.compressedPublicKey.slice(2));
    const theirs = doc(stranger.w.signingKey.publicKey.slice(2));
    const t = await token('ES256K', k.signer);
    const n = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
    const hex32 = (x: bigint) => Buffer.from(x.toString(16).padStart(64, '0'), 'hex');
    const r = t.signature.subarray(0, 32);
    const s = BigInt(`0x${t.signature.subarray(32).toString('hex')}`);
    const variants: [string, typeof t, DIDDocument, boolean][] = [
      ['valid', t, mine, true],
      ['another key', t, theirs, false],
      ['tampered payload', { ...t, signingInput: `${t.signingInput}A` }, mine, false],
      ['high-s twin', { ...t, signature: Buffer.concat([r, hex32(n - s)]) }, mine, false],
      ['r = n', { ...t, signature: Buffer.concat([hex32(n), hex32(s)]) }, mine, false],
      [
        'r = r + n',
        { ...t, signature: Buffer.concat([hex32(BigInt(`0x${r.toString('hex')}`) + n), hex32(s)]) },
        mine,
        false,
      ],
      ['r = 0', { ...t, signature: Buffer.concat([hex32(0n), hex32(s)]) }, mine, false],
      ['s = 0', { ...t, signature: Buffer.concat([r, hex32(0n)]) }, mine, false],
    ];
    const native = new SignatureVerifier();
    const openssl = new SignatureVerifier({ engine: 'openssl' });
    assert.equal(openssl.stats.engine, 'openssl');
    for (const [what, jwt, d, expected] of variants) {
      // distinct raw strings, so no remembered verdict answers for another variant
      const fresh = { ...jwt, raw: `${jwt.raw}#${what}` };
      assert.equal(openssl.verify(fresh, d, 'authentication'), expected, `openssl: ${what}`);
      assert.equal(native.verify(fresh, d, 'authentication'), expected, `${native.stats.engine}: ${what}`);
    }
  });
});
