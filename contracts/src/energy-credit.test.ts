import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type ContractTransactionResponse, type JsonRpcProvider, NonceManager, parseEther, Wallet } from 'ethers';
import { ANVIL_FUNDER_KEY, type AnvilChain, startAnvil } from './anvil.js';
import { makeProvider } from './chain.js';
import { type EnergyCredit, EnergyCredit__factory } from './generated/index.js';

let chain: AnvilChain;
let provider: JsonRpcProvider;
let admin: NonceManager;
let operator: Wallet;
let alice: Wallet;
let bob: Wallet;
let grid: Wallet;
let stranger: Wallet;
let token: EnergyCredit;

const EUR = 1_000_000_000n; // 9 decimals: one unit is one n€
const BOOK = `0x${'11'.repeat(32)}`;
const ALLOC = `0x${'22'.repeat(32)}`;
const as = (w: Wallet) => token.connect(w);
const reverts = (p: Promise<unknown>, name: string) =>
  assert.rejects(p, (e: unknown) => {
    const data = (e as { data?: string }).data;
    const got =
      (e as { revert?: { name?: string } }).revert?.name ?? (data ? token.interface.parseError(data)?.name : undefined);
    assert.equal(got, name, `expected revert ${name}, got ${got ?? String(e).slice(0, 200)}`);
    return true;
  });
const mined = async (tx: Promise<ContractTransactionResponse>) => {
  const r = await (await tx).wait();
  assert.equal(r?.status, 1);
  return r!;
};
const balances = async (...ws: Wallet[]) => Promise.all(ws.map((w) => token.balanceOf(w.address)));

before(async () => {
  chain = await startAnvil({});
  provider = makeProvider(chain.rpcUrl, chain.chainId);
  admin = new NonceManager(new Wallet(ANVIL_FUNDER_KEY, provider));
  [operator, alice, bob, grid, stranger] = Array.from(
    { length: 5 },
    () => new Wallet(Wallet.createRandom().privateKey, provider),
  ) as [Wallet, Wallet, Wallet, Wallet, Wallet];
  for (const w of [operator, alice, bob, grid, stranger])
    await (await admin.sendTransaction({ to: w.address, value: parseEther('10') })).wait();
  token = await new EnergyCredit__factory(admin).deploy();
  await token.waitForDeployment();
  await mined(token.grantRole(await token.OPERATOR(), operator.address));
  await mined(as(operator).mint(alice.address, 100n * EUR));
  await mined(as(operator).mint(bob.address, 10n * EUR));
  await mined(as(operator).mint(grid.address, 1000n * EUR));
});

after(async () => {
  provider?.destroy();
  await chain?.stop();
});

describe('EnergyCredit token', () => {
  it('is a euro-pegged ERC-20 with 9 decimals', async () => {
    assert.equal(await token.decimals(), 9n);
    assert.equal(await token.symbol(), 'TEC');
    assert.equal(await token.totalSupply(), 1110n * EUR);
  });

  it('only a market operator mints; the admin grants and revokes the role', async () => {
    await reverts(as(stranger).mint(stranger.address, 1n), 'MissingRole');
    await reverts(as(stranger).grantRole(await token.OPERATOR(), stranger.address), 'NotAdmin');
    await mined(token.grantRole(await token.OPERATOR(), stranger.address));
    await mined(as(stranger).mint(stranger.address, 5n));
    await mined(token.revokeRole(await token.OPERATOR(), stranger.address));
    await reverts(as(stranger).mint(stranger.address, 5n), 'MissingRole');
    await mined(as(stranger).burn(5n));
    assert.equal(await token.balanceOf(stranger.address), 0n);
  });

  it('transfers, approves and transfers from an allowance; refuses overdrafts', async () => {
    await mined(as(alice).transfer(stranger.address, 3n));
    await reverts(as(stranger).transfer(alice.address, 4n), 'InsufficientBalance');
    await mined(as(stranger).approve(bob.address, 2n));
    await reverts(as(bob).transferFrom(stranger.address, bob.address, 3n), 'InsufficientAllowance');
    await mined(as(bob).transferFrom(stranger.address, alice.address, 2n));
    assert.equal(await token.allowance(stranger.address, bob.address), 0n);
    await mined(as(stranger).transfer(alice.address, 1n));
    assert.equal(await token.balanceOf(stranger.address), 0n);
  });
});

