import {
  OpenAPIRegistry,
  OpenApiGeneratorV31,
  type ResponseConfig,
  type RouteConfig,
} from '@asteasolutions/zod-to-openapi';
import { ERROR_CODES, type ErrorCode, TesseraError } from '@tessera/protocol';
import type { NextFunction, Request, RequestHandler, Response, Router } from 'express';
import { z } from 'zod';

/**
 * The HTTP API of a part, declared once: each route with the zod schemas of its request (path parameters, query, JSON
 * body) and of its answers, and the codes it refuses with. The same schemas validate the requests (a refusal is
 * ERR_VALIDATION naming each rule broken) and generate the part's OpenAPI 3.1 document (@asteasolutions/zod-to-openapi);
 * the stack merges the parts' documents into one (`mergeOpenApi`).
 */

type Method = 'get' | 'post' | 'put' | 'patch' | 'delete';
type AnyObject = z.ZodType<Record<string, unknown>, Record<string, unknown>>;

/** An answer: a description and, when it has a body, its schema (a zod schema, or a JSON Schema for an opaque one). */
export interface ApiResponse {
  description: string;
  schema?: z.ZodType | Record<string, unknown>;
  /** default application/json */
  mediaType?: string;
}

/** Where express routes are declared: a Router or an app. */
export type Routes = Pick<Router, Method>;

export interface ApiRoute<
  B extends z.ZodType = z.ZodType,
  Q extends AnyObject = AnyObject,
  P extends AnyObject = AnyObject,
> {
  method: Method;
  /** OpenAPI form, relative to where the router is mounted: `/devices/{id}` (express gets `/devices/:id`). */
  path: string;
  summary: string;
  description?: string;
  tags?: string[];
  /** The route needs `Authorization: Bearer <access token>` (the document names the part's bearer scheme). */
  bearer?: boolean;
  params?: P;
  query?: Q;
  /** A JSON body; its schema validates it (after the part's body parser). */
  body?: B;
  /** default true when `body` is given */
  bodyRequired?: boolean;
  /**
   * false: the route hands the body to its domain, which validates it with this same schema and answers its own codes
   * (the route still requires JSON); the schema documents it.
   */
  validateBody?: false;
  /** How a request that breaks the schemas is refused; default ERR_VALIDATION naming each rule (`validationError`). */
  invalid?: (where: 'path' | 'query' | 'body', error: z.ZodError) => Error;
  /** A body in another media type, documented only (the route parses it itself, e.g. a form). */
  otherBody?: { mediaType: string; schema: z.ZodType | Record<string, unknown>; description?: string };
  responses: Record<number, ApiResponse>;
  /** The coded refusals the route answers, one response per status listing its codes. */
  errors?: ErrorCode[];
  /**
   * A faster reader for the well-formed body of a hot route: returns the parsed body, or undefined to let the schema
   * decide (and word the refusal). It must accept nothing the schema refuses.
   */
  fastBody?: (req: Request) => z.output<B> | undefined;
  /** Left out of the document (a route that exists for compatibility, or serves the document itself). */
  hidden?: boolean;
  /**
   * The route honours an `Idempotency-Key` request header (the caller's request id): documented as an optional header
   * parameter with this description of what a repeat with the same key does.
   */
  idempotencyKey?: string;
}

/** The `Idempotency-Key` header as the routes that honour it accept it: 1 to 128 visible ASCII characters. */
const IDEMPOTENCY_KEY_PATTERN = /^[\x21-\x7e]{1,128}$/;

/**
 * Whether every JSON answer of a declared route is checked against the route's documented response (tests set
 * TESSERA_CHECK_RESPONSES=1: scripts/run-tests.mjs for the unit, services and fault suites, scripts/doc-test.ts for the
 * stacks the walk-throughs start). Off in production: it costs a parse per answer.
 */
const CHECK_RESPONSES = process.env.TESSERA_CHECK_RESPONSES === '1';

/** Paths of the object keys in `sent` that the schema's parse dropped: fields the document does not name. */
function undocumentedKeys(sent: unknown, parsed: unknown, at = ''): string[] {
  if (Array.isArray(sent) && Array.isArray(parsed))
    return sent.flatMap((v, i) => undocumentedKeys(v, parsed[i], `${at}[${i}]`));
  if (!sent || typeof sent !== 'object' || !parsed || typeof parsed !== 'object' || Array.isArray(parsed)) return [];
  const out: string[] = [];
  for (const [k, v] of Object.entries(sent)) {
    if (v === undefined) continue;
    const path = at ? `${at}.${k}` : k;
    if (!(k in parsed)) out.push(path);
    else out.push(...undocumentedKeys(v, (parsed as Record<string, unknown>)[k], path));
  }
  return out;
}

