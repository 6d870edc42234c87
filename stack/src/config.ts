import { isIP } from 'node:net';
import { resolve } from 'node:path';
import { EVM_ADDRESS_PATTERN, TesseraError } from '@tessera/protocol';
import { originsOf, WhiteflagListenerEnv } from '@tessera/services';
import { z } from 'zod';

const port = (name: string, fallback: number) =>
  z.coerce
    .number({ error: `${name} must be a port number` })
    .int(`${name} must be an integer`)
    .min(0, `${name} must be between 0 and 65535`)
    .max(65535, `${name} must be between 0 and 65535`)
    .default(fallback);

/** The entries of a comma-separated list (spaces trimmed, empty ones dropped). */
const listOf = (v: string | undefined): string[] =>
  (v ?? '')
    .split(',')
    .map((e) => e.trim())
    .filter((e) => e.length > 0);

/** What express's `trust proxy` takes: an address, a CIDR range, or one of proxy-addr's named ranges. */
const isProxyEntry = (e: string): boolean => {
  if (['loopback', 'linklocal', 'uniquelocal'].includes(e)) return true;
  const [address, prefix, extra] = e.split('/');
  const family = isIP(address ?? '');
  if (family === 0 || extra !== undefined) return false;
  if (prefix === undefined) return true;
  if (!/^\d{1,3}$/.test(prefix)) return false;
  return Number(prefix) <= (family === 4 ? 32 : 128);
};

const optionalUrl = (name: string, protocols: string[]) =>
  z
    .string()
    .optional()
    .refine(
      (v) => {
        if (v === undefined || v === '') return true;
        try {
          return protocols.includes(new URL(v).protocol);
        } catch {
          return false;
        }
      },
      `${name} must be a ${protocols.join(' or ')} URL`,
    )
    .transform((v) => (v === '' ? undefined : v));

const address = (name: string) =>
  z.string().regex(EVM_ADDRESS_PATTERN, `${name} must be a 0x-prefixed 20-byte hex address`).optional();

/**
 * Every option of the stack, with its default (the only place defaults live). Read once from the environment,
 * every problem reported at once, the result frozen. Secrets have no defaults. docs/configuration.md lists them.
 */
