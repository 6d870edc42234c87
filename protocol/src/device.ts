import { createHash, randomBytes } from 'node:crypto';
import { z } from 'zod';
import { parseDid } from './did.js';
import { ocraSuite } from './ocra.js';
import { err, ok, type Result } from './result.js';

/**
 * Device identity and the MQTT challenge handshake: the characteristics fingerprint, the salted
 * secret commitment kept on chain, the topic tree, and the handshake message schemas. Everything here is pure;
 * the verifier, the device agent and the issuer all use these definitions so none of them re-declares a topic or a
 * schema. docs/protocol.md describes the same wire format for independent device clients.
 */

// ---------------------------------------------------------------------------------------------------------------
// Identifiers and constants

/** A device id: 32 bytes as 0x-prefixed lower-case hex. It is the key of the on-chain record and the MQTT client id. */
export const DEVICE_ID_PATTERN = /^0x[0-9a-f]{64}$/;
const HEX32 = /^0x[0-9a-f]{64}$/;

/**
 * The OCRA suite of the handshake, used for the server proof and the device response (RFC 6287 §7.3, mutual mode):
 * HMAC-SHA256, 8 digits; each side's challenge is 64 hex characters (256 random bits); the session information is
 * the 32-byte transcript digest, so a response is bound to one session and one transcript.
 */
export const HANDSHAKE_OCRA_SUITE = 'OCRA-1:HOTP-SHA256-8:QH64-S064';
/** The parsed form of HANDSHAKE_OCRA_SUITE (checked at load, so a typo fails at startup, not in a handshake). */
export const HANDSHAKE_SUITE = ocraSuite(HANDSHAKE_OCRA_SUITE);
/** Protocol version carried in every handshake message and in the topic tree. */
export const HANDSHAKE_VERSION = 1;
/** A challenge is usable once and only this long after it was issued. */
export const HANDSHAKE_CHALLENGE_TTL_MS = 30_000;
/** Handshake messages larger than this are refused before parsing. */
export const HANDSHAKE_MAX_MESSAGE_BYTES = 8 * 1024;
/**
 * The largest MQTT packet (fixed header included) a client may send before its CONNECT is accepted: the CONNECT itself
 * and anything pipelined behind it. A device's CONNECT (ids, username, password, a short will) is a few hundred bytes.
 * Brokers decide by the fixed header, before the body is read (MQTT 3.1.1 §2.2.3).
 */
export const MQTT_MAX_PACKET_BYTES_BEFORE_CONNECT = 4 * 1024;
/**
 * The largest MQTT packet (fixed header included) on an accepted connection, in either direction: a message of
 * HANDSHAKE_MAX_MESSAGE_BYTES plus its topic and headers. The same cap is Mosquitto's `max_packet_size`.
 */
export const MQTT_MAX_PACKET_BYTES = HANDSHAKE_MAX_MESSAGE_BYTES + 1024;
/** Lifetime of a DeviceSessionCredential (minutes, not days). */
export const DEVICE_SESSION_TTL_S = 10 * 60;
/** The device starts a refresh handshake this long before its session credential expires. */
export const DEVICE_SESSION_REFRESH_BEFORE_S = 2 * 60;
/** Pre-shared secrets are at least 256 random bits. */
export const DEVICE_SECRET_BYTES = 32;
/** Salt length of the secret commitment. */
export const DEVICE_COMMITMENT_SALT_BYTES = 32;
/** Most devices one registration batch (one Merkle root, one transaction) may hold. */
export const MAX_DEVICE_BATCH = 1000;

/** Lifecycle states as numbered in DeviceRegistry.sol (`enum State`); 0 means no record. */
export const DEVICE_STATES = ['Unknown', 'Registered', 'Active', 'Suspended', 'Revoked', 'Decommissioned'] as const;
export type DeviceState = (typeof DEVICE_STATES)[number];

/**
 * Allowed lifecycle transitions, the same table DeviceRegistry.sol enforces (registered → active ⇄ suspended →
 * revoked or decommissioned). Revoked and Decommissioned are final.
 */
export const DEVICE_TRANSITIONS: Readonly<Record<DeviceState, readonly DeviceState[]>> = {
  Unknown: ['Registered'],
  Registered: ['Active', 'Revoked', 'Decommissioned'],
  Active: ['Suspended', 'Revoked', 'Decommissioned'],
  Suspended: ['Active', 'Revoked', 'Decommissioned'],
  Revoked: [],
  Decommissioned: [],
};