/**
 * What is wrong with a JSON answer against the route's document: for a 2xx, a status it does not list, a body its
 * schema refuses, or fields it does not name; for a refusal `{ error: { code } }`, a code that is not among the route's
 * `errors` or `ANY_ROUTE_ERRORS`. Undefined when the answer is as documented (or documented as opaque).
 */
export function answerDrift(
  spec: Pick<ApiRoute, 'responses' | 'errors'>,
  status: number,
  body: unknown,
): string | undefined {
  if (status >= 400) {
    const code = (body as { error?: { code?: unknown } } | undefined)?.error?.code;
    if (
      typeof code !== 'string' ||
      ANY_ROUTE_ERRORS.includes(code as ErrorCode) ||
      spec.errors?.includes(code as ErrorCode)
    )
      return undefined;
    return `${code} is not among the route's documented refusals (${spec.errors?.join(', ') || 'none'})`;
  }
  if (status < 200 || status > 299) return undefined;
  const documented = spec.responses[status];
  if (!documented)
    return `status ${status} is not among the documented answers (${Object.keys(spec.responses).join(', ')})`;
  const schema = documented.schema;
  if (!(schema instanceof z.ZodType)) return undefined;
  const r = schema.safeParse(body);
  if (!r.success) return r.error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`).join('; ');
  const extra = undocumentedKeys(body, r.data);
  return extra.length > 0 ? `fields the document does not name: ${extra.slice(0, 10).join(', ')}` : undefined;
}

/**
 * Under TESSERA_CHECK_RESPONSES=1, an answer that drifts from the document is replaced by a 500 naming the drift, so
 * the test that caused it fails and says where the document and the code disagree.
 */
function checkAnswers(
  spec: Pick<ApiRoute, 'method' | 'path' | 'responses' | 'errors'>,
  req: Request,
  res: Response,
): void {
  const json = res.json.bind(res);
  res.json = (body: unknown) => {
    const drift = answerDrift(spec, res.statusCode, body);
    if (drift === undefined) return json(body);
    const message = `the answer of ${spec.method.toUpperCase()} ${spec.path} does not match the OpenAPI document: ${drift}`;
    console.error(`TESSERA_CHECK_RESPONSES: ${message} (${req.method} ${req.originalUrl})`);
    res.status(500);
    return json({ error: { code: 'ERR_INTERNAL', message } });
  };
}

export interface ApiInput<B extends z.ZodType, Q extends AnyObject, P extends AnyObject> {
  body: z.output<B>;
  query: z.output<Q>;
  params: z.output<P>;
}

export type ApiHandler<B extends z.ZodType, Q extends AnyObject, P extends AnyObject> = (
  input: ApiInput<B, Q, P>,
  req: Request,
  res: Response,
) => unknown;

/** The coded error body every part answers with (`{ error: { code, message, details? } }`). */
export const ErrorBody = z
  .object({
    error: z.object({
      code: z.enum(Object.keys(ERROR_CODES) as [ErrorCode, ...ErrorCode[]]),
      message: z.string(),
      details: z.unknown().optional(),
    }),
  })
  .meta({ id: 'Error', description: 'A refusal, with a stable code (docs/errors.md)' });

/** Codes every route with a JSON body may answer (body parser and schema). */
export const BODY_ERRORS: readonly ErrorCode[] = [
  'ERR_JSON_MALFORMED',
  'ERR_BODY_TOO_LARGE',
  'ERR_BODY_ENCODING',
  'ERR_UNSUPPORTED_MEDIA_TYPE',
  'ERR_VALIDATION',
];

/**
 * Codes any route may answer, documented on every route: an internal fault, or a shared engine it depends on (the
 * storage, the chain, another service) unavailable for now.
 */
export const ANY_ROUTE_ERRORS: readonly ErrorCode[] = [
  'ERR_INTERNAL',
  'ERR_UNAVAILABLE',
  'ERR_STORAGE_UNAVAILABLE',
  'ERR_CHAIN_UNAVAILABLE',
];

/** One response per status, listing the codes that map to it. */
export function errorResponses(codes: Iterable<ErrorCode>): Record<number, ApiResponse> {
  const byStatus = new Map<number, Set<ErrorCode>>();
  for (const c of codes) {
    const s = ERROR_CODES[c].status;
    if (!byStatus.has(s)) byStatus.set(s, new Set());
    byStatus.get(s)!.add(c);
  }
  return Object.fromEntries(
    [...byStatus]
      .sort(([a], [b]) => a - b)
      .map(([s, list]) => [s, { description: [...list].join(', '), schema: ErrorBody }]),
  );
}

/** `{id}` → `:id` */
const expressPath = (p: string) => p.replace(/\{([A-Za-z0-9_]+)\}/g, ':$1');

/** The rules a value breaks, as ERR_VALIDATION (`the body is invalid: claims.name: …; …`) with one detail per rule. */
export function validationError(where: string, error: z.ZodError): TesseraError {
  const details = error.issues.map((i) => ({ path: i.path.map(String).join('.') || '(root)', message: i.message }));
  return new TesseraError(
    'ERR_VALIDATION',
    `the ${where} is invalid: ${details.map((d) => `${d.path}: ${d.message}`).join('; ')}`,
    { details },
  );
}

/** `schema.parse(value)` refusing with `validationError(where, …)`. */
export function parseWith<S extends z.ZodType>(schema: S, value: unknown, where: string): z.output<S> {
  const r = schema.safeParse(value);
  if (!r.success) throw validationError(where, r.error);
  return r.data;
}

export interface ApiInfo {
  title: string;
  version?: string;
  description: string;
  /** What `bearer` routes need (the securityScheme's description). */
  bearerDescription?: string;
}

/** A part's HTTP API: routes declared once, validated by their schemas, documented from them. */
export class HttpApi {
  readonly #registry = new OpenAPIRegistry();
  #bearer = false;

  readonly #checkResponses: boolean;

  /** `checkResponses`: check every JSON answer against its documented response (default: TESSERA_CHECK_RESPONSES=1). */
  constructor(
    readonly info: ApiInfo,
    options: { checkResponses?: boolean } = {},
  ) {
    this.#checkResponses = options.checkResponses ?? CHECK_RESPONSES;
  }

  readonly #schemas: z.ZodType[] = [];

  /** A named schema: it goes into components.schemas (even when no route refers to it, e.g. an MQTT payload). */
  schema<S extends z.ZodType>(name: string, schema: S): S {
    const named = schema.meta({ id: name }) as S;
    this.#schemas.push(named);
    return named;
  }

  readonly #jsonSchemas: Record<string, unknown> = {};

  /**
   * A named schema converted by zod's own `z.toJSONSchema` (for what the generator cannot walk, such as the recursive
   * `z.json()`): its `$defs` become components `<name>_<def>`. Returns a schema that refers to it, for documents only.
   */
  jsonSchema(name: string, schema: z.ZodType, description?: string): z.ZodUnknown {
    const {
      $schema: _ignored,
      $defs,
      ...root
    } = z.toJSONSchema(schema, { unrepresentable: 'any', io: 'input' }) as Record<string, unknown> & {
      $defs?: Record<string, unknown>;
    };
    const rewrite = (v: unknown): unknown =>
      JSON.parse(
        JSON.stringify(v).replace(/"#\/\$defs\/([^"]+)"/g, (_m, d: string) => `"#/components/schemas/${name}_${d}"`),
      );
    this.#jsonSchemas[name] = rewrite(root);
    for (const [d, def] of Object.entries($defs ?? {})) this.#jsonSchemas[`${name}_${d}`] = rewrite(def);
    return z.unknown().meta({ $ref: `#/components/schemas/${name}`, ...(description ? { description } : {}) });
  }

  /** Declare a route in the document only (its handler is mounted elsewhere, e.g. a protocol library's router). */
  document<B extends z.ZodType, Q extends AnyObject, P extends AnyObject>(spec: ApiRoute<B, Q, P>): void {
    if (spec.hidden) return;
    if (spec.bearer) this.#bearer = true;
    const responses: Record<string, ResponseConfig> = {};
    // the route's own description of a status wins over the list of codes that map to it
    const all = { ...errorResponses([...(spec.errors ?? []), ...ANY_ROUTE_ERRORS]), ...spec.responses };
    for (const [status, r] of Object.entries(all)) {
      responses[status] = {
        description: r.description,
        ...(r.schema ? { content: { [r.mediaType ?? 'application/json']: { schema: r.schema as never } } } : {}),
      };
    }
    const body = spec.body
      ? { 'application/json': { schema: spec.body } }
      : spec.otherBody
        ? { [spec.otherBody.mediaType]: { schema: spec.otherBody.schema as never } }
        : undefined;
    const config: RouteConfig = {
      method: spec.method,
      path: spec.path,
      summary: spec.summary,
      ...(spec.description ? { description: spec.description } : {}),
      ...(spec.tags ? { tags: spec.tags } : {}),
      ...(spec.bearer ? { security: [{ bearer: [] }] } : {}),
      request: {
        ...(spec.idempotencyKey
          ? {
              headers: z.object({
                'Idempotency-Key': z
                  .string()
                  .regex(IDEMPOTENCY_KEY_PATTERN)
                  .optional()
                  .meta({ description: spec.idempotencyKey, example: 'batch-2026-0001' }),
              }) as never,
            }
          : {}),
        ...(spec.params ? { params: spec.params as never } : {}),
        ...(spec.query ? { query: spec.query as never } : {}),
        ...(body
          ? {
              body: {
                required: spec.bodyRequired ?? true,
                ...(spec.otherBody?.description ? { description: spec.otherBody.description } : {}),
                content: body,
              },
            }
          : {}),
      },
      responses,
    };
    this.#registry.registerPath(config);
  }

  /**
   * Declare a route and mount its handler on `router`: path parameters, query and body are validated by the route's
   * schemas (ERR_VALIDATION, or ERR_UNSUPPORTED_MEDIA_TYPE for a body that is not JSON) and handed to the handler
   * parsed. `middleware` runs first (a guard).
   */
  route<B extends z.ZodType = z.ZodUndefined, Q extends AnyObject = AnyObject, P extends AnyObject = AnyObject>(
    router: Routes,
    spec: ApiRoute<B, Q, P>,
    ...rest: [...middleware: RequestHandler[], handler: ApiHandler<B, Q, P>]
  ): void {
    this.document(spec);
    const handler = rest.pop() as ApiHandler<B, Q, P>;
    const middleware = rest as RequestHandler[];
    const run = async (req: Request, res: Response, next: NextFunction) => {
      try {
        const check = <S extends z.ZodType>(schema: S, value: unknown, where: 'path' | 'query' | 'body') => {
          const r = schema.safeParse(value);
          if (r.success) return r.data;
          throw spec.invalid ? spec.invalid(where, r.error) : validationError(where, r.error);
        };
        const params = spec.params ? check(spec.params, req.params, 'path') : req.params;
        const query = spec.query ? check(spec.query, req.query, 'query') : req.query;
        let body: unknown = req.body;
        if (spec.body) {
          // a required body must be JSON; an optional one may be absent (read as {})
          const required = spec.bodyRequired ?? true;
          if ((required || req.body !== undefined) && !req.is('application/json'))
            throw new TesseraError('ERR_UNSUPPORTED_MEDIA_TYPE', 'the body must be application/json');
          if (spec.validateBody !== false)
            body =
              spec.fastBody?.(req) ?? check(spec.body, req.body === undefined && !required ? {} : req.body, 'body');
        }
        await handler({ body, query, params } as ApiInput<B, Q, P>, req, res);
      } catch (e) {
        next(e);
      }
    };
    (router[spec.method] as (path: string, ...h: RequestHandler[]) => unknown)(
      expressPath(spec.path),
      // before the route's own middleware, so a guard's refusal is checked against the route's codes too
      ...(this.#checkResponses && !spec.hidden
        ? [
            (req: Request, res: Response, next: NextFunction) => {
              checkAnswers(spec, req, res);
              next();
            },
          ]
        : []),
      ...middleware,
      run,
    );
  }

  /** This part's OpenAPI 3.1 document, its server at `serverUrl`. */
  openapi(serverUrl: string): OpenApiDocument {
    const definitions = [
      ...this.#registry.definitions,
      ...this.#schemas.map((schema) => ({ type: 'schema' as const, schema })),
    ];
    const doc = new OpenApiGeneratorV31(definitions as never).generateDocument({
      openapi: '3.1.0',
      info: { title: this.info.title, version: this.info.version ?? '0.1.0', description: this.info.description },
      servers: [{ url: serverUrl }],
    }) as unknown as OpenApiDocument;
    delete (doc as { webhooks?: unknown }).webhooks;
    doc.components ??= {};
    doc.components.schemas = { ...(doc.components.schemas ?? {}), ...this.#jsonSchemas };
    if (doc.components.parameters && Object.keys(doc.components.parameters).length === 0)
      delete doc.components.parameters;
    if (this.#bearer) {
      doc.components.securitySchemes = {
        bearer: {
          type: 'http',
          scheme: 'bearer',
          ...(this.info.bearerDescription ? { description: this.info.bearerDescription } : {}),
        },
      };
    }
    return doc;
  }
}