export const StackConfigSchema = z.object({
  TESSERA_DATA_DIR: z.string().min(1).default('./.tessera').meta({
    kind: 'path',
    description:
      'everything durable on the embedded defaults: `chain/` (anvil state), `keys/` (sealed keys, master key 0600), `tessera.sqlite`, `deployments.json`',
  }),
  TESSERA_HOST: z
    .string()
    .min(1)
    .default('127.0.0.1')
    .meta({ kind: 'host', description: 'interface the HTTP (and MQTT) listeners bind to; loopback by default' }),
  TESSERA_HTTP_PORT: port('TESSERA_HTTP_PORT', 8080).meta({
    kind: 'port',
    description: 'HTTP API, `/healthz`, `/metrics`; `0` picks a free port (printed on the ready line)',
  }),
  TESSERA_MQTT_PORT: port('TESSERA_MQTT_PORT', 1884).meta({
    kind: 'port',
    description:
      'embedded MQTT broker (aedes) for device handshakes and telemetry; not 1883 so that a Mosquitto on its standard port does not stop `npm start`',
  }),
  TESSERA_MQTT_URL: optionalUrl('TESSERA_MQTT_URL', ['mqtt:', 'mqtts:']).meta({
    kind: 'mqtt(s) URL',
    description:
      'an external Mosquitto 2 with the dynamic-security plugin instead of the embedded broker (every replica serves the same broker; needs the two variables below)',
    defaultText: 'unset: embedded broker on TESSERA_MQTT_PORT',
  }),
  TESSERA_MQTT_ADMIN_USERNAME: z.string().min(1).optional().meta({
    kind: 'name',
    description: 'the dynamic-security admin of TESSERA_MQTT_URL (`mosquitto_ctrl dynsec init`)',
    defaultText: 'unset',
  }),
  TESSERA_MQTT_ADMIN_PASSWORD: z.string().min(1).optional().meta({
    kind: 'secret',
    description: "that admin's password",
    defaultText: 'unset',
  }),
  TESSERA_PUBLIC_URL: optionalUrl('TESSERA_PUBLIC_URL', ['http:', 'https:']).meta({
    kind: 'URL',
    description:
      "base URL anchored in the actors' DID service endpoints; set it when the stack is reached through a proxy",
    defaultText: 'the HTTP URL',
  }),
  TESSERA_CHAIN_RPC_URL: optionalUrl('TESSERA_CHAIN_RPC_URL', ['http:', 'https:']).meta({
    kind: 'http(s) URL',
    description: 'external EVM chain; nothing is spawned, contracts must already be deployed (`npm run deploy`)',
    defaultText: 'unset: embedded anvil',
  }),
  TESSERA_CHAIN_WS_URL: optionalUrl('TESSERA_CHAIN_WS_URL', ['ws:', 'wss:']).meta({
    kind: 'ws(s) URL',
    description:
      'push subscription for registry events on an external chain; without it the watcher polls every 250 ms',
    defaultText: 'unset',
  }),
  TESSERA_DID_REGISTRY_ADDRESS: address('TESSERA_DID_REGISTRY_ADDRESS').meta({
    kind: 'address',
    description: 'an existing ERC-1056 registry on the external chain',
    defaultText: 'unset',
  }),
  TESSERA_DATABASE_URL: optionalUrl('TESSERA_DATABASE_URL', ['postgres:', 'postgresql:']).meta({
    kind: 'postgres URL',
    description: 'PostgreSQL instead of the SQLite file',
    defaultText: 'unset: SQLite in the data directory',
  }),
  TESSERA_SQLITE_MAX_PAGES: z.coerce
    .number({ error: 'TESSERA_SQLITE_MAX_PAGES must be a number of pages' })
    .int('TESSERA_SQLITE_MAX_PAGES must be an integer')
    .min(16, 'TESSERA_SQLITE_MAX_PAGES must be at least 16')
    .optional()
    .meta({
      kind: 'pages',
      description:
        'most pages (4 KiB each) the SQLite file may grow to; a write past it fails as on a full disk (for testing a full store)',
      defaultText: "unset: SQLite's own limit",
    }),
  TESSERA_REDIS_URL: optionalUrl('TESSERA_REDIS_URL', ['redis:', 'rediss:']).meta({
    kind: 'redis URL',
    description: 'shared nonces, signed-out tokens, device challenges and rate limits for several replicas',
    defaultText: 'unset: in this process',
  }),
  TESSERA_TRUSTED_PROXIES: z
    .string()
    .optional()
    .superRefine((v, ctx) => {
      for (const entry of listOf(v)) {
        if (!isProxyEntry(entry)) {
          ctx.addIssue({
            code: 'custom',
            message: `TESSERA_TRUSTED_PROXIES: '${entry.slice(0, 60)}' is not an IP address, a CIDR range (10.0.0.0/8) or one of loopback, linklocal, uniquelocal`,
          });
        }
      }
    })
    .meta({
      kind: 'addresses',
      description:
        'comma-separated load balancers whose X-Forwarded-For names the client (IPs, CIDR ranges, or loopback, linklocal, uniquelocal): the per-address rate limits then count the client, not the balancer',
      defaultText: 'unset: the connecting address is the client',
    }),
  TESSERA_MASTER_KEY: z
    .string()
    .regex(/^[0-9a-fA-F]{64}$/, 'TESSERA_MASTER_KEY must be 64 hex characters')
    .optional()
    .meta({
      kind: '64 hex chars',
      description: "sealing key for the stack's private keys, instead of `keys/master.key`",
      defaultText: 'unset: the key file',
    }),
  TESSERA_POLICY_FILE: z.string().min(1).optional().meta({
    kind: 'path',
    description:
      'policies (resource or topic + action \u2192 required credentials and claim constraints), validated at load',
    defaultText: 'verifier/policies/default.json',
  }),
  TESSERA_TRUST_LIST_FILE: z.string().min(1).optional().meta({
    kind: 'path',
    description: 'JSON `{ "CredentialType": ["did:\u2026"] }`: which issuers are trusted for which credential type',
    defaultText: "the stack's issuer for every type",
  }),
  TESSERA_STATUS_MAX_AGE_SECONDS: z.coerce
    .number({ error: 'TESSERA_STATUS_MAX_AGE_SECONDS must be a number of seconds' })
    .int()
    .min(0, 'TESSERA_STATUS_MAX_AGE_SECONDS must be between 0 and 86400')
    .max(86_400, 'TESSERA_STATUS_MAX_AGE_SECONDS must be between 0 and 86400')
    .default(60)
    .meta({
      kind: 'seconds',
      description:
        "freshness bound of status lists fetched over HTTP (a trusted foreign issuer's): refetched once older than this",
    }),
  TESSERA_STATUS_MAX_STALE_SECONDS: z.coerce
    .number({ error: 'TESSERA_STATUS_MAX_STALE_SECONDS must be a number of seconds' })
    .int()
    .min(0, 'TESSERA_STATUS_MAX_STALE_SECONDS must be between 0 and 604800')
    .max(604_800, 'TESSERA_STATUS_MAX_STALE_SECONDS must be between 0 and 604800')
    .default(600)
    .meta({
      kind: 'seconds',
      description:
        'how long the last verified copy of such a list serves while its issuer is unreachable; then ERR_VC_STATUS_UNAVAILABLE',
    }),
  TESSERA_ENERGY_PERIOD_SECONDS: z.coerce
    .number({ error: 'TESSERA_ENERGY_PERIOD_SECONDS must be a number of seconds' })
    .int('TESSERA_ENERGY_PERIOD_SECONDS must be an integer')
    .min(1, 'TESSERA_ENERGY_PERIOD_SECONDS must be between 1 and 86400')
    .max(86_400, 'TESSERA_ENERGY_PERIOD_SECONDS must be between 1 and 86400')
    .default(900)
    .meta({
      kind: '1\u201386400',
      description:
        "the energy market's trading period; closed periods are cleared, billed and settled on chain (shorter in demos and tests)",
    }),
  TESSERA_LOG_LEVEL: z
    .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
    .default('info')
    .meta({ kind: 'pino level', description: 'structured JSON logs on stderr, secrets redacted' }),
  ...WhiteflagListenerEnv,
});