export function canTransition(from: DeviceState, to: DeviceState): boolean {
  return DEVICE_TRANSITIONS[from].includes(to);
}

const sha256 = (...parts: (string | Uint8Array)[]) => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest();
};
const hex0x = (b: Uint8Array) => `0x${Buffer.from(b).toString('hex')}`;

/**
 * Derive a device id from its manufacturer and serial number: sha256("tessera.device-id.v1\n" | manufacturer | "\n"
 * | serial). Manufacturers may assign ids otherwise; ids only need to be unique 32-byte values.
 */
export function deviceIdOf(manufacturer: string, serial: string): string {
  return hex0x(sha256('tessera.device-id.v1\n', manufacturer.toLowerCase(), '\n', serial));
}

// ---------------------------------------------------------------------------------------------------------------
// Characteristics fingerprint

const MAC = /^[0-9a-f]{2}([:-]?[0-9a-f]{2}){5}$/i;

/** What a device measures about itself; the fingerprint of these values is registered on chain. */
export const DeviceCharacteristicsSchema = z
  .object({
    model: z.string().trim().min(1).max(128),
    serial: z.string().trim().min(1).max(128),
    hardwareRevision: z.string().trim().min(1).max(64),
    /** sha256 of the firmware image, hex (with or without 0x, any case). */
    firmwareHash: z
      .string()
      .regex(/^(0x)?[0-9a-fA-F]{64}$/, 'a sha256 in hex')
      .transform((h) => h.replace(/^0x/, '').toLowerCase()),
    /** The primary network interface's MAC (EUI-48), written with ':', '-' or nothing between octets. */
    mac: z
      .string()
      .regex(MAC, 'an EUI-48 MAC address')
      .transform((m) =>
        m
          .replace(/[:-]/g, '')
          .toLowerCase()
          .replace(/(..)(?!$)/g, '$1:'),
      ),
  })
  .strict();
export type DeviceCharacteristics = z.input<typeof DeviceCharacteristicsSchema>;
export type CanonicalCharacteristics = z.output<typeof DeviceCharacteristicsSchema>;

/**
 * Canonical JSON of the characteristics: normalised values (trimmed strings, lower-case hex, MAC as aa:bb:…),
 * keys in code-point order, no whitespace (RFC 8785 JCS for an object of strings).
 */
export function canonicalCharacteristics(input: DeviceCharacteristics): Result<string> {
  const parsed = DeviceCharacteristicsSchema.safeParse(input);
  if (!parsed.success) {
    return err(
      'ERR_VALIDATION',
      'device characteristics fail their schema',
      parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })),
    );
  }
  const v = parsed.data as Record<string, string>;
  const keys = Object.keys(v).sort();
  return ok(`{${keys.map((k) => `${JSON.stringify(k)}:${JSON.stringify(v[k])}`).join(',')}}`);
}

/**
 * The characteristics fingerprint registered on chain: sha256("tessera.device-fingerprint.v1\n" | canonical JSON),
 * as 0x-prefixed hex (a Solidity bytes32). A firmware update changes firmwareHash and so the fingerprint.
 *
 * @example deviceFingerprint({ model: 'SMGW-1', serial: 'A1', hardwareRevision: 'r2', firmwareHash: '…', mac: '…' })
 */
export function deviceFingerprint(input: DeviceCharacteristics): Result<string> {
  const c = canonicalCharacteristics(input);
  if (!c.ok) return c;
  return ok(hex0x(sha256('tessera.device-fingerprint.v1\n', c.value)));
}

// ---------------------------------------------------------------------------------------------------------------
// Secret and its commitment

/** A fresh pre-shared secret (256 random bits), generated at manufacture and shown once. */
export function generateDeviceSecret(): Buffer {
  return randomBytes(DEVICE_SECRET_BYTES);
}

/**
 * The AAD under which a verifier's vault seals a device secret (protocol `seal`): it names the device, so a sealed
 * secret cannot be moved into another device's slot. Every vault (file or database) uses it.
 */
export function deviceSecretAad(deviceId: string): string {
  return `tessera.device-secret.v1:${deviceId.toLowerCase()}`;
}

