import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeWhiteflag, encodeWhiteflag, fromHex, toHex } from './codec.js';
import {
  AUTH_TOKEN_SALT,
  authTokenMatches,
  authVerificationData,
  decryptWhiteflag,
  ecdhKeyPair,
  ecdhSharedSecret,
  ENCRYPTION_SALTS,
  encryptionKey,
  encryptWhiteflag,
  evmAddressBytes,
  newInitVector,
  whiteflagHkdf,
} from './crypto.js';
import { WHITEFLAG_EXAMPLES } from './examples.js';
import { flattenJws, parseStatement } from './statement.js';

// Test vectors, each from the repository, path and commit named beside it (facts only; no code was taken).
const STANDARD =
  'WhiteflagProtocol/whiteflag-standard WhiteflagSpecification.md §5.2.3 @ 93df0a1cd9b5a6520e5abd09c460d7f2ac023c54';
const JS_HASH = 'WhiteflagProtocol/whiteflag-js test/crypto/hash.json @ 58f47e3c1a560c02bf2a6d03e1286bf67aeb2baf';
const JS_CIPHER = 'WhiteflagProtocol/whiteflag-js test/crypto/cipher.json @ 58f47e3c1a560c02bf2a6d03e1286bf67aeb2baf';
const JS_MESSAGE =
  'WhiteflagProtocol/whiteflag-js test/core/message.json #5 @ 58f47e3c1a560c02bf2a6d03e1286bf67aeb2baf';
const JAVA_TOKEN =
  'WhiteflagProtocol/whiteflag-java src/test/java/org/whiteflagprotocol/java/crypto/WfAuthTokenTest.java @ 6dda6dd5fc104400caa52592715df1debff5f9f6';
const JAVA_CIPHER =
  'WhiteflagProtocol/whiteflag-java src/test/java/org/whiteflagprotocol/java/crypto/WfCipherTest.java @ 6dda6dd5fc104400caa52592715df1debff5f9f6';
const JS_JWS =
  'WhiteflagProtocol/whiteflag-js test/util/static/jws.json (branch rel/1.1.0) @ 3dcd3863562c363dcb9834c6363ee5e3951e6c28';
const RFC7027 = 'RFC 7027 Appendix A.1 (brainpoolP256r1), the curve the standard names in §5.2.2';

const hex = (s: string) => Buffer.from(s, 'hex');

describe('HKDF-SHA256 (RFC 5869), the derivation of every Whiteflag token and key', () => {
  // [JS_HASH] #6 and #8: RFC 5869 A.1 and A.3
  it(`RFC 5869 A.1 and A.3 [${JS_HASH}]`, () => {
    assert.equal(
      whiteflagHkdf(hex('0b'.repeat(22)), hex('000102030405060708090a0b0c'), hex('f0f1f2f3f4f5f6f7f8f9'), 42).toString(
        'hex',
      ),
      '3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865',
    );
    assert.equal(
      whiteflagHkdf(hex('0b'.repeat(22)), Buffer.alloc(0), Buffer.alloc(0), 42).toString('hex'),
      '8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8',
    );
  });

  it(`uses the salts of the standard [${STANDARD}]`, () => {
    assert.equal(AUTH_TOKEN_SALT.toString('hex'), '420abc48f5d69328c457d61725d3fd7af2883cad8460976167e375b9f2c14081');
    assert.equal(
      ENCRYPTION_SALTS['1'].toString('hex'),
      '8ddb03085a2c15e69c35c224bce2952dca7878770724741cbce5a135328be0c0',
    );
    assert.equal(
      ENCRYPTION_SALTS['2'].toString('hex'),
      'c4d028bd45c876135e80ef7889835822a6f19a31835557d5854d1334e8497b56',
    );
  });
});

