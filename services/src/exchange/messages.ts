import { createHash, randomUUID } from 'node:crypto';
import { canonicalJson, err, ok, type Result } from '@tessera/protocol';
import { createJWT, decodeJWT, type Signer, verifyJWT } from 'did-jwt';
import type { Resolvable } from 'did-resolver';
import { z } from 'zod';
import { QuestionnaireSchema } from './questionnaire.js';

/**
 * Exchange messages and acknowledgements: compact JWS (ES256K) signed with the sender's DID key through did-jwt, and
 * checked against the DID document from the (cached) did:ethr resolver.
 *
 * A message is a JWT whose `iss` is the sender, `aud` the recipient, `jti` the message id, `iat` the sender's
 * timestamp, and whose `tex` claim holds the body of one of the kinds below. The acknowledgement is a JWT from the
 * recipient (`iss`) to the sender (`aud`) whose `ack` claim names the message id and the SHA-256 of the message's
 * compact JWS, so the receiver's signature covers exactly the bytes it received.
 */

export const MESSAGE_TYP = 'tessera-exchange+jwt';
export const ACK_TYP = 'tessera-exchange-ack+jwt';
/** Inline payloads above this size must be sent as a document referenced by hash. */
export const MAX_INLINE_PAYLOAD_BYTES = 32 * 1024;
export const MAX_MESSAGE_JWS_BYTES = 60 * 1024;

const DID = z
  .string()
  .max(300)
  .regex(/^did:[a-z0-9]+:[A-Za-z0-9._:%-]+$/, 'must be a DID');
const ID = z
  .string()
  .min(8)
  .max(100)
  .regex(/^[A-Za-z0-9._:-]+$/, 'must be an identifier');
const SHA256 = z.string().regex(/^[0-9a-f]{64}$/, 'must be a lower-case hex SHA-256');

export const DocumentRefSchema = z.strictObject({
  sha256: SHA256,
  mediaType: z.string().min(3).max(100),
  title: z.string().min(1).max(200),
  size: z.number().int().min(0).optional(),
  /** Where the document can be fetched; the hash decides whether it is the right one. */
  uri: z.string().url().max(500).optional(),
});
export type DocumentRef = z.infer<typeof DocumentRefSchema>;

const payload = z.json().refine((p) => canonicalJson(p).length <= MAX_INLINE_PAYLOAD_BYTES, {
  message: `inline payloads are at most ${MAX_INLINE_PAYLOAD_BYTES} bytes; send a document reference instead`,
});

const content = {
  label: z.string().min(1).max(200),
  payload: payload.optional(),
  document: DocumentRefSchema.optional(),
};
const oneContent = (b: { payload?: unknown; document?: unknown }) =>
  (b.payload === undefined) !== (b.document === undefined);
const ONE_CONTENT = { message: 'exactly one of payload (inline JSON) or document (referenced by hash)' };

const processRef = {
  /** The process this message is a step of. */
  processId: ID.optional(),
  /** With the first message of a new process: its template. */
  template: z.enum(['supplier-onboarding']).optional(),
};

