import { TesseraError, type Logger } from '@tessera/protocol';
import { errorHandler } from '@tessera/runtime/http';
import express, { type Express, type Router } from 'express';
import type { Registry } from 'prom-client';

export interface HealthReport {
  ok: boolean;
  parts: Record<string, { ok: boolean } & Record<string, unknown>>;
}

export interface StackAppDeps {
  log: Logger;
  health(): Promise<HealthReport>;
  metrics: Registry;
  /**
   * Parts mounted after the listener is up (their public URLs depend on the bound port); they go on this router,
   * which sits before the 404 handler.
   */
  parts: Router;
  /** Load balancers whose X-Forwarded-For names the client (`req.ip`); none by default. */
  trustedProxies?: readonly string[];
}

/** The stack's HTTP surface; built without listening so tests can use it directly. */
export function buildStackApp(deps: StackAppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  // Deny by default: X-Forwarded-For is believed only from the configured balancers (TESSERA_TRUSTED_PROXIES).
  app.set('trust proxy', deps.trustedProxies?.length ? [...deps.trustedProxies] : false);

  // Each part parses its own bodies with its own limits; the stack's routes take none.
  app.get('/healthz', async (_req, res) => {
    const report = await deps.health();
    res.status(report.ok ? 200 : 503).json(report);
  });
  app.get('/metrics', async (_req, res) => {
    res.type(deps.metrics.contentType).send(await deps.metrics.metrics());
  });
  app.use(deps.parts);

  app.use((req, _res, next) => next(new TesseraError('ERR_NOT_FOUND', `no route for ${req.method} ${req.path}`)));
  app.use(errorHandler(deps.log, 'stack'));
  return app;
}