describe('authentication method 2: token verification data (§5.1.2.2, §5.2.3)', () => {
  it(`derives the verification data of the reference token [${JAVA_TOKEN}]`, () => {
    const secret = hex('000102030405060708090a0b0c');
    const address = hex('6fdb25dc394d5a437d88f15b459406ac6db8b386a49dbfc38c');
    // the vector's secret is 13 bytes, below the 16 the standard asks for, so it goes through the raw derivation
    assert.equal(
      whiteflagHkdf(secret, AUTH_TOKEN_SALT, address).toString('hex'),
      'a951cb35881ee7f78b05f8476a2193de4556455d48ffcfebcfc8938f4a37a70f',
    );
    assert.equal(authVerificationData(secret, address).ok, false, 'our API refuses secrets under 16 bytes');
  });

  it('matches a token for its own address only, in constant time', () => {
    const secret = hex('11'.repeat(32));
    const a = evmAddressBytes('0x00000000000000000000000000000000000000aa');
    const b = evmAddressBytes('0x00000000000000000000000000000000000000bb');
    assert.ok(a.ok && b.ok);
    const data = authVerificationData(secret, a.value);
    assert.ok(data.ok);
    assert.ok(authTokenMatches(data.value, secret, a.value));
    assert.ok(!authTokenMatches(data.value, secret, b.value));
    assert.ok(!authTokenMatches(data.value, hex('22'.repeat(32)), a.value));
    assert.ok(!authTokenMatches('zz', secret, a.value));
  });
});

describe('encryption methods 1 and 2: AES-256-CTR from bit 32 (§5.2.4)', () => {
  it(`passes NIST SP 800-38A F.5.5 behind the 4 clear bytes [${JS_CIPHER}]`, () => {
    const plain = hex(
      '57463132' +
        '6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e5130c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710',
    );
    const key = hex('603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4');
    const iv = hex('f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff');
    const c = encryptWhiteflag(plain, key, iv);
    assert.ok(c.ok);
    assert.equal(
      toHex(c.value),
      '57463132' +
        '601ec313775789a5b7a7f504bbf3d228f443e3ca4d62b59aca84e990cacaf5c52b0930daa23de94ce87017ba2d84988ddfc9c58db67aada613c2dd08457941a6',
    );
    const p = decryptWhiteflag(c.value, key, iv);
    assert.ok(p.ok);
    assert.deepEqual(Buffer.from(p.value), plain);
  });

  it(`encrypts the reference message with a pre-shared key [${JS_MESSAGE}] [${JAVA_CIPHER}]`, () => {
    const address = hex('007a0baf6f84f0fa7402ea972686e56d50b707c9b67b108866');
    const key = encryptionKey('2', hex('32676187ba7badda85ea63a69870a7133909f1999774abb2eed251073616a6e7'), address);
    assert.ok(key.ok);
    const plain = fromHex(
      '5746313223000000000088888889111111119999999a22222222aaaaaaab33333333bbbbbbbb0983098309830983118b118b118b118b1993199319931993219b219b219b219b29a329a329a329a331ab31ab31ab31a9b1b9b1b9b1b9b1b9c1c9c1c9c1c9c1c8',
    );
    assert.ok(plain.ok);
    const iv = hex('40aa85015d24e4601448c1ba8d7bf1aa');
    const c = encryptWhiteflag(plain.value, key.value, iv);
    assert.ok(c.ok);
    const expected =
      '574631326d7658e7d17479677a0de95076989fcd7825b709349b143f2b17644e5cb2c8ded5c7f18d77447cf9dc2115e0c1c81d717b57fadaeedf27bfef8926448ff666d3d9a65168827c94b393974ebbe6b7f0599e184bfd1ace3569117c23ae17c5640f2f2d';
    assert.equal(toHex(c.value), expected);
    const received = fromHex(expected);
    assert.ok(received.ok);
    const p = decryptWhiteflag(received.value, key.value, iv);
    assert.ok(p.ok);
    const m = decodeWhiteflag(p.value);
    assert.ok(m.ok);
    assert.equal(m.value.MessageBody['Text'], 'a0a0a0a0b1b1b1b1c2c2c2c2d3d3d3d3e4e4e4e4f5f5f5f56767676789898989');
  });

  it('a wrong key or initialisation vector does not give the message back', () => {
    const m = {
      ...WHITEFLAG_EXAMPLES.S,
      MessageHeader: { ...WHITEFLAG_EXAMPLES.S.MessageHeader, EncryptionIndicator: '2' },
    };
    const e = encodeWhiteflag(m);
    assert.ok(e.ok);
    const address = hex('00'.repeat(20));
    const k1 = encryptionKey('2', hex('01'.repeat(32)), address);
    const k2 = encryptionKey('2', hex('02'.repeat(32)), address);
    assert.ok(k1.ok && k2.ok);
    const iv = newInitVector();
    const c = encryptWhiteflag(e.value, k1.value, iv);
    assert.ok(c.ok);
    assert.notDeepEqual(Buffer.from(c.value), Buffer.from(e.value));
    const wrong = decryptWhiteflag(c.value, k2.value, iv);
    assert.ok(wrong.ok);
    assert.notDeepEqual(Buffer.from(wrong.value), Buffer.from(e.value));
    const other = decryptWhiteflag(c.value, k1.value, newInitVector());
    assert.ok(other.ok);
    assert.notDeepEqual(Buffer.from(other.value), Buffer.from(e.value));
  });

  it('refuses to encrypt what is not marked for method 1 or 2, short keys and short vectors', () => {
    const plain = encodeWhiteflag(WHITEFLAG_EXAMPLES.F);
    assert.ok(plain.ok);
    const key = Buffer.alloc(32, 1);
    assert.equal(encryptWhiteflag(plain.value, key, newInitVector()).ok, false);
    const marked = Uint8Array.from(plain.value);
    marked[3] = 0x32;
    assert.equal(encryptWhiteflag(marked, Buffer.alloc(16), newInitVector()).ok, false);
    assert.equal(encryptWhiteflag(marked, key, Buffer.alloc(8)).ok, false);
    assert.equal(encryptionKey('2', Buffer.alloc(8), Buffer.alloc(20)).ok, false);
  });
});