export interface StackConfig {
  dataDir: string;
  host: string;
  httpPort: number;
  mqttPort: number;
  /** An external Mosquitto with dynamic security (its dynsec admin), instead of the embedded broker. */
  mqtt?: { url: string; admin: { username: string; password: string } };
  publicUrl?: string;
  chain: { rpcUrl?: string; wsUrl?: string; registryAddress?: string };
  databaseUrl?: string;
  /** SQLite only: the page limit of the file (a full store on purpose, for tests). */
  sqliteMaxPages?: number;
  redisUrl?: string;
  masterKey?: string;
  /** Load balancers whose X-Forwarded-For names the client (express `trust proxy`); none by default. */
  trustedProxies?: readonly string[];
  policyFile?: string;
  trustListFile?: string;
  /** Status lists fetched over HTTP: freshness bound and how long a stale copy serves (seconds). */
  statusMaxAgeSeconds: number;
  statusMaxStaleSeconds: number;
  /** The energy market's trading period. */
  energyPeriodSeconds: number;
  logLevel: z.infer<typeof StackConfigSchema>['TESSERA_LOG_LEVEL'];
  /** Whiteflag: the secrets file, the origins statements are fetched from, the listener's first block and depth. */
  whiteflag: { keysFile?: string; statementOrigins: string[]; startBlock?: number; confirmations: number };
}

