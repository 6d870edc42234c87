import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { ES256KSigner } from 'did-jwt';
import { SigningKey, Wallet } from 'ethers';
import { libsecp256k1 } from '@tessera/runtime';
import { HandshakeSignatureChecker, nodeES256KSigner } from './crypto.js';

const N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
const wallet = Wallet.createRandom();
const other = Wallet.createRandom();
const transcript = new TextEncoder().encode('tessera handshake transcript v1|device|nonce|fingerprint');
const digest = new Uint8Array(createHash('sha256').update(transcript).digest());

/** r | s | v over the digest, as a device signs its handshake response (ES256K-R). */
function sign(key: { privateKey: string }, d = digest): Buffer {
  const sig = new SigningKey(key.privateKey).sign(d);
  return Buffer.concat([Buffer.from(sig.r.slice(2), 'hex'), Buffer.from(sig.s.slice(2), 'hex'), Buffer.from([sig.v])]);
}

const engines = libsecp256k1 ? (['auto', 'openssl'] as const) : (['openssl'] as const);

describe('handshake signatures: libsecp256k1 and OpenSSL agree', () => {
  it(`libsecp256k1 ${libsecp256k1 ? 'loaded' : 'NOT loaded (OpenSSL only)'} on ${process.platform}-${process.arch}`, () => {
    assert.ok(true);
  });

  for (const engine of engines) {
    it(`${engine}: the signer among the authorised, fast path after the first, refusals`, () => {
      const checker = new HandshakeSignatureChecker({ engine });
      const me = new Set([wallet.address.toLowerCase()]);
      const sig = sign(wallet).toString('base64url');
      assert.equal(checker.signerAmong(transcript, digest, sig, me), wallet.address.toLowerCase());
      assert.equal(checker.stats.recoveries, 1);
      assert.equal(checker.signerAmong(transcript, digest, sig, me), wallet.address.toLowerCase());
      assert.equal(checker.stats.fast, 1);
      // another key's signature, a signature over something else, not authorised
      assert.equal(checker.signerAmong(transcript, digest, sign(other).toString('base64url'), me), undefined);
      const elsewhere = new Uint8Array(createHash('sha256').update('another transcript').digest());
      assert.equal(
        checker.signerAmong(transcript, digest, sign(wallet, elsewhere).toString('base64url'), me),
        undefined,
      );
      assert.equal(checker.signerAmong(transcript, digest, sig, new Set([other.address.toLowerCase()])), undefined);
      // the high-s twin, s = 0, r ≥ n, a wrong recovery id and a short signature are refused
      const raw = sign(wallet);
      const s = BigInt(`0x${raw.subarray(32, 64).toString('hex')}`);
      const high = Buffer.from(raw);
      high.set(Buffer.from((N - s).toString(16).padStart(64, '0'), 'hex'), 32);
      high[64] = high[64] === 27 ? 28 : 27;
      assert.equal(checker.signerAmong(transcript, digest, high.toString('base64url'), me), undefined);
      const zero = Buffer.from(raw);
      zero.fill(0, 32, 64);
      assert.equal(checker.signerAmong(transcript, digest, zero.toString('base64url'), me), undefined);
      const bigR = Buffer.from(raw);
      bigR.fill(0xff, 0, 32);
      assert.equal(
        new HandshakeSignatureChecker({ engine }).signerAmong(transcript, digest, bigR.toString('base64url'), me),
        undefined,
      );
      const badV = Buffer.from(raw);
      badV[64] = 31;
      assert.equal(checker.signerAmong(transcript, digest, badV.toString('base64url'), me), undefined);
      assert.equal(checker.signerAmong(transcript, digest, raw.subarray(0, 64).toString('base64url'), me), undefined);
    });

    it(`${engine}: session credentials signed low-s and deterministic where libsecp256k1 signs (RFC 6979)`, async () => {
      const signer = nodeES256KSigner(wallet.privateKey, engine);
      const sig = Buffer.from(String(await signer('header.payload')), 'base64url');
      assert.equal(sig.length, 64);
      assert.ok(BigInt(`0x${sig.subarray(32).toString('hex')}`) <= N >> 1n, 'low s');
      // the signature verifies under the key (through the checker's recovery with either parity)
      const d = new Uint8Array(createHash('sha256').update('header.payload').digest());
      const ok = [0, 1].some(
        (v) =>
          new HandshakeSignatureChecker({ engine: 'openssl' }).signerAmong(
            Buffer.from('header.payload'),
            d,
            Buffer.concat([sig, Buffer.from([27 + v])]).toString('base64url'),
            new Set([wallet.address.toLowerCase()]),
          ) !== undefined,
      );
      assert.ok(ok, 'verifies under the signing key');
      if (engine === 'auto' && libsecp256k1) {
        // did-jwt's own ES256K signer is RFC 6979 too: the same bytes
        assert.equal(
          String(await signer('header.payload')),
          String(await ES256KSigner(Buffer.from(wallet.privateKey.slice(2), 'hex'))('header.payload')),
        );
      }
    });
  }
});
