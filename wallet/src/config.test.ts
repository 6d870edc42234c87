import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadWalletConfig } from './config.js';

test('the stack URL comes from TESSERA_URL without a trailing slash; the issuer and verifier live under it', () => {
  const c = loadWalletConfig({ TESSERA_URL: 'http://127.0.0.1:9000/', TESSERA_WALLET_DIR: '/tmp/w' });
  assert.equal(c.stackUrl, 'http://127.0.0.1:9000');
  assert.equal(c.verifierUrl, 'http://127.0.0.1:9000/verifier');
  assert.equal(c.issuerUrl, 'http://127.0.0.1:9000/issuer');
  assert.equal(loadWalletConfig({}).stackUrl, 'http://127.0.0.1:8080');
  assert.throws(() => loadWalletConfig({ TESSERA_URL: 'ftp://x' }), /ERR_CONFIG_INVALID|TESSERA_URL/);
});
