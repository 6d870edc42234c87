/**
 * What a database error means, the same way for SQLite and PostgreSQL (typeorm wraps the driver's error in
 * `driverError`). The one place that reads driver error codes.
 */
function driver(e: unknown): { code: string; constraint: string; message: string } {
  const d =
    (e as { driverError?: { code?: unknown; constraint?: unknown; message?: unknown } })?.driverError ??
    (e as { code?: unknown; constraint?: unknown; message?: unknown });
  return { code: String(d?.code ?? ''), constraint: String(d?.constraint ?? ''), message: String(d?.message ?? '') };
}

/**
 * A unique or primary key violation (PostgreSQL 23505, SQLite SQLITE_CONSTRAINT_UNIQUE / _PRIMARYKEY); with `table`,
 * only one on that table (its constraint or index name starts with it, or SQLite names it in the message).
 */
export function isUniqueViolation(e: unknown, table?: string): boolean {
  const d = driver(e);
  const unique =
    d.code === '23505' || d.code === 'SQLITE_CONSTRAINT_UNIQUE' || d.code.startsWith('SQLITE_CONSTRAINT_PRIMARYKEY');
  if (!unique || table === undefined) return unique;
  return d.constraint.startsWith(table) || d.message.includes(`${table}.`);
}

/** A conflict between concurrent transactions that a re-run resolves (SQLite busy, PostgreSQL serialization, deadlock). */
export function isTransientConflict(e: unknown): boolean {
  const { code } = driver(e);
  return code.startsWith('SQLITE_BUSY') || code === '40001' || code === '40P01';
}
