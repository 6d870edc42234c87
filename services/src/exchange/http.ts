import {
  ERROR_CODES,
  type ErrorCode,
  type ErrorShape,
  type Logger,
  MAX_HTTP_BODY_BYTES,
  type Result,
  silentLogger,
  TesseraError,
  GUARD_ERRORS,
} from '@tessera/protocol';
import { attachOpenApi, BODY_ERRORS, errorHandler, HttpApi, jsonBody } from '@tessera/runtime/http';
import type { RequireCredentialsOptions } from '@tessera/verifier';
import express, { type Request, type RequestHandler, type Router } from 'express';
import { z } from 'zod';
import { HostedKeyDelegationSchema, HostedKeyOfferSchema, type HostedKeyring } from './hosted-keys.js';
import { MessageBodySchema } from './messages.js';
import { QuestionnaireSchema, SUPPLIER_QUESTIONNAIRE } from './questionnaire.js';
import type { Actor, ExchangeService } from './service.js';

export interface ExchangeRouterDeps {
  service: ExchangeService;
  /** The verifier's guard (`verifierRouter.requireCredentials`): bearer access tokens for DataPartner holders. */
  requireCredentials(options: RequireCredentialsOptions): RequestHandler;
  /**
   * The resource access tokens must be granted for (action `*`): covered by the `data.exchange` policy of
   * verifier/policies/default.json (`/data/**`, DataPartnerCredential with dataspace "tessera").
   */
  resource?: string;
  /** Keys the stack holds for organisations, authorised on chain as delegates of their DIDs (see hosted-keys.ts). */
  hostedKeys?: HostedKeyring;
  log?: Logger;
}

export const DEFAULT_EXCHANGE_RESOURCE = '/data/exchange';

/** The acting organisation: the token's holder and the credentials it was granted on. */
export function actorOf(req: Request): Actor {
  const grant = req.accessGrant;
  if (!grant) throw new TesseraError('ERR_AUTH_REQUIRED', 'this route needs an access token');
  return { did: grant.holder, credentials: grant.credentials };
}

/** A refusal as a coded error, so the boundary maps it to its status and `{ error: { code, message } }`. */
export function unwrap<T>(r: Result<T>): T {
  if (r.ok) return r.value;
  const e: ErrorShape = r.error;
  throw new TesseraError(e.code, e.message, e.details === undefined ? undefined : { details: e.details });
}

const jws = (description: string) =>
  z.strictObject({ jws: z.string().min(1).max(MAX_HTTP_BODY_BYTES).meta({ description }) });
const MessageJws = jws('Compact JWS, ES256K, typ tessera-exchange+jwt, signed with the caller DID key');
const AckJws = jws("The recipient's JWS over the message hash, signed with its DID key");
// The body of a hosted message is a MessageBody: the service checks it with that schema when it signs
const Hosted = z.strictObject({
  to: z.string().min(1).max(300).meta({ description: 'the recipient DID' }),
  body: z.record(z.string(), z.unknown()).meta({ $ref: '#/components/schemas/MessageBody' }),
});
const DelegationSignature = z.strictObject({
  signature: z.string().regex(/^0x[0-9a-fA-F]{130}$/, '65 bytes of 0x hex'),
});
const PartnerBody = z.strictObject({ name: z.string().min(1).max(200).optional() });
const Query = z.object({
  kind: z.string().max(32).optional(),
  processId: z.string().max(100).optional(),
  limit: z.coerce.number().int().min(1).max(1000).optional(),
  afterSeq: z.coerce.number().int().min(0).optional(),
});
const IdParam = z.object({ id: z.string() });

const iso = z.string().meta({ format: 'date-time' });
const isoOrNull = iso.nullable();
const Partner = z
  .object({ did: z.string(), name: z.string(), validUntil: isoOrNull, registeredAt: iso, updatedAt: iso })
  .meta({ id: 'Partner' });
const Message = z
  .object({
    id: z.string(),
    kind: z.enum(['data', 'request', 'answer', 'decision', 'consent.grant', 'consent.revoke', 'forward']),
    from: z.string(),
    to: z.string(),
    processId: z.string().nullable(),
    refId: z
      .string()
      .nullable()
      .meta({ description: 'requestId of an answer, originalId of a forward, consentId of a revocation' }),
    contentHash: z
      .string()
      .nullable()
      .meta({ description: 'SHA-256 of the document, or of the inline payload as canonical JSON' }),
    body: z.unknown().meta({
      $ref: '#/components/schemas/MessageBody',
      description:
        'The `tex` claim of the message JWS (header typ tessera-exchange+jwt, alg ES256K; claims iss = sender ' +
        'DID, aud = recipient DID, jti = message id, iat = sender timestamp).',
    }),
    jws: z.string(),
    hash: z.string().meta({ description: 'SHA-256 (hex) of the JWS: what the acknowledgement signs' }),
    sentAt: iso,
    receivedAt: iso,
    status: z.enum(['sent', 'acknowledged']),
    ackJws: z.string().nullable(),
    ackHash: z.string().nullable(),
    ackedAt: isoOrNull,
  })
  .meta({ id: 'Message' });
