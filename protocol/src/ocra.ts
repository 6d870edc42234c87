import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { TesseraError } from './errors.js';
import { err, ok, type Result } from './result.js';

/**
 * RFC 6287 OCRA (OATH Challenge-Response Algorithm), on node:crypto HMAC.
 *
 *   OCRA = CryptoFunction(K, DataInput)                                   (RFC 6287 §5.1)
 *   DataInput = OCRASuite | 00 | C | Q | P | S | T                        (RFC 6287 §5.1)
 *
 * Where the RFC text leaves an encoding open, this module follows the RFC's reference implementation
 * (Appendix A), which is what produces the Appendix C test vectors:
 * - numeric (N) challenges are converted to a hexadecimal string and right-padded with '0' nibbles to 128 bytes
 *   (so 22222222 = 0x153158E becomes the bytes 15 31 58 E0 …, RFC 6287 Appendix C.1);
 * - alphanumeric (A) challenges are their ASCII bytes, right-padded with zero bytes;
 * - hexadecimal (H) challenges are right-padded with '0' nibbles;
 * - C and T are 8-byte big-endian integers; session information S is left-padded with zero bytes to nnn bytes.
 */

export type OcraHash = 'sha1' | 'sha256' | 'sha512';
export type OcraQuestionFormat = 'A' | 'N' | 'H';

export interface OcraSuite {
  /** The suite string exactly as parsed, which is also the first part of DataInput. */
  readonly text: string;
  readonly hash: OcraHash;
  /** Truncation length t: 0 (no truncation, full HMAC in hex) or 4..10 digits (RFC 6287 §6.2). */
  readonly digits: number;
  /** `C`: an 8-byte counter is part of DataInput. */
  readonly counter: boolean;
  /** `QFxx`: challenge format and maximum length xx (04..64) of one challenge (RFC 6287 §6.3). */
  readonly question: { readonly format: OcraQuestionFormat; readonly maxLength: number };
  /** `PH`: hash of the PIN/password is part of DataInput. */
  readonly pin?: OcraHash;
  /** `Snnn`: length in bytes of the session information. */
  readonly sessionBytes?: number;
  /** `TG`: time-step size in seconds. */
  readonly timeStepSeconds?: number;
}

/** Smallest challenge length the RFC allows (RFC 6287 §7.1: "the challenge … minimum 4"). */
export const OCRA_MIN_CHALLENGE_LENGTH = 4;
/** Size of the Q field of DataInput in bytes (RFC 6287 §5.1). */
export const OCRA_QUESTION_BYTES = 128;

const HASH_BYTES: Record<OcraHash, number> = { sha1: 20, sha256: 32, sha512: 64 };
const HASH_NAMES: Record<string, OcraHash> = { SHA1: 'sha1', SHA256: 'sha256', SHA512: 'sha512' };
const TIME_UNIT_SECONDS = { S: 1, M: 60, H: 3600 } as const;

const suiteError = (text: string, why: string) =>
  err('ERR_OCRA_SUITE_INVALID', `'${text.slice(0, 80)}' is not an OCRA suite this implementation supports: ${why}`);

/**
 * Parse an OCRASuite string (RFC 6287 §6): `OCRA-1:HOTP-SHAx-t:[C-]QFxx[-PH][-Snnn][-TG]`.
 *
 * @example parseOcraSuite('OCRA-1:HOTP-SHA256-8:QA08') // { ok: true, value: { hash: 'sha256', digits: 8, … } }
 */
