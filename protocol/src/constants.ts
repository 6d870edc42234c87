/** Protocol constants, each with its unit in the name. */

/** Default upper bound for JSON request bodies on every HTTP endpoint. */
export const MAX_HTTP_BODY_BYTES = 64 * 1024;
/** Upper bound for a compact JWT (credential or presentation). */
export const MAX_JWT_BYTES = 16 * 1024;
/**
 * The JOSE `typ` of the proof that redeems a credential offer (OpenID4VCI 1.0 §F.1, the `jwt` proof type): it names
 * what the JWT is for, so no other JWT of the holder (a presentation, a login proof) can stand in for it.
 */
export const OFFER_PROOF_TYP = 'openid4vci-proof+jwt';
/** DID resolution cache capacity (documents). */
export const DID_CACHE_MAX_ENTRIES = 10_000;
/** How often the chain watcher polls for registry events when no WebSocket is available. */
export const CHAIN_POLL_INTERVAL_MS = 250;
/** Log fields that never reach a log line (pino redact paths). */
export const LOG_REDACT_PATHS = [
  'privateKey',
  '*.privateKey',
  'secret',
  '*.secret',
  'password',
  '*.password',
  'token',
  '*.token',
  'accessToken',
  '*.accessToken',
  'authorization',
  'req.headers.authorization',
  'req.headers.cookie',
  'masterKey',
  '*.masterKey',
];

/** Lifetime of an access token from the credential core (seconds). Short: revocation also ends it at once. */
export const ACCESS_TOKEN_TTL_S = 300;
/** How long a signed-in session may be renewed token by token before the holder must present again (seconds). */
export const ACCESS_SESSION_MAX_S = 8 * 60 * 60;
/** How long a presentation request's nonce stays usable (milliseconds). */
export const PRESENTATION_NONCE_TTL_MS = 5 * 60 * 1000;

/** secp256k1 group order n (SEC 2 §2.4.1). */
export const SECP256K1_N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
/** n/2: BIP-62 low-s, one valid signature per message, as did-jwt, ethers and libsecp256k1 expect. */
export const SECP256K1_HALF_N = SECP256K1_N >> 1n;

/** An EVM account or contract address: 0x and 20 bytes in hex, either case (EIP-55 checksums are not checked). */
export const EVM_ADDRESS_PATTERN = /^0x[0-9a-fA-F]{40}$/;
