/**
 * What a fault-injection test file injected and what it checked, printed at its end as one line per kind
 * (`faults: injected …` / `faults: checked …`), so a run shows its figures next to its verdict.
 */
import { after } from 'node:test';

export function faultReport(file: string) {
  const injected = new Map<string, number>();
  const checked = new Map<string, number>();
  const add = (m: Map<string, number>, k: string, n: number) => m.set(k, (m.get(k) ?? 0) + n);
  after(() => {
    const fmt = (m: Map<string, number>) => [...m].map(([k, n]) => `${k}=${n}`).join(' ') || '(none)';
    console.log(`faults ${file}: injected ${fmt(injected)}`);
    console.log(`faults ${file}: checked ${fmt(checked)}`);
  });
  return {
    inject: (kind: string, n = 1) => add(injected, kind, n),
    check: (kind: string, n = 1) => add(checked, kind, n),
  };
}

/** Rows of a stack's SQLite file, read by the test itself (the stack stopped or killed): what really reached the file. */
export async function readSqlite<T = Record<string, unknown>>(file: string, sql: string): Promise<T[]> {
  const { DataSource } = await import('typeorm');
  const ds = new DataSource({ type: 'better-sqlite3', database: file, readonly: true });
  await ds.initialize();
  try {
    return (await ds.query(sql)) as T[];
  } finally {
    await ds.destroy();
  }
}

/** A port free right now, for a stack restarted on the same data directory (its credentials name its URL). */
export async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}
