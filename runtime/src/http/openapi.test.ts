import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { silentLogger, TesseraError } from '@tessera/protocol';
import express from 'express';
import { z } from 'zod';
import { jsonBody } from './body.js';
import { errorHandler } from './errors.js';
import {
  answerDrift,
  attachOpenApi,
  BODY_ERRORS,
  HttpApi,
  mergeOpenApi,
  type OpenApiDocument,
  openApiOf,
} from './openapi.js';

/** A JSON answer or document, read by path in the assertions. */
// biome-ignore lint/suspicious/noExplicitAny: JSON of any shape, checked by the assertions
type Json = any;

const Item = z.strictObject({ name: z.string().min(1).max(8), count: z.number().int().min(1).optional() });

function build() {
  const api = new HttpApi({ title: 'items', description: 'a test API' });
  const router = express.Router();
  router.use(jsonBody());
  api.route(
    router,
    {
      method: 'post',
      path: '/items/{id}',
      summary: 'put an item',
      bearer: true,
      params: z.object({ id: z.string().regex(/^[a-z]+$/) }),
      query: z.object({ dry: z.enum(['true', 'false']).optional() }),
      body: Item.meta({ id: 'Item' }),
      responses: { 201: { description: 'stored', schema: z.object({ id: z.string(), name: z.string() }) } },
      errors: ['ERR_NOT_FOUND', ...BODY_ERRORS],
    },
    ({ params, body }, _req, res) => {
      res.status(201).json({ id: params.id, name: body.name });
    },
  );
  api.route(
    router,
    {
      method: 'get',
      path: '/lists/{n}',
      summary: 'a list by number',
      params: z.object({ n: z.string().regex(/^[0-9]+$/) }),
      invalid: () => new TesseraError('ERR_NOT_FOUND', 'no such list'),
      responses: { 200: { description: 'the list', schema: { type: 'object' } } },
      errors: ['ERR_NOT_FOUND'],
    },
    ({ params }, _req, res) => {
      res.json({ n: Number(params.n) });
    },
  );
  api.route(
    router,
    {
      method: 'post',
      path: '/raw',
      summary: 'the domain checks the body',
      body: Item,
      validateBody: false,
      idempotencyKey: 'your request id: a repeat with it returns the first result',
      responses: { 200: { description: 'as sent', schema: { type: 'object' } } },
    },
    (_input, req, res) => {
      res.json(req.body);
    },
  );
  router.use(errorHandler(silentLogger, 'test'));
  return attachOpenApi(router, (url) => api.openapi(url));
}

