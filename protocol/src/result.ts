import type { ErrorCode, ErrorShape } from './errors.js';

/** Expected outcomes are values (zod's safeParse, Veramo's verify results), not exceptions. */
export type Result<T, E extends ErrorShape = ErrorShape> = { ok: true; value: T } | { ok: false; error: E };

export const ok = <T>(value: T): { ok: true; value: T } => ({ ok: true, value });

export const err = (code: ErrorCode, message: string, details?: unknown): { ok: false; error: ErrorShape } =>
  details === undefined ? { ok: false, error: { code, message } } : { ok: false, error: { code, message, details } };
