import { TesseraError } from '@tessera/protocol';
import type { JsonRpcProvider } from 'ethers';

/**
 * Knows whether the chain answers, so that a chain that stopped or froze is answered for at once
 * (`ERR_CHAIN_UNAVAILABLE`) instead of after the provider's timeout on every call. A probe (`eth_blockNumber`, its own
 * short timeout, not through the provider) runs every `intervalMs`; while it fails, every call through the guarded
 * provider is refused immediately, and nothing is sent. The first probe that answers lifts it.
 */
export class ChainWatch {
  private timer: NodeJS.Timeout | undefined;
  private failing = false;
  private since: string | undefined;
  private lastError: string | undefined;
  private running: Promise<void> | undefined;

  constructor(
    private readonly o: {
      rpcUrl: string;
      intervalMs?: number;
      timeoutMs?: number;
      onChange?: (down: boolean, reason?: string) => void;
    },
  ) {}

  /** True once a probe failed, until one answers again. */
  get down(): boolean {
    return this.failing;
  }

  status(): { down: boolean; since?: string; error?: string } {
    return this.failing ? { down: true, since: this.since!, error: this.lastError! } : { down: false };
  }

  /** Refuse with ERR_CHAIN_UNAVAILABLE while the chain is known to be down. */
  assertUp(): void {
    if (this.failing) {
      throw new TesseraError(
        'ERR_CHAIN_UNAVAILABLE',
        `the chain does not answer (since ${this.since}): nothing was sent; retry once it is back`,
      );
    }
  }

  /** One probe now. */
  probe(): Promise<void> {
    this.running ??= (async () => {
      try {
        const res = await fetch(this.o.rpcUrl, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_blockNumber', params: [] }),
          signal: AbortSignal.timeout(this.o.timeoutMs ?? 1500),
        });
        if (!res.ok) throw new Error(`HTTP ${res.status}`);
        await res.json();
        if (this.failing) {
          this.failing = false;
          this.o.onChange?.(false);
        }
      } catch (e) {
        this.reportFailure((e as Error).message);
      } finally {
        this.running = undefined;
      }
    })();
    return this.running;
  }

  /**
   * The chain failed to answer another caller in time (the health check's own call): it is down from now until a probe
   * answers, so that whatever asks `down` (handshakes, chain writes) agrees with what /healthz reported.
   */
  reportFailure(reason: string): void {
    this.lastError = reason;
    if (!this.failing) {
      this.failing = true;
      this.since = new Date().toISOString();
      this.o.onChange?.(true, reason);
    }
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.probe(), this.o.intervalMs ?? 1000);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /**
   * Make every JSON-RPC call of `provider` fail at once with ERR_CHAIN_UNAVAILABLE while the chain is known to be down
   * (instead of waiting for its timeout).
   */
  guard(provider: JsonRpcProvider): void {
    // biome-ignore lint/suspicious/noExplicitAny: ethers' protected transport hook
    const p = provider as any;
    const send = p._send.bind(provider);
    p._send = (payload: unknown) => {
      this.assertUp();
      return send(payload);
    };
  }
}
