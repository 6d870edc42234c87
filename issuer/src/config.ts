import { TesseraError } from '@tessera/protocol';
import { STATUS_LIST_MIN_ENTRIES } from '@tessera/protocol';
import { z } from 'zod';

/**
 * The issuer's configuration. Defaults live here and nowhere else; secrets have none. Parsed once, every problem
 * reported at once, the result frozen.
 */
export const IssuerConfigSchema = z.strictObject({
  /** Where the issuer keeps its files (SQLite database, secret-box key file). */
  dataDir: z.string().min(1),
  /** Base URL under which the status list credentials are published (`<base>/status-lists/<id>/<purpose>`). */
  publicBaseUrl: z
    .url({ protocol: /^https?$/ })
    .default('http://127.0.0.1:8080')
    .transform((u) => u.replace(/\/+$/, '')),
  /**
   * The 32-byte secret-box key (64 hex) that encrypts the issuer's private keys in the database. Omitted: a key file
   * `issuer-kms.key` (mode 0600) in the data directory, created on first start. Never stored in the database.
   */
  secretBoxKey: z
    .string()
    .regex(/^[0-9a-fA-F]{64}$/, 'must be 64 hex characters (32 bytes)')
    .optional(),
  /** PostgreSQL URL; omitted = SQLite file `issuer.sqlite` in the data directory. */
  databaseUrl: z.string().optional(),
  /** Entries per status list (Bitstring Status List §2.1 requires at least 131,072). */
  statusListSize: z.number().int().min(STATUS_LIST_MIN_ENTRIES).max(16_777_216).default(STATUS_LIST_MIN_ENTRIES),
  /**
   * A new list is opened when this share of the current one is allocated, so that random allocation stays cheap and
   * each list keeps a large anonymity set.
   */
  statusListMaxFill: z.number().gt(0).max(0.9).default(0.5),
  /** Alias of the issuer's DID in the key store. */
  issuerAlias: z.string().min(1).max(64).default('tessera-issuer'),
  /** Identifier of the audit trail on the anchor contract (hashed with keccak256). */
  auditTrailId: z.string().min(1).max(128).default('tessera:issuer-audit'),
});

export type IssuerConfigInput = z.input<typeof IssuerConfigSchema>;
export type IssuerConfig = Readonly<z.output<typeof IssuerConfigSchema>>;

/** Parse and freeze; throws ERR_CONFIG_INVALID listing every problem. */
export function parseIssuerConfig(input: IssuerConfigInput): IssuerConfig {
  const r = IssuerConfigSchema.safeParse(input);
  if (!r.success) {
    const problems = r.error.issues.map((i) => `${i.path.join('.') || '(config)'}: ${i.message}`);
    throw new TesseraError('ERR_CONFIG_INVALID', `issuer configuration is invalid: ${problems.join('; ')}`, {
      details: problems,
    });
  }
  return Object.freeze(r.data);
}
