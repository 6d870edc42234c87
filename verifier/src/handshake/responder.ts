import { createHash, randomBytes } from 'node:crypto';
import type { DeviceChainStatus } from '@tessera/contracts';
import {
  type BitstringStatusListEntry,
  credentialJwtClaims,
  DEVICE_SESSION_TTL_S,
  deriveBrokerPassword,
  deriveSessionPassword,
  deviceIdFromTopic,
  deviceTopicPermissions,
  type ErrorCode,
  HANDSHAKE_CHALLENGE_TTL_MS,
  HANDSHAKE_SUITE,
  HANDSHAKE_VERSION,
  type HandshakeChallenge,
  type HandshakeResult,
  type HandshakeTranscript,
  type Logger,
  lifecycleDenialCode,
  ocraClientResponse,
  ocraResponsesEqual,
  ocraServerProof,
  parseEthrDid,
  parseHandshakeMessage,
  silentLogger,
  type TopicPermissions,
  topics,
  transcriptBytes,
  transcriptDigest,
  SECP256K1_HALF_N,
} from '@tessera/protocol';
import type { Signer } from 'did-jwt';
import type { DIDDocument, Resolvable, VerificationMethod } from 'did-resolver';
import { computeAddress, Signature, SigningKey } from 'ethers';
import type { BrokerAdapter, BrokerConnection } from '../broker/adapter.js';
import { signJwt } from '../vc/jwt.js';
import type { NonceStore } from '../vc/nonce-store.js';
import { HandshakeSignatureChecker, nodeES256KSigner } from './crypto.js';
import { type HandshakeLimiter, MemoryHandshakeLimiter } from './limiter.js';
import { type DeviceSecretVault, secretMatchesCommitment } from './vault.js';

/** The challenge stays in the nonce store this much longer than its TTL, so a late response reads as expired. */
const EXPIRED_GRACE_MS = 60_000;
const CHALLENGE_PREFIX = 'tessera.hs:';
/**
 * A challenge is stored under its device and session: a response looks up only its own device's sessions, so one that
 * names another device's session finds nothing and consumes nothing (that session stays usable by its device).
 */
const challengeKey = (deviceId: string, sessionId: string) => `${CHALLENGE_PREFIX}${deviceId}:${sessionId}`;

export interface HandshakeResponderOptions {
  broker: BrokerAdapter;
  /** On-chain state of a device (contracts `readDeviceStatus` against DeviceRegistry). */
  readStatus(deviceId: string): Promise<DeviceChainStatus>;
  vault: DeviceSecretVault;
  /** DID resolution as on chain now (the event-invalidated CachedDidResolver). */
  resolver: Resolvable;
  /** Shared by replicas (Redis) so a challenge is usable once across all of them. */
  challenges: NonceStore;
  limiter?: HandshakeLimiter;
  /** The key that signs DeviceSessionCredentials: the stack's issuer, whose status lists the credential names. */
  issuer: { did: string; privateKey: string };
  /**
   * The status entries a device's session credential carries (those of its DeviceIdentityCredential), so that a
   * relying party refuses the session once the device is suspended or revoked. Without it the credential carries none.
   */
  sessionStatus?(device: { deviceId: string; did: string }): Promise<BitstringStatusListEntry[]>;
  chainId: number;
  log?: Logger;
  now?: () => number;
  sessionTtlS?: number;
  challengeTtlMs?: number;
  /** Topics beyond the device's own (from its role credentials, by policy). Default: its own topics. */
  permissionsFor?(device: { deviceId: string; did: string }): Promise<TopicPermissions> | TopicPermissions;
  /** Audit sink for every outcome (precise reason included; never secrets). */
  audit?(event: HandshakeAuditEvent): void;
  /**
   * Why the verifier cannot decide now (for example the chain is known to be down), or undefined. While it says so,
   * every hello and response is answered ERR_HANDSHAKE_UNAVAILABLE at once: the lifecycle state and the DID document
   * cannot be read as on chain now, so nothing is granted and nothing is refused.
   */
  unavailable?(): string | undefined;
  /** The `retryAfterMs` of an ERR_HANDSHAKE_UNAVAILABLE answer (default 2000). */
  unavailableRetryMs?: number;
}