/**
 * The salted commitment to a device secret kept on chain (the chain never holds the secret):
 * sha256("tessera.secret-commitment.v1\n" | salt (32 bytes) | secret), as 0x-prefixed hex (bytes32).
 * The salt is random per device and stored with the sealed secret; it keeps equal secrets from having equal
 * commitments and lets the verifier check that the secret it unsealed is the one the chain names.
 */
export function secretCommitment(salt: Uint8Array, secret: Uint8Array): string {
  if (salt.length !== DEVICE_COMMITMENT_SALT_BYTES) throw new Error('commitment salt must be 32 bytes');
  if (secret.length < DEVICE_SECRET_BYTES) throw new Error('device secrets are at least 32 bytes');
  return hex0x(sha256('tessera.secret-commitment.v1\n', salt, secret));
}

// ---------------------------------------------------------------------------------------------------------------
// MQTT topic tree (MQTT 3.1.1 §4.7)
//
//   tessera/v1/devices/{deviceId}/handshake/hello       device → verifier
//   tessera/v1/devices/{deviceId}/handshake/challenge   verifier → device
//   tessera/v1/devices/{deviceId}/handshake/response    device → verifier
//   tessera/v1/devices/{deviceId}/handshake/result      verifier → device
//   tessera/v1/devices/{deviceId}/telemetry/{stream}    device → services (e.g. meter readings)
//   tessera/v1/devices/{deviceId}/commands/{name}       services → device
//   tessera/v1/devices/{deviceId}/replies/{commandId}   device → services
//   tessera/v1/devices/{deviceId}/status                device (online/offline, also the will); nothing a device publishes is retained
//   tessera/v1/devices/{deviceId}/session               verifier → device (session notices: expiring, revoked)
//   tessera/v1/devices/{deviceId}/whiteflag/signals/{c}  device → services (a Whiteflag sign or signal of type c)
//   tessera/v1/devices/{deviceId}/whiteflag/inbox       services → device (authentic Whiteflag signals of its area)
//
// The MQTT client id of a device is its device id; before a handshake succeeds a client may use only its own
// handshake topics.

export const TOPIC_ROOT = 'tessera/v1';
const DEVICES = `${TOPIC_ROOT}/devices`;
export const HANDSHAKE_STEPS = ['hello', 'challenge', 'response', 'result'] as const;
export type HandshakeStep = (typeof HANDSHAKE_STEPS)[number];

