import { ERROR_CODES, type ErrorShape, TesseraError } from './errors.js';

/**
 * Map anything thrown at an HTTP boundary to a status and a coded body. Body-parser failures get their own codes;
 * unknown throws become ERR_INTERNAL without leaking the message or a stack (the caller logs the cause).
 */
export function httpError(thrown: unknown): { status: number; body: { error: ErrorShape }; internal: boolean } {
  if (thrown instanceof TesseraError)
    return { status: thrown.status, body: { error: thrown.toJSON() }, internal: false };
  const t = thrown as { type?: string; status?: number; limit?: number } | undefined;
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