export const MessageBodySchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('data'), ...content, ...processRef }).refine(oneContent, ONE_CONTENT),
  z.strictObject({ kind: z.literal('request'), questionnaire: QuestionnaireSchema, ...processRef }),
  z.strictObject({
    kind: z.literal('answer'),
    /** The id of the request message: a request and its answer share it. */
    requestId: ID,
    answers: z.record(z.string(), z.json()),
    ...processRef,
  }),
  z.strictObject({
    kind: z.literal('decision'),
    approved: z.boolean(),
    reason: z.string().max(1000).optional(),
    ...processRef,
  }),
  /**
   * Kantara Consent Receipt v1.1 fields, reduced to what the exchange enforces: the controller is the sender (`iss`),
   * the recipient of the data is `aud`, the PII principal is `subject`; one purpose with its category and whether it
   * allows third-party disclosure (to whom), the consent's expiry and jurisdiction.
   */
  z.strictObject({
    kind: z.literal('consent.grant'),
    subject: z.string().min(1).max(300),
    purpose: z.string().min(1).max(500),
    purposeCategory: z.string().min(1).max(100),
    consentType: z.enum(['EXPLICIT', 'IMPLICIT']).default('EXPLICIT'),
    thirdPartyDisclosure: z.boolean(),
    /** When disclosure is allowed: the only third parties it is allowed to; absent = any DataPartner. */
    thirdParties: z.array(DID).max(50).optional(),
    /** The exchanges this consent covers; absent = every data exchange from the controller to the recipient. */
    exchangeIds: z.array(ID).max(100).optional(),
    jurisdiction: z.string().min(2).max(10),
    expiresAt: z.iso.datetime(),
    policyUrl: z.string().url().max(500).optional(),
  }),
  z.strictObject({ kind: z.literal('consent.revoke'), consentId: ID }),
  z
    .strictObject({
      kind: z.literal('forward'),
      /** The exchange forwarded: the provenance chain runs through it. */
      originalId: ID,
      consentId: ID,
      ...content,
    })
    .refine(oneContent, ONE_CONTENT),
]);
export type MessageBody = z.infer<typeof MessageBodySchema>;
export type MessageKind = MessageBody['kind'];
export type MessageBodyInput = z.input<typeof MessageBodySchema>;

export interface VerifiedMessage {
  id: string;
  from: string;
  to: string;
  /** Sender's timestamp, Unix seconds (`iat`). */
  issuedAt: number;
  body: MessageBody;
  jws: string;
  /** SHA-256 (hex) of the compact JWS: what the acknowledgement signs. */
  hash: string;
}

export interface VerifiedAck {
  messageId: string;
  messageHash: string;
  from: string;
  to: string;
  issuedAt: number;
  jws: string;
  hash: string;
}

export const sha256Hex = (data: string | Uint8Array): string => createHash('sha256').update(data).digest('hex');

/** The hash of what a data or forward message carries: the document's hash, or that of the payload's canonical JSON. */
export function contentHash(body: { payload?: unknown; document?: DocumentRef }): string | null {
  if (body.document) return body.document.sha256;
  if (body.payload !== undefined) return sha256Hex(canonicalJson(body.payload));
  return null;
}

export interface SignAs {
  did: string;
  signer: Signer;
}

/**
 * Sign a message as `from` to `to` (did-jwt createJWT, ES256K).
 *
 * @example await signMessage({ did, signer: ES256KSigner(key) }, supplierDid, { kind: 'request', questionnaire })
 */
export async function signMessage(
  from: SignAs,
  to: string,
  body: MessageBodyInput,
  options: { id?: string; issuedAt?: number } = {},
): Promise<string> {
  return createJWT(
    {
      aud: to,
      jti: options.id ?? `msg-${randomUUID()}`,
      iat: options.issuedAt ?? Math.floor(Date.now() / 1000),
      tex: body,
    },
    { issuer: from.did, signer: from.signer, alg: 'ES256K' },
    { typ: MESSAGE_TYP as 'JWT', alg: 'ES256K' },
  );
}

/** The recipient's acknowledgement of a message: its signature over the message's hash. */
export async function signAck(by: SignAs, message: { id: string; from: string; jws: string }): Promise<string> {
  return createJWT(
    { aud: message.from, ack: { messageId: message.id, messageHash: sha256Hex(message.jws) } },
    { issuer: by.did, signer: by.signer, alg: 'ES256K' },
    { typ: ACK_TYP as 'JWT', alg: 'ES256K' },
  );
}

type Decoded = ReturnType<typeof decodeJWT>;