export interface HandshakeAuditEvent {
  /** `handshake_unavailable`: not decided (a dependency failed or is known down); the device retries. */
  event: 'handshake_challenged' | 'handshake_granted' | 'handshake_denied' | 'handshake_unavailable';
  deviceId?: string;
  sessionId?: string;
  source?: string;
  /** The coarse code the device saw. */
  code?: ErrorCode;
  /** The precise reason (log and audit only). */
  reason?: string;
}

type Denial = { code: ErrorCode; reason: string; retryAfterMs?: number; sessionId?: string };

const deny = (reason: string, code: ErrorCode = 'ERR_HANDSHAKE_DENIED'): Denial => ({ code, reason });

/**
 * A handshake the verifier could not decide (a dependency failed or is known down): retryable, never DENIED, and not
 * counted as a failure of the device or of its source.
 */
const unavailable = (reason: string, retryAfterMs: number): Denial => ({
  code: 'ERR_HANDSHAKE_UNAVAILABLE',
  reason,
  retryAfterMs,
});

/**
 * The verifier side of the device handshake (docs/protocol.md): answers hellos with a single-use challenge
 * and its server proof, checks responses (OCRA over the transcript, DID-key signature against the DID document as on
 * chain now, on-chain state), then issues a DeviceSessionCredential and widens the device's broker permissions.
 * Failures are quiet: the device gets a coarse code, the log and the audit trail get the reason.
 */
export class HandshakeResponder {
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly limiter: HandshakeLimiter;
  private readonly signer: Signer;
  private readonly signatures = new HandshakeSignatureChecker();
  /** Authentication addresses per DID document object (the cached resolver returns the same object until a change). */
  private readonly addressesByDoc = new WeakMap<DIDDocument, Set<string>>();
  private readonly networks: Set<string>;
  /** Sessions granted by this replica, per device (for revocation bookkeeping and tests). */
  readonly stats = { challenges: 0, granted: 0, denied: 0, unavailable: 0 };
  private readonly retryMs: number;

  constructor(private readonly o: HandshakeResponderOptions) {
    this.log = (o.log ?? silentLogger).child({ part: 'handshake' });
    this.now = o.now ?? Date.now;
    this.limiter = o.limiter ?? new MemoryHandshakeLimiter({ now: this.now });
    this.signer = nodeES256KSigner(o.issuer.privateKey);
    this.networks = new Set([`0x${o.chainId.toString(16)}`, String(o.chainId)]);
    this.retryMs = o.unavailableRetryMs ?? 2000;
  }

  /** Answered before anything else (no attempt or failure counted) while the verifier knows it cannot decide. */
  private knownUnavailable(): Denial | undefined {
    const why = this.o.unavailable?.();
    return why ? unavailable(why, this.retryMs) : undefined;
  }

  /** Subscribe to every device's hello and response. */
  async start(): Promise<void> {
    await this.o.broker.subscribe(topics.handshakeInbound('hello'), (t, p, c, s) => void this.onHello(t, p, c, s));
    await this.o.broker.subscribe(
      topics.handshakeInbound('response'),
      (t, p, c, s, connection) => void this.onResponse(t, p, c, s, connection),
    );
  }

  private addressesOf(doc: DIDDocument): Set<string> {
    let a = this.addressesByDoc.get(doc);
    if (!a) {
      a = authenticationAddresses(doc);
      this.addressesByDoc.set(doc, a);
    }
    return a;
  }

  /** Let a device connect to the broker (handshake topics only): its broker password, derived from its secret. */
  async enrol(deviceId: string): Promise<boolean> {
    const v = await this.o.vault.get(deviceId);
    if (!v) return false;
    try {
      await this.o.broker.enrol({ deviceId, password: deriveBrokerPassword(v.secret) });
    } finally {
      v.secret.fill(0);
    }
    return true;
  }

  /**
   * Enrol every device the vault knows that is Active on chain (at start). Others are enrolled when the chain says they
   * became Active (commissioned or resumed), through the revocation watcher.
   */
  /** Enrol every vault device that is Active on chain (32 chain reads in flight: a restart with a big fleet is quick). */
  async enrolAll(): Promise<number> {
    let n = 0;
    const ids = await this.o.vault.list();
    for (let i = 0; i < ids.length; i += 32) {
      const done = await Promise.all(
        ids.slice(i, i + 32).map(async (id) => (await this.o.readStatus(id)).state === 'Active' && this.enrol(id)),
      );
      n += done.filter(Boolean).length;
    }
    return n;
  }

