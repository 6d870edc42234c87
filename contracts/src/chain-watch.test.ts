import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { type AnvilChain, startAnvil } from './anvil.js';
import { ChainWatch } from './chain-watch.js';

let chain: AnvilChain;
before(async () => {
  chain = await startAnvil();
});
after(async () => {
  await chain?.stop();
});

it('a failure another caller saw makes the chain down for every caller until a probe answers', async () => {
  const changes: boolean[] = [];
  const watch = new ChainWatch({ rpcUrl: chain.rpcUrl, onChange: (down) => changes.push(down) });
  await watch.probe();
  assert.equal(watch.down, false, 'a live chain answers the probe');
  watch.reportFailure('the chain RPC endpoint did not answer within 2 s');
  assert.equal(watch.down, true);
  assert.throws(() => watch.assertUp(), { code: 'ERR_CHAIN_UNAVAILABLE' });
  assert.deepEqual(watch.status(), {
    down: true,
    since: watch.status().since,
    error: 'the chain RPC endpoint did not answer within 2 s',
  });
  watch.reportFailure('again'); // already down: one change, not two
  await watch.probe();
  assert.equal(watch.down, false, 'the next probe that answers lifts it');
  assert.deepEqual(changes, [true, false]);
});
