#!/usr/bin/env node
/**
 * tessera device agent CLI (npm run device -- <command>):
 *
 *   enrol --state DIR --provisioning FILE   seal the secret and the DID key from a provisioning file into DIR (0700/0600);
 *                                           prints the device id, DID and address (the owner commissions that address)
 *   show  --state DIR                       prints the public facts (never the secret or the key)
 *   run   --state DIR [--broker URL]        connect, authenticate, refresh, reconnect until SIGINT/SIGTERM
 *
 * TESSERA_DEVICE_MASTER_KEY (64 hex) replaces DIR/master.key; TESSERA_LOG_LEVEL sets the pino level (default info).
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { LOG_REDACT_PATHS, type Logger, TesseraError } from '@tessera/protocol';
import { pino } from 'pino';
import { z } from 'zod';
import { DeviceAgent } from './agent.js';
import { DeviceKeyStore } from './store.js';

const EnvSchema = z.object({
  TESSERA_DEVICE_MASTER_KEY: z
    .string()
    .regex(/^[0-9a-fA-F]{64}$/, '64 hex characters')
    .optional(),
  TESSERA_LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
});

function usage(message?: string): never {
  if (message) console.error(message);
  console.error('usage: device <enrol|show|run> --state DIR [--provisioning FILE] [--broker mqtt://host:port]');
  process.exit(2);
}

async function main(): Promise<void> {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: { state: { type: 'string' }, provisioning: { type: 'string' }, broker: { type: 'string' } },
  });
  const env = EnvSchema.safeParse(process.env);
  if (!env.success) usage(env.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('\n'));
  const command = positionals[0];
  if (!values.state) usage('--state is required');
  const log = pino({ level: env.data.TESSERA_LOG_LEVEL, redact: [...LOG_REDACT_PATHS] }) as unknown as Logger;
  const store = DeviceKeyStore.open(values.state, env.data.TESSERA_DEVICE_MASTER_KEY);

  switch (command) {
    case 'enrol': {
      if (!values.provisioning) usage('--provisioning is required');
      const out = store.enrol(JSON.parse(readFileSync(values.provisioning, 'utf8')));
      console.log(JSON.stringify(out));
      console.error('enrolled; delete the provisioning file now (it holds the secret in clear)');
      return;
    }
    case 'show': {
      const id = store.load();
      console.log(
        JSON.stringify({ deviceId: id.deviceId, did: id.did, fingerprint: id.fingerprint, brokerUrl: id.brokerUrl }),
      );
      id.secret.fill(0);
      return;
    }
    case 'run': {
      const { brokerUrl, ...identity } = store.load();
      const url = values.broker ?? brokerUrl;
      if (!url) usage('no broker URL: pass --broker or put brokerUrl in the provisioning file');
      const agent = new DeviceAgent({ identity, brokerUrl: url, log });
      agent.on('rogue', () => log.error({ event: 'rogue_server', brokerUrl: url }, 'the server failed its proof'));
      agent.start();
      const stop = async () => {
        await agent.stop();
        process.exit(0);
      };
      process.once('SIGINT', () => void stop());
      process.once('SIGTERM', () => void stop());
      return;
    }
    default:
      usage(command ? `unknown command ${command}` : undefined);
  }
}

main().catch((e) => {
  const err = e instanceof TesseraError ? e : undefined;
  console.error(err ? `${err.code}: ${err.message}` : (e as Error).message);
  process.exit(1);
});