  // ------------------------------------------------------------------------------------------------ hello

  async onHello(topic: string, payload: Buffer, clientId?: string, source?: string): Promise<void> {
    const topicDevice = deviceIdFromTopic(topic);
    if (!topicDevice) return;
    let outcome: HandshakeChallenge | Denial;
    try {
      outcome = this.knownUnavailable() ?? (await this.hello(topicDevice, payload, clientId, source));
    } catch (e) {
      // A chain, vault or store that failed: the verifier could not decide, which is not a refusal.
      this.log.error({ event: 'handshake_error', deviceId: topicDevice, error: (e as Error).message });
      outcome = unavailable(`could not decide: ${(e as Error).message}`, this.retryMs);
    }
    try {
      if ('type' in outcome) {
        this.stats.challenges++;
        this.o.audit?.({ event: 'handshake_challenged', deviceId: topicDevice, sessionId: outcome.sessionId, source });
        await this.o.broker.publish(topics.handshake(topicDevice, 'challenge'), JSON.stringify(outcome));
      } else await this.refuse(topicDevice, outcome, source);
    } catch (e) {
      // The MQTT boundary: nothing may escape as an unhandled rejection (the broker may be stopping).
      this.log.error({ event: 'handshake_reply_failed', deviceId: topicDevice, error: (e as Error).message });
    }
  }

  private keys(deviceId: string, source?: string): string[] {
    return source ? [`device:${deviceId}`, `source:${source}`] : [`device:${deviceId}`];
  }

  private async hello(
    deviceId: string,
    payload: Buffer,
    clientId: string | undefined,
    source: string | undefined,
  ): Promise<HandshakeChallenge | Denial> {
    const keys = this.keys(deviceId, source);
    const wait = await this.limiter.admit(keys);
    if (wait > 0) return { code: 'ERR_HANDSHAKE_LOCKED', reason: 'rate limit or lockout', retryAfterMs: wait };
    const parsed = parseHandshakeMessage('hello', payload);
    if (!parsed.ok) return this.failed(keys, { code: 'ERR_HANDSHAKE_MALFORMED', reason: parsed.error.message });
    const hello = parsed.value;
    // The client id is the device id (docs/protocol.md); brokers that report the publisher must agree with the topic.
    if (hello.deviceId !== deviceId) return this.failed(keys, deny('hello deviceId differs from its topic'));
    if (clientId !== undefined && clientId !== deviceId) return this.failed(keys, deny('client id differs from topic'));

    const status = await this.o.readStatus(deviceId);
    // The device may learn its own lifecycle state (public on chain): whether to wait for a resume or to stop.
    if (status.state !== 'Active')
      return this.failed(keys, deny(`device state is ${status.state}`, lifecycleDenialCode(status.state)));
    const didCheck = this.didMatchesIdentity(hello.did, status.identity);
    if (didCheck) return this.failed(keys, deny(didCheck));
    if (hello.fingerprint !== status.fingerprint)
      return this.failed(keys, deny('measured fingerprint differs from the one on chain'));

    const stored = await this.o.vault.get(deviceId);
    if (!stored) return this.failed(keys, deny('no secret in the vault for this device'));
    try {
      if (!secretMatchesCommitment(stored.salt, stored.secret, status.commitment)) {
        this.log.error({ event: 'vault_commitment_mismatch', deviceId }, 'vault secret does not match the chain');
        return this.failed(keys, deny('vault secret does not match the on-chain commitment'));
      }
      const now = this.now();
      const transcript: HandshakeTranscript = {
        sessionId: randomBytes(16).toString('hex'),
        clientId: deviceId,
        deviceId,
        did: hello.did,
        clientNonce: hello.clientNonce,
        serverNonce: randomBytes(32).toString('hex'),
        fingerprint: status.fingerprint, // the ON-CHAIN fingerprint: a clone measuring other hardware fails
        expiresAt: now + (this.o.challengeTtlMs ?? HANDSHAKE_CHALLENGE_TTL_MS),
      };
      const serverProof = ocraServerProof(HANDSHAKE_SUITE, stored.secret, {
        clientChallenge: transcript.clientNonce,
        serverChallenge: transcript.serverNonce,
        session: transcriptDigest(transcript),
      });
      const ttl = transcript.expiresAt - now + EXPIRED_GRACE_MS;
      if (!(await this.o.challenges.put(challengeKey(deviceId, transcript.sessionId), JSON.stringify(transcript), ttl)))
        throw new Error('session id collision');
      return {
        type: 'challenge',
        v: HANDSHAKE_VERSION,
        sessionId: transcript.sessionId,
        serverNonce: transcript.serverNonce,
        serverProof,
        expiresAt: transcript.expiresAt,
      };
    } finally {
      stored.secret.fill(0);
    }
  }

