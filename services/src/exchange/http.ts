import {
  type ErrorShape,
  type Logger,
  MAX_HTTP_BODY_BYTES,
  type Result,
  silentLogger,
  TesseraError,
} from '@tessera/protocol';
import { attachOpenApi, errorHandler, jsonBody } from '@tessera/runtime/http';
import type { RequireCredentialsOptions } from '@tessera/verifier';
import express, { type Request, type RequestHandler, type Router } from 'express';
import { z } from 'zod';
import type { HostedKeyring } from './hosted-keys.js';
import { exchangeOpenApi } from './openapi.js';
import type { Actor, ExchangeService } from './service.js';
import { buildExchangeUi } from './ui.js';

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

function body<T>(schema: z.ZodType<T>, req: Request): T {
  if (!req.is('application/json'))
    throw new TesseraError('ERR_UNSUPPORTED_MEDIA_TYPE', 'the body must be application/json');
  const r = schema.safeParse(req.body);
  if (!r.success) {
    const issues = r.error.issues.map((i) => ({ path: i.path.map(String).join('.') || '(root)', message: i.message }));
    throw new TesseraError(
      'ERR_VALIDATION',
      `the body is invalid: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`,
      { details: issues },
    );
  }
  return r.data;
}

const Jws = z.strictObject({ jws: z.string().min(1).max(MAX_HTTP_BODY_BYTES) });
const Hosted = z.strictObject({ to: z.string().min(1).max(300), body: z.record(z.string(), z.unknown()) });
const DelegationSignature = z.strictObject({
  signature: z.string().regex(/^0x[0-9a-fA-F]{130}$/, '65 bytes of 0x hex'),
});
const Partner = z.strictObject({ name: z.string().min(1).max(200).optional() });
const Query = z.object({
  kind: z.string().max(32).optional(),
  processId: z.string().max(100).optional(),
  limit: z.coerce.number().int().min(1).max(1000).optional(),
  afterSeq: z.coerce.number().int().min(0).optional(),
});

const param = (req: Request, name: string): string => String((req.params as Record<string, string>)[name] ?? '');

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

  router.get('/openapi.json', (req, res) => {
    res.json(exchangeOpenApi(`${req.protocol}://${req.get('host') ?? 'localhost'}${req.baseUrl}`));
  });
  router.use('/ui', buildExchangeUi({ service, guard, log }));

  const api = express.Router();
  api.use(guard);
  api.use(jsonBody());

  api.get('/partners', async (_req, res) => {
    res.json({ partners: await service.partners() });
  });
  api.post('/partners', async (req, res) => {
    const { name } = body(Partner, req);
    res.json(unwrap(await service.registerPartner(actorOf(req), name)));
  });
  api.post('/partners/hosted-key', async (req, res) => {
    if (!deps.hostedKeys) throw new TesseraError('ERR_NOT_FOUND', 'this deployment holds no keys for organisations');
    res.json(unwrap(await deps.hostedKeys.offer(actorOf(req).did)));
  });
  api.post('/partners/hosted-key/confirm', async (req, res) => {
    if (!deps.hostedKeys) throw new TesseraError('ERR_NOT_FOUND', 'this deployment holds no keys for organisations');
    const { signature } = body(DelegationSignature, req);
    res.json(unwrap(await deps.hostedKeys.confirm(actorOf(req).did, signature)));
  });
  api.post('/messages', async (req, res) => {
    const { jws } = body(Jws, req);
    res.status(201).json(unwrap(await service.submit(actorOf(req), jws)));
  });
  api.post('/messages/hosted', async (req, res) => {
    const { to, body: b } = body(Hosted, req);
    res.status(201).json(unwrap(await service.sendHosted(actorOf(req), to, b as never)));
  });
  api.get('/messages', async (req, res) => {
    const q = Query.parse(req.query);
    res.json({ messages: await service.messages(actorOf(req).did, q) });
  });
  api.get('/messages/:id', async (req, res) => {
    res.json(unwrap(await service.message(param(req, 'id'), actorOf(req).did)));
  });
  api.get('/messages/:id/provenance', async (req, res) => {
    res.json({ chain: unwrap(await service.provenance(param(req, 'id'), actorOf(req).did)) });
  });
  api.get('/messages/:id/signatures', async (req, res) => {
    const v = unwrap(await service.verifySignatures(param(req, 'id'), actorOf(req).did));
    res.json({
      message: { verified: true, signer: v.message.from, hash: v.message.hash, issuedAt: v.message.issuedAt },
      ack: v.ack
        ? { verified: true, signer: v.ack.from, messageHash: v.ack.messageHash, issuedAt: v.ack.issuedAt }
        : null,
    });
  });
  api.post('/messages/:id/ack', async (req, res) => {
    const { jws } = body(Jws, req);
    res.json(unwrap(await service.acknowledge(actorOf(req), param(req, 'id'), jws)));
  });
  api.post('/messages/:id/ack/hosted', async (req, res) => {
    res.json(unwrap(await service.acknowledgeHosted(actorOf(req), param(req, 'id'))));
  });
  api.get('/consents', async (req, res) => {
    res.json({ consents: await service.consents(actorOf(req).did) });
  });
  api.get('/processes', async (req, res) => {
    res.json({ processes: await service.processes(actorOf(req).did) });
  });
  api.get('/processes/:id', async (req, res) => {
    res.json(unwrap(await service.process(param(req, 'id'), actorOf(req).did)));
  });
  api.get('/trail', async (req, res) => {
    const q = Query.parse(req.query);
    res.json({
      entries: await service.trail({
        party: actorOf(req).did,
        ...(q.afterSeq === undefined ? {} : { afterSeq: q.afterSeq }),
        ...(q.limit === undefined ? {} : { limit: q.limit }),
      }),
    });
  });
  api.get('/trail/verify', async (_req, res) => {
    res.json({ verified: true, ...unwrap(await service.verifyTrail({ checkAnchor: true })) });
  });

  api.use(errorHandler(log, 'exchange'));
  router.use(api);
  return attachOpenApi(router, exchangeOpenApi);
}