const Consent = z
  .object({
    id: z.string(),
    controller: z.string(),
    recipient: z.string(),
    subject: z.string(),
    purpose: z.string(),
    thirdPartyDisclosure: z.boolean(),
    thirdParties: z.array(z.string()).nullable(),
    exchangeIds: z.array(z.string()).nullable(),
    expiresAt: iso,
    status: z.enum(['active', 'revoked']),
    revokedBy: z.string().nullable(),
    revokedAt: isoOrNull,
  })
  .meta({ id: 'Consent' });
const Process = z
  .object({
    id: z.string(),
    template: z.enum(['supplier-onboarding']),
    initiator: z.string(),
    counterparty: z.string(),
    status: z.enum(['running', 'completed', 'rejected']),
    steps: z.array(
      z.object({
        name: z.string(),
        kind: z.string(),
        from: z.enum(['initiator', 'counterparty']),
        state: z.enum(['waiting', 'open', 'sent', 'acknowledged']),
        messageId: z.string().optional(),
      }),
    ),
    createdAt: iso,
    updatedAt: iso,
  })
  .meta({ id: 'Process' });
const TrailEntry = z
  .object({
    seq: z.number().int(),
    when: iso,
    who: z.string(),
    what: z.string(),
    details: z.record(z.string(), z.unknown()),
    prevHash: z.string(),
    hash: z
      .string()
      .meta({ description: 'SHA-256 over the canonical JSON of seq, prevHash, who, what, when, details' }),
  })
  .meta({ id: 'TrailEntry' });
const verified = z.literal(true).meta({ description: 'always true: a signature that does not verify is refused' });
const issuedAt = z.number().meta({ description: "the signer's timestamp (iat), Unix seconds" });
const SignatureCheck = z
  .object({
    message: z.object({
      verified,
      signer: z.string().meta({ description: 'the sender DID' }),
      hash: z.string().meta({ description: 'SHA-256 (hex) of the message JWS' }),
      issuedAt,
    }),
    ack: z
      .object({
        verified,
        signer: z.string().meta({ description: 'the recipient DID' }),
        messageHash: z.string().meta({ description: 'the message hash the acknowledgement signs' }),
        issuedAt,
      })
      .nullable()
      .meta({ description: 'null while the message is not acknowledged' }),
  })
  .meta({ id: 'ExchangeSignatureCheck' });
const TrailHead = z.object({ seq: z.number().int(), hash: z.string() });
const TrailCheck = z
  .object({
    verified: z.literal(true).meta({ description: 'always true: a trail that does not verify is refused' }),
    length: z.number().int().meta({ description: 'entries checked' }),
    head: TrailHead.meta({ description: 'the last entry (seq 0: an empty trail)' }),
    anchored: TrailHead.meta({
      description: 'the head anchored on chain the trail was checked against (seq 0: none yet)',
    }),
  })
  .meta({ id: 'ExchangeTrailCheck' });

/** The exchange's own refusals (ERR_EXCHANGE_*): which apply depends on the message and its process. */
const EXCHANGE = (Object.keys(ERROR_CODES) as ErrorCode[]).filter((c) => c.startsWith('ERR_EXCHANGE_'));

/**
 * The data exchange's HTTP API and HTML interface (express 5 Router, no listen; the stack mounts it, for example at
 * `/data/exchange`). Every route but the UI's login form is guarded by the verifier's `requireCredentials` for the
 * resource `/data/exchange`, action `*`; the caller acts as the token's holder DID.
 *
 * - `POST /partners` `{ name? }` register (or refresh) the caller as a partner others can address; `GET /partners`
 * - `POST /partners/hosted-key` the delegation the caller's owner key signs to let the service sign for it (the HTML
 *   interface), `POST /partners/hosted-key/confirm` `{ signature }` relays it on chain (when `hostedKeys` is given)
 * - `POST /messages` `{ jws }` a message signed by the caller → 201 the record; `POST /messages/:id/ack` `{ jws }` the
 *   recipient's signed acknowledgement
 * - `POST /messages/hosted` `{ to, body }` and `POST /messages/:id/ack/hosted`: signed with the key the service holds
 *   for the caller (what the HTML interface uses)
 * - `GET /messages`, `GET /messages/:id`, `GET /messages/:id/provenance`, `GET /messages/:id/signatures`
 * - `GET /consents`, `GET /processes`, `GET /processes/:id`
 * - `GET /trail` (the caller's entries, the audit report to export), `GET /trail/verify` (hash chain and chain anchor)
 * - `GET /ui` … the HTML interface for the same features (see ui.ts); `GET /openapi.json` this API, OpenAPI 3.1
 *
 * Refusals are `{ error: { code, message, details? } }` with the status of the code in protocol's registry.
 */
