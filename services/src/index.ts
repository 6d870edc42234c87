/**
 * @tessera/services — the credential-gated domains: the energy market, token offerings and trusted data exchange. Each
 * is started by one factory that takes a narrow dependency interface (its guard, its store, its outbox), never the
 * whole stack; the composition root (`@tessera/stack`) builds them.
 * May import: @tessera/protocol, @tessera/runtime, @tessera/contracts, @tessera/verifier.
 */
export * from './offerings/index.js';
export * from './energy/index.js';
export * from './exchange/index.js';
export * from './whiteflag/index.js';
