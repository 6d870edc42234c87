/**
 * The chain-log follower on a real anvil (which mines only on demand): a failed `eth_getLogs` does not leave a change
 * waiting for the next block, which on such a chain may never come.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { Wallet } from 'ethers';
import { ANVIL_FUNDER_KEY, type AnvilChain, startAnvil } from './anvil.js';
import { makeProvider } from './chain.js';
import { ensureDeployed } from './deploy.js';
import { EthereumDIDRegistry__factory } from './generated/index.js';
import { ChainLogFollower, type RawLog } from './log-follower.js';

describe('chain-log follower', () => {
  let chain: AnvilChain | undefined;
  const dir = mkdtempSync(join(tmpdir(), 'tessera-follower-'));
  after(async () => {
    await chain?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('reads a block again after a failed eth_getLogs, without waiting for another head', async () => {
    chain = await startAnvil({});
    const provider = makeProvider(chain.rpcUrl, chain.chainId);
    const deployer = new Wallet(ANVIL_FUNDER_KEY, provider);
    const { EthereumDIDRegistry: registry } = await ensureDeployed({
      provider,
      deployer,
      chainId: chain.chainId,
      file: join(dir, 'deployments.json'),
      allowDeploy: true,
    });
    // the node refuses the first read of logs once, as a node under load or a dropped connection would
    let failures = 0;
    const send = provider.send.bind(provider);
    provider.send = async (method: string, params: unknown[] | Record<string, unknown>) => {
      if (method === 'eth_getLogs' && failures === 0) {
        failures++;
        throw new Error('eth_getLogs refused once by the test');
      }
      return send(method, params);
    };
    const errors: unknown[] = [];
    const follower = new ChainLogFollower({
      provider,
      address: registry,
      topics: [],
      wsUrl: chain.wsUrl,
      onError: (e) => errors.push(e),
    });
    await follower.start();
    try {
      const seen = new Promise<RawLog[]>((resolve) => follower.once('logs', resolve));
      const receipt = await (
        await EthereumDIDRegistry__factory.connect(registry, deployer).setAttribute(
          deployer.address,
          `0x${Buffer.from('did/svc/test').toString('hex').padEnd(64, '0')}`,
          '0x01',
          3600,
        )
      ).wait();
      // nothing else is mined from here on: only a retry of the failed read can deliver the log
      const logs = await Promise.race([
        seen,
        new Promise<never>((_, reject) =>
          setTimeout(() => reject(new Error('the log was not delivered within 15 s of a failed read')), 15_000).unref(),
        ),
      ]);
      assert.equal(failures, 1, 'the first read was refused');
      assert.equal(errors.length, 1);
      assert.equal(logs[0]!.transactionHash, receipt!.hash);
    } finally {
      await follower.stop();
      provider.destroy();
    }
  });
});
