/**
 * The one registry of error codes. A code, once published, keeps its meaning forever; add new codes,
 * never repurpose old ones. `status` is the HTTP status a boundary maps the code to; MQTT and CLI
 * boundaries use the code itself. `docs/errors.md` is generated from (and tested against) this table.
 */
export const ERROR_CODES = {
  // generic boundary errors
  ERR_INTERNAL: { status: 500, summary: 'Unexpected internal error; the cause is logged, not returned.' },
  ERR_BAD_REQUEST: { status: 400, summary: 'The request is malformed; the message says which field.' },
  ERR_JSON_MALFORMED: { status: 400, summary: 'The body is not valid JSON.' },
  ERR_BODY_TOO_LARGE: { status: 413, summary: 'The body is larger than the configured limit.' },
  ERR_UNSUPPORTED_MEDIA_TYPE: { status: 415, summary: 'The body must be application/json.' },
  ERR_BODY_ENCODING: {
    status: 400,
    summary:
      'The body does not decode with its Content-Encoding (gzip, deflate or br); send it plain or encoded right.',
  },
  ERR_NOT_FOUND: { status: 404, summary: 'No such resource.' },
  ERR_VALIDATION: { status: 422, summary: 'The input fails its schema; details list every problem.' },
  ERR_RATE_LIMITED: { status: 429, summary: 'Too many requests; retry after the indicated delay.' },
  ERR_CONFLICT: { status: 409, summary: 'The request conflicts with the current state.' },
  ERR_UNAVAILABLE: { status: 503, summary: 'A dependency is not ready; retry shortly.' },
  ERR_STORAGE_UNAVAILABLE: {
    status: 503,
    summary:
      'The database refused the write (disk full, I/O error, read-only file): nothing of the request was recorded; `/healthz` stays red until the store takes writes again, then retry.',
  },
  ERR_CAPACITY: {
    status: 503,
    summary:
      'The server already holds as many of these as it allows for everyone (outstanding presentation requests, event-stream subscribers); retry after the indicated delay.',
  },

  // configuration and startup
  ERR_CONFIG_INVALID: { status: 500, summary: 'Configuration is invalid; every problem is listed with its variable.' },
  ERR_PORT_IN_USE: { status: 500, summary: 'A port is already in use; the message names the variable to change.' },
  ERR_DATA_DIR: { status: 500, summary: 'The data directory cannot be created or is not writable.' },
  ERR_DATA_DIR_LOCKED: {
    status: 409,
    summary:
      'Another process holds the data directory (its lock file names the pid, the command and since when); stop it or use another directory. A lock whose process is gone is taken over.',
  },
  ERR_USAGE: {
    status: 400,
    summary:
      'The command line is wrong: an unknown command or flag, or a missing or malformed argument; `--help` shows the usage (exit code 2).',
  },

  // chain
  ERR_CHAIN_UNREACHABLE: { status: 503, summary: 'The chain RPC endpoint does not answer.' },
  ERR_CHAIN_UNAVAILABLE: {
    status: 503,
    summary:
      'The chain is known to be down (its RPC endpoint stopped answering): nothing was sent, and nothing of the request will happen; retry when `/healthz` shows the chain again.',
  },
  ERR_CHAIN_START_FAILED: { status: 500, summary: 'The embedded anvil chain could not be started.' },
  ERR_CHAIN_NO_REGISTRY: { status: 503, summary: 'No ERC-1056 DID registry is deployed at the configured address.' },
  ERR_CHAIN_NO_CONTRACT: { status: 503, summary: 'A required contract is not deployed on the configured chain.' },
  ERR_CHAIN_TX_FAILED: { status: 502, summary: 'An on-chain transaction reverted or could not be sent.' },
  ERR_CHAIN_TX_TIMEOUT: {
    status: 504,
    summary: 'A transaction was sent but no receipt arrived within the wait; it may still be mined.',
  },
  ERR_ARTIFACT_STALE: { status: 500, summary: 'Compiled contract artifacts do not match the Solidity sources.' },

  // DIDs
  ERR_DID_MALFORMED: { status: 400, summary: 'The string is not a syntactically valid DID (DID Core §3.1).' },
  ERR_DID_METHOD_UNSUPPORTED: { status: 400, summary: 'The DID method is not supported by this resolver.' },
  ERR_DID_NOT_FOUND: { status: 404, summary: 'The DID does not resolve on the configured network.' },
  ERR_DID_NETWORK_UNKNOWN: { status: 400, summary: 'The did:ethr network is not the configured chain.' },
  ERR_DID_RESOLUTION_FAILED: { status: 502, summary: 'DID resolution failed for an infrastructure reason.' },

  // auth (admins, operators, wallet access tokens)
  ERR_AUTH_REQUIRED: { status: 401, summary: 'No credentials were presented.' },
  ERR_AUTH_INVALID: { status: 401, summary: 'The access token is malformed or its signature is invalid.' },
  ERR_AUTH_EXPIRED: { status: 401, summary: 'The access token has expired.' },
  ERR_AUTH_REPLAYED: { status: 401, summary: 'The token or nonce was already used.' },
  ERR_FORBIDDEN: { status: 403, summary: 'The caller is authenticated but lacks the required role or scope.' },

  // credentials and presentations
  ERR_JWT_MALFORMED: { status: 400, summary: 'The JWT is not three base64url parts with a JSON header and payload.' },
  ERR_JWT_TOO_LARGE: { status: 413, summary: 'The JWT exceeds the size limit.' },
  ERR_JWT_ALG_UNSUPPORTED: { status: 401, summary: "The JWT algorithm is not allowed ('none' and HMAC never are)." },
  ERR_JWT_SIGNATURE: { status: 401, summary: 'The JWT signature does not verify against the DID document.' },
  ERR_VC_EXPIRED: { status: 401, summary: 'The credential has expired.' },
  ERR_VC_NOT_YET_VALID: { status: 401, summary: 'The credential is not yet valid.' },
  ERR_VC_REVOKED: { status: 401, summary: 'The credential has been revoked.' },
  ERR_VC_SUSPENDED: { status: 401, summary: 'The credential is suspended.' },
  ERR_VC_STATUS_UNAVAILABLE: { status: 503, summary: 'The credential status list could not be obtained.' },
  ERR_VC_UNTRUSTED_ISSUER: { status: 401, summary: 'The issuer is not trusted for this credential type.' },
  ERR_VC_TYPE_UNKNOWN: { status: 400, summary: 'The credential type is not one Tessera issues.' },
  ERR_VC_CLAIMS_INVALID: { status: 422, summary: 'The credential claims fail the schema for their type.' },
  ERR_VC_SUBJECT_MISMATCH: { status: 401, summary: 'The presenter is not the subject of the credential.' },
  ERR_VC_MALFORMED: { status: 400, summary: 'The credential is not a well-formed W3C Verifiable Credential.' },
  ERR_VP_MALFORMED: { status: 400, summary: 'The presentation is not a well-formed Verifiable Presentation.' },
  ERR_VP_NO_CREDENTIAL: { status: 400, summary: 'The presentation carries no credential.' },
  ERR_VP_NONCE: { status: 401, summary: 'The presentation nonce is unknown, expired or already used.' },
  ERR_VP_AUDIENCE: { status: 401, summary: 'The presentation audience is not this verifier.' },
  ERR_VP_EXPIRED: { status: 401, summary: 'The presentation has expired.' },
  ERR_VP_NOT_YET_VALID: { status: 401, summary: 'The presentation is not yet valid (its nbf is in the future).' },
  ERR_PROOF_TYPE: {
    status: 401,
    summary:
      'The proof JWT is not of the type the endpoint requires (an offer is redeemed with a typ openid4vci-proof+jwt proof, not a presentation or another JWT).',
  },
  ERR_POLICY_DENIED: {
    status: 403,
    summary: 'The credentials do not meet the policy; the message says which requirement failed.',
  },
  ERR_POLICY_INVALID: { status: 500, summary: 'The policy file fails validation.' },

  // audit trail
  ERR_AUDIT_TAMPERED: { status: 500, summary: 'The audit trail hash chain does not verify.' },

  // devices and the handshake
  ERR_DEVICE_UNKNOWN: { status: 404, summary: 'No such device.' },
  ERR_DEVICE_STATE: { status: 409, summary: 'The lifecycle transition is not allowed from the current state.' },
  ERR_HANDSHAKE_DENIED: {
    status: 401,
    summary: 'Device authentication denied (the precise reason is logged, not returned).',
  },
  ERR_HANDSHAKE_MALFORMED: { status: 400, summary: 'A handshake message fails its schema.' },
  ERR_HANDSHAKE_UNAVAILABLE: {
    status: 503,
    summary:
      'The verifier cannot decide now (the chain or another dependency does not answer): not a refusal and not counted as a failure; the device tries again after `retryAfterMs`, backing off.',
  },
  ERR_DEVICE_SUSPENDED: {
    status: 403,
    summary:
      'The device is suspended on chain: it is refused until an operator resumes it (its agent waits and tries again).',
  },
  ERR_DEVICE_REVOKED: {
    status: 403,
    summary: 'The device is revoked on chain, for good: its agent stops (exit code 3).',
  },
  ERR_DEVICE_DECOMMISSIONED: {
    status: 403,
    summary: 'The device is decommissioned (taken out of service for good): its agent stops (exit code 4).',
  },
  ERR_HANDSHAKE_EXPIRED: { status: 401, summary: 'The handshake challenge has expired.' },
  ERR_HANDSHAKE_LOCKED: { status: 429, summary: 'Too many failures; the device or source is locked out for a while.' },
  ERR_HANDSHAKE_SERVER_PROOF: {
    status: 401,
    summary: 'The server could not prove knowledge of the device secret (rogue server).',
  },
  ERR_TOPIC_FORBIDDEN: { status: 403, summary: 'Publishing or subscribing on this topic is not permitted.' },
  ERR_MQTT_PACKET_TOO_LARGE: {
    status: 413,
    summary:
      'An MQTT packet is larger than the limit of its phase (MQTT_MAX_PACKET_BYTES_BEFORE_CONNECT until CONNECT is accepted, MQTT_MAX_PACKET_BYTES after); the broker closes the connection without reading the body.',
  },
  ERR_MQTT_PACKET_MALFORMED: {
    status: 400,
    summary:
      'An MQTT fixed header is malformed (a remaining length of more than four bytes, MQTT 3.1.1 §2.2.3); the broker closes the connection.',
  },
  ERR_OCRA_SUITE_INVALID: {
    status: 500,
    summary: 'The OCRA suite string is not valid or not supported (RFC 6287 §6).',
  },
  ERR_OCRA_INPUT_INVALID: {
    status: 400,
    summary: 'An OCRA input (challenge, counter, PIN, session, timestamp) does not fit the suite (RFC 6287 §5.1).',
  },

  // energy market
  ERR_MARKET_ORDER_INVALID: { status: 422, summary: 'The order fails its schema; details list every problem.' },
  ERR_MARKET_AMOUNT_OUT_OF_RANGE: {
    status: 422,
    summary: 'An energy amount or price is negative, zero where it must be positive, fractional or absurdly large.',
  },
  ERR_MARKET_DUPLICATE_ORDER: { status: 409, summary: 'An order with this id was already submitted for the period.' },
  ERR_MARKET_PERIOD_CLOSED: { status: 409, summary: 'The trading period is closed (cleared); no more orders.' },
  ERR_MARKET_PERIOD_MISMATCH: { status: 422, summary: 'The order or reading names another trading period.' },
  ERR_MARKET_TOO_MANY_ORDERS: {
    status: 429,
    summary: 'The participant already has the maximum orders for the period.',
  },
  ERR_MARKET_READING_MISSING: { status: 422, summary: 'A meter in the period has no reading to reconcile against.' },
  ERR_MARKET_READING_INVALID: {
    status: 422,
    summary: 'A meter reading is malformed, negative, or above what its nameplate can deliver in the slot.',
  },
  ERR_MARKET_ACCOUNT_UNKNOWN: {
    status: 422,
    summary: 'A participant of the period has no on-chain account to settle energy credits with.',
  },

  // token offerings
  ERR_OFFERING_TERMS_INVALID: {
    status: 422,
    summary: 'The offering terms fail their schema; details list every problem.',
  },
  ERR_OFFERING_NOT_FOUND: { status: 404, summary: 'No such offering.' },
  ERR_OFFERING_EXISTS: { status: 409, summary: 'An offering with this id already exists.' },
  ERR_OFFERING_STATE: {
    status: 409,
    summary: 'The offering is not in a state that allows this (for example allocating before the close date).',
  },
  ERR_OFFERING_NOT_CERTIFIED: {
    status: 409,
    summary: 'The offering needs a certification by a certifier before it accepts subscriptions.',
  },
  ERR_OFFERING_CERTIFICATION_INVALID: {
    status: 422,
    summary: 'The certification does not refer to this offering, or its certifier or credential is not acceptable.',
  },
  ERR_OFFERING_NOT_OPEN: { status: 409, summary: 'The subscription period has not started yet.' },
  ERR_OFFERING_CLOSED: { status: 409, summary: 'The subscription period is over or the offering is closed.' },
  ERR_OFFERING_BELOW_MINIMUM: { status: 422, summary: 'The subscription is below the minimum ticket.' },
  ERR_OFFERING_ABOVE_MAXIMUM: { status: 422, summary: 'The subscription is above the maximum ticket.' },
  ERR_OFFERING_SOLD_OUT: {
    status: 409,
    summary: 'The subscription exceeds what remains of the offering (including the allowed oversubscription).',
  },
  ERR_OFFERING_ALREADY_SUBSCRIBED: { status: 409, summary: 'This investor already subscribed to the offering.' },
  ERR_OFFERING_JURISDICTION: {
    status: 403,
    summary: "The investor's jurisdiction (from its AccreditedInvestor credential) is not allowed by the offering.",
  },
  ERR_OFFERING_INVESTOR_NOT_ACCREDITED: {
    status: 403,
    summary: 'The credential is not an AccreditedInvestor credential at a level the offering accepts.',
  },
  ERR_OFFERING_INVESTOR_LIMIT: {
    status: 422,
    summary: "The subscription's price exceeds the investment limit stated in the investor's credential.",
  },
  ERR_OFFERING_WALLET_NOT_HOLDER: {
    status: 403,
    summary:
      "The wallet is not the address of the presenting holder's did:ethr; tokens go only to the holder's own wallet.",
  },

  // trusted data exchange
  ERR_EXCHANGE_NOT_PARTNER: {
    status: 403,
    summary: 'A party of the exchange (sender or recipient) does not hold a DataPartner credential for the data space.',
  },
  ERR_EXCHANGE_MESSAGE_INVALID: {
    status: 422,
    summary: 'The exchange message is malformed or does not fit its kind; details list every problem.',
  },
  ERR_EXCHANGE_BAD_SIGNATURE: {
    status: 401,
    summary: "A message or acknowledgement is not signed by the DID it names (JWS ES256K against the DID's keys).",
  },
  ERR_EXCHANGE_NOT_FOUND: { status: 404, summary: 'No such exchange, consent or process.' },
  ERR_EXCHANGE_DUPLICATE: { status: 409, summary: 'A message with this id was already recorded.' },
  ERR_EXCHANGE_NOT_RECIPIENT: {
    status: 403,
    summary: 'Only the recipient of a message acknowledges it, and only once.',
  },
  ERR_EXCHANGE_ANSWER_INVALID: {
    status: 422,
    summary: "The answer does not match the questionnaire's schema; details list every problem.",
  },
  ERR_EXCHANGE_NO_CONSENT: {
    status: 403,
    summary: 'Forwarding needs a consent from the original sender that allows disclosure to this third party.',
  },
  ERR_EXCHANGE_CONSENT_REVOKED: {
    status: 403,
    summary: 'The consent was revoked; nothing more may be forwarded under it.',
  },
  ERR_EXCHANGE_CONSENT_EXPIRED: { status: 403, summary: 'The consent has expired.' },
  ERR_EXCHANGE_PROCESS_STEP: {
    status: 409,
    summary: 'The message is not the next step of its process, or comes from the wrong party.',
  },
  ERR_EXCHANGE_TRAIL_TAMPERED: {
    status: 500,
    summary:
      'The exchange trail does not verify: an entry was edited or deleted, or the head differs from the chain anchor.',
  },

  // MQTT broker administration (Mosquitto dynamic security)
  ERR_BROKER_UNREACHABLE: { status: 503, summary: 'The MQTT broker refused the connection or closed it.' },
  ERR_BROKER_CONTROL_TIMEOUT: {
    status: 504,
    summary: 'The broker did not answer a dynamic-security control command in time.',
  },
  ERR_BROKER_CONTROL_FAILED: {
    status: 502,
    summary: "The broker refused a dynamic-security control command; details carry the command and the broker's error.",
  },
  ERR_BROKER_START_FAILED: { status: 500, summary: 'A dedicated Mosquitto instance could not be started.' },
  ERR_BROKER_CONFIG: {
    status: 500,
    summary:
      'The broker lacks a setting the adapter relies on; the message names it (Mosquitto: connection notices on $SYS/broker/log, max_packet_size).',
  },

  // the reference wallet (CLI and library in wallet/src)
  ERR_WALLET_NOT_FOUND: { status: 404, summary: 'No wallet in the wallet directory; run `wallet init` first.' },
  ERR_WALLET_EXISTS: { status: 409, summary: 'The wallet directory already holds a wallet; it is never overwritten.' },
  ERR_WALLET_LOCKED: {
    status: 401,
    summary: "The wallet's key cannot be unsealed: wrong passphrase, or its key file is missing or changed.",
  },
  ERR_WALLET_MALFORMED: { status: 400, summary: 'The wallet file is not a Tessera wallet (damaged or edited).' },
  ERR_WALLET_INSECURE: {
    status: 400,
    summary: 'The wallet file or its key file can be read by other users; chmod 600 it.',
  },
  ERR_WALLET_OFFER_MALFORMED: {
    status: 400,
    summary: 'The credential offer is neither an offer URL, an offer JSON nor a code with --issuer.',
  },
  ERR_WALLET_NO_MATCHING_CREDENTIAL: {
    status: 422,
    summary: 'The wallet holds no credential that meets a requirement of the presentation request.',
  },
  ERR_WALLET_NO_TOKEN: { status: 401, summary: 'The wallet holds no unexpired access token for that URL.' },
  ERR_WALLET_DECLINED: { status: 400, summary: 'The user declined to sign what the wallet showed.' },

  // token offerings: issuer organisations, certifiers, coupons and redemption
  ERR_OFFERING_ISSUER_NOT_AUTHORISED: {
    status: 403,
    summary: "The issuer organisation's OfferingIssuerCredential does not allow offerings of this kind.",
  },
  ERR_OFFERING_CERTIFIER_NOT_TRUSTED: {
    status: 403,
    summary:
      'The certification is not signed by the certifier who presented a trusted CertifierCredential, or that credential does not cover its scheme.',
  },
  ERR_OFFERING_COUPON_UNKNOWN: {
    status: 404,
    summary: "The offering's terms have no coupon schedule, or no coupon with this number.",
  },
  ERR_OFFERING_TRANSFER_RESTRICTED: {
    status: 403,
    summary:
      "The offering's token refuses this transfer (ERC-1404): a party not eligible, expired, frozen or outside the token's jurisdictions, or the balance too low; details name the restriction.",
  },
  ERR_OFFERING_AUTHORIZATION_INVALID: {
    status: 400,
    summary:
      'The signed transfer authorisation is not signed by its sender for this token and chain, or is not valid now (validAfter, validBefore).',
  },
  ERR_OFFERING_AUTHORIZATION_USED: {
    status: 409,
    summary: 'This transfer authorisation (its nonce) was already submitted; sign a new one to transfer again.',
  },

  // device lifecycle through the issuer (registration batches, commissioning, operator actions)
  ERR_DEVICE_EXISTS: { status: 409, summary: 'A device with this id is already registered.' },
  ERR_DEVICE_ID_INVALID: { status: 400, summary: 'A device id must be 0x and 64 lowercase hex digits.' },
  ERR_DEVICE_BATCH_TOO_LARGE: {
    status: 413,
    summary: 'A registration batch holds more devices than the limit (MAX_DEVICE_BATCH).',
  },
  ERR_DEVICE_NOT_OWNER: {
    status: 403,
    summary:
      "The caller holds no DeviceOwner credential for this device's DID, or the device is assigned to another owner.",
  },
  ERR_WALLET_DELEGATION_REFUSED: {
    status: 400,
    summary: 'The wallet refuses to sign a delegation that is not for its own identity or not of the expected form.',
  },

  // OpenID4VCI 1.0 (issuer): each also carries its OAuth / OpenID4VCI error string in `error`
  ERR_OID4VCI_GRANT_INVALID: {
    status: 400,
    summary:
      'The pre-authorized code or authorization code is unknown, expired, already used, or its PKCE verifier does not match (invalid_grant).',
  },
  ERR_OID4VCI_TX_CODE: {
    status: 400,
    summary:
      'The transaction code is missing or wrong; the code is not spent, and after 5 wrong guesses it is locked (invalid_grant).',
  },
  ERR_OID4VCI_PROOF_INVALID: {
    status: 400,
    summary:
      'The key proof is not a valid openid4vci-proof+jwt: no audience or the wrong one, no nonce, a bad signature, or not signed by the credential subject (invalid_proof).',
  },
  ERR_OID4VCI_NONCE: {
    status: 400,
    summary: "The proof's nonce was not issued by the nonce endpoint, has expired or was used already (invalid_nonce).",
  },
  ERR_OID4VCI_CREDENTIAL_REQUEST: {
    status: 400,
    summary:
      'The credential request names no configuration this token was granted, or asks for more credentials than the batch size (invalid_credential_request).',
  },
  ERR_OID4VCI_TOKEN: {
    status: 401,
    summary: 'The access token is missing, unknown or expired, or its DPoP proof does not match (invalid_token).',
  },
  ERR_DPOP_INVALID: {
    status: 400,
    summary:
      'The DPoP proof (RFC 9449) is malformed, stale, replayed, or not for this method and URL (invalid_dpop_proof).',
  },

  // OpenID4VP 1.0 (verifier and wallet)
  ERR_OID4VP_REQUEST_UNKNOWN: {
    status: 404,
    summary: 'No open presentation request has this id or state: it expired, was answered already, or never existed.',
  },
  ERR_OID4VP_RESPONSE_MALFORMED: {
    status: 400,
    summary:
      'The authorization response is not a vp_token object keyed by query id (direct_post), or its JWE does not decrypt (direct_post.jwt).',
  },
  ERR_OID4VP_QUERY_MISMATCH: {
    status: 400,
    summary: 'The vp_token answers a credential query id that was not asked, or leaves a required one unanswered.',
  },
  ERR_OID4VP_TRANSACTION_DATA: {
    status: 400,
    summary: 'The presentation does not bind the transaction data of the request (transaction_data_hashes).',
  },
  ERR_OID4VP_REQUEST_SIGNATURE: {
    status: 400,
    summary:
      "The wallet refuses a request object that is unsigned, not signed by the client id's DID, or not of the expected form.",
  },
  ERR_OID4VP_VERIFIER_MISMATCH: {
    status: 400,
    summary: 'The wallet refuses a request whose verifier (client id) is not the one the user addressed.',
  },
  ERR_SD_JWT_MALFORMED: {
    status: 400,
    summary: 'The SD-JWT is not `<issuer-signed JWT>~<disclosures>~[<KB-JWT>]` of the dc+sd-jwt form.',
  },
  ERR_SD_JWT_DISCLOSURE: {
    status: 400,
    summary:
      'A disclosure is tampered with, repeated, or not referenced by the issuer-signed credential (RFC 9901 §7.1).',
  },
  ERR_SD_JWT_KEY_BINDING: {
    status: 401,
    summary:
      'The SD-JWT has no key binding JWT, or its KB-JWT is not signed by the cnf key, or has the wrong nonce, audience or sd_hash.',
  },

  // device fleets (firmware-sim): what a device observes before any handshake message
  ERR_BROKER_REFUSED: {
    status: 401,
    summary:
      'The MQTT broker refused the CONNECT (CONNACK 4/5, or closed before CONNACK): the device is not enrolled (unknown, suspended, revoked) or its broker password is wrong.',
  },

  // Whiteflag messages (docs/whiteflag.md)
  ERR_WHITEFLAG_MALFORMED: {
    status: 400,
    summary:
      'The data is not a Whiteflag version 1 message: wrong prefix or version, unknown message type, truncated field, or bytes after the last field.',
  },
  ERR_WHITEFLAG_TOO_LARGE: {
    status: 413,
    summary: 'The encoded Whiteflag message is larger than the accepted size (WHITEFLAG_MAX_MESSAGE_BYTES).',
  },
  ERR_WHITEFLAG_FIELD_INVALID: {
    status: 422,
    summary:
      'A Whiteflag field fails the standard (syntax, code, date-time, duration, coordinates, object rules); details list every field.',
  },
  ERR_WHITEFLAG_REFERENCE_INVALID: {
    status: 422,
    summary:
      'The message may not reference the referenced message this way (Whiteflag §5.4: message types, reference codes, same or other originator).',
  },
  ERR_WHITEFLAG_KEY_UNKNOWN: {
    status: 422,
    summary:
      'No key to encrypt or decrypt with: no pre-shared key of that name, or no ECDH public key published by the counterpart.',
  },
  ERR_WHITEFLAG_DECRYPTION_FAILED: {
    status: 422,
    summary:
      'The encrypted message could not be decrypted into a valid message with any key held for its originator, or its initialisation vector is missing.',
  },
  ERR_WHITEFLAG_AUTH_FAILED: {
    status: 401,
    summary:
      "An authentication message does not verify: the signed statement is missing, malformed or not signed by a key of the originator's DID, or the token matches no shared secret.",
  },
  ERR_WHITEFLAG_ORIGINATOR_NOT_READY: {
    status: 409,
    summary:
      "The originator's sending account is not ready: its key is not yet authorised on chain by the originator's DID, or its authentication message is not yet mined.",
  },
  ERR_WHITEFLAG_NOT_FOUND: { status: 404, summary: 'No Whiteflag message or originator with this identifier.' },
} as const satisfies Record<string, { status: number; summary: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;

/**
 * Every code a route guarded by an access token can answer before its handler runs (the verifier's
 * `requireCredentials` and the credential core's `authorize` behind it, which the issuer and the services use): for
 * the OpenAPI documents of those routes, so each lists the guard's refusals once and alike.
 */
export const GUARD_ERRORS = [
  'ERR_AUTH_REQUIRED',
  'ERR_AUTH_INVALID',
  'ERR_AUTH_EXPIRED',
  'ERR_FORBIDDEN',
  'ERR_POLICY_DENIED',
  'ERR_VC_REVOKED',
  'ERR_VC_SUSPENDED',
  'ERR_VC_STATUS_UNAVAILABLE',
  'ERR_UNAVAILABLE',
] as const satisfies readonly ErrorCode[];

/**
 * The refusals of verifying a presentation (JWT VP) and the credentials in it, for the OpenAPI documents of the routes
 * that take one (the verifier's presentations, the issuer's admin sign-in), so each lists them once and alike.
 */
export const PRESENTATION_ERRORS = [
  'ERR_JWT_MALFORMED',
  'ERR_JWT_TOO_LARGE',
  'ERR_JWT_ALG_UNSUPPORTED',
  'ERR_JWT_SIGNATURE',
  'ERR_VP_MALFORMED',
  'ERR_VP_NO_CREDENTIAL',
  'ERR_VP_NONCE',
  'ERR_VP_AUDIENCE',
  'ERR_VP_EXPIRED',
  'ERR_VP_NOT_YET_VALID',
  'ERR_VC_MALFORMED',
  'ERR_VC_EXPIRED',
  'ERR_VC_NOT_YET_VALID',
  'ERR_VC_REVOKED',
  'ERR_VC_SUSPENDED',
  'ERR_VC_STATUS_UNAVAILABLE',
  'ERR_VC_UNTRUSTED_ISSUER',
  'ERR_VC_SUBJECT_MISMATCH',
  'ERR_DID_NOT_FOUND',
  'ERR_DID_RESOLUTION_FAILED',
  'ERR_POLICY_DENIED',
] as const satisfies readonly ErrorCode[];

/** Plain, serialisable error shape carried by results and HTTP bodies. */
export interface ErrorShape {
  code: ErrorCode;
  message: string;
  details?: unknown;
}

/**
 * A coded error for infrastructure faults and boundary rejections. Expected outcomes are
 * returned as `Result` values instead; throw this only where the caller cannot continue.
 */
export class TesseraError extends Error {
  readonly code: ErrorCode;
  readonly details?: unknown;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; details?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'TesseraError';
    this.code = code;
    this.details = options?.details;
  }

  get status(): number {
    return ERROR_CODES[this.code].status;
  }

  toJSON(): ErrorShape {
    return this.details === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, details: this.details };
  }
}

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(ERROR_CODES, value);
}

/** Normalise anything thrown into a TesseraError, keeping the original as `cause`. */
export function toTesseraError(thrown: unknown, fallback: ErrorCode = 'ERR_INTERNAL'): TesseraError {
  if (thrown instanceof TesseraError) return thrown;
  const message = fallback === 'ERR_INTERNAL' ? 'internal error' : String((thrown as Error)?.message ?? thrown);
  return new TesseraError(fallback, message, { cause: thrown });
}
