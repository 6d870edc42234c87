import { MAX_HTTP_BODY_BYTES, TesseraError, httpError, type Logger } from '@tessera/protocol';
import express, { type ErrorRequestHandler, type Express, type Router } from 'express';
import type { Registry } from 'prom-client';

export interface HealthReport {
  ok: boolean;
  parts: Record<string, { ok: boolean } & Record<string, unknown>>;
}

export interface StackAppDeps {
  log: Logger;
  health(): Promise<HealthReport>;
  metrics: Registry;
  /** Routers of the parts that exist, mounted at their prefix. */
  routers?: { prefix: string; router: Router }[];
}

/** The stack's HTTP surface; built without listening so tests can use it directly. */
export function buildStackApp(deps: StackAppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', false);
  app.use(express.json({ limit: MAX_HTTP_BODY_BYTES, strict: true }));

  app.get('/healthz', async (_req, res) => {
    const report = await deps.health();
    res.status(report.ok ? 200 : 503).json(report);
  });
  app.get('/metrics', async (_req, res) => {
    res.type(deps.metrics.contentType).send(await deps.metrics.metrics());
  });
  for (const { prefix, router } of deps.routers ?? []) app.use(prefix, router);

  app.use((req, _res, next) => next(new TesseraError('ERR_NOT_FOUND', `no route for ${req.method} ${req.path}`)));
  const onError: ErrorRequestHandler = (err, req, res, _next) => {
    const mapped = httpError(err);
    if (mapped.internal) deps.log.error({ err, method: req.method, path: req.path }, 'unhandled error in request');
    res.status(mapped.status).json(mapped.body);
  };
  app.use(onError);
  return app;
}
