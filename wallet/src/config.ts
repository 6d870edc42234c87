import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { TesseraError } from '@tessera/protocol';
import { z } from 'zod';

/**
 * The wallet CLI's options from the environment, with their defaults (the only place they live). Flags override them.
 * The passphrase has no default: without it the key is sealed with a key file beside the wallet.
 */
export const WalletConfigSchema = z.object({
  TESSERA_WALLET_DIR: z.string().min(1).optional(),
  TESSERA_WALLET_PASSPHRASE: z.string().min(8, 'TESSERA_WALLET_PASSPHRASE must be at least 8 characters').optional(),
  /** The stack the wallet talks to by default (`npm start`). */
  TESSERA_URL: z
    .url({ protocol: /^https?$/, error: 'TESSERA_URL must be an http(s) URL' })
    .default('http://127.0.0.1:8080'),
});

export interface WalletConfig {
  dir: string;
  passphrase?: string;
  /** The stack (TESSERA_URL without a trailing slash); a path given to `call` is resolved against it. */
  stackUrl: string;
  /** `<stack>/verifier`. */
  verifierUrl: string;
  /** `<stack>/issuer`. */
  issuerUrl: string;
}

/** Parse once; ERR_CONFIG_INVALID lists every problem. */
export function loadWalletConfig(env: Record<string, string | undefined> = process.env): Readonly<WalletConfig> {
  const picked = Object.fromEntries(
    Object.keys(WalletConfigSchema.shape).map((k) => [k, env[k] === '' ? undefined : env[k]]),
  );
  const parsed = WalletConfigSchema.safeParse(picked);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${String(i.path[0] ?? '')}: ${i.message}`);
    throw new TesseraError('ERR_CONFIG_INVALID', `invalid configuration: ${problems.join('; ')}`, {
      details: problems,
    });
  }
  const c = parsed.data;
  const base = c.TESSERA_URL.replace(/\/+$/, '');
  return Object.freeze({
    dir: resolve(c.TESSERA_WALLET_DIR ?? join(homedir(), '.tessera-wallet')),
    ...(c.TESSERA_WALLET_PASSPHRASE ? { passphrase: c.TESSERA_WALLET_PASSPHRASE } : {}),
    stackUrl: base,
    verifierUrl: `${base}/verifier`,
    issuerUrl: `${base}/issuer`,
  });
}