function decode(jws: unknown, typ: string): Result<Decoded> {
  if (typeof jws !== 'string' || jws.length > MAX_MESSAGE_JWS_BYTES || !/^[\w-]+\.[\w-]+\.[\w-]+$/.test(jws)) {
    return err('ERR_EXCHANGE_MESSAGE_INVALID', 'the message must be a compact JWS of at most 60 KiB');
  }
  let d: Decoded;
  try {
    d = decodeJWT(jws);
  } catch (e) {
    return err('ERR_EXCHANGE_MESSAGE_INVALID', `the JWS does not decode: ${(e as Error).message}`);
  }
  // Pin the algorithm: no `none`, no confusion with a symmetric or another curve's algorithm (RFC 8725 §3.1).
  if (d.header.alg !== 'ES256K') return err('ERR_EXCHANGE_BAD_SIGNATURE', `algorithm ${String(d.header.alg)} refused`);
  if (d.header.typ !== typ) return err('ERR_EXCHANGE_MESSAGE_INVALID', `the JWS typ must be ${typ}`);
  if (typeof d.payload.iss !== 'string' || typeof d.payload.aud !== 'string' || typeof d.payload.iat !== 'number') {
    return err('ERR_EXCHANGE_MESSAGE_INVALID', 'the JWS needs iss, aud (one DID) and iat');
  }
  return ok(d);
}

async function checkSignature(jws: string, audience: string, resolver: Resolvable): Promise<Result<true>> {
  try {
    await verifyJWT(jws, { resolver, audience });
    return ok(true);
  } catch (e) {
    return err('ERR_EXCHANGE_BAD_SIGNATURE', `the signature does not verify: ${(e as Error).message.slice(0, 300)}`);
  }
}

/** Verify a message's signature against its sender's DID and parse its body. */
export async function verifyMessage(jws: unknown, resolver: Resolvable): Promise<Result<VerifiedMessage>> {
  const d = decode(jws, MESSAGE_TYP);
  if (!d.ok) return d;
  const { iss, aud, iat, jti } = d.value.payload as { iss: string; aud: string; iat: number; jti?: unknown };
  const id = ID.safeParse(jti);
  if (!id.success) return err('ERR_EXCHANGE_MESSAGE_INVALID', 'the message id (jti) is missing or malformed');
  const parties = z.tuple([DID, DID]).safeParse([iss, aud]);
  if (!parties.success) return err('ERR_EXCHANGE_MESSAGE_INVALID', 'iss and aud must be DIDs');
  if (iss === aud) return err('ERR_EXCHANGE_MESSAGE_INVALID', 'a party cannot exchange with itself');
  const sig = await checkSignature(jws as string, aud, resolver);
  if (!sig.ok) return sig;
  const body = MessageBodySchema.safeParse((d.value.payload as { tex?: unknown }).tex);
  if (!body.success) {
    const issues = body.error.issues.map((i) => ({
      path: i.path.map(String).join('.') || '(root)',
      message: i.message,
    }));
    return err(
      'ERR_EXCHANGE_MESSAGE_INVALID',
      `the message body is invalid: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`,
      issues,
    );
  }
  return ok({
    id: id.data,
    from: iss,
    to: aud,
    issuedAt: iat,
    body: body.data,
    jws: jws as string,
    hash: sha256Hex(jws as string),
  });
}

/** Verify an acknowledgement's signature against its signer's DID. */
export async function verifyAck(jws: unknown, resolver: Resolvable): Promise<Result<VerifiedAck>> {
  const d = decode(jws, ACK_TYP);
  if (!d.ok) return d;
  const { iss, aud, iat, ack } = d.value.payload as { iss: string; aud: string; iat: number; ack?: unknown };
  const a = z.strictObject({ messageId: ID, messageHash: SHA256 }).safeParse(ack);
  if (!a.success)
    return err('ERR_EXCHANGE_MESSAGE_INVALID', 'the acknowledgement needs ack.messageId and ack.messageHash');
  const sig = await checkSignature(jws as string, aud, resolver);
  if (!sig.ok) return sig;
  return ok({ ...a.data, from: iss, to: aud, issuedAt: iat, jws: jws as string, hash: sha256Hex(jws as string) });
}