// MQTT 3.1.1 §4.7.1: '+' and '#' are wildcards, '/' separates levels, and U+0000 is not allowed in a topic.
const SEGMENT = /^[^/+#]{1,128}$/;

function segment(value: string, what: string): string {
  if (!SEGMENT.test(value) || value.includes('\u0000'))
    throw new Error(`${what} '${value.slice(0, 40)}' is not a valid MQTT topic level`);
  return value;
}
/** A Whiteflag message code as a topic level: one upper-case letter (docs/whiteflag.md). */
function whiteflagCode(code: string): string {
  if (!/^[A-Z]$/.test(code)) throw new Error(`'${code.slice(0, 10)}' is not a Whiteflag message code`);
  return code;
}
function device(deviceId: string): string {
  if (!DEVICE_ID_PATTERN.test(deviceId)) throw new Error(`'${deviceId.slice(0, 80)}' is not a device id`);
  return `${DEVICES}/${deviceId}`;
}

export const topics = {
  handshake: (deviceId: string, step: HandshakeStep) => `${device(deviceId)}/handshake/${step}`,
  /** Subscription filter for the verifier: every device's hello and response. */
  handshakeInbound: (step: 'hello' | 'response') => `${DEVICES}/+/handshake/${step}`,
  telemetry: (deviceId: string, stream: string) => `${device(deviceId)}/telemetry/${segment(stream, 'stream')}`,
  command: (deviceId: string, name: string) => `${device(deviceId)}/commands/${segment(name, 'command')}`,
  reply: (deviceId: string, commandId: string) => `${device(deviceId)}/replies/${segment(commandId, 'command id')}`,
  status: (deviceId: string) => `${device(deviceId)}/status`,
  session: (deviceId: string) => `${device(deviceId)}/session`,
  /** A meter's offers on the local energy market (published by its gateway when its credentials allow, by policy). */
  energyOffers: (meterId: string) => `${TOPIC_ROOT}/energy/${segment(meterId, 'meter id')}/offers`,
  /** device → services: a Whiteflag sign or signal of type `messageCode`, sent on chain by the Whiteflag bridge. */
  whiteflagSignal: (deviceId: string, messageCode: string) =>
    `${device(deviceId)}/whiteflag/signals/${whiteflagCode(messageCode)}`,
  /** Subscription filter for the Whiteflag bridge: every device's signals. */
  whiteflagSignalsInbound: () => `${DEVICES}/+/whiteflag/signals/+`,
  /** services → device: authentic Whiteflag signals located in the device's area. */
  whiteflagInbox: (deviceId: string) => `${device(deviceId)}/whiteflag/inbox`,
} as const;

/** The device and message code of a `whiteflag/signals/{code}` topic, if it is one. */
export function whiteflagSignalOfTopic(topic: string): { deviceId: string; messageCode: string } | undefined {
  const parts = topic.split('/');
  const deviceId = deviceIdFromTopic(topic);
  if (!deviceId || parts.length !== 7 || parts[4] !== 'whiteflag' || parts[5] !== 'signals') return undefined;
  return /^[A-Z]$/.test(parts[6]!) ? { deviceId, messageCode: parts[6]! } : undefined;
}

/** The Whiteflag sign and signal codes a device's signals topic carries (one policy per code says who may). */
const WHITEFLAG_SIGNAL_CODES = ['P', 'E', 'D', 'S', 'I', 'M', 'Q'] as const;

/**
 * The topic tree as policy resource patterns (the policy syntax: `:name` one level, `**` the rest): a policy on an MQTT
 * topic must name one of these, so topics are defined here once and nowhere concatenated.
 */
export const TOPIC_PATTERNS = [
  `${DEVICES}/:deviceId/telemetry/**`,
  `${DEVICES}/:deviceId/replies/**`,
  `${DEVICES}/:deviceId/status`,
  `${DEVICES}/:deviceId/commands/**`,
  `${DEVICES}/:deviceId/session`,
  `${TOPIC_ROOT}/energy/:meterId/offers`,
  ...WHITEFLAG_SIGNAL_CODES.map((c) => `${DEVICES}/:deviceId/whiteflag/signals/${c}`),
] as const;

/** Which topic filters a client may publish and subscribe to. */
export interface TopicPermissions {
  publish: string[];
  subscribe: string[];
}

/** Before authentication: a client whose id is `deviceId` may only speak its own handshake. */
export function handshakeTopicPermissions(deviceId: string): TopicPermissions {
  return {
    publish: [topics.handshake(deviceId, 'hello'), topics.handshake(deviceId, 'response')],
    subscribe: [topics.handshake(deviceId, 'challenge'), topics.handshake(deviceId, 'result')],
  };
}

/** After a successful handshake: its own topics (role credentials may add more, by policy). */
export function deviceTopicPermissions(deviceId: string): TopicPermissions {
  const base = device(deviceId);
  const hs = handshakeTopicPermissions(deviceId);
  return {
    publish: [
      ...hs.publish,
      `${base}/telemetry/#`,
      `${base}/replies/#`,
      `${base}/status`,
      `${base}/whiteflag/signals/+`,
    ],
    subscribe: [...hs.subscribe, `${base}/commands/#`, `${base}/session`, topics.whiteflagInbox(deviceId)],
  };
}

/** The device id in a topic under tessera/v1/devices/, if there is one. */
export function deviceIdFromTopic(topic: string): string | undefined {
  const parts = topic.split('/');
  if (parts[0] !== 'tessera' || parts[1] !== 'v1' || parts[2] !== 'devices') return undefined;
  return parts[3] && DEVICE_ID_PATTERN.test(parts[3]) ? parts[3] : undefined;
}

/**
 * Does a concrete topic match a filter (MQTT 3.1.1 §4.7.1: '+' one level, '#' the rest, only as the last level)?
 * Topics starting with '$' never match filters starting with a wildcard (§4.7.2).
 */
export function topicMatches(filter: string, topic: string): boolean {
  return levelsMatch(filter.split('/'), undefined, topic);
}

/** Is `topic` allowed by any filter in `filters`? */
export function topicAllowed(filters: readonly string[], topic: string): boolean {
  return filters.some((f) => topicMatches(f, topic));
}

// A filter level that stands for the device's own id in a permission template. U+0000 cannot occur in a topic or a
// filter (MQTT 3.1.1 §1.5.3), so no real level is ever taken for it.
const SELF = '\u0000';

/** `f` is a filter split into levels; a level equal to SELF matches `self` (never anything when `self` is undefined). */
function levelsMatch(f: readonly string[], self: string | undefined, topic: string): boolean {
  if (topic.includes('+') || topic.includes('#')) return false;
  const t = topic.split('/');
  if (topic.startsWith('$') && (f[0] === '+' || f[0] === '#')) return false;
  for (let i = 0; i < f.length; i++) {
    const level = f[i]!;
    if (level === '#') return i === f.length - 1;
    if (i >= t.length) return false;
    if (level === '+') continue;
    if (level === SELF ? t[i] !== self : level !== t[i]) return false;
  }
  return f.length === t.length;
}

/**
 * A device's topic permissions with its own id factored out and the filters split into levels. Devices granted the
 * same shape (all devices with the default permissions) share one frozen template, so a broker holding ten thousand
 * sessions keeps one copy of the filters instead of ten thousand: see `permissionTemplate`.
 */
export interface PermissionTemplate {
  readonly publish: readonly (readonly string[])[];
  readonly subscribe: readonly (readonly string[])[];
}

const templates = new Map<string, PermissionTemplate>();
const MAX_TEMPLATES = 1024; // shapes beyond this (unusual per-device policies) are compiled but not shared

/** The template of `permissions` granted to `deviceId` (a level equal to the device id becomes "the device's own"). */
export function permissionTemplate(deviceId: string, permissions: TopicPermissions): PermissionTemplate {
  const split = (filter: string) => Object.freeze(filter.split('/').map((l) => (l === deviceId ? SELF : l)));
  const publish = permissions.publish.map(split);
  const subscribe = permissions.subscribe.map(split);
  const key = JSON.stringify([publish, subscribe]);
  const shared = templates.get(key);
  if (shared) return shared;
  const t: PermissionTemplate = Object.freeze({ publish: Object.freeze(publish), subscribe: Object.freeze(subscribe) });
  if (templates.size < MAX_TEMPLATES) templates.set(key, t);
  return t;
}

/** Does a template allow `deviceId` the concrete `topic` (same rules as `topicMatches`)? */
export function templateAllows(filters: PermissionTemplate['publish'], deviceId: string, topic: string): boolean {
  return filters.some((f) => levelsMatch(f, deviceId, topic));
}

/** The template's filters for `deviceId`, as plain filter strings. */
export function templateFilters(filters: PermissionTemplate['publish'], deviceId: string): string[] {
  return filters.map((f) => f.map((l) => (l === SELF ? deviceId : l)).join('/'));
}

// ---------------------------------------------------------------------------------------------------------------
// Handshake messages (JSON, UTF-8, one per MQTT PUBLISH, QoS 1)

const nonce = z.string().regex(/^[0-9a-f]{64}$/, '64 lower-case hex characters (256 bits)');
const deviceId = z.string().regex(DEVICE_ID_PATTERN, 'a device id (0x + 64 lower-case hex)');
const sessionId = z.string().regex(/^[0-9a-f]{32}$/, '32 lower-case hex characters (128 bits)');
const did = z
  .string()
  .max(512)
  .refine((s) => parseDid(s).ok, 'a DID');
const ocraValue = z.string().regex(/^[0-9]{8}$/, 'an 8-digit OCRA value');
const version = z.literal(HANDSHAKE_VERSION);

/** 1. device → verifier: who I am, and my challenge to the server (QC). */
export const HandshakeHelloSchema = z
  .object({
    type: z.literal('hello'),
    v: version,
    deviceId,
    did,
    /** QC of RFC 6287 §7.3. */
    clientNonce: nonce,
    /** The fingerprint the device measured; the one on chain is what the transcript uses. */
    fingerprint: z.string().regex(HEX32, 'a bytes32 hex'),
    suite: z.literal(HANDSHAKE_OCRA_SUITE),
  })
  .strict();

/** 2. verifier → device: a single-use challenge (QS) and the server's OCRA proof over QC | QS (RFC 6287 §7.3). */
export const HandshakeChallengeSchema = z
  .object({
    type: z.literal('challenge'),
    v: version,
    sessionId,
    /** QS of RFC 6287 §7.3. */
    serverNonce: nonce,
    /** RS = OCRA(K, QC | QS | S): the device checks it before it answers (mutual mode). */
    serverProof: ocraValue,
    /** Unix milliseconds after which the challenge is refused. */
    expiresAt: z.number().int().positive(),
  })
  .strict();

/** 3. device → verifier: the OCRA response and the DID-key signature over the transcript. */
export const HandshakeResponseSchema = z
  .object({
    type: z.literal('response'),
    v: version,
    sessionId,
    /** RC = OCRA(K, QS | QC | S) (RFC 6287 §7.3). */
    ocra: ocraValue,
    /**
     * `ES256K-R`: secp256k1 signature r | s | recovery id (65 bytes) over the transcript digest, base64url; the
     * recovered key must be a verification method of the DID (the did:ethr controller address or a delegate).
     */
    alg: z.literal('ES256K-R'),
    signature: z.string().regex(/^[A-Za-z0-9_-]{87}$/, '65 bytes, base64url without padding'),
  })
  .strict();

/**
 * Codes a device may learn on failure: coarse (quiet on failure, docs/protocol.md), except its own lifecycle state,
 * which is public on chain and which the device needs to know whether to wait or to stop.
 */
export const HANDSHAKE_DENIAL_CODES = [
  'ERR_HANDSHAKE_DENIED',
  'ERR_HANDSHAKE_LOCKED',
  'ERR_HANDSHAKE_EXPIRED',
  'ERR_HANDSHAKE_MALFORMED',
  'ERR_HANDSHAKE_UNAVAILABLE',
  'ERR_DEVICE_SUSPENDED',
  'ERR_DEVICE_REVOKED',
  'ERR_DEVICE_DECOMMISSIONED',
] as const;

/**
 * The code that tells a device its on-chain state keeps it out: suspended (wait for a resume), revoked or
 * decommissioned (final: stop). Undefined for states that do not say so (Active, or a device the chain does not know,
 * which stays ERR_HANDSHAKE_DENIED).
 */
export function lifecycleDenialCode(
  state: DeviceState,
): 'ERR_DEVICE_SUSPENDED' | 'ERR_DEVICE_REVOKED' | 'ERR_DEVICE_DECOMMISSIONED' | undefined {
  if (state === 'Suspended') return 'ERR_DEVICE_SUSPENDED';
  if (state === 'Revoked') return 'ERR_DEVICE_REVOKED';
  if (state === 'Decommissioned') return 'ERR_DEVICE_DECOMMISSIONED';
  return undefined;
}

/**
 * The lifecycle notice the verifier sends on a device's `handshake/result` topic when the chain suspends, revokes or
 * decommissions it, just before the broker drops its connection: a denial without a session.
 */
export function lifecycleNotice(state: DeviceState): HandshakeResult | undefined {
  const code = lifecycleDenialCode(state);
  return code ? { type: 'result', v: HANDSHAKE_VERSION, ok: false, code } : undefined;
}

/** 4. verifier → device: a session credential and permissions, or a denial with a coarse code. */
export const HandshakeResultSchema = z.discriminatedUnion('ok', [
  z
    .object({
      type: z.literal('result'),
      v: version,
      sessionId,
      ok: z.literal(true),
      /** DeviceSessionCredential, a JWT VC bound to the device's DID. */
      credential: z
        .string()
        .min(1)
        .max(16 * 1024),
      /** Unix milliseconds when the credential expires; refresh before it. */
      expiresAt: z.number().int().positive(),
      permissions: z
        .object({ publish: z.array(z.string().min(1)).max(256), subscribe: z.array(z.string().min(1)).max(256) })
        .strict(),
      /**
       * Present when the broker holds the grant on a session login (Mosquitto): the device reconnects with this
       * username, client id = its device id, password = deriveSessionPassword(K, sessionId); its own login keeps the
       * handshake topics only. Absent when the connection that answered has the grant (the embedded broker, and every
       * refresh made on a session login's connection).
       */
      login: z.string().min(1).max(256).optional(),
    })
    .strict(),
  z
    .object({
      type: z.literal('result'),
      v: version,
      /** Absent when the failure came before a session existed (for example a malformed hello). */
      sessionId: sessionId.optional(),
      ok: z.literal(false),
      code: z.enum(HANDSHAKE_DENIAL_CODES),
      /** When the device may try again (lockout backoff, or a dependency that does not answer), in milliseconds. */
      retryAfterMs: z.number().int().nonnegative().optional(),
    })
    .strict(),
]);

export const HandshakeMessageSchema = z.union([
  HandshakeHelloSchema,
  HandshakeChallengeSchema,
  HandshakeResponseSchema,
  HandshakeResultSchema,
]);

export type HandshakeHello = z.infer<typeof HandshakeHelloSchema>;
export type HandshakeChallenge = z.infer<typeof HandshakeChallengeSchema>;
export type HandshakeResponse = z.infer<typeof HandshakeResponseSchema>;
export type HandshakeResult = z.infer<typeof HandshakeResultSchema>;
export type HandshakeMessage = z.infer<typeof HandshakeMessageSchema>;

const SCHEMA_OF_STEP = {
  hello: HandshakeHelloSchema,
  challenge: HandshakeChallengeSchema,
  response: HandshakeResponseSchema,
  result: HandshakeResultSchema,
} as const;
type MessageOfStep = {
  hello: HandshakeHello;
  challenge: HandshakeChallenge;
  response: HandshakeResponse;
  result: HandshakeResult;
};

/**
 * Parse one handshake MQTT payload for the step its topic names. Size, JSON and schema problems are all
 * ERR_HANDSHAKE_MALFORMED, with the failing fields in `details` (for the log; a device only sees the code).
 */
export function parseHandshakeMessage<S extends HandshakeStep>(
  step: S,
  payload: Uint8Array | string,
): Result<MessageOfStep[S]> {
  const size = typeof payload === 'string' ? Buffer.byteLength(payload) : payload.length;
  if (size > HANDSHAKE_MAX_MESSAGE_BYTES)
    return err('ERR_HANDSHAKE_MALFORMED', `handshake message exceeds ${HANDSHAKE_MAX_MESSAGE_BYTES} bytes`);
  let json: unknown;
  try {
    json = JSON.parse(typeof payload === 'string' ? payload : Buffer.from(payload).toString('utf8'));
  } catch {
    return err('ERR_HANDSHAKE_MALFORMED', 'handshake message is not JSON');
  }
  const parsed = SCHEMA_OF_STEP[step].safeParse(json);
  if (!parsed.success) {
    return err(
      'ERR_HANDSHAKE_MALFORMED',
      `handshake ${step} fails its schema`,
      parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })),
    );
  }
  return ok(parsed.data as MessageOfStep[S]);
}

