import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  deriveBrokerPassword,
  deriveSessionPassword,
  deviceFingerprint,
  deviceIdOf,
  HANDSHAKE_VERSION,
  type HandshakeChallenge,
  ocraServerProof,
  HANDSHAKE_SUITE,
  transcriptDigest,
} from '@tessera/protocol';
import { libsecp256k1 } from '@tessera/runtime';
import { computeAddress, recoverAddress, Signature, SigningKey, Wallet } from 'ethers';
import { backoffDelay } from './agent.js';
import { answerChallenge, createHello, type DeviceIdentity, deviceTranscript, signDigest } from './initiator.js';

// The pinned vector of protocol/src/device.test.ts, extended with the broker password and the DID-key signature
// (docs/protocol.md "Test vectors"; the password cross-checked with Python's hmac module).
const key = Buffer.from('000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f', 'hex');
const deviceId = deviceIdOf('0x00000000000000000000000000000000000000aa', 'SN-000123');
const fp = deviceFingerprint({
  model: 'SMGW-1000',
  serial: 'SN-000123',
  hardwareRevision: 'r2',
  firmwareHash: 'ab'.repeat(32),
  mac: '00:1A:2b:3c:4D:5e',
});
assert.ok(fp.ok);
const privateKey = `0x${'11'.repeat(32)}`;
const id: DeviceIdentity = {
  deviceId,
  did: 'did:ethr:0x7a69:0x00000000000000000000000000000000000000bb',
  secret: key,
  privateKey,
  fingerprint: fp.value,
};
const hello = createHello(id, 'c0'.repeat(32));
const challenge: HandshakeChallenge = {
  type: 'challenge',
  v: HANDSHAKE_VERSION,
  sessionId: '00112233445566778899aabbccddeeff',
  serverNonce: '5e'.repeat(32),
  serverProof: '14242415',
  expiresAt: 1_800_000_000_000,
};

describe('handshake initiator', () => {
  it('answers the pinned vector: RC, the ES256K-R signature and the broker password', () => {
    const a = answerChallenge(id, hello, challenge);
    assert.ok(a.ok);
    assert.equal(a.value.response.ocra, '27172683');
    assert.equal(
      transcriptDigest(a.value.transcript).toString('hex'),
      'bf7bb31d33337f9b891239b02addf1667957245d84f46da10284dae965523751',
    );
    assert.equal(
      a.value.response.signature,
      'S_SMbBdPd-wKe9llzTLADs1a2sDgzF8vRRgB6ym8SUslqeW8l99PRTTklH40RBbE_74S2r-wXmo_WuuDrQmftwA',
    );
    assert.equal(deriveBrokerPassword(key), 'TnQiK-2003ARr_51bunJ44UgjirDFQd9CVfwoD2W6zc');
    assert.equal(deriveSessionPassword(key, challenge.sessionId), '-yLChTSocEWa789m9hp60_a8KOL8XZKf5HFXu92VCbs');
    // the signature recovers the device key's address
    const raw = Buffer.from(a.value.response.signature, 'base64url');
    const sig = Signature.from({
      r: `0x${raw.subarray(0, 32).toString('hex')}`,
      s: `0x${raw.subarray(32, 64).toString('hex')}`,
      v: 27 + raw[64]!,
    });
    const digest = transcriptDigest(a.value.transcript);
    assert.equal(computeAddress(SigningKey.recoverPublicKey(digest, sig)), computeAddress(privateKey));
  });

  it('refuses to answer a server whose proof does not verify (rogue server), whatever else is right', () => {
    for (const serverProof of ['14242416', '00000000', '41242415']) {
      const a = answerChallenge(id, hello, { ...challenge, serverProof });
      assert.equal(a.ok, false);
      if (!a.ok) assert.equal(a.error.code, 'ERR_HANDSHAKE_SERVER_PROOF');
    }
    // a server that knows K but computed over another fingerprint (the one on chain differs from ours)
    const other = deviceTranscript({ ...id, fingerprint: `0x${'00'.repeat(32)}` }, hello, challenge);
    const proof = ocraServerProof(HANDSHAKE_SUITE, key, {
      clientChallenge: hello.clientNonce,
      serverChallenge: challenge.serverNonce,
      session: transcriptDigest(other),
    });
    assert.equal(answerChallenge(id, hello, { ...challenge, serverProof: proof }).ok, false);
  });

  it('refuses an expired challenge when the device knows the time', () => {
    const a = answerChallenge(id, hello, challenge, { now: challenge.expiresAt + 1 });
    assert.equal(a.ok, false);
    if (!a.ok) assert.equal(a.error.code, 'ERR_HANDSHAKE_EXPIRED');
  });

  it('signs low-s only (EIP-2), so every signature has exactly one encoding', () => {
    const halfN = 0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0n;
    for (let i = 0; i < 32; i++) {
      const raw = Buffer.from(signDigest(privateKey, Buffer.alloc(32, i)), 'base64url');
      assert.ok(BigInt(`0x${raw.subarray(32, 64).toString('hex')}`) <= halfN);
      assert.ok(raw[64] === 0 || raw[64] === 1);
    }
  });

  it('signs the same RFC 6979 bytes with libsecp256k1 as with the pure-JS curve, recoverable to the DID address', () => {
    if (process.env.TESSERA_SECP256K1 !== 'openssl') assert.ok(libsecp256k1, 'the libsecp256k1 addon loads here');
    for (let i = 0; i < 8; i++) {
      const digest = Buffer.alloc(32, i + 7);
      const ours = Buffer.from(signDigest(privateKey, digest), 'base64url');
      const js = new SigningKey(privateKey).sign(digest);
      assert.equal(ours.subarray(0, 32).toString('hex'), js.r.slice(2));
      assert.equal(ours.subarray(32, 64).toString('hex'), js.s.slice(2));
      assert.equal(ours[64], js.yParity);
      const sig = Signature.from({
        r: `0x${ours.subarray(0, 32).toString('hex')}`,
        s: `0x${ours.subarray(32, 64).toString('hex')}`,
        v: 27 + ours[64]!,
      });
      assert.equal(recoverAddress(digest, sig), new Wallet(privateKey).address);
    }
  });
});

describe('reconnect backoff', () => {
  it('doubles up to the cap, with half of each delay random (equal jitter)', () => {
    const o = { initialMs: 100, maxMs: 1000 };
    assert.equal(
      backoffDelay(0, o, () => 0),
      50,
    );
    assert.equal(
      backoffDelay(0, o, () => 0.999999),
      100,
    );
    assert.equal(
      backoffDelay(3, o, () => 0),
      400,
    );
    assert.equal(
      backoffDelay(10, o, () => 0),
      500,
    );
    assert.equal(
      backoffDelay(10, o, () => 0.999999),
      1000,
    );
  });
});