export function buildExchangeRouter(deps: ExchangeRouterDeps): Router {
  const { service } = deps;
  const log = deps.log ?? silentLogger;
  const guard = deps.requireCredentials({ resource: deps.resource ?? DEFAULT_EXCHANGE_RESOURCE, action: '*' });
  const router = express.Router();

  const api = new HttpApi({
    title: 'Tessera data exchange',
    description:
      'Send data, request it with a questionnaire and answer it, grant and revoke consent, forward under consent, ' +
      'and chain exchanges into processes. Every message is a JWS (ES256K) signed with the sender DID key and ' +
      'acknowledged by the recipient with its own JWS over the message hash; both are recorded in a hash-chained ' +
      'trail anchored on chain (TesseraAnchor). Callers present a DataPartnerCredential to the verifier ' +
      '(POST /verifier/presentation-requests with resource /data/exchange and action *, then POST ' +
      '/verifier/presentations) and send the access token as a bearer token; they act as its holder DID.',
    bearerDescription: 'Access token from POST /verifier/presentations for resource /data/exchange, action *',
  });
  // generated by zod itself: message bodies carry JSON values (z.json(), recursive)
  api.jsonSchema('MessageBody', MessageBodySchema);
  api.jsonSchema('Questionnaire', QuestionnaireSchema);
  const document = (serverUrl: string) => api.openapi(serverUrl);

  router.get('/openapi.json', (req, res) => {
    res.json(document(`${req.protocol}://${req.get('host') ?? 'localhost'}${req.baseUrl}`));
  });

  const routes = express.Router();
  routes.use(guard);
  routes.use(jsonBody());
  const list = (name: string, item: z.ZodType) => ({
    description: `The ${name}`,
    schema: z.object({ [name]: z.array(item) }),
  });
  const read = (
    path: string,
    summary: string,
    extra: { params?: typeof IdParam; query?: typeof Query },
    answer: { description: string; schema: z.ZodType | Record<string, unknown> },
    handler: (input: { params: { id: string }; query: z.output<typeof Query> }, req: Request) => Promise<unknown>,
  ) =>
    api.route(
      routes,
      {
        method: 'get',
        path,
        summary,
        bearer: true,
        ...extra,
        responses: { 200: answer },
        errors: [...GUARD_ERRORS, ...(extra.params ? (['ERR_EXCHANGE_NOT_FOUND'] as ErrorCode[]) : [])],
      },
      async (input, req, res) => {
        res.json(await handler(input as never, req));
      },
    );
  const write = <B extends z.ZodType>(
    path: string,
    summary: string,
    o: {
      body?: B;
      params?: typeof IdParam;
      status?: number;
      answer: { description: string; schema: z.ZodType | Record<string, unknown> };
      /** Codes beyond the guard's and the exchange's own. */
      errors?: ErrorCode[];
    },
    handler: (input: { body: z.output<B>; params: { id: string } }, req: Request) => Promise<unknown>,
  ) =>
    api.route(
      routes,
      {
        method: 'post',
        path,
        summary,
        bearer: true,
        ...(o.params ? { params: o.params } : {}),
        ...(o.body ? { body: o.body } : {}),
        responses: { [o.status ?? 200]: o.answer },
        errors: [...GUARD_ERRORS, ...EXCHANGE, ...(o.body ? BODY_ERRORS : []), ...(o.errors ?? [])],
      },
      async (input, req, res) => {
        res.status(o.status ?? 200).json(await handler(input as never, req));
      },
    );

  read(
    '/questionnaires/supplier-onboarding',
    "The exchange's supplier-onboarding questionnaire, for a buyer to send as it is or to start from",
    {},
    { description: 'The questionnaire', schema: { $ref: '#/components/schemas/Questionnaire' } },
    async () => SUPPLIER_QUESTIONNAIRE,
  );
  read('/partners', 'Partners others can address', {}, list('partners', Partner), async () => ({
    partners: await service.partners(),
  }));
  write(
    '/partners',
    'Register (or refresh) the caller as a partner others can address',
    { body: PartnerBody, answer: { description: 'The partner', schema: Partner } },
    async ({ body: { name } }, req) => unwrap(await service.registerPartner(actorOf(req), name)),
  );
  write(
    '/partners/hosted-key',
    "The delegation the caller's owner key signs to let the service sign for it (the HTML interface)",
    {
      answer: { description: 'The offer and whether it is active', schema: HostedKeyOfferSchema },
      errors: ['ERR_NOT_FOUND', 'ERR_DID_MALFORMED'],
    },
    async (_input, req) => {
      if (!deps.hostedKeys) throw new TesseraError('ERR_NOT_FOUND', 'this deployment holds no keys for organisations');
      return unwrap(await deps.hostedKeys.offer(actorOf(req).did));
    },
  );
  write(
    '/partners/hosted-key/confirm',
    'Relay the signed delegation on chain',
    {
      body: DelegationSignature,
      answer: { description: 'The delegate and its transaction', schema: HostedKeyDelegationSchema },
      errors: ['ERR_NOT_FOUND', 'ERR_DID_MALFORMED', 'ERR_CHAIN_TX_FAILED'],
    },
    async ({ body: { signature } }, req) => {
      if (!deps.hostedKeys) throw new TesseraError('ERR_NOT_FOUND', 'this deployment holds no keys for organisations');
      return unwrap(await deps.hostedKeys.confirm(actorOf(req).did, signature));
    },
  );
  write(
    '/messages',
    'Submit a message signed by the caller',
    { body: MessageJws, status: 201, answer: { description: 'The recorded message', schema: Message } },
    async ({ body }, req) => unwrap(await service.submit(actorOf(req), body.jws)),
  );
  write(
    '/messages/hosted',
    'Submit a message signed with the key the service holds for the caller',
    { body: Hosted, status: 201, answer: { description: 'The recorded message', schema: Message } },
    async ({ body: { to, body: b } }, req) => unwrap(await service.sendHosted(actorOf(req), to, b as never)),
  );
  read(
    '/messages',
    "The caller's messages (sent and received), newest first",
    { query: Query },
    list('messages', Message),
    async ({ query }, req) => ({ messages: await service.messages(actorOf(req).did, query) }),
  );
  read(
    '/messages/{id}',
    'A message the caller sent or received',
    { params: IdParam },
    { description: 'The message', schema: Message },
    async ({ params }, req) => unwrap(await service.message(params.id, actorOf(req).did)),
  );
  read(
    '/messages/{id}/provenance',
    'The provenance chain: the message, then each exchange it forwards, back to the original',
    { params: IdParam },
    list('chain', Message),
    async ({ params }, req) => ({ chain: unwrap(await service.provenance(params.id, actorOf(req).did)) }),
  );
  read(
    '/messages/{id}/signatures',
    "Re-verify the sender's and the recipient's signatures against their DIDs now",
    { params: IdParam },
    { description: 'Both signatures verified', schema: SignatureCheck },
    async ({ params }, req) => {
      const v = unwrap(await service.verifySignatures(params.id, actorOf(req).did));
      return {
        message: { verified: true, signer: v.message.from, hash: v.message.hash, issuedAt: v.message.issuedAt },
        ack: v.ack
          ? { verified: true, signer: v.ack.from, messageHash: v.ack.messageHash, issuedAt: v.ack.issuedAt }
          : null,
      };
    },
  );
  write(
    '/messages/{id}/ack',
    "The recipient's acknowledgement",
    { params: IdParam, body: AckJws, answer: { description: 'The acknowledged message', schema: Message } },
    async ({ params, body }, req) => unwrap(await service.acknowledge(actorOf(req), params.id, body.jws)),
  );
  write(
    '/messages/{id}/ack/hosted',
    'Acknowledge with the key the service holds for the caller',
    { params: IdParam, answer: { description: 'The acknowledged message', schema: Message } },
    async ({ params }, req) => unwrap(await service.acknowledgeHosted(actorOf(req), params.id)),
  );
  read('/consents', 'Consents the caller gave or received', {}, list('consents', Consent), async (_i, req) => ({
    consents: await service.consents(actorOf(req).did),
  }));
  read('/processes', "The caller's processes", {}, list('processes', Process), async (_i, req) => ({
    processes: await service.processes(actorOf(req).did),
  }));
  read(
    '/processes/{id}',
    'A process with its step states',
    { params: IdParam },
    { description: 'The process', schema: Process },
    async ({ params }, req) => unwrap(await service.process(params.id, actorOf(req).did)),
  );
  read(
    '/trail',
    'Trail entries the caller took part in, oldest first (the exportable audit report)',
    { query: Query },
    list('entries', TrailEntry),
    async ({ query: q }, req) => ({
      entries: await service.trail({
        party: actorOf(req).did,
        ...(q.afterSeq === undefined ? {} : { afterSeq: q.afterSeq }),
        ...(q.limit === undefined ? {} : { limit: q.limit }),
      }),
    }),
  );
  read(
    '/trail/verify',
    'Verify the whole trail: hash chain, recorded messages, and the head anchored on chain',
    {},
    { description: 'The trail verifies', schema: TrailCheck },
    async () => ({ verified: true, ...unwrap(await service.verifyTrail({ checkAnchor: true })) }),
  );

  routes.use(errorHandler(log, 'exchange'));
  router.use(routes);
  return attachOpenApi(router, document);
}
