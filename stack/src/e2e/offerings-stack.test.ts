/**
 * The stack starts with token offerings mounted: the composition root (startStack) on a temp data dir, an ephemeral
 * HTTP port, embedded anvil and SQLite; the offerings' OpenAPI document and list answer, and the outbox account is an
 * attester of the EligibilityRegistry the stack deployed.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { EligibilityRegistry__factory, makeProvider } from '@tessera/contracts';
import { silentLogger } from '@tessera/protocol';
import { loadConfig } from '../config.js';
import { type RunningStack, startStack } from '../stack.js';

const dir = mkdtempSync(join(tmpdir(), 'tessera-offerings-stack-'));
let stack: RunningStack | undefined;

after(async () => {
  await stack?.stop();
  rmSync(dir, { recursive: true, force: true, maxRetries: 5 });
});

describe('the stack with token offerings', () => {
  it('mounts /services/offerings: OpenAPI document, empty list, outbox account an attester', async () => {
    stack = await startStack(
      loadConfig({
        TESSERA_DATA_DIR: dir,
        TESSERA_HTTP_PORT: '0',
        TESSERA_MQTT_PORT: '0',
        TESSERA_LOG_LEVEL: 'silent',
      }),
      { log: silentLogger },
    );
    assert.equal(stack.services.urls.offerings, `${stack.urls.http}/services/offerings`);

    const doc = await fetch(`${stack.urls.http}/services/offerings/openapi.json`);
    assert.equal(doc.status, 200);
    const openapi = (await doc.json()) as {
      openapi: string;
      servers: { url: string }[];
      paths: Record<string, unknown>;
    };
    assert.equal(openapi.openapi, '3.1.0');
    assert.equal(openapi.servers[0]?.url, `${stack.urls.http}/services/offerings`);
    assert.ok(openapi.paths['/{offeringId}/allocation']);

    const list = await fetch(`${stack.urls.http}/services/offerings`);
    assert.equal(list.status, 200);
    assert.deepEqual(await list.json(), { items: [] });

    // guarded routes answer with the verifier's codes, not a 404
    const create = await fetch(`${stack.urls.http}/services/offerings`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    assert.equal(create.status, 401);
    assert.equal(((await create.json()) as { error: { code: string } }).error.code, 'ERR_AUTH_REQUIRED');

    const health = await stack.health();
    const relayer = String(health.parts.outbox?.relayer);
    const provider = makeProvider(stack.urls.chainRpc, stack.chainId);
    try {
      const registry = EligibilityRegistry__factory.connect(stack.contracts.EligibilityRegistry, provider);
      assert.equal(await registry.isAttester(relayer), true);
    } finally {
      provider.destroy();
    }
  });
});