  /** A DID on our chain whose identifier is the identity address bound on chain at commissioning. */
  private didMatchesIdentity(did: string, identity: string | undefined): string | undefined {
    if (!identity) return 'device has no identity bound on chain';
    const p = parseEthrDid(did);
    if (!p.ok) return `hello DID: ${p.error.message}`;
    if (!p.value.network || !this.networks.has(p.value.network.toLowerCase())) return 'hello DID is on another chain';
    const id = p.value.identifier;
    const address = id.length === 42 ? id.toLowerCase() : computeAddress(id).toLowerCase();
    return address === identity.toLowerCase() ? undefined : 'hello DID is not the identity bound on chain';
  }

  // ------------------------------------------------------------------------------------------------ response

  async onResponse(
    topic: string,
    payload: Buffer,
    clientId?: string,
    source?: string,
    connection?: BrokerConnection,
  ): Promise<void> {
    const topicDevice = deviceIdFromTopic(topic);
    if (!topicDevice) return;
    const parsed = parseHandshakeMessage('response', payload);
    let outcome: HandshakeResult | Denial;
    try {
      outcome = this.knownUnavailable() ?? (await this.response(topicDevice, parsed, clientId, source, connection));
    } catch (e) {
      this.log.error({ event: 'handshake_error', deviceId: topicDevice, error: (e as Error).message });
      outcome = unavailable(`could not decide: ${(e as Error).message}`, this.retryMs);
    }
    try {
      if ('type' in outcome) {
        this.stats.granted++;
        await this.o.broker.publish(topics.handshake(topicDevice, 'result'), JSON.stringify(outcome));
      } else {
        // Every answer to a response names the session the response named: a device takes it for the handshake it
        // is running only if it is that one (a late answer to an earlier attempt is not mistaken for this one's).
        const sessionId = outcome.sessionId ?? (parsed.ok ? parsed.value.sessionId : undefined);
        await this.refuse(topicDevice, sessionId ? { ...outcome, sessionId } : outcome, source);
      }
    } catch (e) {
      this.log.error({ event: 'handshake_reply_failed', deviceId: topicDevice, error: (e as Error).message });
    }
  }