/** The parts of an OpenAPI 3.1 document `mergeOpenApi` reads and writes. */
export interface OpenApiDocument {
  openapi: string;
  info: { title: string; version: string; description?: string };
  servers?: { url: string }[];
  paths: Record<string, Record<string, unknown>>;
  components?: {
    schemas?: Record<string, unknown>;
    parameters?: Record<string, unknown>;
    securitySchemes?: Record<string, unknown>;
  };
  tags?: { name: string; description?: string }[];
}

const deepEqual = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/** Replace `#/components/<kind>/<old>` references ($ref, discriminator mappings) by the names in `renames`. */
function renameRefs(value: unknown, kind: string, renames: Map<string, string>): unknown {
  if (typeof value === 'string') {
    const at = value.lastIndexOf(`#/components/${kind}/`);
    if (at < 0) return value;
    const name = value.slice(at + `#/components/${kind}/`.length);
    return renames.has(name) ? `${value.slice(0, value.length - name.length)}${renames.get(name)}` : value;
  }
  if (Array.isArray(value)) return value.map((v) => renameRefs(v, kind, renames));
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, renameRefs(v, kind, renames)]));
}

/**
 * One document for the whole stack from the parts' documents: each part's paths under the prefix it is mounted at,
 * its operations tagged with its title, and its components merged (a name two parts use for different schemas is
 * prefixed with the part's tag in that part). Paths must not collide.
 */
