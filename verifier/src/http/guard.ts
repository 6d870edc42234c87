import { type ErrorCode, type Result, TesseraError } from '@tessera/protocol';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { AccessGrant } from './tokens.js';

declare global {
  namespace Express {
    interface Request {
      /** Set by `requireCredentials` once the bearer token opens this route: the holder and what it was granted on. */
      accessGrant?: AccessGrant;
    }
  }
}

export interface RequireCredentialsOptions {
  /**
   * The resource this route is, as a pattern whose `:name` segments are filled from the route parameters (or from
   * `params`): `/energy/meters/:meterId/orders`. The token must have been granted for exactly the filled-in resource.
   */
  resource: string;
  /** Defaults to the request's HTTP method. */
  action?: string;
  /** Values for the pattern's parameters that are not route parameters (they take precedence over `req.params`). */
  params?: (req: Request) => Record<string, string | undefined>;
}

/** What the guard asks: the credential core's `authorize`. */
export interface GuardDeps {
  authorize(token: string, resource: string, action: string): Promise<Result<AccessGrant>>;
}

const BEARER = /^Bearer ([A-Za-z0-9_.~+/-]+=*)$/;

/** Fill `:name` segments from `params`; undefined when one is missing (deny by default). */
export function fillResource(pattern: string, params: Record<string, string | undefined>): string | undefined {
  const out: string[] = [];
  for (const seg of pattern.split('/')) {
    if (!seg.startsWith(':')) {
      out.push(seg);
      continue;
    }
    const v = params[seg.slice(1)];
    if (v === undefined || v === '') return undefined;
    out.push(encodeURIComponent(v));
  }
  return out.join('/');
}

const refuse = (next: NextFunction, code: ErrorCode, message: string) => next(new TesseraError(code, message));

/**
 * Express middleware that guards a route with an access token from `POST /presentations`: reads
 * `Authorization: Bearer`, checks signature, issuer and expiry, that the token was granted for this very resource and
 * action, and (with status lists) that none of its credentials was revoked or suspended since. On success
 * `req.accessGrant` carries the holder DID and the credentials' claims. Everything else is refused with its code:
 * ERR_AUTH_REQUIRED, ERR_AUTH_INVALID, ERR_AUTH_EXPIRED (401), ERR_VC_REVOKED / ERR_VC_SUSPENDED (401),
 * ERR_VC_STATUS_UNAVAILABLE (503), ERR_FORBIDDEN / ERR_POLICY_DENIED (403), ERR_UNAVAILABLE (503: its store is down);
 * protocol's `GUARD_ERRORS` lists them.
 *
 * @example router.post('/energy/meters/:meterId/orders', requireCredentials(deps, { resource: '/energy/meters/:meterId/orders' }), handler)
 */
export function requireCredentials(deps: GuardDeps, options: RequireCredentialsOptions): RequestHandler {
  const fixedAction = options.action?.toUpperCase();
  return async (req: Request, res: Response, next: NextFunction) => {
    const header = req.headers.authorization;
    if (header === undefined || header === '') {
      res.setHeader('WWW-Authenticate', 'Bearer');
      return refuse(next, 'ERR_AUTH_REQUIRED', 'this route needs an access token (Authorization: Bearer …)');
    }
    const m = BEARER.exec(header);
    if (!m) return refuse(next, 'ERR_AUTH_INVALID', 'the Authorization header is not a Bearer token (RFC 6750 §2.1)');
    const resource = fillResource(options.resource, {
      ...(req.params as Record<string, string | undefined>),
      ...options.params?.(req),
    });
    if (resource === undefined) {
      return refuse(next, 'ERR_FORBIDDEN', `the route does not name every parameter of ${options.resource}`);
    }
    const action = fixedAction ?? req.method.toUpperCase();
    const r = await deps.authorize(m[1]!, resource, action);
    if (!r.ok) {
      const code = r.error.code;
      if (code === 'ERR_AUTH_INVALID' || code === 'ERR_AUTH_EXPIRED')
        res.setHeader('WWW-Authenticate', 'Bearer error="invalid_token"');
      else if (code === 'ERR_FORBIDDEN' || code === 'ERR_POLICY_DENIED')
        res.setHeader('WWW-Authenticate', 'Bearer error="insufficient_scope"');
      return next(
        new TesseraError(
          code,
          r.error.message,
          r.error.details === undefined ? undefined : { details: r.error.details },
        ),
      );
    }
    req.accessGrant = r.value;
    next();
  };
}
