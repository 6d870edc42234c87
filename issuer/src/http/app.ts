import {
  CREDENTIAL_TYPE_NAMES,
  CREDENTIAL_TYPES,
  ERROR_CODES,
  type ErrorShape,
  type Logger,
  type Result,
  silentLogger,
  TesseraError,
  GUARD_ERRORS,
  PRESENTATION_ERRORS,
} from '@tessera/protocol';
import { attachOpenApi, BODY_ERRORS, errorHandler, jsonBody, parseWith } from '@tessera/runtime/http';
import express, { type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import { z } from 'zod';
import type { DeviceLifecycle } from '../devices/lifecycle.js';
import type { Issuer, StatusChangeEvent } from '../issuer.js';
import { createParties } from '../parties.js';
import {
  AdminToken,
  AuditEntry,
  AuditQuery,
  Challenge,
  Credential,
  CredentialPage,
  DidParam,
  documentOid4vci,
  IdParam,
  IssueEnvelope,
  IssueRequest,
  ListQuery,
  newIssuerApi,
  Offer,
  OfferBody,
  AuditVerification,
  CredentialTypes,
  PartiesQuery,
  Party,
  PartyInputDoc,
  ReasonBody,
  RedeemBody,
  Redeemed,
  StatusChange,
  StatusListParam,
  StatusListPurposeParam,
  TokenBody,
} from './api.js';
import {
  ISSUER_RESOURCE_PREFIX,
  ISSUER_SIGN_IN_ACTION,
  ISSUER_SIGN_IN_SCOPE,
  type IssuerAuth,
  type Principal,
  principalOf,
} from './auth.js';
import { DEVICE_BATCH_PATH, deviceRoutes } from './devices.js';
import { OID4VCI_AUTHORIZE_RESOURCE, OID4VCI_FORM_PATHS, oid4vciRoutes, presentOffer } from '../oid4vci/routes.js';

export interface IssuerHttpConfig {
  /** Body size limit in bytes. */
  maxBodyBytes?: number;
  /**
   * Requests per minute and source address on the unauthenticated endpoints that spend work or guesses
   * (/auth/*, /offers/redeem). In-process, unless `authRequestCounter` shares the count between replicas.
   */
  authRequestsPerMinute?: number;
  /**
   * Count one request of `source` in the one-minute window starting at `windowStart` (ms) and return the window's
   * count so far, shared between replicas (the stack gives one on Redis). Without it each process counts its own.
   */
  authRequestCounter?: (source: string, windowStart: number) => Promise<number>;
  /**
   * Open `/status-events` streams allowed per source address and in all. The stream stays public (it carries only
   * status list URLs and versions, which are public, so verifiers of other deployments can follow it); the caps keep
   * it from holding unbounded connections. Beyond them: 429 ERR_RATE_LIMITED per source, 503 ERR_CAPACITY in all.
   */
  statusEventStreams?: { perSource?: number; total?: number };
  /**
   * Load balancers whose X-Forwarded-For names the client (express `trust proxy`): the per-source limits above then
   * count the client. None by default: the connecting address is the source.
   */
  trustedProxies?: readonly string[];
}

/** Defaults of the status event stream caps. */
export const STATUS_EVENT_STREAMS = { perSource: 4, total: 256 } as const;

export interface IssuerHttpDeps {
  issuer: Issuer;
  /** The credential core: admin sign-in and every route's guard (which role may do what is policy data). */
  auth: IssuerAuth;
  /** The device lifecycle (needs the outbox and a DeviceRegistry); without it /devices answers ERR_UNAVAILABLE. */
  devices?: DeviceLifecycle;
  logger?: Logger;
  now?: () => Date;
}

const sendError = (res: Response, e: ErrorShape) => {
  res.status(ERROR_CODES[e.code].status).json({ error: e });
};

const send = <T>(res: Response, r: Result<T>, status = 200) => {
  if (r.ok) res.status(status).json(r.value);
  else sendError(res, r.error);
};

/**
 * The issuer's HTTP API as an express app (no listener: `main.ts` or a test calls `listen`). Every error is
 * `{ error: { code, message, details? } }` with the status of its code; nothing else leaks (no stacks).
 */
export function buildIssuerApp(config: IssuerHttpConfig, deps: IssuerHttpDeps): express.Express {
  const { issuer } = deps;
  const log = deps.logger ?? silentLogger;
  const now = deps.now ?? (() => new Date());
  const { auth } = deps;
  const parties = createParties(issuer);
  const app = express();
  app.disable('x-powered-by');
  app.set('query parser', 'simple');
  app.set('trust proxy', config.trustedProxies?.length ? [...config.trustedProxies] : false);

  // Bodies are JSON or nothing; a registration batch is authenticated first and has its own limit (devices.ts).
  app.use(
    jsonBody({
      ...(config.maxBodyBytes ? { limit: config.maxBodyBytes } : {}),
      skip: (req) => req.path === DEVICE_BATCH_PATH || OID4VCI_FORM_PATHS.includes(req.path),
    }),
  );

  // Fixed one-minute windows per source address; the map is cleared each window, so it cannot grow without bound.
  const perMinute = config.authRequestsPerMinute ?? 60;
  let window = { startedAt: 0, counts: new Map<string, number>() };
  const shared = config.authRequestCounter;
  const limited = async (req: Request, res: Response, next: NextFunction) => {
    const t = now().getTime();
    const source = req.ip ?? req.socket.remoteAddress ?? 'unknown';
    let n: number;
    let startedAt: number;
    if (shared) {
      // Windows aligned on the minute, so every replica counts into the same one.
      startedAt = t - (t % 60_000);
      try {
        n = await shared(source, startedAt);
      } catch {
        sendError(res, { code: 'ERR_UNAVAILABLE', message: 'the shared rate limit cannot be read; retry later' });
        return;
      }
    } else {
      if (t - window.startedAt >= 60_000 || t < window.startedAt) window = { startedAt: t, counts: new Map() };
      n = (window.counts.get(source) ?? 0) + 1;
      window.counts.set(source, n);
      startedAt = window.startedAt;
    }
    if (n > perMinute) {
      res.setHeader('retry-after', String(Math.max(1, Math.ceil((startedAt + 60_000 - t) / 1000))));
      sendError(res, { code: 'ERR_RATE_LIMITED', message: `more than ${perMinute} requests a minute; retry later` });
      return;
    }
    next();
  };

  /**
   * The credential core's guard for an issuer route (`path` relative to `/issuer`): the token must be live and its
   * credentials must meet the route's policy; the caller is then `res.locals.principal`.
   */
  const guard = (path: string): RequestHandler[] => [
    auth.guard({ resource: `${ISSUER_RESOURCE_PREFIX}${path}` }),
    (req: Request, res: Response, next: NextFunction) => {
      res.locals.principal = principalOf(req.accessGrant!);
      next();
    },
  ];
  const actor = (res: Response) => (res.locals.principal as Principal).did;

  const api = newIssuerApi();
  const BODY = BODY_ERRORS;

  api.route(
    app,
    {
      method: 'get',
      path: '/credential-types',
      summary: 'The credential types, their default and maximum validity and claim schemas',
      responses: {
        200: {
          description: 'Types by name',
          schema: CredentialTypes,
        },
      },
    },
    (_input, _req, res) => {
      res.json(
        Object.fromEntries(
          CREDENTIAL_TYPE_NAMES.map((t) => [
            t,
            {
              kind: CREDENTIAL_TYPES[t].kind,
              defaultValiditySeconds: CREDENTIAL_TYPES[t].defaultValiditySeconds,
              maxValiditySeconds: CREDENTIAL_TYPES[t].maxValiditySeconds,
              claims: { $ref: `/openapi.json#/components/schemas/${t}Claims` },
            },
          ]),
        ),
      );
    },
  );

  // Admin sign-in: aliases of the verifier's presentation request and token endpoints for the issuer's scope, kept
  // for the admin CLI; both run through the credential core (one verification, one token format).
  api.route(
    app,
    {
      method: 'post',
      path: '/auth/challenge',
      summary: 'Get a single-use nonce and the audience for an admin presentation',
      responses: { 201: { description: 'The challenge', schema: Challenge } },
      errors: ['ERR_RATE_LIMITED', 'ERR_CAPACITY'],
    },
    limited,
    async (_input, _req, res) => {
      const r = await auth.request(ISSUER_SIGN_IN_SCOPE, ISSUER_SIGN_IN_ACTION);
      if (!r.ok) return sendError(res, r.error);
      res.status(201).json({
        nonce: r.value.nonce,
        audience: r.value.audience,
        expiresAt: new Date(r.value.expiresAt * 1000).toISOString(),
        requirements: r.value.requirements,
      });
    },
  );
  api.route(
    app,
    {
      method: 'post',
      path: '/auth/token',
      summary: 'Exchange a presentation (JWT VP with nonce and aud) of Admin/Operator credentials for an access token',
      body: TokenBody,
      invalid: () => new TesseraError('ERR_VP_MALFORMED', 'the body is { "presentation": "<JWT VP>" }'),
      responses: { 200: { description: 'A short-lived access token', schema: AdminToken } },
      errors: [...PRESENTATION_ERRORS, 'ERR_RATE_LIMITED', ...BODY],
    },
    limited,
    async ({ body }, _req, res) => {
      const r = await auth.exchange(body.presentation);
      if (!r.ok) {
        log.info({ code: r.error.code, reason: r.error.message }, 'admin sign-in refused');
        return sendError(res, r.error);
      }
      const p = principalOf(r.value.grant);
      await issuer.recordAction('auth.token', { holder: p.did, roles: p.roles }, { actor: p.did });
      res.setHeader('cache-control', 'no-store');
      res.json({
        accessToken: r.value.token,
        tokenType: 'Bearer',
        expiresAt: new Date(r.value.grant.expiresAt * 1000).toISOString(),
        did: p.did,
        roles: p.roles,
      });
    },
  );
  api.route(
    app,
    {
      method: 'post',
      path: '/auth/logout',
      summary: 'End the access token',
      bearer: true,
      responses: { 204: { description: 'Done' } },
      errors: ['ERR_AUTH_REQUIRED', 'ERR_AUTH_INVALID'],
    },
    async (_input, req, res) => {
      const m = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '');
      if (!m) return sendError(res, { code: 'ERR_AUTH_REQUIRED', message: 'an access token is required' });
      const r = await auth.signOut(m[1]!);
      if (r.ok) res.status(204).end();
      else sendError(res, r.error);
    },
  );

  // The route checks the envelope; issuance checks the type and its claims with the schemas IssueRequest documents.
  api.route(
    app,
    {
      method: 'post',
      path: '/credentials',
      summary: 'Issue a credential (Admin)',
      bearer: true,
      body: IssueRequest,
      validateBody: false,
      responses: { 201: { description: 'The issued credential', schema: Credential } },
      errors: [...GUARD_ERRORS, 'ERR_VC_TYPE_UNKNOWN', 'ERR_VC_CLAIMS_INVALID', 'ERR_DID_MALFORMED', ...BODY],
    },
    ...guard('/credentials'),
    async (_input, req, res) => {
      const body = parseWith(IssueEnvelope, req.body, 'body');
      const { validitySeconds, ...rest } = body;
      send(
        res,
        await issuer.issue(
          { ...rest, ...(validitySeconds === undefined ? {} : { validitySeconds }) },
          { actor: actor(res) },
        ),
        201,
      );
    },
  );
  api.route(
    app,
    {
      method: 'get',
      path: '/credentials',
      summary: 'List issued credentials, newest first (Admin or Operator)',
      bearer: true,
      query: ListQuery,
      responses: { 200: { description: 'A page', schema: CredentialPage } },
      errors: [...GUARD_ERRORS, 'ERR_VALIDATION'],
    },
    ...guard('/credentials'),
    async ({ query: q }, _req, res) => {
      const query = Object.fromEntries(Object.entries(q).filter(([, v]) => v !== undefined));
      send(res, await issuer.list(query));
    },
  );
  api.route(
    app,
    {
      method: 'get',
      path: '/credentials/{id}',
      summary: 'One issued credential (Admin or Operator)',
      bearer: true,
      params: IdParam,
      responses: { 200: { description: 'The credential', schema: Credential } },
      errors: [...GUARD_ERRORS, 'ERR_NOT_FOUND'],
    },
    ...guard('/credentials/:id'),
    async ({ params }, _req, res) => {
      send(res, await issuer.get(params.id));
    },
  );
  for (const [action, verb] of [
    ['suspend', 'Suspend'],
    ['resume', 'Resume'],
    ['revoke', 'Revoke (final)'],
  ] as const) {
    api.route(
      app,
      {
        method: 'post',
        path: `/credentials/{id}/${action}`,
        summary: `${verb} a credential (Operator)`,
        bearer: true,
        params: IdParam,
        body: ReasonBody,
        bodyRequired: false,
        responses: { 200: { description: 'The credential after the change', schema: StatusChange } },
        errors: [...GUARD_ERRORS, 'ERR_NOT_FOUND', 'ERR_CONFLICT', ...BODY],
      },
      ...guard(`/credentials/:id/${action}`),
      async ({ params, body }, _req, res) => {
        const ctx = { actor: actor(res), ...(body.reason ? { reason: body.reason } : {}) };
        send(res, await issuer[action](params.id, ctx));
      },
    );
  }

  // People and organisations (their DIDs come from their own wallets); the registry validates with PartyInput.
  api.route(
    app,
    {
      method: 'post',
      path: '/parties',
      summary: 'Register a person or an organisation by its DID (Admin)',
      bearer: true,
      body: PartyInputDoc,
      validateBody: false,
      responses: { 201: { description: 'The party', schema: Party } },
      errors: [...GUARD_ERRORS, 'ERR_CONFLICT', ...BODY],
    },
    ...guard('/parties'),
    async (_input, req, res) => {
      send(res, await parties.register(req.body, { actor: actor(res) }), 201);
    },
  );
  api.route(
    app,
    {
      method: 'get',
      path: '/parties',
      summary: 'List parties by DID (Admin or Operator)',
      bearer: true,
      query: PartiesQuery,
      responses: { 200: { description: 'Parties', schema: z.array(Party) } },
      errors: [...GUARD_ERRORS, 'ERR_VALIDATION'],
    },
    ...guard('/parties'),
    async ({ query: q }, _req, res) => {
      send(
        res,
        await parties.list({
          ...(q.kind ? { kind: q.kind } : {}),
          ...(q.limit ? { limit: q.limit } : {}),
          ...(q.after ? { afterDid: q.after } : {}),
        }),
      );
    },
  );
  api.route(
    app,
    {
      method: 'get',
      path: '/parties/{did}',
      summary: 'One party with the credentials issued to it (Admin or Operator)',
      bearer: true,
      params: DidParam,
      responses: { 200: { description: 'The party and its credentials', schema: Party } },
      errors: [...GUARD_ERRORS, 'ERR_NOT_FOUND'],
    },
    ...guard('/parties/:did'),
    async ({ params }, _req, res) => {
      const party = await parties.get(params.did);
      if (!party.ok) {
        sendError(res, party.error);
        return;
      }
      const credentials = await issuer.list({ subject: party.value.did, limit: 500 });
      send(
        res,
        credentials.ok ? { ok: true, value: { ...party.value, credentials: credentials.value.items } } : credentials,
      );
    },
  );

  // An OpenID4VCI credential offer (pre-authorized code, optionally with a transaction code sent by another channel)
  // of an issued credential to its subject, by value, by reference and as a QR code.
  api.route(
    app,
    {
      method: 'post',
      path: '/credentials/{id}/offer',
      summary: 'Make a one-time offer of the credential to its subject (Admin); returns the code to hand over',
      bearer: true,
      params: IdParam,
      body: OfferBody,
      bodyRequired: false,
      responses: { 201: { description: 'The offer (the code is shown only here)', schema: Offer } },
      errors: [...GUARD_ERRORS, 'ERR_NOT_FOUND', 'ERR_CONFLICT', ...BODY],
    },
    ...guard('/credentials/:id/offer'),
    async ({ params, body }, _req, res) => {
      const r = await issuer.offer(params.id, {
        actor: actor(res),
        ...(body.ttlSeconds === undefined ? {} : { ttlSeconds: body.ttlSeconds }),
        ...(body.txCode === undefined ? {} : { txCode: body.txCode }),
      });
      if (!r.ok) return sendError(res, r.error);
      const vc = await issuer.get(r.value.credentialId);
      if (!vc.ok) return sendError(res, vc.error);
      const shown = await presentOffer(issuer, r.value, vc.value.type);
      res.setHeader('cache-control', 'no-store');
      res.status(201).json({ ...r.value, redeemUrl: `${issuer.config.publicBaseUrl}/offers/redeem`, ...shown });
    },
  );
  // The former one-step redemption, an alias of the pre-authorized code grant (same code, same delivery path).
  api.route(
    app,
    {
      method: 'post',
      path: '/offers/redeem',
      summary: 'Alias of the pre-authorized code grant in one step (offers without a transaction code); public',
      body: RedeemBody,
      responses: { 200: { description: 'The credential', schema: Redeemed } },
      errors: [
        'ERR_NOT_FOUND',
        'ERR_AUTH_EXPIRED',
        'ERR_AUTH_REPLAYED',
        'ERR_VC_SUBJECT_MISMATCH',
        'ERR_VP_NONCE',
        'ERR_VP_AUDIENCE',
        'ERR_PROOF_TYPE',
        'ERR_RATE_LIMITED',
        ...BODY,
      ],
    },
    limited,
    async ({ body }, _req, res) => {
      const r = await issuer.redeemOffer(body.code, body.proof);
      send(res, r.ok ? { ok: true, value: { id: r.value.id, type: r.value.type, credential: r.value.jwt } } : r);
    },
  );

  api.route(
    app,
    {
      method: 'get',
      path: '/status-lists/{id}/token',
      summary: 'The Status List Token (statuslist+jwt, 2 bits: 0 valid, 1 revoked, 2 suspended) of SD-JWT VCs; public',
      params: StatusListParam,
      responses: {
        200: { description: 'Compact JWT', mediaType: 'application/statuslist+jwt', schema: { type: 'string' } },
      },
      errors: ['ERR_NOT_FOUND'],
    },
    async ({ params }, _req, res) => {
      const id = /^[1-9][0-9]{0,8}$/.test(params.id) ? Number(params.id) : Number.NaN;
      if (Number.isNaN(id)) return sendError(res, { code: 'ERR_NOT_FOUND', message: 'no such status list' });
      const r = await issuer.tokenStatusList(id);
      if (!r.ok) return sendError(res, r.error);
      res.setHeader('cache-control', 'no-cache');
      res.setHeader('etag', `"${id}-token-${r.value.version}"`);
      res.type('application/statuslist+jwt').send(r.value.jwt);
    },
  );
  // The purpose is checked here (not by the schema) so that any other purpose is the 404 it always was.
  api.route(
    app,
    {
      method: 'get',
      path: '/status-lists/{id}/{purpose}',
      summary: 'The signed BitstringStatusListCredential (JWT) with the current bits; public',
      params: StatusListPurposeParam,
      invalid: () => new TesseraError('ERR_NOT_FOUND', 'no such status list'),
      responses: { 200: { description: 'Compact JWT', mediaType: 'application/vc+jwt', schema: { type: 'string' } } },
      errors: ['ERR_NOT_FOUND'],
    },
    async ({ params }, _req, res) => {
      const id = /^[1-9][0-9]{0,8}$/.test(params.id) ? Number(params.id) : Number.NaN;
      if (Number.isNaN(id)) {
        sendError(res, { code: 'ERR_NOT_FOUND', message: 'no such status list' });
        return;
      }
      const r = await issuer.statusListCredential(id, params.purpose);
      if (!r.ok) {
        sendError(res, r.error);
        return;
      }
      res.setHeader('cache-control', 'no-cache');
      res.setHeader('etag', `"${id}-${params.purpose}-${r.value.version}"`);
      res.type('application/vc+jwt').send(r.value.jwt);
    },
  );
  // Verifiers learn of changes at once. Only the list URLs are published, never who changed. Public like
  // the lists themselves, so capped per source and in all instead of authenticated.
  const streamsPerSource = config.statusEventStreams?.perSource ?? STATUS_EVENT_STREAMS.perSource;
  const streamsTotal = config.statusEventStreams?.total ?? STATUS_EVENT_STREAMS.total;
  const openStreams = new Map<string, number>();
  let streams = 0;
  api.route(
    app,
    {
      method: 'get',
      path: '/status-events',
      summary:
        'Server-sent events: one `status` event per change, naming the status list URLs to refetch; public (the lists are), capped per source address and in all',
      responses: {
        200: { description: 'The event stream', mediaType: 'text/event-stream', schema: { type: 'string' } },
      },
      errors: ['ERR_RATE_LIMITED', 'ERR_CAPACITY'],
    },
    (_input, req, res) => {
      const source = req.ip ?? req.socket.remoteAddress ?? 'unknown';
      const mine = openStreams.get(source) ?? 0;
      if (mine >= streamsPerSource) {
        res.setHeader('retry-after', '60');
        sendError(res, {
          code: 'ERR_RATE_LIMITED',
          message: `at most ${streamsPerSource} status event streams per source address; close one first`,
        });
        return;
      }
      if (streams >= streamsTotal) {
        res.setHeader('retry-after', '60');
        sendError(res, { code: 'ERR_CAPACITY', message: `all ${streamsTotal} status event streams are in use` });
        return;
      }
      streams++;
      openStreams.set(source, mine + 1);
      let closed = false;
      res.once('close', () => {
        if (closed) return;
        closed = true;
        streams--;
        const n = (openStreams.get(source) ?? 1) - 1;
        if (n <= 0) openStreams.delete(source);
        else openStreams.set(source, n);
      });
      res.writeHead(200, {
        'content-type': 'text/event-stream',
        'cache-control': 'no-cache',
        connection: 'keep-alive',
      });
      res.write(': tessera status events\n\n');
      const onStatus = (e: StatusChangeEvent) => {
        res.write(
          `event: status\ndata: ${JSON.stringify({ statusListCredentials: e.statusListCredentials, listVersion: e.listVersion, at: e.at })}\n\n`,
        );
      };
      issuer.events.on('status', onStatus);
      req.on('close', () => issuer.events.off('status', onStatus));
    },
  );

  api.route(
    app,
    {
      method: 'get',
      path: '/audit',
      summary: 'Read the audit trail in order (Admin or Operator)',
      bearer: true,
      query: AuditQuery,
      responses: { 200: { description: 'Entries', schema: z.object({ items: z.array(AuditEntry) }) } },
      errors: [...GUARD_ERRORS, 'ERR_VALIDATION'],
    },
    ...guard('/audit'),
    async ({ query: q }, _req, res) => {
      const query = Object.fromEntries(Object.entries(q).filter(([, v]) => v !== undefined));
      res.json({ items: await issuer.audit(query) });
    },
  );
  api.route(
    app,
    {
      method: 'get',
      path: '/audit/verify',
      summary: 'Verify the hash chain (and the head anchored on chain, when anchoring is configured)',
      bearer: true,
      responses: { 200: { description: 'The trail verifies', schema: AuditVerification } },
      errors: [...GUARD_ERRORS, 'ERR_AUDIT_TAMPERED'],
    },
    ...guard('/audit/verify'),
    async (_input, _req, res) => {
      send(res, await issuer.verifyAudit({ checkAnchor: true }));
    },
  );

  const document = (serverUrl: string) => api.openapi(serverUrl);
  api.route(
    app,
    { method: 'get', path: '/openapi.json', summary: 'This document', responses: {}, hidden: true },
    (_input, _req, res) => {
      res.json(document(issuer.config.publicBaseUrl));
    },
  );

  app.use(['/oid4vci/token'], limited);
  // The authorization endpoint's resource is outside `/issuer/**` (the admins' sign-in scope), so that organisations
  // holding no admin role may fetch their own credentials: the policy `oid4vci.authorize` decides who.
  app.use(oid4vciRoutes({ issuer, authorizeGuard: [auth.guard({ resource: OID4VCI_AUTHORIZE_RESOURCE })], log, now }));

  app.use(deviceRoutes({ ...(deps.devices ? { devices: deps.devices } : {}), api, guard, send, sendError }));
  documentOid4vci(api);

  app.use((_req: Request, res: Response) => {
    sendError(res, { code: 'ERR_NOT_FOUND', message: 'no such resource' });
  });
  app.use(errorHandler(log, 'issuer'));
  return attachOpenApi(app, document);
}
