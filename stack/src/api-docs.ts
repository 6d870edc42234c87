import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { mergeOpenApi, type OpenApiDocument, openApiOf } from '@tessera/runtime/http';
import express, { type Router } from 'express';

/** A part of the stack's HTTP API: where it is mounted, and the router or app that carries its document. */
export interface ApiPart {
  prefix: string;
  tag: string;
  handler: object;
}

/** The stack's one OpenAPI document: every part's document, its paths under the part's mount point. */
export function stackOpenApi(publicUrl: string, parts: readonly ApiPart[]): OpenApiDocument {
  return mergeOpenApi({
    info: {
      title: 'Tessera',
      version: '0.1.0',
      description:
        'The whole stack: the issuer, the verifier and the services, each under the path it is mounted at. Every ' +
        'refusal is `{ error: { code, message } }` with a stable code (docs/errors.md); routes marked with a lock ' +
        'need an access token from the verifier (`POST /verifier/presentations`) or the issuer (`POST /issuer/auth/token`).',
    },
    serverUrl: publicUrl,
    parts: parts.flatMap((p) => {
      const document = openApiOf(p.handler);
      return document ? [{ prefix: p.prefix, tag: p.tag, document: document(`${publicUrl}${p.prefix}`) }] : [];
    }),
  });
}

/** Swagger UI's files, served from the installed swagger-ui-dist package (nothing is fetched from elsewhere). */
const SWAGGER_UI = dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));
const ASSETS = ['swagger-ui.css', 'swagger-ui-bundle.js', 'favicon-32x32.png'] as const;

/**
 * What the page may load: its own scripts and styles, the document (connect-src, also for "try it out" against the
 * same origin), Swagger UI's inline SVG icons (data: images); no inline script, no other origin, no framing.
 */
export const DOCS_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Tessera API</title>
<link rel="stylesheet" href="swagger-ui.css">
<link rel="icon" type="image/png" href="favicon-32x32.png">
</head>
<body>
<main id="api"></main>
<script src="swagger-ui-bundle.js"></script>
<script src="init.js"></script>
</body>
</html>
`;

// Relative to /docs/: the stack's document one level up, so the page works under any public path prefix.
const INIT = `window.ui = SwaggerUIBundle({
  url: new URL('../openapi.json', document.baseURI).href,
  dom_id: '#api',
  deepLinking: true,
  tryItOutEnabled: false,
  validatorUrl: null,
});
`;

/**
 * `GET /openapi.json` (the stack's merged document) and `GET /docs/` (Swagger UI rendering it), for the stack's root.
 * The document is built on first use and kept: the parts' routes do not change while the stack runs.
 */
export function apiDocsRouter(document: () => OpenApiDocument): Router {
  const router = express.Router();
  let cached: string | undefined;
  router.get('/openapi.json', (_req, res) => {
    cached ??= JSON.stringify(document());
    res.type('application/json').send(cached);
  });
  const headers = (res: express.Response) => {
    res.setHeader('content-security-policy', DOCS_CSP);
    res.setHeader('x-content-type-options', 'nosniff');
    res.setHeader('referrer-policy', 'no-referrer');
  };
  router.get('/docs', (req, res, next) => {
    // only the exact path: /docs/ is the page (its assets are relative to it)
    if (req.path !== '/docs') return next();
    res.redirect(301, 'docs/');
  });
  router.get('/docs/', (_req, res) => {
    headers(res);
    res.type('html').send(PAGE);
  });
  router.get('/docs/init.js', (_req, res) => {
    headers(res);
    res.type('application/javascript').send(INIT);
  });
  for (const file of ASSETS) {
    router.get(`/docs/${file}`, (_req, res, next) => {
      headers(res);
      res.setHeader('cache-control', 'public, max-age=3600');
      res.sendFile(join(SWAGGER_UI, file), (e) => e && next(e));
    });
  }
  return router;
}
