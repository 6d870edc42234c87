/**
 * `npm run whiteflag-node`: a stand-alone Whiteflag receiver (docs/whiteflag.md). Reads its configuration once from
 * the environment, prints one `ready` line, logs JSON on stderr; SIGINT/SIGTERM stop it, its cursor kept.
 */
import { LOG_REDACT_PATHS, TesseraError } from '@tessera/protocol';
import pino from 'pino';
import { loadWhiteflagNodeConfig } from './config.js';
import { startWhiteflagNode } from './node.js';

let config: ReturnType<typeof loadWhiteflagNodeConfig>;
try {
  config = loadWhiteflagNodeConfig();
} catch (e) {
  const err = e as TesseraError;
  console.error(`error ${err.code ?? 'ERR_CONFIG_INVALID'}: ${err.message}`);
  process.exit(1);
}
const log = pino(
  {
    level: config.logLevel,
    redact: { paths: LOG_REDACT_PATHS, censor: '[redacted]' },
    base: { app: 'tessera-whiteflag-node' },
  },
  pino.destination(2),
);
try {
  const node = await startWhiteflagNode(config, log);
  console.log(`whiteflag node ready  api ${node.apiUrl}  account ${node.account}  did ${node.did}`);
  let stopping = false;
  const shutdown = async () => {
    if (stopping) process.exit(130);
    stopping = true;
    await node.stop();
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown());
  process.on('SIGTERM', () => void shutdown());
} catch (e) {
  const code = e instanceof TesseraError ? e.code : 'ERR_INTERNAL';
  console.error(`error ${code}: ${(e as Error)?.message ?? e}`);
  log.error({ err: e }, 'startup failed');
  process.exit(1);
}
