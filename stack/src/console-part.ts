import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { silentLogger } from '@tessera/protocol';
import { errorHandler, jsonBody } from '@tessera/runtime/http';
import type { VerifiedCredential, Verifier } from '@tessera/verifier';
import express, { type Request, type Response, type Router } from 'express';

/** Where `npm install` (the root `prepare` script, scripts/build-console.mjs) builds the console. */
export const CONSOLE_DIST = resolve(fileURLToPath(new URL('../../console/dist', import.meta.url)));

/**
 * What the console's pages may show is what the policy lets the session do: each capability is one issuer route
 * (its resource with a placeholder for the parameters, and its method), decided by the credential core exactly as the
 * route's own guard decides it. A capability missing here is never shown (deny by default).
 */
export const CONSOLE_CAPABILITIES: Record<string, { resource: string; action: string }> = {
  'credentials.read': { resource: '/issuer/credentials', action: 'GET' },
  'credentials.issue': { resource: '/issuer/credentials', action: 'POST' },
  'credentials.offer': { resource: '/issuer/credentials/_/offer', action: 'POST' },
  'credentials.suspend': { resource: '/issuer/credentials/_/suspend', action: 'POST' },
  'credentials.resume': { resource: '/issuer/credentials/_/resume', action: 'POST' },
  'credentials.revoke': { resource: '/issuer/credentials/_/revoke', action: 'POST' },
  'devices.register': { resource: '/issuer/devices/batches', action: 'POST' },
  'devices.read': { resource: '/issuer/devices/_', action: 'GET' },
  'devices.list': { resource: '/issuer/devices', action: 'GET' },
  'devices.suspend': { resource: '/issuer/devices/_/suspend', action: 'POST' },
  'devices.resume': { resource: '/issuer/devices/_/resume', action: 'POST' },
  'devices.revoke': { resource: '/issuer/devices/_/revoke', action: 'POST' },
  'devices.commission': { resource: '/issuer/devices/_/commission', action: 'POST' },
  'devices.decommission': { resource: '/issuer/devices/_/decommission', action: 'POST' },
  'audit.read': { resource: '/issuer/audit', action: 'GET' },
  'audit.verify': { resource: '/issuer/audit/verify', action: 'GET' },
};

/**
 * What the services' pages (energy, offerings, data exchange) may show a wallet holder: each capability is one
 * service route in the policy namespace, decided by the policy for the wallet's verified credentials (the guard of the
 * route decides again, for a presentation, when the action is taken). `_` stands for any parameter the policy does not
 * bind to a claim.
 */
export const WALLET_CAPABILITIES: Record<string, { resource: string; action: string }> = {
  'offerings.create': { resource: '/offerings', action: 'POST' },
  'offerings.certify': { resource: '/offerings/_/certification', action: 'POST' },
  'offerings.subscribe': { resource: '/offerings/_/subscriptions', action: 'POST' },
  'offerings.allocate': { resource: '/offerings/_/allocation', action: 'POST' },
  exchange: { resource: '/data/exchange', action: '*' },
};
/** A meter's bills: the policy binds the meter to the credential's `meterId` claim. */
export const meterBillsResource = (meterId: string) => `/energy/meters/${encodeURIComponent(meterId)}/bills`;
/** Most credentials one wallet-access question carries, and the most characters of each. */
const WALLET_ACCESS_MAX_CREDENTIALS = 32;
const WALLET_ACCESS_MAX_JWT = 16 * 1024;

/**
 * The console's Content-Security-Policy: its own scripts, styles and API only (no inline script, no other origin);
 * images may be data: URLs (the offer QR codes the issuer renders as SVG).
 */
export const CONSOLE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data: blob:",
  "connect-src 'self'",
  "font-src 'self'",
  "manifest-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

const secure = (res: Response) => {
  res.setHeader('content-security-policy', CONSOLE_CSP);
  res.setHeader('x-content-type-options', 'nosniff');
  res.setHeader('referrer-policy', 'no-referrer');
  res.setHeader('cross-origin-opener-policy', 'same-origin');
};

const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.json': 'application/json',
};

/**
 * The console at `/` (its index) and `/assets/*` (content-hashed, cached for good, sent gzip-compressed when the
 * browser accepts it: the build writes a `.gz` beside each asset). `/` still answers JSON to a client asking for it.
 */
export function consoleStatic(o: { info: () => Record<string, unknown>; dist?: string }): Router {
  const dist = o.dist ?? CONSOLE_DIST;
  const router = express.Router();
  router.get('/', (req, res) => {
    if (req.accepts(['html', 'json']) === 'json') {
      res.json(o.info());
      return;
    }
    secure(res);
    const index = join(dist, 'index.html');
    if (!existsSync(index)) {
      res
        .status(503)
        .type('text')
        .send('The console is not built. Run `npm install` (or `npm run build:console`) and reload.\n');
      return;
    }
    res.setHeader('cache-control', 'no-cache');
    res.type('html').send(readFileSync(index));
  });
  router.get('/assets/:file', (req: Request, res: Response, next) => {
    const file = String(req.params.file);
    const ext = /\.[a-z0-9]+$/.exec(file)?.[0] ?? '';
    if (!/^[A-Za-z0-9_.-]+$/.test(file) || !TYPES[ext]) return next();
    const path = join(dist, 'assets', file);
    if (!existsSync(path) || !statSync(path).isFile()) return next();
    secure(res);
    res.setHeader('cache-control', 'public, max-age=31536000, immutable');
    res.setHeader('vary', 'accept-encoding');
    res.type(TYPES[ext]);
    if (existsSync(`${path}.gz`) && req.acceptsEncodings('gzip', 'identity') === 'gzip') {
      res.setHeader('content-encoding', 'gzip');
      res.send(readFileSync(`${path}.gz`));
      return;
    }
    res.send(readFileSync(path));
  });
  return router;
}