describe('EnergyCredit period settlement', () => {
  it('records the period and moves every net position in one transaction', async () => {
    const [a0, b0, g0] = await balances(alice, bob, grid);
    // alice pays 3.5 € (2 € to bob for local energy, 1.5 € to the grid); the grid pays bob 0.25 € feed-in
    const deltas = [-3_500_000_000n, 2_250_000_000n, 1_250_000_000n];
    const receipt = await mined(
      as(operator).settle(7, BOOK, ALLOC, 12_000, [alice.address, bob.address, grid.address], deltas),
    );
    const [a1, b1, g1] = await balances(alice, bob, grid);
    assert.equal(a1! - a0!, deltas[0]);
    assert.equal(b1! - b0!, deltas[1]);
    assert.equal(g1! - g0!, deltas[2]);
    assert.equal(await token.totalSupply(), 1110n * EUR, 'settlement neither mints nor burns');
    const s = await token.settlementOf(7);
    assert.equal(s.bookHash, BOOK);
    assert.equal(s.allocationHash, ALLOC);
    assert.equal(s.tradedWh, 12_000n);
    assert.equal(s.accounts, 3n);
    assert.equal(s.volume, 3_500_000_000n);
    assert.ok(s.settledAt > 0n);
    assert.equal(await token.settledPeriods(), 1n);
    const events = receipt.logs.map((l) => token.interface.parseLog(l)?.name);
    assert.deepEqual(events, ['Transfer', 'Transfer', 'Transfer', 'Settled']);
  });

  it('refuses to settle a period twice', async () => {
    await reverts(as(operator).settle(7, BOOK, ALLOC, 0, [], []), 'AlreadySettled');
  });

  it('refuses unbalanced deltas, mismatched lengths, empty digests and callers without the role', async () => {
    await reverts(as(operator).settle(8, BOOK, ALLOC, 0, [alice.address, bob.address], [-5n, 4n]), 'Unbalanced');
    await reverts(as(operator).settle(8, BOOK, ALLOC, 0, [alice.address], [-5n, 5n]), 'LengthMismatch');
    await reverts(as(operator).settle(8, `0x${'00'.repeat(32)}`, ALLOC, 0, [], []), 'EmptyHash');
    await reverts(as(stranger).settle(8, BOOK, ALLOC, 0, [alice.address, bob.address], [-5n, 5n]), 'MissingRole');
    assert.equal((await token.settlementOf(8)).settledAt, 0n);
  });

  it('reverts the whole settlement when one account cannot pay (nothing half-written)', async () => {
    const before = await balances(alice, bob, grid);
    const bobAll = before[1]!;
    await reverts(
      as(operator).settle(
        9,
        BOOK,
        ALLOC,
        0,
        [alice.address, bob.address, grid.address],
        [-1n, -(bobAll + 1n), bobAll + 2n],
      ),
      'InsufficientBalance',
    );
    assert.deepEqual(await balances(alice, bob, grid), before);
    assert.equal((await token.settlementOf(9)).settledAt, 0n);
  });

  it('settles 200 households and the grid in one transaction', async (t) => {
    const households = Array.from({ length: 200 }, () => Wallet.createRandom().address);
    // the grid funds every household's payment for this test; each then pays back part of it in the period
    const deltas = households.map((_, i) => (i % 2 === 0 ? -BigInt(1000 + i) : BigInt(1000 + i)));
    for (const [i, h] of households.entries()) if (i % 2 === 0) await mined(as(operator).mint(h, 5000n));
    const sum = deltas.reduce((a, d) => a + d, 0n);
    const receipt = await mined(
      as(operator).settle(10, BOOK, ALLOC, 500_000, [...households, grid.address], [...deltas, -sum]),
    );
    t.diagnostic(`gas for 201 accounts: ${receipt.gasUsed} (${receipt.gasUsed / 201n} per account)`);
    for (const [i, h] of households.entries())
      assert.equal(await token.balanceOf(h), i % 2 === 0 ? 5000n - BigInt(1000 + i) : BigInt(1000 + i));
    assert.equal((await token.settlementOf(10)).accounts, 201n);
  });
});
