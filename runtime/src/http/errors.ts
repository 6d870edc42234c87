import { ERROR_CODES, type ErrorShape, type Logger, TesseraError } from '@tessera/protocol';
import type { ErrorRequestHandler } from 'express';
import { ZodError } from 'zod';

/**
 * Map anything thrown at an HTTP boundary to a status and a coded body. Body-parser failures get their own codes;
 * unknown throws become ERR_INTERNAL without leaking the message or a stack (the caller logs the cause).
 */
export function httpError(thrown: unknown): { status: number; body: { error: ErrorShape }; internal: boolean } {
  if (thrown instanceof TesseraError)
    return { status: thrown.status, body: { error: thrown.toJSON() }, internal: false };
  if (thrown instanceof ZodError) {
    const details = thrown.issues.map((i) => ({ path: i.path.map(String).join('.') || '(root)', message: i.message }));
    const message = `the input is invalid: ${details.map((d) => `${d.path}: ${d.message}`).join('; ')}`;
    return { status: 422, body: { error: { code: 'ERR_VALIDATION', message, details } }, internal: false };
  }
  const t = thrown as { type?: string; status?: number; limit?: number; code?: string; expose?: boolean } | undefined;
  // zlib's errors while inflating a Content-Encoding body (body-parser passes them on without a type)
  if (typeof t?.code === 'string' && t.code.startsWith('Z_')) {
    return {
      status: 400,
      body: { error: { code: 'ERR_BODY_ENCODING', message: 'the body does not decode with its Content-Encoding' } },
      internal: false,
    };
  }
  const dependency = unavailableDependency(thrown);
  if (dependency) return { status: 503, body: { error: dependency }, internal: true };
  switch (t?.type) {
    case 'entity.too.large':
      return {
        status: 413,
        body: {
          error: { code: 'ERR_BODY_TOO_LARGE', message: `request body exceeds the limit of ${t.limit ?? '?'} bytes` },
        },
        internal: false,
      };
    case 'entity.parse.failed':
      return {
        status: 400,
        body: { error: { code: 'ERR_JSON_MALFORMED', message: 'request body is not valid JSON' } },
        internal: false,
      };
    case 'request.aborted':
    case 'request.size.invalid':
    case 'stream.encoding.set':
    case 'stream.not.readable':
      return {
        status: 400,
        body: { error: { code: 'ERR_BAD_REQUEST', message: 'the request body could not be read' } },
        internal: false,
      };
    case 'encoding.unsupported':
    case 'charset.unsupported':
      return {
        status: 415,
        body: { error: { code: 'ERR_UNSUPPORTED_MEDIA_TYPE', message: 'request body must be UTF-8 JSON' } },
        internal: false,
      };
  }
  return {
    status: 500,
    body: { error: { code: 'ERR_INTERNAL', message: ERROR_CODES.ERR_INTERNAL.summary } },
    internal: true,
  };
}

/** Driver codes of a database that does not take connections or writes, wherever they are wrapped. */
const CONNECTION_REFUSED = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENOTFOUND', 'EPIPE']);
const STORAGE_FAULT = /^SQLITE_(FULL|IOERR|READONLY|CANTOPEN|CORRUPT|NOTADB|PERM)/;

/**
 * A database (or other dependency) that refuses connections, or a store that refuses writes, named with its documented
 * code instead of ERR_INTERNAL: PostgreSQL's connection failures (class 08, shutdowns 57P0x), a pool that cannot
 * connect, SQLite's storage faults.
 */
function unavailableDependency(thrown: unknown): ErrorShape | undefined {
  const seen = new Set<unknown>();
  for (let e = thrown as Record<string, unknown> | undefined; e && typeof e === 'object' && !seen.has(e); ) {
    seen.add(e);
    const code = typeof e.code === 'string' ? e.code : '';
    if (STORAGE_FAULT.test(code))
      return { code: 'ERR_STORAGE_UNAVAILABLE', message: ERROR_CODES.ERR_STORAGE_UNAVAILABLE.summary };
    const message = typeof e.message === 'string' ? e.message : '';
    if (
      CONNECTION_REFUSED.has(code) ||
      /^08/.test(code) ||
      /^57P0[1-3]$/.test(code) ||
      /Connection terminated|timeout exceeded when trying to connect|Cannot use a pool after calling end/.test(message)
    )
      return { code: 'ERR_UNAVAILABLE', message: 'the database does not take connections; retry shortly' };
    e = (e.driverError ?? e.cause) as Record<string, unknown> | undefined;
  }
  return undefined;
}

/**
 * The one error handler of every Tessera server (mounted last): a coded JSON body with the code's status, the cause
 * logged (never returned) for anything unexpected.
 */
export function errorHandler(log: Logger, part: string): ErrorRequestHandler {
  return (e, req, res, next) => {
    if (res.headersSent) return next(e);
    const mapped = httpError(e);
    if (mapped.internal) log.error({ err: e, part, method: req.method, path: req.path }, 'unhandled error in a route');
    res.status(mapped.status).json(mapped.body);
  };
}
