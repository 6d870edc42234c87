import { randomBytes } from 'node:crypto';
import {
  err,
  HANDSHAKE_OCRA_SUITE,
  HANDSHAKE_SUITE,
  HANDSHAKE_VERSION,
  type HandshakeChallenge,
  type HandshakeHello,
  type HandshakeResponse,
  type HandshakeTranscript,
  ocraClientResponse,
  ocraResponsesEqual,
  ocraServerProof,
  ok,
  type Result,
  transcriptDigest,
} from '@tessera/protocol';
import { libsecp256k1 } from '@tessera/runtime';
import { SigningKey } from 'ethers';

/**
 * The device side of the handshake (docs/protocol.md), as pure functions: build the hello, check the server's proof,
 * answer the challenge. No I/O, so the agent, the simulator and the conformance suite share one implementation.
 */

/** What a device knows about itself. The secret and the private key never leave the process. */
export interface DeviceIdentity {
  deviceId: string;
  /** did:ethr of the device key, e.g. did:ethr:0x7a69:0xabc… */
  did: string;
  /** The pre-shared secret K (≥ 32 bytes). */
  secret: Uint8Array;
  /** secp256k1 private key of the DID, 0x-prefixed hex. */
  privateKey: string;
  /** The characteristics fingerprint as this device measures it (protocol `deviceFingerprint`). */
  fingerprint: string;
}

/** Step 1: hello with a fresh 256-bit client challenge QC (RFC 6287 §7.3). */
export function createHello(id: DeviceIdentity, clientNonce: string = randomBytes(32).toString('hex')): HandshakeHello {
  return {
    type: 'hello',
    v: HANDSHAKE_VERSION,
    deviceId: id.deviceId,
    did: id.did,
    clientNonce,
    fingerprint: id.fingerprint,
    suite: HANDSHAKE_OCRA_SUITE,
  };
}

/** The transcript as the device sees it: its own client id and its measured fingerprint. */
export function deviceTranscript(
  id: DeviceIdentity,
  hello: HandshakeHello,
  challenge: HandshakeChallenge,
  clientId: string = id.deviceId,
): HandshakeTranscript {
  return {
    sessionId: challenge.sessionId,
    clientId,
    deviceId: id.deviceId,
    did: id.did,
    clientNonce: hello.clientNonce,
    serverNonce: challenge.serverNonce,
    fingerprint: id.fingerprint,
    expiresAt: challenge.expiresAt,
  };
}

/**
 * ES256K-R over a 32-byte digest: r | s | recovery id (0 or 1), low-s, base64url without padding. RFC 6979 either way:
 * libsecp256k1 (constant time, ~10× faster: gateways hand-shake often) where its addon loads, else ethers' pure-JS curve;
 * both give the same bytes.
 */
export function signDigest(privateKey: string, digest: Uint8Array): string {
  if (libsecp256k1) {
    const seckey = Buffer.from(privateKey.replace(/^0x/, ''), 'hex');
    if (seckey.length !== 32 || digest.length !== 32)
      throw new Error('ES256K signs a 32-byte digest with a 32-byte key');
    try {
      const { signature, recid } = libsecp256k1.ecdsaSign(new Uint8Array(digest), new Uint8Array(seckey));
      return Buffer.concat([signature, Buffer.from([recid])]).toString('base64url');
    } finally {
      seckey.fill(0);
    }
  }
  const sig = new SigningKey(privateKey).sign(digest);
  return Buffer.concat([
    Buffer.from(sig.r.slice(2), 'hex'),
    Buffer.from(sig.s.slice(2), 'hex'),
    Buffer.from([sig.yParity]),
  ]).toString('base64url');
}

/**
 * Step 3: check the server proof RS in constant time BEFORE computing anything the server could use (mutual mode,
 * RFC 6287 §7.3 step 3), then answer with RC and the DID-key signature over the transcript digest.
 * A wrong proof (a rogue server, or a server whose transcript differs, e.g. another fingerprint on chain) gives
 * ERR_HANDSHAKE_SERVER_PROOF and no response at all.
 */
export function answerChallenge(
  id: DeviceIdentity,
  hello: HandshakeHello,
  challenge: HandshakeChallenge,
  options: { clientId?: string; now?: number } = {},
): Result<{ response: HandshakeResponse; transcript: HandshakeTranscript }> {
  if (options.now !== undefined && options.now > challenge.expiresAt)
    return err('ERR_HANDSHAKE_EXPIRED', 'the challenge expired before it could be answered');
  const transcript = deviceTranscript(id, hello, challenge, options.clientId);
  const digest = transcriptDigest(transcript);
  const mutual = { clientChallenge: hello.clientNonce, serverChallenge: challenge.serverNonce, session: digest };
  const expected = ocraServerProof(HANDSHAKE_SUITE, id.secret, mutual);
  if (!ocraResponsesEqual(expected, challenge.serverProof)) {
    return err('ERR_HANDSHAKE_SERVER_PROOF', 'the server proof does not verify: the server does not know our secret');
  }
  return ok({
    transcript,
    response: {
      type: 'response',
      v: HANDSHAKE_VERSION,
      sessionId: challenge.sessionId,
      ocra: ocraClientResponse(HANDSHAKE_SUITE, id.secret, mutual),
      alg: 'ES256K-R',
      signature: signDigest(id.privateKey, digest),
    },
  });
}