  private async response(
    deviceId: string,
    parsed: ReturnType<typeof parseHandshakeMessage<'response'>>,
    clientId: string | undefined,
    source: string | undefined,
    connection: BrokerConnection | undefined,
  ): Promise<HandshakeResult | Denial> {
    const keys = this.keys(deviceId, source);
    const wait = await this.limiter.admit(keys);
    if (wait > 0) return { code: 'ERR_HANDSHAKE_LOCKED', reason: 'rate limit or lockout', retryAfterMs: wait };
    if (!parsed.ok) return this.failed(keys, { code: 'ERR_HANDSHAKE_MALFORMED', reason: parsed.error.message });
    const r = parsed.value;
    if (clientId !== undefined && clientId !== deviceId) return this.failed(keys, deny('client id differs from topic'));
    // The grant goes to the connection the response came on; a broker that cannot name it grants nothing.
    if (connection === undefined || connection.deviceId !== deviceId)
      return this.failed(keys, deny('the broker did not name the connection of the response'));
    // Single use, across replicas: whoever consumes the challenge first is the only one that can finish it. Only this
    // device's sessions are looked up (a response relayed from another device's topic finds nothing and spends nothing).
    const ctx = await this.o.challenges.consume(challengeKey(deviceId, r.sessionId));
    if (ctx === undefined)
      return this.failed(keys, deny("unknown, used or expired session, or another device's (replay or relay?)"));
    const t = JSON.parse(ctx) as HandshakeTranscript;
    const withSession = (d: Denial): Denial => ({ ...d, sessionId: r.sessionId });
    if (t.deviceId !== deviceId) return this.failed(keys, withSession(deny('session belongs to another device')));
    if (this.now() > t.expiresAt)
      return this.failed(keys, withSession(deny('challenge expired', 'ERR_HANDSHAKE_EXPIRED')));

    // On-chain state decides at the end too: a revoke between hello and response is honoured.
    const status = await this.o.readStatus(deviceId);
    if (status.state !== 'Active') return this.failed(keys, withSession(deny(`device state is ${status.state}`)));
    if (status.fingerprint !== t.fingerprint || this.didMatchesIdentity(t.did, status.identity))
      return this.failed(keys, withSession(deny('on-chain record changed during the handshake')));

    const signed = transcriptBytes(t);
    const digest = createHash('sha256').update(signed).digest(); // = transcriptDigest(t)
    const stored = await this.o.vault.get(deviceId);
    if (!stored) return this.failed(keys, withSession(deny('no secret in the vault for this device')));
    let expected: string;
    let sessionPassword: string;
    try {
      if (!secretMatchesCommitment(stored.salt, stored.secret, status.commitment))
        return this.failed(keys, withSession(deny('vault secret does not match the on-chain commitment')));
      expected = ocraClientResponse(HANDSHAKE_SUITE, stored.secret, {
        clientChallenge: t.clientNonce,
        serverChallenge: t.serverNonce,
        session: digest,
      });
      sessionPassword = deriveSessionPassword(stored.secret, t.sessionId);
    } finally {
      stored.secret.fill(0);
    }
    // RFC 6287 §7.3 step 4: the server checks RC; constant time (ocraResponsesEqual).
    if (!ocraResponsesEqual(expected, r.ocra)) return this.failed(keys, withSession(deny('OCRA response mismatch')));

    const resolution = await this.o.resolver.resolve(t.did);
    const doc = resolution.didDocument;
    if (
      !doc ||
      resolution.didResolutionMetadata.error ||
      (resolution.didDocumentMetadata as { deactivated?: boolean }).deactivated
    )
      return this.failed(
        keys,
        withSession(deny(`DID does not resolve: ${resolution.didResolutionMetadata.error ?? 'deactivated'}`)),
      );
    // DID Core §5.3.1: the key must be an authentication method of the DID as resolved now.
    if (!this.signatures.signerAmong(signed, digest, r.signature, this.addressesOf(doc)))
      return this.failed(
        keys,
        withSession(deny('signature is malformed, high-s, or not by an authentication key of the DID now')),
      );

    const own = { deviceId, did: t.did };
    const permissions = this.o.permissionsFor ? await this.o.permissionsFor(own) : deviceTopicPermissions(deviceId);
    const nowS = Math.floor(this.now() / 1000);
    const ttlS = this.o.sessionTtlS ?? DEVICE_SESSION_TTL_S;
    const expiresAt = (nowS + ttlS) * 1000;
    const sessionStatus = this.o.sessionStatus ? await this.o.sessionStatus(own) : [];
    // A W3C VC (JWT encoding, VC Data Model 1.1 §6.3.1) that did-jwt-vc's verifyCredential accepts (conformance suite).
    const credential = await signJwt(
      { alg: 'ES256K', typ: 'JWT' },
      credentialJwtClaims({
        id: `urn:tessera:device-session:${t.sessionId}`,
        type: 'DeviceSessionCredential',
        issuer: this.o.issuer.did,
        subject: t.did,
        claims: {
          sessionId: t.sessionId,
          clientId: t.clientId,
          deviceId,
          fingerprint: t.fingerprint,
          publish: permissions.publish,
          subscribe: permissions.subscribe,
        },
        issuedAt: nowS,
        expiresAt: nowS + ttlS,
        status: sessionStatus,
      }),
      this.signer,
    );
    // Only the connection that answered gets the permissions; if it is gone (closed, reconnected, taken over) no one
    // does, and the device, if it is still there, starts again on its new connection.
    const granted = await this.o.broker.grant({
      deviceId,
      did: t.did,
      permissions,
      expiresAt,
      connection,
      sessionPassword,
    });
    if (!granted) return withSession(deny('the connection that ran the handshake is gone'));
    await this.limiter.succeed([`device:${deviceId}`]);
    this.log.info({ event: 'handshake_granted', deviceId, sessionId: t.sessionId, expiresAt });
    this.o.audit?.({ event: 'handshake_granted', deviceId, sessionId: t.sessionId, source });
    return {
      type: 'result',
      v: HANDSHAKE_VERSION,
      sessionId: t.sessionId,
      ok: true,
      credential,
      expiresAt,
      permissions,
      // The grant is on a session login: the device reconnects with it (docs/protocol.md, "Session logins").
      ...(typeof granted === 'object' ? { login: granted.login } : {}),
    };
  }

