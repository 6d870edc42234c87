import { TesseraError } from '@tessera/protocol';
import {
  FetchRequest,
  JsonRpcProvider,
  Network,
  type Provider,
  type Subscriber,
  type Subscription,
  type TransactionReceipt,
} from 'ethers';

export interface ChainConnection {
  provider: JsonRpcProvider;
  chainId: number;
  rpcUrl: string;
}

/**
 * Watches one transaction by asking for its receipt every polling interval until it comes.
 *
 * Ethers' own transaction subscriber (6.17) asks once as it starts and then again only on a new block, and its
 * block poller spends its first poll learning the current block number. A transaction mined between that first
 * receipt check and that first poll is then noticed only when a later block comes, and an automining chain with
 * nothing else to do mines none: `tx.wait()` hung until the test timeout (security-token.test.ts in CI, 180 s).
 */
class ReceiptSubscriber implements Subscriber {
  #timer: number | undefined;
  #running = false;
  constructor(
    private readonly provider: JsonRpcProvider,
    private readonly hash: string,
  ) {}
  start(): void {
    if (this.#running) return;
    this.#running = true;
    void this.#poll();
  }
  stop(): void {
    this.#running = false;
    if (this.#timer !== undefined) this.provider._clearTimeout(this.#timer);
    this.#timer = undefined;
  }
  pause(): void {
    this.stop();
  }
  resume(): void {
    this.start();
  }
  async #poll(): Promise<void> {
    this.#timer = undefined;
    try {
      const receipt = await this.provider.getTransactionReceipt(this.hash);
      if (receipt && this.#running) await this.provider.emit(this.hash, receipt);
    } catch {
      // the endpoint failed this once: ask again at the next interval
    }
    if (this.#running && this.#timer === undefined && !this.provider.destroyed) {
      this.#timer = this.provider._setTimeout(() => void this.#poll(), this.provider.pollingInterval);
    }
  }
}

/**
 * A JSON-RPC provider whose `tx.wait()` polls the receipt itself. (`provider.waitForTransaction` does not use a
 * transaction subscriber and keeps its race: use `waitForReceipt`.)
 */
class ReceiptPollingProvider extends JsonRpcProvider {
  override _getSubscriber(sub: Subscription): Subscriber {
    if (sub.type === 'transaction') return new ReceiptSubscriber(this, sub.hash);
    return super._getSubscriber(sub);
  }
}

/**
 * An ethers provider tuned for a local or consortium chain: a static network (no
 * eth_chainId per call), no batching and no response cache (the defaults are ~3× slower and reuse nonces).
 */
export function makeProvider(
  rpcUrl: string,
  chainId: number,
  options: { timeoutMs?: number; pollingMs?: number } = {},
) {
  const req = new FetchRequest(rpcUrl);
  req.timeout = options.timeoutMs ?? 10_000;
  const provider = new ReceiptPollingProvider(req, Network.from(chainId), {
    staticNetwork: true,
    batchMaxCount: 1,
    cacheTimeout: -1,
    polling: true,
    pollingInterval: options.pollingMs ?? 100,
  });
  return provider;
}

/** Raw JSON-RPC call with a timeout, used to probe an endpoint before trusting it. */
async function rpc(rpcUrl: string, method: string, params: unknown[], timeoutMs: number): Promise<unknown> {
  const res = await fetch(rpcUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
    signal: AbortSignal.timeout(timeoutMs),
  });
  if (!res.ok) throw new Error(`HTTP ${res.status}`);
  const body = (await res.json()) as { result?: unknown; error?: { message: string } };
  if (body.error) throw new Error(body.error.message);
  return body.result;
}

/**
 * Connect to a chain, failing fast with ERR_CHAIN_UNREACHABLE (never hanging) when the endpoint does not answer.
 */
export async function connectChain(rpcUrl: string, options: { timeoutMs?: number } = {}): Promise<ChainConnection> {
  let url: URL;
  try {
    url = new URL(rpcUrl);
  } catch (cause) {
    throw new TesseraError('ERR_CONFIG_INVALID', `chain RPC URL '${rpcUrl}' is not a URL`, { cause });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new TesseraError('ERR_CONFIG_INVALID', `chain RPC URL must be http(s), got ${url.protocol}`);
  }
  const timeoutMs = options.timeoutMs ?? 5000;
  let chainIdHex: unknown;
  try {
    chainIdHex = await rpc(rpcUrl, 'eth_chainId', [], timeoutMs);
  } catch (cause) {
    throw new TesseraError(
      'ERR_CHAIN_UNREACHABLE',
      `chain RPC ${url.origin} did not answer eth_chainId within ${timeoutMs} ms (${(cause as Error).message}); check TESSERA_CHAIN_RPC_URL`,
      { cause },
    );
  }
  if (typeof chainIdHex !== 'string' || !/^0x[0-9a-f]+$/i.test(chainIdHex)) {
    throw new TesseraError(
      'ERR_CHAIN_UNREACHABLE',
      `chain RPC ${url.origin} answered eth_chainId with a non-hex value`,
    );
  }
  const chainId = Number(BigInt(chainIdHex));
  return { provider: makeProvider(rpcUrl, chainId), chainId, rpcUrl };
}

export interface ReceiptWait {
  /** Give up after this long with ERR_CHAIN_TX_TIMEOUT (default 30 s). */
  timeoutMs?: number;
  /** Ask for the receipt this often (default 50 ms). */
  pollMs?: number;
  /** Stop waiting early; the promise rejects with the signal's reason. */
  signal?: AbortSignal;
}

/**
 * Wait until a transaction has a receipt, by asking for the receipt until one comes or the deadline passes.
 *
 * Not ethers' `provider.waitForTransaction` (6.17): it looks for the receipt once and then waits for the
 * next "block" event, but ethers' block poller spends its first poll only learning the current block
 * number. A transaction mined between that receipt check and the first poll (anvil's automine does this
 * under load) is then seen only when some later block comes, and on a quiet automining chain none ever
 * does: the wait ran into its 30 s timeout and failed CI once (chain.test.ts reproduces it). `tx.wait()` has
 * a narrower form of the race, closed for providers from `makeProvider` (see `ReceiptSubscriber`). Errors from the
 * endpoint while polling are retried until the deadline; the last one is named in the timeout.
 */
export async function waitForReceipt(
  provider: Pick<Provider, 'getTransactionReceipt'>,
  txHash: string,
  options: ReceiptWait = {},
): Promise<TransactionReceipt> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const pollMs = options.pollMs ?? 50;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    options.signal?.throwIfAborted();
    try {
      const receipt = await provider.getTransactionReceipt(txHash);
      if (receipt) return receipt;
      lastError = undefined;
    } catch (e) {
      lastError = e;
    }
    const left = deadline - Date.now();
    if (left <= 0) {
      const why = lastError ? ` (last error: ${(lastError as Error).message ?? lastError})` : '';
      throw new TesseraError(
        'ERR_CHAIN_TX_TIMEOUT',
        `no receipt for transaction ${txHash} within ${timeoutMs} ms${why}; it may still be mined, check it before sending again`,
        lastError ? { cause: lastError } : undefined,
      );
    }
    await new Promise<void>((resolve) => setTimeout(resolve, Math.min(pollMs, left)));
  }
}