export function parseOcraSuite(text: string): Result<OcraSuite> {
  if (typeof text !== 'string' || text.length > 64) return suiteError(String(text), 'not a short string');
  const parts = text.split(':');
  if (parts.length !== 3) return suiteError(text, 'expected <Algorithm>:<CryptoFunction>:<DataInput>');
  const [algorithm, crypto, dataInput] = parts as [string, string, string];
  // §6.1: only version 1 is defined.
  if (algorithm !== 'OCRA-1') return suiteError(text, 'algorithm must be OCRA-1 (RFC 6287 §6.1)');
  // §6.2: HOTP-SHA1-t | HOTP-SHA256-t | HOTP-SHA512-t, t = 0 or 4..10.
  const cf = /^HOTP-(SHA1|SHA256|SHA512)-(\d{1,2})$/.exec(crypto);
  if (!cf) return suiteError(text, 'crypto function must be HOTP-SHA1|SHA256|SHA512-t (RFC 6287 §6.2)');
  const digits = Number(cf[2]);
  if (digits !== 0 && (digits < 4 || digits > 10))
    return suiteError(text, 'truncation length must be 0 or 4..10 (RFC 6287 §6.2)');

  // §6.3: [C] | QFxx | [PH | Snnn | TG], in that order, '-' separated.
  const tokens = dataInput.split('-');
  let i = 0;
  const counter = tokens[i] === 'C';
  if (counter) i++;
  const q = /^Q([ANH])(\d{2})$/.exec(tokens[i] ?? '');
  if (!q) return suiteError(text, 'DataInput needs a challenge QFxx with F in A, N, H (RFC 6287 §6.3)');
  const maxLength = Number(q[2]);
  if (maxLength < 4 || maxLength > 64) return suiteError(text, 'challenge length xx must be 04..64 (RFC 6287 §6.3)');
  i++;
  let pin: OcraHash | undefined;
  let sessionBytes: number | undefined;
  let timeStepSeconds: number | undefined;
  const p = /^P(SHA1|SHA256|SHA512)$/.exec(tokens[i] ?? '');
  if (p) {
    pin = HASH_NAMES[p[1]!];
    i++;
  }
  const s = /^S(\d{3})$/.exec(tokens[i] ?? '');
  if (s) {
    sessionBytes = Number(s[1]);
    if (sessionBytes === 0) return suiteError(text, 'session length must be positive');
    i++;
  }
  const t = /^T(\d{1,2})([SMH])$/.exec(tokens[i] ?? '');
  if (t) {
    const n = Number(t[1]);
    const unit = t[2] as keyof typeof TIME_UNIT_SECONDS;
    // §6.3: G = [1-59]S | [1-59]M | [0-48]H; a zero step cannot count time, so 0H is refused.
    if (n < 1 || (unit !== 'H' && n > 59) || (unit === 'H' && n > 48))
      return suiteError(text, 'time step must be 1-59S, 1-59M or 1-48H (RFC 6287 §6.3)');
    timeStepSeconds = n * TIME_UNIT_SECONDS[unit];
    i++;
  }
  if (i !== tokens.length) return suiteError(text, `unexpected DataInput part '${tokens[i]}' (RFC 6287 §6.3)`);
  const suite: OcraSuite = {
    text,
    hash: HASH_NAMES[cf[1]!]!,
    digits,
    counter,
    question: { format: q[1] as OcraQuestionFormat, maxLength },
    ...(pin ? { pin } : {}),
    ...(sessionBytes ? { sessionBytes } : {}),
    ...(timeStepSeconds ? { timeStepSeconds } : {}),
  };
  return ok(Object.freeze(suite));
}

/** Parse a suite that is a protocol constant or configuration; throws ERR_OCRA_SUITE_INVALID when it is not valid. */
export function ocraSuite(text: string): OcraSuite {
  const r = parseOcraSuite(text);
  if (!r.ok) throw new TesseraError(r.error.code, r.error.message);
  return r.value;
}

const CHALLENGE_SYNTAX: Record<OcraQuestionFormat, RegExp> = {
  A: /^[0-9A-Za-z]+$/,
  N: /^[0-9]+$/,
  H: /^[0-9A-Fa-f]+$/,
};

/** Check one challenge against the suite's QFxx: format and length 4..xx (RFC 6287 §6.3, §7.1). */
export function checkOcraChallenge(suite: OcraSuite, challenge: string): Result<string> {
  const { format, maxLength } = suite.question;
  if (typeof challenge !== 'string' || !CHALLENGE_SYNTAX[format].test(challenge))
    return err('ERR_OCRA_INPUT_INVALID', `the challenge is not a Q${format} value`);
  if (challenge.length < OCRA_MIN_CHALLENGE_LENGTH || challenge.length > maxLength)
    return err('ERR_OCRA_INPUT_INVALID', `the challenge must be ${OCRA_MIN_CHALLENGE_LENGTH}..${maxLength} characters`);
  return ok(challenge);
}

