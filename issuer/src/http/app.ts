import {
  CREDENTIAL_TYPE_NAMES,
  CREDENTIAL_TYPES,
  ERROR_CODES,
  type ErrorShape,
  type Logger,
  type Result,
  silentLogger,
} from '@tessera/protocol';
import { attachOpenApi, errorHandler, jsonBody } from '@tessera/runtime/http';
import express, { type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import { z } from 'zod';
import type { DeviceLifecycle } from '../devices/lifecycle.js';
import type { Issuer, StatusChangeEvent } from '../issuer.js';
import { createParties } from '../parties.js';
import {
  ISSUER_RESOURCE_PREFIX,
  ISSUER_SIGN_IN_ACTION,
  ISSUER_SIGN_IN_SCOPE,
  type IssuerAuth,
  type Principal,
  principalOf,
} from './auth.js';
import { DEVICE_BATCH_PATH, deviceRoutes } from './devices.js';
import { docsPage, issuerOpenApi } from './openapi.js';
import { OID4VCI_AUTHORIZE_RESOURCE, OID4VCI_FORM_PATHS, oid4vciRoutes, presentOffer } from '../oid4vci/routes.js';

export interface IssuerHttpConfig {
  /** Body size limit in bytes. */
  maxBodyBytes?: number;
  /**
   * Requests per minute and source address on the unauthenticated endpoints that spend work or guesses
   * (/auth/*, /offers/redeem). In-process; replicas behind a balancer each count their own.
   */
  authRequestsPerMinute?: number;
  /**
   * Open `/status-events` streams allowed per source address and in all. The stream stays public (it carries only
   * status list URLs and versions, which are public, so verifiers of other deployments can follow it); the caps keep
   * it from holding unbounded connections. Beyond them: 429 ERR_RATE_LIMITED per source, 503 ERR_CAPACITY in all.
   */
  statusEventStreams?: { perSource?: number; total?: number };
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

const IssueBody = z.strictObject({
  type: z.string().max(64),
  subject: z.string().max(512),
  claims: z.unknown(),
  validitySeconds: z.number().int().optional(),
});
const ReasonBody = z.strictObject({ reason: z.string().max(500).optional() }).optional();
const ListQuery = z.strictObject({
  type: z.string().max(64).optional(),
  subject: z.string().max(512).optional(),
  status: z.enum(['active', 'suspended', 'revoked']).optional(),
  limit: z.coerce.number().int().min(1).max(500).optional(),
  cursor: z.string().max(400).optional(),
});
const AuditQuery = z.strictObject({
  afterSeq: z.coerce.number().int().min(0).optional(),
  limit: z.coerce.number().int().min(1).max(1000).optional(),
});

const invalid = (what: string, e: z.ZodError): ErrorShape => ({
  code: 'ERR_VALIDATION',
  message: `${what}: ${e.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`).join('; ')}`,
  details: e.issues.map((i) => ({ path: i.path.join('.'), message: i.message })),
});

/**
 * The issuer's HTTP API as an express app (no listener: `main.ts` or a test calls `listen`). Every error is
 * `{ error: { code, message, details? } }` with the status of its code; nothing else leaks (no stacks).
 */
export function buildIssuerApp(config: IssuerHttpConfig, deps: IssuerHttpDeps): express.Express {
  const { issuer } = deps;
  const log = deps.logger ?? silentLogger;
  const now = deps.now ?? (() => new Date());
  const { auth } = deps;
  const spec = issuerOpenApi(issuer.config.publicBaseUrl);
  const parties = createParties(issuer);
  const app = express();
  app.disable('x-powered-by');
  app.set('query parser', 'simple');

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
  const limited = (req: Request, res: Response, next: NextFunction) => {
    const t = now().getTime();
    if (t - window.startedAt >= 60_000 || t < window.startedAt) window = { startedAt: t, counts: new Map() };
    const source = req.socket.remoteAddress ?? 'unknown';
    const n = (window.counts.get(source) ?? 0) + 1;
    window.counts.set(source, n);
    if (n > perMinute) {
      res.setHeader('retry-after', String(Math.ceil((window.startedAt + 60_000 - t) / 1000)));
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

  app.get('/openapi.json', (_req, res) => {
    res.json(spec);
  });
  app.get('/docs', (_req, res) => {
    res.type('html').send(docsPage(spec));
  });
  app.get('/credential-types', (_req, res) => {
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
  });

  // Admin sign-in: aliases of the verifier's presentation request and token endpoints for the issuer's scope, kept
  // for the admin CLI; both run through the credential core (one verification, one token format).
  app.post('/auth/challenge', limited, async (_req, res) => {
    const r = await auth.request(ISSUER_SIGN_IN_SCOPE, ISSUER_SIGN_IN_ACTION);
    if (!r.ok) return sendError(res, r.error);
    res.status(201).json({
      nonce: r.value.nonce,
      audience: r.value.audience,
      expiresAt: new Date(r.value.expiresAt * 1000).toISOString(),
      requirements: r.value.requirements,
    });
  });
  app.post('/auth/token', limited, async (req, res) => {
    const body = z.strictObject({ presentation: z.string() }).safeParse(req.body);
    if (!body.success) {
      sendError(res, { code: 'ERR_VP_MALFORMED', message: 'the body is { "presentation": "<JWT VP>" }' });
      return;
    }
    const r = await auth.exchange(body.data.presentation);
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
  });
  app.post('/auth/logout', async (req, res) => {
    const m = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '');
    if (!m) return sendError(res, { code: 'ERR_AUTH_REQUIRED', message: 'an access token is required' });
    const r = await auth.signOut(m[1]!);
    if (r.ok) res.status(204).end();
    else sendError(res, r.error);
  });

  app.post('/credentials', ...guard('/credentials'), async (req, res) => {
    const body = IssueBody.safeParse(req.body);
    if (!body.success) {
      sendError(res, invalid('invalid issue request', body.error));
      return;
    }
    const { validitySeconds, ...rest } = body.data;
    send(
      res,
      await issuer.issue(
        { ...rest, ...(validitySeconds === undefined ? {} : { validitySeconds }) },
        { actor: actor(res) },
      ),
      201,
    );
  });
  app.get('/credentials', ...guard('/credentials'), async (req, res) => {
    const q = ListQuery.safeParse(req.query);
    if (!q.success) {
      sendError(res, invalid('invalid query', q.error));
      return;
    }
    const query = Object.fromEntries(Object.entries(q.data).filter(([, v]) => v !== undefined));
    send(res, await issuer.list(query));
  });
  app.get('/credentials/:id', ...guard('/credentials/:id'), async (req, res) => {
    send(res, await issuer.get(String(req.params.id)));
  });
  for (const action of ['suspend', 'resume', 'revoke'] as const) {
    app.post(`/credentials/:id/${action}`, ...guard(`/credentials/:id/${action}`), async (req, res) => {
      const body = ReasonBody.safeParse(req.body);
      if (!body.success) {
        sendError(res, invalid('invalid body', body.error));
        return;
      }
      const ctx = { actor: actor(res), ...(body.data?.reason ? { reason: body.data.reason } : {}) };
      send(res, await issuer[action](String(req.params.id), ctx));
    });
  }

  // People and organisations (their DIDs come from their own wallets).
  app.post('/parties', ...guard('/parties'), async (req, res) => {
    send(res, await parties.register(req.body, { actor: actor(res) }), 201);
  });
  app.get('/parties', ...guard('/parties'), async (req, res) => {
    const q = z
      .strictObject({
        kind: z.string().optional(),
        limit: z.coerce.number().int().min(1).max(500).optional(),
        after: z.string().max(512).optional(),
      })
      .safeParse(req.query);
    if (!q.success) {
      sendError(res, invalid('invalid query', q.error));
      return;
    }
    send(
      res,
      await parties.list({
        ...(q.data.kind ? { kind: q.data.kind } : {}),
        ...(q.data.limit ? { limit: q.data.limit } : {}),
        ...(q.data.after ? { afterDid: q.data.after } : {}),
      }),
    );
  });
  app.get('/parties/:did', ...guard('/parties/:did'), async (req, res) => {
    const party = await parties.get(String(req.params.did));
    if (!party.ok) {
      sendError(res, party.error);
      return;
    }
    const credentials = await issuer.list({ subject: party.value.did, limit: 500 });
    send(
      res,
      credentials.ok ? { ok: true, value: { ...party.value, credentials: credentials.value.items } } : credentials,
    );
  });

  // An OpenID4VCI credential offer (pre-authorized code, optionally with a transaction code sent by another channel)
  // of an issued credential to its subject, by value, by reference and as a QR code.
  app.post('/credentials/:id/offer', ...guard('/credentials/:id/offer'), async (req, res) => {
    const body = z
      .strictObject({ ttlSeconds: z.number().int().optional(), txCode: z.boolean().optional() })
      .optional()
      .safeParse(req.body);
    if (!body.success) {
      sendError(res, invalid('invalid body', body.error));
      return;
    }
    const r = await issuer.offer(String(req.params.id), {
      actor: actor(res),
      ...(body.data?.ttlSeconds === undefined ? {} : { ttlSeconds: body.data.ttlSeconds }),
      ...(body.data?.txCode === undefined ? {} : { txCode: body.data.txCode }),
    });
    if (!r.ok) return sendError(res, r.error);
    const vc = await issuer.get(r.value.credentialId);
    if (!vc.ok) return sendError(res, vc.error);
    const shown = await presentOffer(issuer, r.value, vc.value.type);
    res.setHeader('cache-control', 'no-store');
    res.status(201).json({ ...r.value, redeemUrl: `${issuer.config.publicBaseUrl}/offers/redeem`, ...shown });
  });
  // The former one-step redemption, an alias of the pre-authorized code grant (same code, same delivery path).
  app.post('/offers/redeem', limited, async (req, res) => {
    const body = z.strictObject({ code: z.string().max(200), proof: z.string() }).safeParse(req.body);
    if (!body.success) {
      sendError(res, invalid('the body is { code, proof }', body.error));
      return;
    }
    const r = await issuer.redeemOffer(body.data.code, body.data.proof);
    send(res, r.ok ? { ok: true, value: { id: r.value.id, type: r.value.type, credential: r.value.jwt } } : r);
  });

  app.get('/status-lists/:id/token', async (req, res) => {
    const id = /^[1-9][0-9]{0,8}$/.test(String(req.params.id)) ? Number(req.params.id) : Number.NaN;
    if (Number.isNaN(id)) return sendError(res, { code: 'ERR_NOT_FOUND', message: 'no such status list' });
    const r = await issuer.tokenStatusList(id);
    if (!r.ok) return sendError(res, r.error);
    res.setHeader('cache-control', 'no-cache');
    res.setHeader('etag', `"${id}-token-${r.value.version}"`);
    res.type('application/statuslist+jwt').send(r.value.jwt);
  });
  app.get('/status-lists/:id/:purpose', async (req, res) => {
    const id = /^[1-9][0-9]{0,8}$/.test(String(req.params.id)) ? Number(req.params.id) : Number.NaN;
    const purpose = req.params.purpose;
    if (Number.isNaN(id) || (purpose !== 'revocation' && purpose !== 'suspension')) {
      sendError(res, { code: 'ERR_NOT_FOUND', message: 'no such status list' });
      return;
    }
    const r = await issuer.statusListCredential(id, purpose);
    if (!r.ok) {
      sendError(res, r.error);
      return;
    }
    res.setHeader('cache-control', 'no-cache');
    res.setHeader('etag', `"${id}-${purpose}-${r.value.version}"`);
    res.type('application/vc+jwt').send(r.value.jwt);
  });
  // Verifiers learn of changes at once. Only the list URLs are published, never who changed. Public like
  // the lists themselves, so capped per source and in all instead of authenticated.
  const streamsPerSource = config.statusEventStreams?.perSource ?? STATUS_EVENT_STREAMS.perSource;
  const streamsTotal = config.statusEventStreams?.total ?? STATUS_EVENT_STREAMS.total;
  const openStreams = new Map<string, number>();
  let streams = 0;
  app.get('/status-events', (req, res) => {
    const source = req.socket.remoteAddress ?? 'unknown';
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
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
    res.write(': tessera status events\n\n');
    const onStatus = (e: StatusChangeEvent) => {
      res.write(
        `event: status\ndata: ${JSON.stringify({ statusListCredentials: e.statusListCredentials, listVersion: e.listVersion, at: e.at })}\n\n`,
      );
    };
    issuer.events.on('status', onStatus);
    req.on('close', () => issuer.events.off('status', onStatus));
  });

  app.get('/audit', ...guard('/audit'), async (req, res) => {
    const q = AuditQuery.safeParse(req.query);
    if (!q.success) {
      sendError(res, invalid('invalid query', q.error));
      return;
    }
    const query = Object.fromEntries(Object.entries(q.data).filter(([, v]) => v !== undefined));
    res.json({ items: await issuer.audit(query) });
  });
  app.get('/audit/verify', ...guard('/audit/verify'), async (_req, res) => {
    send(res, await issuer.verifyAudit({ checkAnchor: true }));
  });

  app.use(['/oid4vci/token'], limited);
  // The authorization endpoint's resource is outside `/issuer/**` (the admins' sign-in scope), so that organisations
  // holding no admin role may fetch their own credentials: the policy `oid4vci.authorize` decides who.
  app.use(oid4vciRoutes({ issuer, authorizeGuard: [auth.guard({ resource: OID4VCI_AUTHORIZE_RESOURCE })], log, now }));

  app.use(deviceRoutes({ ...(deps.devices ? { devices: deps.devices } : {}), guard, send, sendError }));

  app.use((_req: Request, res: Response) => {
    sendError(res, { code: 'ERR_NOT_FOUND', message: 'no such resource' });
  });
  app.use(errorHandler(log, 'issuer'));
  return attachOpenApi(app, issuerOpenApi);
}
