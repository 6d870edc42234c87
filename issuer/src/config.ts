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

/** Options of the stand-alone issuer process (`issuer/src/main.ts`); the stack passes its own. */
export const IssuerMainConfigSchema = z.strictObject({
  issuer: IssuerConfigSchema,
  host: z.string().min(1).default('127.0.0.1'),
  port: z.number().int().min(0).max(65535).default(8081),
  /** External EVM chain; omitted = embedded anvil with its state in `<dataDir>/chain`. */
  chainRpcUrl: z.url({ protocol: /^https?$/ }).optional(),
  /** ERC-1056 registry and TesseraAnchor on an external chain. */
  registryAddress: z
    .string()
    .regex(/^0x[0-9a-fA-F]{40}$/)
    .optional(),
  anchorAddress: z
    .string()
    .regex(/^0x[0-9a-fA-F]{40}$/)
    .optional(),
  /** Master key of the keystore holding the relayer key (64 hex); omitted = `<dataDir>/keys/master.key`. */
  masterKey: z
    .string()
    .regex(/^[0-9a-fA-F]{64}$/)
    .optional(),
  /** How often the audit head is anchored on chain, in ms; 0 = never. */
  anchorIntervalMs: z.number().int().min(0).default(60_000),
  /** True when no public URL was configured: it is then the listening address (known after listen for port 0). */
  publicUrlFromListener: z.boolean().default(false),
});
export type IssuerMainConfig = Readonly<z.output<typeof IssuerMainConfigSchema>>;

/** Read the stand-alone issuer's options from environment variables (the only place that does). */
export function issuerConfigFromEnv(env: NodeJS.ProcessEnv = process.env): IssuerMainConfig {
  const num = (v: string | undefined) => (v === undefined || v === '' ? undefined : Number(v));
  const prune = (o: Record<string, unknown>) =>
    Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined && v !== ''));
  const dataDir = env.TESSERA_DATA_DIR ?? './.tessera';
  const host = env.TESSERA_HOST ?? '127.0.0.1';
  const port = num(env.TESSERA_ISSUER_PORT) ?? 8081;
  const input = prune({
    issuer: prune({
      dataDir,
      publicBaseUrl: env.TESSERA_ISSUER_PUBLIC_URL ?? `http://${host}:${port}`,
      secretBoxKey: env.TESSERA_ISSUER_SECRET_BOX_KEY,
      databaseUrl: env.TESSERA_DATABASE_URL,
      statusListSize: num(env.TESSERA_STATUS_LIST_SIZE),
    }),
    host,
    port,
    chainRpcUrl: env.TESSERA_CHAIN_RPC_URL,
    registryAddress: env.TESSERA_DID_REGISTRY_ADDRESS,
    anchorAddress: env.TESSERA_ANCHOR_ADDRESS,
    masterKey: env.TESSERA_MASTER_KEY,
    anchorIntervalMs: num(env.TESSERA_AUDIT_ANCHOR_INTERVAL_MS),
    publicUrlFromListener: !env.TESSERA_ISSUER_PUBLIC_URL,
  });
  const r = IssuerMainConfigSchema.safeParse(input);
  if (!r.success) {
    const problems = r.error.issues.map((i) => `${i.path.join('.') || '(config)'}: ${i.message}`);
    throw new TesseraError('ERR_CONFIG_INVALID', `issuer configuration is invalid: ${problems.join('; ')}`, {
      details: problems,
    });
  }
  return Object.freeze(r.data);
}