/** The values that go into DataInput besides the suite. Which ones are required depends on the suite. */
export interface OcraInput {
  /** Q: one challenge, or the concatenation of two in mutual mode (RFC 6287 §7.3). */
  question: string;
  /** C: counter (RFC 6287 §5.1, 8 bytes). */
  counter?: bigint | number;
  /** P as the already hashed PIN (the RFC vectors give SHA-1("1234")). */
  pinHash?: Uint8Array;
  /** P as the PIN itself; it is hashed with the suite's PH algorithm (UTF-8). */
  pin?: string;
  /** S: session information, at most nnn bytes; shorter values are left-padded with zero bytes. */
  session?: Uint8Array;
  /** T: number of time steps since the Unix epoch (see `ocraTimeSteps`). */
  timeSteps?: bigint | number;
}

const inputError = (message: string) => new TesseraError('ERR_OCRA_INPUT_INVALID', message);

function uint64(value: bigint | number, what: string): Buffer {
  const v = BigInt(value);
  if (v < 0n || v >= 1n << 64n) throw inputError(`${what} must fit in 8 unsigned bytes`);
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(v);
  return b;
}

function questionBytes(format: OcraQuestionFormat, question: string): Buffer {
  if (!CHALLENGE_SYNTAX[format].test(question)) throw inputError(`the question is not a Q${format} value`);
  let hex: string;
  if (format === 'A') {
    if (question.length > OCRA_QUESTION_BYTES) throw inputError('the question exceeds 128 bytes');
    const q = Buffer.alloc(OCRA_QUESTION_BYTES);
    q.write(question, 'ascii');
    return q;
  }
  if (format === 'N') hex = BigInt(question).toString(16);
  else hex = question;
  if (hex.length > OCRA_QUESTION_BYTES * 2) throw inputError('the question exceeds 128 bytes');
  // Reference implementation (RFC 6287 Appendix A): the hex string is right-padded with '0' to 256 nibbles.
  return Buffer.from(hex.padEnd(OCRA_QUESTION_BYTES * 2, '0'), 'hex');
}

/**
 * Build DataInput = OCRASuite | 00 | C | Q | P | S | T (RFC 6287 §5.1), with only the parts the suite names.
 * Throws ERR_OCRA_INPUT_INVALID when a part the suite requires is missing or malformed.
 */
export function ocraDataInput(suite: OcraSuite, input: OcraInput): Buffer {
  const parts: Buffer[] = [Buffer.from(suite.text, 'ascii'), Buffer.alloc(1)];
  if (suite.counter) {
    if (input.counter === undefined) throw inputError(`suite ${suite.text} needs a counter`);
    parts.push(uint64(input.counter, 'the counter'));
  }
  parts.push(questionBytes(suite.question.format, input.question));
  if (suite.pin) {
    let pinHash: Uint8Array;
    if (input.pinHash !== undefined) pinHash = input.pinHash;
    else if (input.pin !== undefined) pinHash = createHash(suite.pin).update(input.pin, 'utf8').digest();
    else throw inputError(`suite ${suite.text} needs a PIN or its hash`);
    if (pinHash.length !== HASH_BYTES[suite.pin])
      throw inputError(`the PIN hash must be ${HASH_BYTES[suite.pin]} bytes`);
    parts.push(Buffer.from(pinHash));
  }
  if (suite.sessionBytes) {
    const session = input.session;
    if (session === undefined) throw inputError(`suite ${suite.text} needs session information`);
    if (session.length > suite.sessionBytes)
      throw inputError(`session information exceeds ${suite.sessionBytes} bytes`);
    const padded = Buffer.alloc(suite.sessionBytes);
    padded.set(session, suite.sessionBytes - session.length);
    parts.push(padded);
  }
  if (suite.timeStepSeconds) {
    if (input.timeSteps === undefined) throw inputError(`suite ${suite.text} needs a timestamp`);
    parts.push(uint64(input.timeSteps, 'the timestamp'));
  }
  return Buffer.concat(parts);
}

/**
 * HOTP dynamic truncation (RFC 4226 §5.3, used by RFC 6287 §5.2): the low nibble of the last byte picks an offset,
 * 31 bits are read there, reduced modulo 10^digits and zero-padded. `digits` 0 means no truncation (RFC 6287 §5.1):
 * the full HMAC in lower-case hex.
 */