  // ------------------------------------------------------------------------------------------------ failures

  /** Count the failure; once the lockout is in force the device learns LOCKED with the time to wait. */
  private async failed(keys: string[], d: Denial): Promise<Denial> {
    const locked = await this.limiter.fail(keys);
    return locked > 0 && d.code === 'ERR_HANDSHAKE_DENIED'
      ? { ...d, code: 'ERR_HANDSHAKE_LOCKED', retryAfterMs: locked }
      : d;
  }

  private async refuse(deviceId: string, d: Denial, source?: string): Promise<void> {
    if (d.code === 'ERR_HANDSHAKE_UNAVAILABLE') this.stats.unavailable++;
    else this.stats.denied++;
    // The reason is for the log and the audit trail only (quiet on failure).
    const event = d.code === 'ERR_HANDSHAKE_UNAVAILABLE' ? 'handshake_unavailable' : 'handshake_denied';
    this.log.warn({
      event,
      deviceId,
      sessionId: d.sessionId,
      code: d.code,
      reason: d.reason,
      source,
    });
    this.o.audit?.({
      event,
      deviceId,
      sessionId: d.sessionId,
      code: d.code,
      reason: d.reason,
      source,
    });
    const result: HandshakeResult = {
      type: 'result',
      v: HANDSHAKE_VERSION,
      ...(d.sessionId ? { sessionId: d.sessionId } : {}),
      ok: false,
      code: d.code as 'ERR_HANDSHAKE_DENIED',
      ...(d.retryAfterMs !== undefined ? { retryAfterMs: Math.ceil(d.retryAfterMs) } : {}),
    };
    await this.o.broker.publish(topics.handshake(deviceId, 'result'), JSON.stringify(result));
  }
}

/** The address that made an ES256K-R signature (r | s | v, 65 bytes, base64url) over a digest; low-s only. */
export function recoverSigner(digest: Uint8Array, signature: string): string | undefined {
  const raw = Buffer.from(signature, 'base64url');
  if (raw.length !== 65) return undefined;
  const s = BigInt(`0x${raw.subarray(32, 64).toString('hex')}`);
  if (s === 0n || s > SECP256K1_HALF_N) return undefined;
  const v = raw[64]!;
  const parity = v >= 27 ? v - 27 : v;
  if (parity > 1) return undefined;
  try {
    const sig = Signature.from({
      r: `0x${raw.subarray(0, 32).toString('hex')}`,
      s: `0x${raw.subarray(32, 64).toString('hex')}`,
      v: 27 + parity,
    });
    return computeAddress(SigningKey.recoverPublicKey(digest, sig)).toLowerCase();
  } catch {
    return undefined;
  }
}

/** Addresses of the DID's authentication verification methods (DID Core §5.3.1; ERC-1056 owner and sigAuth delegates). */
export function authenticationAddresses(doc: DIDDocument): Set<string> {
  const out = new Set<string>();
  const byId = new Map<string, VerificationMethod>();
  for (const vm of doc.verificationMethod ?? []) {
    byId.set(vm.id, vm);
    if (vm.id.startsWith('#')) byId.set(`${doc.id}${vm.id}`, vm);
  }
  for (const ref of doc.authentication ?? []) {
    const vm = typeof ref === 'string' ? (byId.get(ref) ?? byId.get(`${doc.id}${ref}`)) : ref;
    if (!vm) continue;
    const account = vm.blockchainAccountId ?? (vm as { ethereumAddress?: string }).ethereumAddress ?? '';
    const m = /0x[0-9a-fA-F]{40}/.exec(account);
    if (m) out.add(m[0].toLowerCase());
    const hex = vm.publicKeyHex;
    if (typeof hex === 'string' && /^(0x)?(02|03|04)[0-9a-fA-F]+$/.test(hex)) {
      try {
        out.add(computeAddress(`0x${hex.replace(/^0x/, '')}`).toLowerCase());
      } catch {
        // not a secp256k1 key
      }
    }
  }
  return out;
}