/** Parse the environment; throws ERR_CONFIG_INVALID listing every problem with its variable. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Readonly<StackConfig> {
  const picked = Object.fromEntries(
    Object.keys(StackConfigSchema.shape).map((k) => [k, env[k] === '' ? undefined : env[k]]),
  );
  const parsed = StackConfigSchema.safeParse(picked);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${String(i.path[0] ?? '')}: ${i.message}`);
    throw new TesseraError('ERR_CONFIG_INVALID', `invalid configuration: ${problems.join('; ')}`, {
      details: problems,
    });
  }
  const c = parsed.data;
  const mqttAdmin = c.TESSERA_MQTT_ADMIN_USERNAME && c.TESSERA_MQTT_ADMIN_PASSWORD;
  if (c.TESSERA_MQTT_URL && !mqttAdmin) {
    const problem =
      'TESSERA_MQTT_ADMIN_USERNAME and TESSERA_MQTT_ADMIN_PASSWORD: required with TESSERA_MQTT_URL (its dynamic-security admin)';
    throw new TesseraError('ERR_CONFIG_INVALID', `invalid configuration: ${problem}`, { details: [problem] });
  }
  return Object.freeze({
    dataDir: resolve(c.TESSERA_DATA_DIR),
    host: c.TESSERA_HOST,
    httpPort: c.TESSERA_HTTP_PORT,
    mqttPort: c.TESSERA_MQTT_PORT,
    ...(c.TESSERA_MQTT_URL && c.TESSERA_MQTT_ADMIN_USERNAME && c.TESSERA_MQTT_ADMIN_PASSWORD
      ? {
          mqtt: Object.freeze({
            url: c.TESSERA_MQTT_URL,
            admin: Object.freeze({ username: c.TESSERA_MQTT_ADMIN_USERNAME, password: c.TESSERA_MQTT_ADMIN_PASSWORD }),
          }),
        }
      : {}),
    ...(c.TESSERA_PUBLIC_URL ? { publicUrl: c.TESSERA_PUBLIC_URL.replace(/\/$/, '') } : {}),
    chain: Object.freeze({
      ...(c.TESSERA_CHAIN_RPC_URL ? { rpcUrl: c.TESSERA_CHAIN_RPC_URL } : {}),
      ...(c.TESSERA_CHAIN_WS_URL ? { wsUrl: c.TESSERA_CHAIN_WS_URL } : {}),
      ...(c.TESSERA_DID_REGISTRY_ADDRESS ? { registryAddress: c.TESSERA_DID_REGISTRY_ADDRESS.toLowerCase() } : {}),
    }),
    ...(c.TESSERA_DATABASE_URL ? { databaseUrl: c.TESSERA_DATABASE_URL } : {}),
    ...(c.TESSERA_SQLITE_MAX_PAGES !== undefined ? { sqliteMaxPages: c.TESSERA_SQLITE_MAX_PAGES } : {}),
    ...(c.TESSERA_REDIS_URL ? { redisUrl: c.TESSERA_REDIS_URL } : {}),
    ...(c.TESSERA_MASTER_KEY ? { masterKey: c.TESSERA_MASTER_KEY } : {}),
    ...(listOf(c.TESSERA_TRUSTED_PROXIES).length > 0
      ? { trustedProxies: Object.freeze(listOf(c.TESSERA_TRUSTED_PROXIES)) }
      : {}),
    ...(c.TESSERA_POLICY_FILE ? { policyFile: resolve(c.TESSERA_POLICY_FILE) } : {}),
    ...(c.TESSERA_TRUST_LIST_FILE ? { trustListFile: resolve(c.TESSERA_TRUST_LIST_FILE) } : {}),
    statusMaxAgeSeconds: c.TESSERA_STATUS_MAX_AGE_SECONDS,
    statusMaxStaleSeconds: c.TESSERA_STATUS_MAX_STALE_SECONDS,
    energyPeriodSeconds: c.TESSERA_ENERGY_PERIOD_SECONDS,
    logLevel: c.TESSERA_LOG_LEVEL,
    whiteflag: Object.freeze({
      ...(c.TESSERA_WHITEFLAG_KEYS_FILE ? { keysFile: resolve(c.TESSERA_WHITEFLAG_KEYS_FILE) } : {}),
      statementOrigins: originsOf(c.TESSERA_WHITEFLAG_STATEMENT_ORIGINS),
      ...(c.TESSERA_WHITEFLAG_START_BLOCK !== undefined ? { startBlock: c.TESSERA_WHITEFLAG_START_BLOCK } : {}),
      confirmations: c.TESSERA_WHITEFLAG_CONFIRMATIONS,
    }),
  });
}