describe('ECDH on brainpoolP256r1 (§5.2.2)', () => {
  it(`computes the shared secret of the RFC test keys [${RFC7027}]`, () => {
    const a = ecdhKeyPair(hex('81DB1EE100150FF2EA338D708271BE38300CB54241D79950F77B063039804F1D'));
    const b = ecdhKeyPair(hex('55E40BC41E37E3E2AD25C3C6654511FFA8474A91A0032087593852D3E7D76BD3'));
    assert.ok(a.ok && b.ok);
    // the compressed form of qA (x_qA with an even y_qA)
    assert.equal(a.value.publicKey, '0244106e913f92bc02a1705d9953a8414db95e1aaa49e81d9e85f929a8e3100be5');
    const z1 = ecdhSharedSecret(a.value.privateKey, b.value.publicKey);
    const z2 = ecdhSharedSecret(b.value.privateKey, a.value.publicKey);
    assert.ok(z1.ok && z2.ok);
    assert.equal(z1.value.toString('hex'), '89afc39d41d3b327814b80940b042590f96556ec91e6ae7939bce31f3a18bf2b');
    assert.deepEqual(z1.value, z2.value);
  });

  it('negotiated keys encrypt and decrypt a message between two fresh key pairs (method 1)', () => {
    const a = ecdhKeyPair();
    const b = ecdhKeyPair();
    assert.ok(a.ok && b.ok);
    const sender = hex('1234567890abcdef1234567890abcdef12345678');
    const za = ecdhSharedSecret(a.value.privateKey, b.value.publicKey);
    const zb = ecdhSharedSecret(b.value.privateKey, a.value.publicKey);
    assert.ok(za.ok && zb.ok);
    const ka = encryptionKey('1', za.value, sender);
    const kb = encryptionKey('1', zb.value, sender);
    assert.ok(ka.ok && kb.ok);
    const m = {
      ...WHITEFLAG_EXAMPLES.Q,
      MessageHeader: { ...WHITEFLAG_EXAMPLES.Q.MessageHeader, EncryptionIndicator: '1' },
    };
    const e = encodeWhiteflag(m);
    assert.ok(e.ok);
    const iv = newInitVector();
    const c = encryptWhiteflag(e.value, ka.value, iv);
    assert.ok(c.ok);
    const p = decryptWhiteflag(c.value, kb.value, iv);
    assert.ok(p.ok);
    assert.deepEqual(decodeWhiteflag(p.value), { ok: true, value: m });
  });

  it('refuses a public key that is not a point of the curve', () => {
    const a = ecdhKeyPair();
    assert.ok(a.ok);
    assert.equal(ecdhSharedSecret(a.value.privateKey, `02${'ff'.repeat(32)}`).ok, false);
    assert.equal(ecdhSharedSecret(a.value.privateKey, 'nonsense').ok, false);
  });
});