let base: string;
let server: ReturnType<express.Express['listen']>;
const router = build();
before(async () => {
  const app = express();
  app.use(router);
  server = app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => server.close());

const post = (path: string, body: unknown, type = 'application/json') =>
  fetch(`${base}${path}`, {
    method: 'POST',
    headers: { 'content-type': type },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  }).then(async (r) => ({ status: r.status, json: (await r.json()) as Record<string, Json> }));

describe('HttpApi: a route declared once is validated by its schemas', () => {
  it('hands the handler the parsed input', async () => {
    const r = await post('/items/abc?dry=true', { name: 'bolt' });
    assert.deepEqual([r.status, r.json], [201, { id: 'abc', name: 'bolt' }]);
  });

  it('refuses what the schemas refuse with ERR_VALIDATION naming each rule, a non-JSON body with 415', async () => {
    const body = await post('/items/abc', { name: '', extra: 1 });
    assert.equal(body.status, 422);
    assert.equal(body.json.error.code, 'ERR_VALIDATION');
    assert.match(body.json.error.message, /^the body is invalid: name: .*; \(root\): /);
    assert.deepEqual(
      body.json.error.details.map((d: { path: string }) => d.path),
      ['name', '(root)'],
    );
    const path = await post('/items/ABC', { name: 'bolt' });
    assert.match(path.json.error.message, /^the path is invalid: id: /);
    const query = await post('/items/abc?dry=maybe', { name: 'bolt' });
    assert.match(query.json.error.message, /^the query is invalid: dry: /);
    const text = await post('/items/abc', 'name=bolt', 'text/plain');
    assert.deepEqual([text.status, text.json.error.code], [415, 'ERR_UNSUPPORTED_MEDIA_TYPE']);
  });

  it('keeps a route its own refusal (invalid), and leaves the body to the domain (validateBody: false)', async () => {
    const r = await fetch(`${base}/lists/x1`);
    assert.equal(r.status, 404);
    assert.equal(((await r.json()) as { error: { code: string } }).error.code, 'ERR_NOT_FOUND');
    const raw = await post('/raw', { anything: true });
    assert.deepEqual([raw.status, raw.json], [200, { anything: true }]);
  });
});

describe('HttpApi: the OpenAPI document comes from the same schemas', () => {
  const doc = openApiOf(router)!('https://example.test/items') as OpenApiDocument & Record<string, Json>;

  it('names the body schema, the parameters, the bearer scheme, and one response per status with its codes', () => {
    assert.equal(doc.openapi, '3.1.0');
    assert.deepEqual(doc.servers, [{ url: 'https://example.test/items' }]);
    const op = doc.paths['/items/{id}']!.post as Record<string, Json>;
    assert.equal(op.requestBody.content['application/json'].schema.$ref, '#/components/schemas/Item');
    const item = doc.components!.schemas!.Item as Record<string, Json>;
    assert.equal(item.additionalProperties, false);
    assert.equal(item.properties.name.maxLength, 8);
    assert.deepEqual(
      op.parameters.map((p: { name: string; in: string }) => `${p.in}:${p.name}`),
      ['path:id', 'query:dry'],
    );
    assert.deepEqual(op.security, [{ bearer: [] }]);
    assert.equal((doc.components!.securitySchemes!.bearer as { scheme: string }).scheme, 'bearer');
    assert.equal(op.responses['404'].description, 'ERR_NOT_FOUND');
    assert.match(op.responses['422'].description, /ERR_VALIDATION/);
    assert.match(op.responses['400'].description, /ERR_JSON_MALFORMED/);
    assert.equal(op.responses['404'].content['application/json'].schema.$ref, '#/components/schemas/Error');
    assert.equal(
      op.parameters.some((p: { in: string }) => p.in === 'header'),
      false,
      'no Idempotency-Key where the route does not honour it',
    );
  });

  it('documents the Idempotency-Key header of a route that honours it, optional, with its rule', () => {
    const op = doc.paths['/raw']!.post as Record<string, Json>;
    const [h] = op.parameters.filter((p: { in: string }) => p.in === 'header');
    assert.equal(h.name, 'Idempotency-Key');
    assert.equal(h.required, false);
    assert.match(h.description, /request id/);
    assert.equal(h.schema.type, 'string');
    assert.ok(new RegExp(h.schema.pattern).test('batch-1') && !new RegExp(h.schema.pattern).test('a b'));
  });
});

describe('mergeOpenApi', () => {
  const part = (title: string, thing: unknown): OpenApiDocument => ({
    openapi: '3.1.0',
    info: { title, version: '1' },
    paths: { '/x': { get: { responses: { 200: { $ref: '#/components/schemas/Thing' } } } } },
    components: { schemas: { Thing: thing, Same: { type: 'string' } } },
  });

  it("puts each part's paths under its prefix, tags them, and renames a component two parts define differently", () => {
    const merged = mergeOpenApi({
      info: { title: 'all', version: '1' },
      serverUrl: 'https://example.test',
      parts: [
        { prefix: '/a', tag: 'a', document: part('A', { type: 'integer' }) },
        { prefix: '/b', tag: 'b', document: part('B', { type: 'boolean' }) },
      ],
    });
    assert.deepEqual(Object.keys(merged.paths), ['/a/x', '/b/x']);
    assert.deepEqual((merged.paths['/b/x']!.get as { tags: string[] }).tags, ['b']);
    assert.deepEqual(Object.keys(merged.components!.schemas!).sort(), ['Same', 'Thing', 'bThing']);
    assert.equal(JSON.stringify(merged.paths['/b/x']).includes('#/components/schemas/bThing'), true);
    assert.equal(JSON.stringify(merged.paths['/a/x']).includes('#/components/schemas/Thing"'), true);
  });

  it('refuses two parts documenting the same path', () => {
    assert.throws(() =>
      mergeOpenApi({
        info: { title: 'all', version: '1' },
        serverUrl: 'https://example.test',
        parts: [
          { prefix: '/a', tag: 'a', document: part('A', {}) },
          { prefix: '/a', tag: 'b', document: part('B', {}) },
        ],
      }),
    );
  });
});

describe('checking answers against the document (TESSERA_CHECK_RESPONSES=1, as the test runner sets it)', () => {
  const Thing = z.object({ id: z.string(), size: z.number().int(), tags: z.array(z.object({ name: z.string() })) });
  const spec = { responses: { 200: { description: 'the thing', schema: Thing }, 204: { description: 'none' } } };

  it('names a missing or mistyped field, a field the document does not name (at any depth), an unlisted status', () => {
    assert.equal(answerDrift(spec, 200, { id: 'a', size: 1, tags: [{ name: 'x' }] }), undefined);
    assert.match(answerDrift(spec, 200, { id: 'a', tags: [] }) ?? '', /^size: /);
    assert.match(answerDrift(spec, 200, { id: 'a', size: '1', tags: [] }) ?? '', /^size: /);
    assert.equal(
      answerDrift(spec, 200, { id: 'a', size: 1, secret: 's', tags: [{ name: 'x', colour: 'red' }] }),
      'fields the document does not name: secret, tags[0].colour',
    );
    assert.match(
      answerDrift(spec, 201, { id: 'a' }) ?? '',
      /status 201 is not among the documented answers \(200, 204\)/,
    );
    // a refusal's code must be among the route's errors or those of any route; an opaque schema documents no fields
    const refusing = { ...spec, errors: ['ERR_NOT_FOUND' as const] };
    assert.equal(answerDrift(refusing, 404, { error: { code: 'ERR_NOT_FOUND', message: 'no' } }), undefined);
    assert.equal(answerDrift(refusing, 500, { error: { code: 'ERR_INTERNAL', message: 'oops' } }), undefined);
    assert.equal(
      answerDrift(refusing, 503, { error: { code: 'ERR_STORAGE_UNAVAILABLE', message: 'down' } }),
      undefined,
    );
    assert.equal(
      answerDrift(refusing, 409, { error: { code: 'ERR_CONFLICT', message: 'taken' } }),
      "ERR_CONFLICT is not among the route's documented refusals (ERR_NOT_FOUND)",
    );
    assert.match(answerDrift(spec, 409, { error: { code: 'ERR_CONFLICT' } }) ?? '', /documented refusals \(none\)/);
    assert.equal(
      answerDrift({ responses: { 200: { description: 'x', schema: { type: 'object' } } } }, 200, { a: 1 }),
      undefined,
    );
  });

  it('turns an answer that drifts into a 500 naming the route and the drift; a conforming one goes out as sent', async () => {
    const api = new HttpApi({ title: 'things', description: 'answers checked' }, { checkResponses: true });
    const router = express.Router();
    api.route(
      router,
      { method: 'get', path: '/good', summary: 'as documented', responses: spec.responses },
      (_i, _r, res) => {
        res.json({ id: 'a', size: 1, tags: [] });
      },
    );
    api.route(router, { method: 'get', path: '/bad', summary: 'drifts', responses: spec.responses }, (_i, _r, res) => {
      res.json({ id: 'a', size: 1, tags: [], internal: true });
    });
    const server = express().use(router).listen(0);
    await new Promise((resolve) => server.once('listening', resolve));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const good = await fetch(`${base}/good`);
      assert.equal(good.status, 200);
      assert.deepEqual(await good.json(), { id: 'a', size: 1, tags: [] });
      const bad = await fetch(`${base}/bad`);
      assert.equal(bad.status, 500);
      const body = (await bad.json()) as Json;
      assert.equal(body.error.code, 'ERR_INTERNAL');
      assert.match(
        body.error.message,
        /GET \/bad does not match the OpenAPI document: fields the document does not name: internal/,
      );
    } finally {
      server.close();
    }
  });
});