/**
 * The console's own API, beside the parts' APIs it calls directly: what the stack is (`/console/api/info`), what the
 * session may do (`/console/api/access`), and whether a device holds an MQTT session now.
 */
export function consoleApi(o: {
  core: Pick<Verifier, 'authorize' | 'guard' | 'verifyCredential' | 'policy'>;
  info: () => Record<string, unknown>;
  /** A device's MQTT session now and its last handshake. */
  session: (deviceId: string) => { connected: boolean; lastHandshake: LastHandshake | null };
}): Router {
  const router = express.Router();
  router.get('/console/api/info', (_req, res) => {
    res.json(o.info());
  });
  router.get('/console/api/access', async (req, res) => {
    res.setHeader('cache-control', 'no-store');
    const m = /^Bearer ([A-Za-z0-9._~+/-]+=*)$/.exec(req.headers.authorization ?? '');
    if (!m) {
      res.setHeader('www-authenticate', 'Bearer');
      res.status(401).json({ error: { code: 'ERR_AUTH_REQUIRED', message: 'an access token is required' } });
      return;
    }
    const allowed: Record<string, boolean> = {};
    let holder = '';
    let expiresAt = 0;
    for (const [name, c] of Object.entries(CONSOLE_CAPABILITIES)) {
      const r = await o.core.authorize(m[1]!, c.resource, c.action);
      if (r.ok) {
        allowed[name] = true;
        holder = r.value.holder;
        expiresAt = r.value.expiresAt;
        continue;
      }
      allowed[name] = false;
      // A policy's refusal only hides a page; a token that is no longer good ends the session.
      if (r.error.code !== 'ERR_FORBIDDEN' && r.error.code !== 'ERR_POLICY_DENIED') {
        res.status(401).json({ error: { code: r.error.code, message: r.error.message } });
        return;
      }
    }
    res.json({ did: holder, expiresAt, allowed });
  });
  // What a wallet's credentials open in the services, asked without a presentation (no nonce is spent): each
  // credential is verified by the core (signature, trust, validity, status), then the policy decides each capability.
  router.post(
    '/console/api/wallet-access',
    jsonBody({ limit: WALLET_ACCESS_MAX_CREDENTIALS * WALLET_ACCESS_MAX_JWT + 1024 }),
    async (req, res, next) => {
      try {
        res.setHeader('cache-control', 'no-store');
        const list = (req.body as { credentials?: unknown } | undefined)?.credentials;
        if (
          !Array.isArray(list) ||
          list.length > WALLET_ACCESS_MAX_CREDENTIALS ||
          !list.every((c) => typeof c === 'string' && c.length > 0 && c.length <= WALLET_ACCESS_MAX_JWT)
        ) {
          res.status(422).json({
            error: {
              code: 'ERR_VALIDATION',
              message: `the body is { "credentials": [<credential JWT>, …] } with at most ${WALLET_ACCESS_MAX_CREDENTIALS} JWTs`,
            },
          });
          return;
        }
        const verified: VerifiedCredential[] = [];
        for (const jwt of new Set(list as string[])) {
          const r = await o.core.verifyCredential(jwt);
          if (r.ok) verified.push(r.value); // a credential that does not verify opens nothing
        }
        const allowed: Record<string, boolean> = {};
        for (const [name, c] of Object.entries(WALLET_CAPABILITIES)) {
          allowed[name] = o.core.policy.evaluate({ resource: c.resource, action: c.action }, verified).ok;
        }
        const claimed = verified.flatMap((vc) =>
          typeof vc.claims.meterId === 'string' && vc.claims.meterId.length <= 128 ? [vc.claims.meterId] : [],
        );
        const meters = [...new Set(claimed)].filter(
          (m) => o.core.policy.evaluate({ resource: meterBillsResource(m), action: 'GET' }, verified).ok,
        );
        res.json({ allowed, meters });
      } catch (e) {
        next(e);
      }
    },
  );
  router.get(
    '/console/api/devices/:id/session',
    o.core.guard({ resource: '/issuer/devices/:id', action: 'GET' }),
    (req, res) => {
      const id = String(req.params.id);
      res.setHeader('cache-control', 'no-store');
      res.json({ deviceId: id, ...o.session(id) });
    },
  );
  router.use('/console/api', errorHandler(silentLogger, 'console'));
  return router;
}

export interface LastHandshake {
  at: string;
  outcome: string;
  code?: string;
}

/** The last handshake of each device (bounded: the least recently seen are forgotten first). */
export class LastHandshakes {
  private readonly seen = new Map<string, LastHandshake>();
  constructor(private readonly max = 100_000) {}
  record(deviceId: string, outcome: string, code?: string): void {
    const id = deviceId.toLowerCase();
    this.seen.delete(id);
    this.seen.set(id, { at: new Date().toISOString(), outcome, ...(code ? { code } : {}) });
    if (this.seen.size > this.max) this.seen.delete(this.seen.keys().next().value as string);
  }
  get(deviceId: string): LastHandshake | undefined {
    return this.seen.get(deviceId.toLowerCase());
  }
}