describe('the signed statement of authentication method 1 (§5.1.2.1)', () => {
  it(`reads the flattened JWS of Annex C, and refuses its ES256 for an EVM account [${JS_JWS}]`, () => {
    const annexC = {
      protected: 'eyJhbGciOiJFUzI1NiJ9',
      payload:
        'eyJhZGRyIjoiMUM4S1NLNjhTSmpmRFNCeDlCcFN4M3FCM2JlUGYyM3I3NyIsIm9yZ25hbWUiOiJPcmdhbmlzYXRpb24gTmFtZSIsInVybCI6Imh0dHBzOi8vb3JnYW5pc2F0aW9uLmludC93aGl0ZWZsYWcifQ',
      signature: 'XWBRA1TrCxs8tpep1lLPcmpp9JlO_A0TJB5ULOROvadje3SgAsfkFEjE2DoHGpWJ_zNGlEPBtdUQo9MEypIp2Q',
    };
    const r = parseStatement(JSON.stringify(annexC));
    assert.equal(r.ok, false);
    assert.match(r.ok ? '' : r.error.message, /ES256.*refused/);
    const payload = JSON.parse(Buffer.from(annexC.payload, 'base64url').toString('utf8'));
    assert.deepEqual(payload, {
      addr: '1C8KSK68SJjfDSBx9BpSx3qB3bePf23r77',
      orgname: 'Organisation Name',
      url: 'https://organisation.int/whiteflag',
    });
  });

  it('reads an ES256K statement and refuses malformed ones', () => {
    const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const compact = `${b64({ alg: 'ES256K' })}.${b64({ addr: '0xabc', orgname: 'Grid ops', url: 'https://x/y', did: 'did:ethr:0x1:0xabc' })}.c2ln`;
    const ok = parseStatement(JSON.stringify(flattenJws(compact)));
    assert.ok(ok.ok);
    assert.equal(ok.value.compact, compact);
    assert.equal(ok.value.payload.orgname, 'Grid ops');
    for (const bad of [
      'not json',
      '[]',
      JSON.stringify({ protected: 'a', payload: 'b' }),
      JSON.stringify(flattenJws(`${b64({ alg: 'none' })}.${b64({ addr: 'a', orgname: 'b', url: 'c' })}.x`)),
      JSON.stringify(flattenJws(`${b64({ alg: 'ES256K' })}.${b64({ addr: 'a', url: 'c' })}.x`)),
      JSON.stringify(
        flattenJws(`${b64({ alg: 'ES256K' })}.${b64({ addr: 'a', orgname: 'b', url: 'c', did: 'nope' })}.x`),
      ),
      `{"protected":"${'a'.repeat(9000)}"}`,
    ])
      assert.equal(parseStatement(bad).ok, false, bad.slice(0, 60));
  });
});
