import { MAX_HTTP_BODY_BYTES, TesseraError } from '@tessera/protocol';
import express, { type NextFunction, type Request, type RequestHandler, type Response } from 'express';

const JSON_TYPE = /^application\/json(?:\s*;\s*charset="?utf-8"?)?$/i;
const JSON_WHITESPACE = /^[ \t\n\r]*/;

/** The error body-parser raises for a body that is not strict JSON (`httpError` maps it to ERR_JSON_MALFORMED). */
const malformedJson = () =>
  Object.assign(new SyntaxError('request body is not valid JSON'), {
    type: 'entity.parse.failed',
    status: 400,
    expose: true,
  });

/**
 * `express.json({ limit, strict: true })` for its common case, without its per-request machinery (type-is, raw-body,
 * iconv): a body of type `application/json` (no charset or UTF-8), not compressed, not chunked, with a Content-Length
 * from 1 to `limit` bytes (node's HTTP parser reads exactly that many). Everything else goes to express.json itself,
 * so the answers to other media types, charsets, encodings, empty and oversized bodies stay what they were.
 * Like express.json in strict mode: a UTF-8 BOM is dropped, only an object or an array is accepted.
 */
export function fastJsonBody(limit: number): RequestHandler {
  const fallback = express.json({ limit, strict: true });
  return (req, res, next) => {
    const h = req.headers;
    const type = h['content-type'];
    const length = h['content-length'];
    const size = length === undefined ? Number.NaN : Number(length);
    if (
      type === undefined ||
      !JSON_TYPE.test(type) ||
      h['content-encoding'] !== undefined ||
      h['transfer-encoding'] !== undefined ||
      !(size >= 1 && size <= limit) ||
      req.body !== undefined ||
      req.readableEnded
    ) {
      fallback(req, res, next);
      return;
    }
    const chunks: Buffer[] = [];
    const done = (e?: unknown) => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', done);
      next(e);
    };
    const onData = (c: Buffer) => chunks.push(c);
    const onEnd = () => {
      let text = (chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)).toString('utf8');
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
      const first = text[JSON_WHITESPACE.exec(text)![0].length];
      if (first !== '{' && first !== '[') return done(malformedJson());
      try {
        req.body = JSON.parse(text);
      } catch {
        return done(malformedJson());
      }
      done();
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', done);
  };
}

/**
 * The one body parser of every Tessera server: bodies are JSON or nothing (any other media type is
 * ERR_UNSUPPORTED_MEDIA_TYPE before a byte is read), at most `limit` bytes (ERR_BODY_TOO_LARGE, by Content-Length
 * before reading, or as the stream passes the limit), strict (an object or an array), UTF-8. A `Content-Encoding`
 * (gzip, deflate, br) is inflated by express.json with the same limit on the inflated size; one that does not decode is
 * ERR_BODY_ENCODING (400), an unknown one ERR_UNSUPPORTED_MEDIA_TYPE (415).
 *
 * `skip(req)` lets a route parse its own body (a larger limit, or authentication before parsing).
 */
export function jsonBody(o: { limit?: number; skip?: (req: Request) => boolean } = {}): RequestHandler {
  const parse = fastJsonBody(o.limit ?? MAX_HTTP_BODY_BYTES);
  return (req: Request, res: Response, next: NextFunction) => {
    if (o.skip?.(req)) return next();
    const hasBody = req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
    if (!hasBody) return next();
    if (!req.is('application/json')) {
      return next(new TesseraError('ERR_UNSUPPORTED_MEDIA_TYPE', 'the body must be application/json'));
    }
    parse(req, res, next);
  };
}
