import { readFileSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { EVM_ADDRESS_PATTERN, TesseraError } from '@tessera/protocol';
import { MIN_SHARED_SECRET_BYTES } from '@tessera/protocol/whiteflag';
import { z } from 'zod';
import type { OriginatorToken } from './authenticate.js';

/**
 * Whiteflag's secrets and the configuration of a stand-alone Whiteflag node. Secrets live in one JSON file (mode 0600,
 * never in the environment or a log): named pre-shared keys of encryption method 2 and pre-shared authentication
 * tokens of originators that are not devices (method 2). docs/whiteflag.md describes the file.
 */

const secretHex = z
  .string()
  .regex(/^(0x)?[0-9a-fA-F]+$/, 'must be hex')
  .refine((h) => h.replace(/^0x/, '').length >= MIN_SHARED_SECRET_BYTES * 2 && h.length % 2 === 0, {
    message: `must be at least ${MIN_SHARED_SECRET_BYTES} bytes of hex (§5.2.3)`,
  })
  .transform((h) => Buffer.from(h.replace(/^0x/, ''), 'hex'));

export const WhiteflagKeysFileSchema = z.strictObject({
  /** Named pre-shared keys of encryption method 2: `{ "grid-area-1": "<hex>" }`. */
  preSharedKeys: z.record(z.string().regex(/^[a-z0-9][a-z0-9._-]{0,63}$/), secretHex).default({}),
  /** Pre-shared authentication tokens (method 2) of originators that are not devices. */
  tokens: z
    .array(
      z.strictObject({
        did: z.string().startsWith('did:').max(512),
        name: z.string().max(200).optional(),
        secret: secretHex,
      }),
    )
    .max(10_000)
    .default([]),
});

export interface WhiteflagKeys {
  preSharedKeys: Record<string, Buffer>;
  tokens: OriginatorToken[];
}

/** Read the keys file; refuses a file others can read and lists every problem (ERR_CONFIG_INVALID). */
export function loadWhiteflagKeys(path: string, variable = 'TESSERA_WHITEFLAG_KEYS_FILE'): WhiteflagKeys {
  let text: string;
  try {
    const mode = statSync(path).mode & 0o777;
    if (mode & 0o077)
      throw new TesseraError('ERR_CONFIG_INVALID', `${variable}: ${path} is readable by others; chmod 600 it`);
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if (e instanceof TesseraError) throw e;
    throw new TesseraError('ERR_CONFIG_INVALID', `${variable}: ${path} cannot be read`, { cause: e });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new TesseraError('ERR_CONFIG_INVALID', `${variable}: ${path} is not JSON`);
  }
  const parsed = WhiteflagKeysFileSchema.safeParse(json);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.map(String).join('.') || '(root)'}: ${i.message}`);
    throw new TesseraError('ERR_CONFIG_INVALID', `${variable}: ${problems.join('; ')}`, { details: problems });
  }
  return {
    preSharedKeys: parsed.data.preSharedKeys,
    tokens: parsed.data.tokens.map((t) => ({ did: t.did, secret: t.secret, ...(t.name ? { name: t.name } : {}) })),
  };
}

const url = (name: string, protocols: string[]) =>
  z.string().refine(
    (v) => {
      try {
        return protocols.includes(new URL(v).protocol);
      } catch {
        return false;
      }
    },
    `${name} must be a ${protocols.join(' or ')} URL`,
  );
const address = (name: string) => z.string().regex(EVM_ADDRESS_PATTERN, `${name} must be a 0x-prefixed address`);
const hex32 = (name: string) => z.string().regex(/^[0-9a-fA-F]{64}$/, `${name} must be 64 hex characters`);

/** The options shared by the stack and the node: comma-separated origins, and the listener's first block and depth. */
export const WhiteflagListenerEnv = {
  TESSERA_WHITEFLAG_KEYS_FILE: z.string().min(1).optional().meta({
    kind: 'path',
    description:
      "JSON (mode 0600) with Whiteflag's named pre-shared keys and originator tokens ([whiteflag.md](whiteflag.md#configuration-of-the-stack))",
    defaultText: 'unset: no pre-shared keys',
  }),
  TESSERA_WHITEFLAG_STATEMENT_ORIGINS: z
    .string()
    .optional()
    .refine(
      (v) =>
        v === undefined ||
        v.split(',').every((o) => {
          try {
            return ['http:', 'https:'].includes(new URL(o.trim()).protocol);
          } catch {
            return false;
          }
        }),
      'TESSERA_WHITEFLAG_STATEMENT_ORIGINS must be comma-separated http(s) URLs',
    )
    .meta({
      kind: 'comma-separated URLs',
      description: 'origins Whiteflag method-1 statements may be fetched from, besides this one',
      defaultText: 'unset: only its own',
    }),
  TESSERA_WHITEFLAG_START_BLOCK: z.coerce.number().int().min(0).optional().meta({
    kind: 'block number',
    description: 'the first block the Whiteflag listener reads when it has no cursor yet',
    defaultText: 'unset: the head at first start',
  }),
  TESSERA_WHITEFLAG_CONFIRMATIONS: z.coerce.number().int().min(0).max(1000).default(0).meta({
    kind: '0\u20131000',
    description: 'blocks a Whiteflag message must be under before the listener reads it',
  }),
};

/**
 * A stand-alone Whiteflag node (`npm run whiteflag-node`): a receiver in its own process with its own database and
 * account, following the same chain as a stack. It shows what it received through the same read API, guarded by
 * access tokens of the stack's verifier.
 */
export const WhiteflagNodeConfigSchema = z.object({
  TESSERA_CHAIN_RPC_URL: url('TESSERA_CHAIN_RPC_URL', ['http:', 'https:']),
  TESSERA_CHAIN_WS_URL: url('TESSERA_CHAIN_WS_URL', ['ws:', 'wss:']).optional(),
  TESSERA_DID_REGISTRY_ADDRESS: address('TESSERA_DID_REGISTRY_ADDRESS'),
  TESSERA_DEVICE_REGISTRY_ADDRESS: address('TESSERA_DEVICE_REGISTRY_ADDRESS'),
  TESSERA_DATA_DIR: z.string().min(1).default('./.tessera-whiteflag'),
  TESSERA_DATABASE_URL: url('TESSERA_DATABASE_URL', ['postgres:', 'postgresql:']).optional(),
  TESSERA_HOST: z.string().min(1).default('127.0.0.1'),
  TESSERA_HTTP_PORT: z.coerce.number().int().min(0).max(65535).default(8090),
  TESSERA_MASTER_KEY: hex32('TESSERA_MASTER_KEY').optional(),
  TESSERA_VERIFIER_DID: z.string().startsWith('did:', 'TESSERA_VERIFIER_DID must be a DID'),
  TESSERA_VERIFIER_PUBLIC_KEY: z
    .string()
    .regex(/^0x(0[23][0-9a-fA-F]{64}|04[0-9a-fA-F]{128})$/, 'TESSERA_VERIFIER_PUBLIC_KEY must be a secp256k1 point'),
  TESSERA_TRUST_LIST_FILE: z.string().min(1),
  TESSERA_POLICY_FILE: z.string().min(1).optional(),
  TESSERA_WHITEFLAG_DEVICE_VAULT: z.string().min(1).optional(),
  TESSERA_WHITEFLAG_DEVICE_VAULT_KEY: hex32('TESSERA_WHITEFLAG_DEVICE_VAULT_KEY').optional(),
  TESSERA_WHITEFLAG_NODE_NAME: z.string().min(1).max(200).default('Whiteflag node'),
  TESSERA_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  ...WhiteflagListenerEnv,
});

export type WhiteflagNodeConfig = Readonly<{
  rpcUrl: string;
  wsUrl?: string;
  didRegistry: string;
  deviceRegistry: string;
  dataDir: string;
  databaseUrl?: string;
  host: string;
  httpPort: number;
  masterKey?: string;
  verifierDid: string;
  verifierPublicKey: string;
  trustListFile: string;
  policyFile?: string;
  vault?: { path: string; key: string };
  name: string;
  logLevel: string;
  keysFile?: string;
  statementOrigins: string[];
  startBlock?: number;
  confirmations: number;
}>;

/** Parse the node's environment; every problem at once (ERR_CONFIG_INVALID), the result frozen. */
export function loadWhiteflagNodeConfig(env: Record<string, string | undefined> = process.env): WhiteflagNodeConfig {
  const picked = Object.fromEntries(
    Object.keys(WhiteflagNodeConfigSchema.shape).map((k) => [k, env[k] === '' ? undefined : env[k]]),
  );
  const r = WhiteflagNodeConfigSchema.safeParse(picked);
  const problems = r.success ? [] : r.error.issues.map((i) => `${String(i.path[0] ?? '')}: ${i.message}`);
  if (
    r.success &&
    (r.data.TESSERA_WHITEFLAG_DEVICE_VAULT === undefined) !== (r.data.TESSERA_WHITEFLAG_DEVICE_VAULT_KEY === undefined)
  )
    problems.push('TESSERA_WHITEFLAG_DEVICE_VAULT and TESSERA_WHITEFLAG_DEVICE_VAULT_KEY go together');
  if (!r.success || problems.length > 0)
    throw new TesseraError('ERR_CONFIG_INVALID', `invalid configuration: ${problems.join('; ')}`, {
      details: problems,
    });
  const c = r.data;
  return Object.freeze({
    rpcUrl: c.TESSERA_CHAIN_RPC_URL,
    ...(c.TESSERA_CHAIN_WS_URL ? { wsUrl: c.TESSERA_CHAIN_WS_URL } : {}),
    didRegistry: c.TESSERA_DID_REGISTRY_ADDRESS.toLowerCase(),
    deviceRegistry: c.TESSERA_DEVICE_REGISTRY_ADDRESS.toLowerCase(),
    dataDir: resolve(c.TESSERA_DATA_DIR),
    ...(c.TESSERA_DATABASE_URL ? { databaseUrl: c.TESSERA_DATABASE_URL } : {}),
    host: c.TESSERA_HOST,
    httpPort: c.TESSERA_HTTP_PORT,
    ...(c.TESSERA_MASTER_KEY ? { masterKey: c.TESSERA_MASTER_KEY } : {}),
    verifierDid: c.TESSERA_VERIFIER_DID,
    verifierPublicKey: c.TESSERA_VERIFIER_PUBLIC_KEY,
    trustListFile: resolve(c.TESSERA_TRUST_LIST_FILE),
    ...(c.TESSERA_POLICY_FILE ? { policyFile: resolve(c.TESSERA_POLICY_FILE) } : {}),
    ...(c.TESSERA_WHITEFLAG_DEVICE_VAULT
      ? { vault: { path: resolve(c.TESSERA_WHITEFLAG_DEVICE_VAULT), key: c.TESSERA_WHITEFLAG_DEVICE_VAULT_KEY! } }
      : {}),
    name: c.TESSERA_WHITEFLAG_NODE_NAME,
    logLevel: c.TESSERA_LOG_LEVEL,
    ...(c.TESSERA_WHITEFLAG_KEYS_FILE ? { keysFile: resolve(c.TESSERA_WHITEFLAG_KEYS_FILE) } : {}),
    statementOrigins: originsOf(c.TESSERA_WHITEFLAG_STATEMENT_ORIGINS),
    ...(c.TESSERA_WHITEFLAG_START_BLOCK !== undefined ? { startBlock: c.TESSERA_WHITEFLAG_START_BLOCK } : {}),
    confirmations: c.TESSERA_WHITEFLAG_CONFIRMATIONS,
  });
}

/** The origins of a comma-separated list of URLs. */
export function originsOf(list: string | undefined): string[] {
  return list ? list.split(',').map((o) => new URL(o.trim()).origin) : [];
}