// ---------------------------------------------------------------------------------------------------------------
// Transcript

/** Everything both sides must agree on; its digest is the OCRA session information and what the DID key signs. */
export interface HandshakeTranscript {
  sessionId: string;
  /** The MQTT client id the hello arrived from (it must equal deviceId). */
  clientId: string;
  deviceId: string;
  did: string;
  clientNonce: string;
  serverNonce: string;
  /** The fingerprint registered on chain (the device uses the one it measured: a clone's differs). */
  fingerprint: string;
  expiresAt: number;
}

/**
 * Canonical transcript bytes: "tessera.handshake.v1\n" followed by the canonical JSON (keys sorted, no whitespace)
 * of the transcript plus the suite.
 */
export function transcriptBytes(t: HandshakeTranscript): Buffer {
  const full: Record<string, string | number> = { ...t, suite: HANDSHAKE_OCRA_SUITE };
  const keys = Object.keys(full).sort();
  const json = `{${keys.map((k) => `${JSON.stringify(k)}:${JSON.stringify(full[k])}`).join(',')}}`;
  return Buffer.concat([Buffer.from('tessera.handshake.v1\n', 'utf8'), Buffer.from(json, 'utf8')]);
}

/** sha256 of the transcript bytes: the OCRA S value (left-padded to 64 bytes) and the signed digest. */
export function transcriptDigest(t: HandshakeTranscript): Buffer {
  return sha256(transcriptBytes(t));
}