export function mergeOpenApi(o: {
  info: { title: string; version: string; description?: string };
  serverUrl: string;
  parts: { prefix: string; tag: string; description?: string; document: OpenApiDocument }[];
}): OpenApiDocument {
  const merged: Required<Pick<OpenApiDocument, 'components' | 'tags'>> & OpenApiDocument = {
    openapi: '3.1.0',
    info: o.info,
    servers: [{ url: o.serverUrl }],
    tags: [],
    paths: {},
    components: { schemas: {}, parameters: {}, securitySchemes: {} },
  };
  for (const part of o.parts) {
    merged.tags.push({ name: part.tag, description: part.description ?? part.document.info.description ?? '' });
    let doc = part.document;
    for (const kind of ['schemas', 'parameters', 'securitySchemes'] as const) {
      const renames = new Map<string, string>();
      const target = merged.components[kind]!;
      for (const [name, value] of Object.entries(doc.components?.[kind] ?? {})) {
        if (name in target && !deepEqual(target[name], value)) {
          const renamed = `${part.tag.replace(/[^A-Za-z0-9]/g, '')}${name}`;
          if (renamed in target) throw new Error(`component ${kind}/${name} collides in ${part.tag}`);
          renames.set(name, renamed);
        }
      }
      if (renames.size > 0) {
        doc = renameRefs(doc, kind, renames) as OpenApiDocument;
        const comps = doc.components![kind]!;
        doc.components![kind] = Object.fromEntries(Object.entries(comps).map(([k, v]) => [renames.get(k) ?? k, v]));
        if (kind === 'securitySchemes') {
          // the operations' security requirements name the scheme
          for (const ops of Object.values(doc.paths))
            for (const op of Object.values(ops) as { security?: Record<string, unknown>[] }[])
              if (op?.security)
                op.security = op.security.map((req) =>
                  Object.fromEntries(Object.entries(req).map(([k, v]) => [renames.get(k) ?? k, v])),
                );
        }
      }
      Object.assign(target, doc.components?.[kind] ?? {});
    }
    for (const [path, ops] of Object.entries(doc.paths)) {
      const full = `${part.prefix}${path === '/' ? '' : path}` || '/';
      if (merged.paths[full]) throw new Error(`the path ${full} is documented by two parts`);
      merged.paths[full] = Object.fromEntries(
        Object.entries(ops).map(([method, op]) =>
          op && typeof op === 'object' && method !== 'parameters'
            ? [
                method,
                {
                  ...(op as object),
                  tags: [part.tag, ...((op as { tags?: string[] }).tags ?? []).filter((t) => t !== part.tag)],
                },
              ]
            : [method, op],
        ),
      );
    }
  }
  for (const kind of ['schemas', 'parameters', 'securitySchemes'] as const)
    if (Object.keys(merged.components[kind]!).length === 0) delete merged.components[kind];
  return merged;
}

const OPENAPI = Symbol.for('tessera.openapi');

/** Attach a part's document to its router or app, for the composition root to merge (`openApiOf`). */
export function attachOpenApi<T extends object>(handler: T, document: (serverUrl: string) => OpenApiDocument): T {
  (handler as Record<symbol, unknown>)[OPENAPI] = document;
  return handler;
}

/** The document attached to a router or app by `attachOpenApi`, if any. */
export function openApiOf(handler: object): ((serverUrl: string) => OpenApiDocument) | undefined {
  return (handler as Record<symbol, unknown>)[OPENAPI] as ((serverUrl: string) => OpenApiDocument) | undefined;
}
