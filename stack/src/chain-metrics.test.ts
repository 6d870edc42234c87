import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ANVIL_FUNDER_KEY, type AnvilChain, makeProvider, startAnvil } from '@tessera/contracts';
import { silentLogger } from '@tessera/protocol';
import { type JsonRpcProvider, parseEther, Wallet } from 'ethers';
import { Registry } from 'prom-client';
import { ChainMetrics } from './chain-metrics.js';

let chain: AnvilChain;
let provider: JsonRpcProvider;

before(async () => {
  chain = await startAnvil({});
  provider = makeProvider(chain.rpcUrl, chain.chainId);
});
after(async () => {
  provider?.destroy();
  await chain?.stop();
});

const value = async (registry: Registry, name: string, labels: Record<string, string> = {}) => {
  const m = (await registry.getMetricsAsJSON()).find((x) => x.name === name);
  const v = m?.values.find((x) => Object.entries(labels).every(([k, l]) => x.labels[k] === l));
  return v?.value ?? 0;
};

describe('ChainMetrics on a real anvil', () => {
  it('counts the blocks, transactions by sender, gas, active accounts and created contracts after start', async () => {
    const registry = new Registry();
    const relayer = new Wallet(ANVIL_FUNDER_KEY, provider);
    const m = new ChainMetrics({ provider, registry, knownContracts: 5, relayer: relayer.address, log: silentLogger });
    await (await relayer.sendTransaction({ to: Wallet.createRandom().address, value: 1n })).wait();
    await m.step(); // the starting point: what happened before is not counted
    assert.equal(await value(registry, 'tessera_chain_blocks_total'), 0);

    const other = Wallet.createRandom().connect(provider);
    await (await relayer.sendTransaction({ to: other.address, value: parseEther('1') })).wait();
    await (await other.sendTransaction({ to: relayer.address, value: 1n })).wait();
    // a contract creation (init code PUSH1 0 PUSH1 0 RETURN: an empty runtime)
    await (await relayer.sendTransaction({ data: '0x60006000f3' })).wait();
    assert.equal(await m.step(), 3);
    assert.equal(await value(registry, 'tessera_chain_blocks_total'), 3);
    assert.equal(await value(registry, 'tessera_chain_transactions_total', { sender: 'relayer' }), 2);
    assert.equal(await value(registry, 'tessera_chain_transactions_total', { sender: 'other' }), 1);
    assert.equal(await value(registry, 'tessera_chain_active_accounts'), 2);
    assert.equal(await value(registry, 'tessera_chain_contracts'), 6);
    assert.ok((await value(registry, 'tessera_chain_gas_used_total')) >= 3 * 21_000);
    assert.equal(await m.step(), 0);
    await m.stop();
  });
});