export function hotpTruncate(mac: Uint8Array, digits: number): string {
  if (digits === 0) return Buffer.from(mac).toString('hex');
  if (!Number.isInteger(digits) || digits < 1 || digits > 10) throw inputError('digits must be 0 or 1..10');
  const offset = mac[mac.length - 1]! & 0x0f;
  const binary = ((mac[offset]! & 0x7f) << 24) | (mac[offset + 1]! << 16) | (mac[offset + 2]! << 8) | mac[offset + 3]!;
  return String(binary % 10 ** digits).padStart(digits, '0');
}

/**
 * Compute an OCRA value: HOTP truncation of HMAC-SHAx(K, DataInput) (RFC 6287 §5.2).
 *
 * @param suite a parsed suite (`ocraSuite('OCRA-1:HOTP-SHA256-8:QA08')`)
 * @param key the shared secret K
 * @example computeOcra(ocraSuite('OCRA-1:HOTP-SHA1-6:QN08'), key20, { question: '00000000' }) // '237653'
 */
export function computeOcra(suite: OcraSuite, key: Uint8Array, input: OcraInput): string {
  if (key.length === 0) throw inputError('the OCRA key must not be empty');
  const mac = createHmac(suite.hash, key).update(ocraDataInput(suite, input)).digest();
  return hotpTruncate(mac, suite.digits);
}

/** Time steps since the Unix epoch for the suite's TG (RFC 6287 §6.3: "T … number of time-steps"). */
export function ocraTimeSteps(suite: OcraSuite, unixMs: number): bigint {
  if (!suite.timeStepSeconds) throw inputError(`suite ${suite.text} has no timestamp`);
  return BigInt(Math.floor(unixMs / 1000 / suite.timeStepSeconds));
}

/**
 * Compare two response strings in constant time with respect to their content (crypto.timingSafeEqual).
 * Unequal lengths are compared against themselves first so the work done does not depend on the mismatch.
 */
export function ocraResponsesEqual(expected: string, received: string): boolean {
  const a = Buffer.from(expected, 'utf8');
  const b = Buffer.from(received, 'utf8');
  if (a.length !== b.length) {
    timingSafeEqual(a, a);
    return false;
  }
  return timingSafeEqual(a, b);
}

/** The parts of one mutual challenge-response exchange (RFC 6287 §7.3). */
export interface OcraMutualInput extends Omit<OcraInput, 'question'> {
  /** QC: the client's challenge. */
  clientChallenge: string;
  /** QS: the server's challenge. */
  serverChallenge: string;
}

function mutualQuestion(suite: OcraSuite, first: string, second: string): string {
  for (const c of [first, second]) {
    const r = checkOcraChallenge(suite, c);
    if (!r.ok) throw inputError(r.error.message);
  }
  return first + second;
}

/**
 * Server proof in mutual mode, RS = OCRA(K, [C] | QC | QS | [S | T]) (RFC 6287 §7.3 step 2). The server sends it
 * with QS; the client recomputes it before it answers, which tells it the server knows K.
 * A PIN is never part of the server computation (§7.3), so any `pin`/`pinHash` given is ignored.
 */
export function ocraServerProof(suite: OcraSuite, key: Uint8Array, input: OcraMutualInput): string {
  const { clientChallenge, serverChallenge, pin: _pin, pinHash: _pinHash, ...rest } = input;
  if (suite.pin) throw inputError('the server computation of mutual mode has no PIN (RFC 6287 §7.3)');
  return computeOcra(suite, key, { ...rest, question: mutualQuestion(suite, clientChallenge, serverChallenge) });
}

/** Client response in mutual mode, RC = OCRA(K, [C] | QS | QC | [P | S | T]) (RFC 6287 §7.3 step 3). */
export function ocraClientResponse(suite: OcraSuite, key: Uint8Array, input: OcraMutualInput): string {
  const { clientChallenge, serverChallenge, ...rest } = input;
  return computeOcra(suite, key, { ...rest, question: mutualQuestion(suite, serverChallenge, clientChallenge) });
}
