import { TesseraError } from '@tessera/protocol';
import { FetchRequest, JsonRpcProvider, Network } from 'ethers';

export interface ChainConnection {
  provider: JsonRpcProvider;
  chainId: number;
  rpcUrl: string;
}

/**
 * An ethers provider tuned for a local or consortium chain (DESIGN §9): a static network (no
 * eth_chainId per call), no batching and no response cache (the defaults are ~3× slower and reuse nonces).
 */
export function makeProvider(
  rpcUrl: string,
  chainId: number,
  options: { timeoutMs?: number; pollingMs?: number } = {},
) {
  const req = new FetchRequest(rpcUrl);
  req.timeout = options.timeoutMs ?? 10_000;
  const provider = new JsonRpcProvider(req, Network.from(chainId), {
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
