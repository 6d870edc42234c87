import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { describe, it } from 'node:test';
import { startAnvil } from '@tessera/contracts';
import { stackProcesses } from './testing/stack-process.js';

const { run, tmp, chains } = stackProcesses();

describe('npm start: configuration and dependencies that are wrong', () => {
  it('a port in use is a one-line error naming the variable to change', async () => {
    const blocker: Server = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
    const port = (blocker.address() as { port: number }).port;
    const p = run({ TESSERA_DATA_DIR: tmp(), TESSERA_HTTP_PORT: String(port) });
    assert.equal(await p.exit, 1);
    const lines = p
      .err()
      .trim()
      .split('\n')
      .filter((l) => l.startsWith('error'));
    assert.equal(lines.length, 1);
    assert.match(lines[0]!, /ERR_PORT_IN_USE.*TESSERA_HTTP_PORT/);

    // the embedded MQTT broker's port likewise
    const mqtt = run({ TESSERA_DATA_DIR: tmp(), TESSERA_HTTP_PORT: '0', TESSERA_MQTT_PORT: String(port) });
    assert.equal(await mqtt.exit, 1);
    const mqttLines = mqtt
      .err()
      .trim()
      .split('\n')
      .filter((l) => l.startsWith('error'));
    assert.equal(mqttLines.length, 1);
    assert.match(mqttLines[0]!, /ERR_PORT_IN_USE.*TESSERA_MQTT_PORT/);
    blocker.close();
  });

  it('invalid configuration lists every problem with its variable', async () => {
    const p = run({
      TESSERA_DATA_DIR: tmp(),
      TESSERA_HTTP_PORT: 'eighty',
      TESSERA_CHAIN_RPC_URL: 'ftp://x',
      TESSERA_MASTER_KEY: 'short',
      TESSERA_TRUSTED_PROXIES: '127.0.0.1, 10.0.0.0/33',
    });
    assert.equal(await p.exit, 1);
    assert.match(p.err(), /ERR_CONFIG_INVALID/);
    for (const v of ['TESSERA_HTTP_PORT', 'TESSERA_CHAIN_RPC_URL', 'TESSERA_MASTER_KEY'])
      assert.match(p.err(), new RegExp(v));
    assert.match(p.err(), /TESSERA_TRUSTED_PROXIES: '10\.0\.0\.0\/33' is not an IP address/);
    assert.doesNotMatch(p.err(), /short/, 'a secret value is never echoed');
  });

  it('an unreachable external chain is ERR_CHAIN_UNREACHABLE, and a chain without the registry ERR_CHAIN_NO_REGISTRY', async () => {
    const unreachable = run({
      TESSERA_DATA_DIR: tmp(),
      TESSERA_HTTP_PORT: '0',
      TESSERA_CHAIN_RPC_URL: 'http://127.0.0.1:1',
    });
    assert.equal(await unreachable.exit, 1);
    assert.match(unreachable.err(), /ERR_CHAIN_UNREACHABLE/);

    const empty = await startAnvil({});
    chains.push(empty);
    const noRegistry = run({ TESSERA_DATA_DIR: tmp(), TESSERA_HTTP_PORT: '0', TESSERA_CHAIN_RPC_URL: empty.rpcUrl });
    assert.equal(await noRegistry.exit, 1);
    assert.match(noRegistry.err(), /ERR_CHAIN_NO_REGISTRY/);
  });
});
