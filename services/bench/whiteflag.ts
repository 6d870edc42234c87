/**
 * Whiteflag: how fast the codec encodes and decodes each message type of the standard (one valid example of each,
 * `WHITEFLAG_EXAMPLES`), and what each costs on chain as transaction data on a real anvil, against the same message as
 * plain JSON calldata (the JSON form of the standard, UTF-8) sent the same way in the same run: rates against
 * `JSON.stringify`/`JSON.parse` of the same message, gas and bytes against the JSON calldata.
 */
import { ANVIL_FUNDER_KEY, makeProvider, startAnvil } from '@tessera/contracts';
import {
  decodeWhiteflag,
  encodeWhiteflag,
  type MessageCode,
  toHex,
  validateWhiteflag,
  WHITEFLAG_EXAMPLES,
} from '@tessera/protocol/whiteflag';
import { type BenchContext, type BenchReport, ratio } from '@tessera/runtime';
import { hexlify, toUtf8Bytes, Wallet } from 'ethers';

const RUNS = 20_000;
const WARM_UP = 2_000;

/** Operations per second of `f` over `n` calls (after a warm-up). */
function rate(n: number, f: (i: number) => unknown): number {
  for (let i = 0; i < WARM_UP; i++) f(i);
  const t0 = performance.now();
  for (let i = 0; i < n; i++) f(i);
  return Math.round(n / ((performance.now() - t0) / 1000));
}

export async function run(ctx: BenchContext): Promise<BenchReport> {
  const codes = Object.keys(WHITEFLAG_EXAMPLES) as MessageCode[];
  const figures: Record<string, number> = {};
  const baselines: Record<string, number> = {};
  const ratios: Record<string, number> = {};
  const encoded = new Map<MessageCode, Uint8Array>();

  ctx.progress('whiteflag: codec', 0, codes.length);
  for (const [i, code] of codes.entries()) {
    const m = WHITEFLAG_EXAMPLES[code];
    const e = encodeWhiteflag(m);
    if (!e.ok || !validateWhiteflag(m).ok) throw new Error(`the ${code} example does not encode`);
    const back = decodeWhiteflag(e.value);
    if (!back.ok || JSON.stringify(back.value) !== JSON.stringify(m))
      throw new Error(`the ${code} example does not round trip`);
    encoded.set(code, e.value);
    const json = JSON.stringify(m);
    figures[`encode_${code}_per_s`] = rate(RUNS, () => encodeWhiteflag(m));
    baselines[`encode_${code}_per_s`] = rate(RUNS, () => JSON.stringify(m));
    figures[`decode_${code}_per_s`] = rate(RUNS, () => decodeWhiteflag(e.value));
    baselines[`decode_${code}_per_s`] = rate(RUNS, () => JSON.parse(json));
    ctx.progress('whiteflag: codec', i + 1, codes.length);
  }
  figures['validate_all_types_per_s'] = rate(RUNS, (i) =>
    validateWhiteflag(WHITEFLAG_EXAMPLES[codes[i % codes.length]!]),
  );

  // gas on a real anvil: the encoded message as the data of a transaction to the sender itself (Annex A, Ethereum),
  // against the JSON of the same message as calldata, from the same account, in the same run
  const chain = await startAnvil({});
  const provider = makeProvider(chain.rpcUrl, chain.chainId);
  try {
    const sender = new Wallet(ANVIL_FUNDER_KEY, provider);
    const gasOf = async (data: string) => {
      const tx = await sender.sendTransaction({ to: sender.address, data });
      const receipt = await tx.wait();
      if (receipt?.status !== 1) throw new Error('the transaction failed');
      return Number(receipt.gasUsed);
    };
    ctx.progress('whiteflag: gas', 0, codes.length);
    for (const [i, code] of codes.entries()) {
      const wf = encoded.get(code)!;
      const json = toUtf8Bytes(JSON.stringify(WHITEFLAG_EXAMPLES[code]));
      figures[`gas_per_${code}_message`] = await gasOf(`0x${toHex(wf)}`);
      baselines[`gas_per_${code}_message`] = await gasOf(hexlify(json));
      figures[`calldata_${code}_bytes`] = wf.length;
      baselines[`calldata_${code}_bytes`] = json.length;
      ctx.progress('whiteflag: gas', i + 1, codes.length);
    }
  } finally {
    provider.destroy();
    await chain.stop();
  }
  for (const [name, value] of Object.entries(figures)) {
    const base = baselines[name];
    if (base === undefined) continue;
    ratios[name] = ratio(value, base, !name.startsWith('gas_') && !name.startsWith('calldata_'));
  }
  return {
    bench: 'whiteflag',
    figures,
    baselines,
    ratios,
    machine: ctx.machine,
    notes: [
      `codec: ${RUNS.toLocaleString('en-US')} timed calls per figure after ${WARM_UP.toLocaleString('en-US')} warm-up, one valid example per type; ` +
        'baselines JSON.stringify / JSON.parse of the same message (which check nothing)',
      'gas: a transaction to the sender itself on anvil (21,000 + calldata); baseline the Annex B JSON of the same message as UTF-8 calldata',
    ],
  };
}
