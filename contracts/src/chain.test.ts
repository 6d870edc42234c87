import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { JsonRpcProvider, Wallet } from 'ethers';
import { getCreateAddress, keccak256 } from 'ethers';
import registryPackage from 'ethr-did-registry';
import { startAnvil as launch, ANVIL_FUNDER_KEY, type AnvilChain, type AnvilOptions } from './anvil.js';
import { writeFileAtomic } from '@tessera/runtime';
import { connectChain, makeProvider, waitForReceipt } from './chain.js';
import { DEPLOYABLES, ensureDeployed } from './deploy.js';
import { TesseraError } from '@tessera/protocol';

const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), 'tessera-chain-'));
  dirs.push(d);
  return d;
};
const chains: AnvilChain[] = [];
const startAnvil = async (o: AnvilOptions) => {
  const c = await launch(o);
  chains.push(c);
  return c;
};
after(async () => {
  for (const c of chains) await c.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('embedded chain and deployment', () => {
  it('deploys once, records addresses, and does not redeploy after a restart of anvil (state persisted)', async () => {
    const dir = tmp();
    let chain = await startAnvil({ stateDir: dir });
    let provider = makeProvider(chain.rpcUrl, chain.chainId);
    const deployer = new Wallet(ANVIL_FUNDER_KEY, provider);
    const file = join(dir, 'deployments.json');
    const first = await ensureDeployed({ provider, deployer, chainId: chain.chainId, file, allowDeploy: true });
    assert.match(first.EthereumDIDRegistry, /^0x[0-9a-f]{40}$/);
    assert.notEqual(await provider.getCode(first.TesseraAnchor), '0x');
    const nonceAfterDeploy = await provider.getTransactionCount(deployer.address);
    await chain.stop();
    provider.destroy();

    chain = await startAnvil({ stateDir: dir });
    provider = makeProvider(chain.rpcUrl, chain.chainId);
    const second = await ensureDeployed({
      provider,
      deployer: deployer.connect(provider),
      chainId: chain.chainId,
      file,
      allowDeploy: true,
    });
    assert.deepEqual(second, first);
    assert.equal(
      await provider.getTransactionCount(deployer.address),
      nonceAfterDeploy,
      'no new deployment transaction',
    );
    assert.ok(JSON.parse(readFileSync(file, 'utf8'))[String(chain.chainId)].EthereumDIDRegistry.blockNumber >= 1);
    await chain.stop();
    provider.destroy();
  });

  it('keeps state after anvil is killed with SIGKILL (state interval 1 s)', async () => {
    const dir = tmp();
    let chain = await startAnvil({ stateDir: dir });
    let provider = makeProvider(chain.rpcUrl, chain.chainId);
    const deployer = new Wallet(ANVIL_FUNDER_KEY, provider);
    const file = join(dir, 'deployments.json');
    const first = await ensureDeployed({ provider, deployer, chainId: chain.chainId, file, allowDeploy: true });
    await new Promise((r) => setTimeout(r, 1500)); // one state interval
    await chain.kill();
    provider.destroy();
    chain = await startAnvil({ stateDir: dir });
    provider = makeProvider(chain.rpcUrl, chain.chainId);
    assert.notEqual(await provider.getCode(first.EthereumDIDRegistry), '0x');
    await chain.stop();
    provider.destroy();
  });

  it('finishes an interrupted deployment from the stored signed transaction instead of deploying twice', async () => {
    const dir = tmp();
    const chain = await startAnvil({});
    const provider = makeProvider(chain.rpcUrl, chain.chainId);
    const deployer = new Wallet(ANVIL_FUNDER_KEY, provider);
    const file = join(dir, 'deployments.json');
    // Simulate a crash right after the record was written and before broadcast: write the pending record by hand.
    const nonce = await provider.getTransactionCount(deployer.address);
    const registry = registryPackage.EthereumDIDRegistry;
    const fee = await provider.getFeeData();
    const rawTx = await deployer.signTransaction({
      data: registry.bytecode,
      nonce,
      chainId: chain.chainId,
      type: 2,
      gasLimit: 3_000_000n,
      maxFeePerGas: fee.maxFeePerGas,
      maxPriorityFeePerGas: fee.maxPriorityFeePerGas,
    });
    const address = getCreateAddress({ from: deployer.address, nonce }).toLowerCase();
    writeFileAtomic(
      file,
      JSON.stringify({
        [chain.chainId]: { EthereumDIDRegistry: { address, txHash: keccak256(rawTx), pending: { nonce, rawTx } } },
      }),
    );
    const out = await ensureDeployed({ provider, deployer, chainId: chain.chainId, file, allowDeploy: true });
    assert.equal(out.EthereumDIDRegistry, address, 'the interrupted deployment is the one kept');
    assert.equal(
      await provider.getTransactionCount(deployer.address),
      nonce + DEPLOYABLES.length,
      'registry once, then every other deployable once',
    );
    await chain.stop();
    provider.destroy();
  });

  it('an external chain without the registry is a clear ERR_CHAIN_NO_REGISTRY, not a hang', async () => {
    const chain = await startAnvil({});
    const conn = await connectChain(chain.rpcUrl);
    const deployer = new Wallet(ANVIL_FUNDER_KEY, conn.provider);
    await assert.rejects(
      ensureDeployed({
        provider: conn.provider,
        deployer,
        chainId: conn.chainId,
        file: join(tmp(), 'd.json'),
        allowDeploy: false,
      }),
      (e: unknown) => e instanceof TesseraError && e.code === 'ERR_CHAIN_NO_REGISTRY',
    );
    await assert.rejects(
      ensureDeployed({
        provider: conn.provider,
        deployer,
        chainId: conn.chainId,
        file: join(tmp(), 'd.json'),
        allowDeploy: false,
        overrides: { EthereumDIDRegistry: '0x000000000000000000000000000000000000dead' },
      }),
      (e: unknown) => e instanceof TesseraError && e.code === 'ERR_CHAIN_NO_REGISTRY' && /0x0+dead/.test(e.message),
    );
    conn.provider.destroy();
    await chain.stop();
  });

  it('an unreachable chain URL is ERR_CHAIN_UNREACHABLE within the timeout', async () => {
    const t0 = Date.now();
    await assert.rejects(connectChain('http://127.0.0.1:1', { timeoutMs: 1000 }), (e: unknown) => {
      return e instanceof TesseraError && e.code === 'ERR_CHAIN_UNREACHABLE' && /TESSERA_CHAIN_RPC_URL/.test(e.message);
    });
    assert.ok(Date.now() - t0 < 5000);
    await assert.rejects(
      connectChain('not a url'),
      (e: unknown) => e instanceof TesseraError && e.code === 'ERR_CONFIG_INVALID',
    );
  });
});

describe('waiting for receipts', () => {
  /**
   * The two races in ethers' (6.17) transaction waits, made deterministic on a chain that mines only when told:
   * - "first poll" (`missesBeforeMine` 1): `waitForTransaction`'s receipt check answers "none", and the block with
   *   the transaction is mined before the block poller's first poll, which only learns the block number. It then
   *   waits for a block that never comes.
   * - "subscriber start" (`missesBeforeMine` 2): `tx.wait()` asks once more as its subscriber starts, but that ask
   *   and the block poller's first poll run side by side; the block mined between the two is missed the same way.
   *   This one hung security-token.test.ts in CI until its 180 s timeout.
   * Returns a sent, unmined transaction whose block is mined right after the `missesBeforeMine`-th receipt check;
   * a block-number request made while that check is under way is answered after the block (as a node that takes
   * the two in that order would).
   */
  async function racedTransaction(provider: JsonRpcProvider, missesBeforeMine: number) {
    const wallet = new Wallet(ANVIL_FUNDER_KEY, provider);
    const tx = await wallet.sendTransaction({ to: Wallet.createRandom().address, value: 1n });
    const real = {
      receipt: provider.getTransactionReceipt.bind(provider),
      block: provider.getBlockNumber.bind(provider),
    };
    let checks = 0;
    let holding = false;
    let minedNow!: () => void;
    const mined = new Promise<void>((resolve) => {
      minedNow = resolve;
    });
    provider.getTransactionReceipt = async (hash: string) => {
      const mineAfter = hash === tx.hash && ++checks === missesBeforeMine;
      if (mineAfter) holding = true;
      const r = await real.receipt(hash);
      if (mineAfter) {
        assert.equal(r, null);
        await provider.send('evm_mine', []);
        minedNow();
      }
      return r;
    };
    provider.getBlockNumber = async () => {
      if (holding) await mined;
      return real.block();
    };
    return tx;
  }
  const quietChain = async (make: (rpcUrl: string, chainId: number) => JsonRpcProvider) => {
    const chain = await startAnvil({});
    const provider = make(chain.rpcUrl, chain.chainId);
    await provider.send('evm_setAutomine', [false]); // no block unless the test mines one
    return provider;
  };
  /** The options `makeProvider` gives, on ethers' own provider (its subscribers unchanged). */
  const plain = (rpcUrl: string, chainId: number) =>
    new JsonRpcProvider(rpcUrl, chainId, {
      staticNetwork: true,
      batchMaxCount: 1,
      cacheTimeout: -1,
      pollingInterval: 100,
    });

  it('ethers alone misses a transaction mined in either race and waits for a block that never comes', async () => {
    // If one of these assertions ever fails, an ethers upgrade fixed that race.
    const provider = await quietChain(plain);
    const a = await racedTransaction(provider, 1);
    await assert.rejects(provider.waitForTransaction(a.hash, 1, 1000), (e: unknown) => /timeout/i.test(String(e)));
    const fresh = await quietChain(plain);
    const b = await racedTransaction(fresh, 2);
    await assert.rejects(b.wait(1, 1000), (e: unknown) => /timeout/i.test(String(e)));
    provider.destroy();
    fresh.destroy();
  });

  it("tx.wait() on the project's provider sees it: its transaction subscriber polls the receipt, not the blocks", async () => {
    const provider = await quietChain(makeProvider);
    const b = await racedTransaction(provider, 2);
    assert.equal((await b.wait(1, 5000))?.hash, b.hash);
    provider.destroy();
  });

  it('waitForReceipt sees it too, and names a transaction never mined in a clear timeout', async () => {
    const provider = await quietChain(plain);
    const c = await racedTransaction(provider, 1);
    const receipt = await waitForReceipt(provider, c.hash, { timeoutMs: 5000 });
    assert.equal(receipt.status, 1);
    assert.equal(receipt.hash, c.hash);

    // Never mined: a clear timeout that says the transaction may still land.
    const wallet = new Wallet(ANVIL_FUNDER_KEY, provider);
    const e = await wallet.sendTransaction({ to: Wallet.createRandom().address, value: 1n });
    await assert.rejects(
      waitForReceipt(provider, e.hash, { timeoutMs: 300 }),
      (err: unknown) =>
        err instanceof TesseraError && err.code === 'ERR_CHAIN_TX_TIMEOUT' && err.message.includes(e.hash),
    );
    // A reverted transaction has a receipt too; its status is for the caller to judge.
    await provider.send('evm_setAutomine', [true]);
    const f = await wallet.sendTransaction({ data: '0x60006000fd', gasLimit: 100_000 }); // PUSH1 0 PUSH1 0 REVERT
    assert.equal((await waitForReceipt(provider, f.hash, { timeoutMs: 5000 })).status, 0);
    provider.destroy();
  });
});
