import { err, ok, type Result } from '../result.js';
import { BitReader, BitWriter } from './bits.js';
import {
  type FieldSpec,
  HEADER_FIELDS,
  isMessageCode,
  isSignSignalCode,
  OTHER_BODY_FIELDS,
  PSEUDO_MESSAGE_CODE_FIELD,
  REQUEST_OBJECT_FIELDS,
  SIGN_SIGNAL_FIELDS,
  WHITEFLAG_MAX_MESSAGE_BYTES,
  WHITEFLAG_PREFIX,
  WHITEFLAG_VERSION,
} from './definitions.js';

/**
 * The Whiteflag codec (standard §4.1 to §4.3): a message in its JSON form (Annex B, the standard's JSON schema) to and
 * from its compressed binary form, the bytes that go on chain, and to and from the uncompressed concatenated string of
 * the Decentralised Protocol Layer. This file checks syntax (every field's characters and length); what the values mean
 * (dates, coordinates, codes, object rules) is checked by `validateWhiteflag`, references by `checkReference`.
 */

export interface WhiteflagHeader {
  Prefix: string;
  Version: string;
  EncryptionIndicator: string;
  /** `0`, or `1` when the message was sent under duress (§4.2.1.5). */
  DuressIndicator: string;
  MessageCode: string;
  ReferenceIndicator: string;
  ReferencedMessage: string;
}

/** One object of a request signal (Annex B: `requestObjects`). */
export interface RequestObject {
  ObjectType: string;
  ObjectTypeQuant: string;
}

/**
 * A message body: string fields by their names in the standard; a `Q` body may carry `requestObjects`, a `T` body
 * carries `PseudoMessageCode` and the tested body as `PseudoMessageBody` (Annex B).
 */
export interface WhiteflagBody {
  [field: string]: string | RequestObject[] | WhiteflagBody | undefined;
  requestObjects?: RequestObject[];
  PseudoMessageBody?: WhiteflagBody;
}

export interface WhiteflagMessage {
  MessageHeader: WhiteflagHeader;
  MessageBody: WhiteflagBody;
}

export interface FieldProblem {
  field: string;
  message: string;
}

const HEX = '0123456789abcdef';
const HEADER_NAMES = new Set(HEADER_FIELDS.map((f) => f.name));
/** The field names a body of each code may have (hot path: built once). */
const BODY_NAMES = new Map<string, ReadonlySet<string>>();
/** Hex fields given in lower case (hashes and key material); the other hex fields are codes, given in upper case. */
const LOWER_HEX_FIELDS = new Set(['ReferencedMessage', 'CryptoData']);

function normaliseField(spec: FieldSpec, value: string): string {
  if (spec.encoding !== 'hex') return value;
  return LOWER_HEX_FIELDS.has(spec.name) ? value.toLowerCase() : value.toUpperCase();
}

const invalid = (problems: FieldProblem[]) =>
  err(
    'ERR_WHITEFLAG_FIELD_INVALID',
    `the message has ${problems.length} invalid field${problems.length === 1 ? '' : 's'}: ${problems
      .slice(0, 8)
      .map((p) => `${p.field}: ${p.message}`)
      .join('; ')}`,
    problems,
  );

const malformed = (message: string) => err('ERR_WHITEFLAG_MALFORMED', message);

// ---------------------------------------------------------------------------------------------------------------
// JSON form: parse and normalise

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The field lists of a body, by message code (a `T` body's pseudo body by its pseudo code). */
function bodyFields(code: string): readonly FieldSpec[] | undefined {
  if (isSignSignalCode(code)) return SIGN_SIGNAL_FIELDS;
  if (code === 'A' || code === 'K' || code === 'R' || code === 'F') return OTHER_BODY_FIELDS[code];
  return undefined;
}

function checkField(spec: FieldSpec, raw: unknown, path: string, problems: FieldProblem[]): string | undefined {
  if (typeof raw !== 'string') {
    problems.push({ field: path, message: raw === undefined ? 'is missing' : 'must be a string' });
    return undefined;
  }
  if (!spec.pattern.test(raw)) {
    problems.push({ field: path, message: describePattern(spec) });
    return undefined;
  }
  return normaliseField(spec, raw);
}

function describePattern(spec: FieldSpec): string {
  switch (spec.encoding) {
    case 'utf8':
      return spec.length ? `must be ${spec.length} character(s) (${spec.pattern.source})` : 'must be 7-bit characters';
    case 'bin':
      return 'must be 0 or 1';
    case 'dec':
      return `must be ${spec.length} decimal digits`;
    case 'hex':
      return spec.length ? `must be ${spec.length} hexadecimal digit(s)` : 'must be hexadecimal digits';
    case 'datetime':
      return 'must be YYYY-MM-DDThh:mm:ssZ';
    case 'duration':
      return 'must be PnnDnnHnnM';
    case 'lat':
      return 'must be ±dd.ddddd';
    case 'long':
      return 'must be ±ddd.ddddd';
  }
}

/**
 * Reference implementations write a test message flat (the pseudo body's fields beside `PseudoMessageCode`) and
 * request objects as `ObjectType1`, `ObjectType1Quant`, …; both are read here and turned into the Annex B form.
 */
function lenientBody(code: string, body: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...body };
  if (code === 'T' && out['PseudoMessageBody'] === undefined && typeof out['PseudoMessageCode'] === 'string') {
    const { PseudoMessageCode, ...rest } = out;
    return { PseudoMessageCode, PseudoMessageBody: lenientBody(String(PseudoMessageCode), rest) };
  }
  if (out['requestObjects'] === undefined && out['ObjectType1'] !== undefined) {
    const objects: RequestObject[] = [];
    for (let i = 1; out[`ObjectType${i}`] !== undefined; i++) {
      objects.push({
        ObjectType: out[`ObjectType${i}`] as string,
        ObjectTypeQuant: out[`ObjectType${i}Quant`] as string,
      });
      delete out[`ObjectType${i}`];
      delete out[`ObjectType${i}Quant`];
    }
    out['requestObjects'] = objects;
  }
  return out;
}

function parseBody(code: string, raw: unknown, path: string, problems: FieldProblem[]): WhiteflagBody | undefined {
  if (!isRecord(raw)) {
    problems.push({ field: path, message: 'must be an object' });
    return undefined;
  }
  const input = lenientBody(code, raw);
  const body: WhiteflagBody = {};
  if (code === 'T') {
    const pseudo = checkField(
      PSEUDO_MESSAGE_CODE_FIELD,
      input['PseudoMessageCode'],
      `${path}.PseudoMessageCode`,
      problems,
    );
    if (pseudo === undefined) return undefined;
    if (pseudo === 'T' || !isMessageCode(pseudo)) {
      problems.push({ field: `${path}.PseudoMessageCode`, message: 'must name a message type other than T' });
      return undefined;
    }
    const inner = parseBody(pseudo, input['PseudoMessageBody'], `${path}.PseudoMessageBody`, problems);
    for (const k of Object.keys(input))
      if (k !== 'PseudoMessageCode' && k !== 'PseudoMessageBody')
        problems.push({ field: `${path}.${k}`, message: 'is not a field of a test message' });
    return inner && { PseudoMessageCode: pseudo, PseudoMessageBody: inner };
  }
  const fields = bodyFields(code);
  if (!fields) {
    problems.push({ field: 'MessageHeader.MessageCode', message: `'${code}' is not a message type of the standard` });
    return undefined;
  }
  for (const spec of fields) {
    const v = checkField(spec, input[spec.name], `${path}.${spec.name}`, problems);
    if (v !== undefined) body[spec.name] = v;
  }
  let known = BODY_NAMES.get(code);
  if (!known) {
    known = new Set([...fields.map((s) => s.name), ...(code === 'Q' ? ['requestObjects'] : [])]);
    BODY_NAMES.set(code, known);
  }
  for (const k of Object.keys(input))
    if (!known.has(k)) problems.push({ field: `${path}.${k}`, message: `is not a field of a ${code} message` });
  if (code === 'Q' && input['requestObjects'] !== undefined) {
    const list = input['requestObjects'];
    if (!Array.isArray(list)) problems.push({ field: `${path}.requestObjects`, message: 'must be an array' });
    else {
      const objects: RequestObject[] = [];
      for (let i = 0; i < list.length; i++) {
        const o: unknown = list[i];
        const at = `${path}.requestObjects.${i}`;
        if (!isRecord(o)) {
          problems.push({ field: at, message: 'must be an object' });
          continue;
        }
        const t = checkField(REQUEST_OBJECT_FIELDS[0]!, o['ObjectType'], `${at}.ObjectType`, problems);
        const q = checkField(REQUEST_OBJECT_FIELDS[1]!, o['ObjectTypeQuant'], `${at}.ObjectTypeQuant`, problems);
        for (const k of Object.keys(o))
          if (k !== 'ObjectType' && k !== 'ObjectTypeQuant')
            problems.push({ field: `${at}.${k}`, message: 'is not a field of a request object' });
        if (t !== undefined && q !== undefined) objects.push({ ObjectType: t, ObjectTypeQuant: q });
      }
      if (objects.length > 0) body.requestObjects = objects;
    }
  }
  return body;
}

/**
 * Read a message in its JSON form (Annex B: `{ MessageHeader, MessageBody }`, every field a string; a `MetaHeader` is
 * ignored) and check every field's syntax, reporting all problems at once. Hex codes come back in upper case, hashes
 * and key material in lower case; a boolean `DuressIndicator` (Annex C's example) becomes `0`/`1`.
 *
 * @returns ERR_WHITEFLAG_FIELD_INVALID with `details` listing `{ field, message }` for each problem.
 */
export function parseWhiteflagMessage(json: unknown): Result<WhiteflagMessage> {
  const problems: FieldProblem[] = [];
  if (!isRecord(json)) return invalid([{ field: '(root)', message: 'must be an object' }]);
  const rawHeader = json['MessageHeader'];
  if (!isRecord(rawHeader)) return invalid([{ field: 'MessageHeader', message: 'must be an object' }]);
  const headerIn = { ...rawHeader };
  if (typeof headerIn['DuressIndicator'] === 'boolean')
    headerIn['DuressIndicator'] = headerIn['DuressIndicator'] ? '1' : '0';
  const header: Record<string, string> = {};
  for (const spec of HEADER_FIELDS) {
    const v = checkField(spec, headerIn[spec.name], `MessageHeader.${spec.name}`, problems);
    if (v !== undefined) header[spec.name] = v;
  }
  for (const k of Object.keys(headerIn))
    if (!HEADER_NAMES.has(k)) problems.push({ field: `MessageHeader.${k}`, message: 'is not a header field' });
  for (const k of Object.keys(json))
    if (k !== 'MessageHeader' && k !== 'MessageBody' && k !== 'MetaHeader')
      problems.push({ field: k, message: 'is not part of a Whiteflag message' });
  const code = header['MessageCode'];
  const body = code === undefined ? undefined : parseBody(code, json['MessageBody'], 'MessageBody', problems);
  if (problems.length > 0 || body === undefined) return invalid(problems);
  return ok({ MessageHeader: header as unknown as WhiteflagHeader, MessageBody: body });
}

// ---------------------------------------------------------------------------------------------------------------
// Compressed binary form

/** The value of a hex or decimal digit character (the field's pattern was checked: only digits reach here). */
function nibble(code: number): number {
  if (code <= 0x39) return code - 0x30;
  return (code | 0x20) - 0x57; // a-f, A-F
}

/** Every digit of `value` at 4 bits, skipping the fixed characters (-, T, :, Z, P, D, H, M, the point). */
function writeDigits(w: BitWriter, value: string, from = 0): void {
  for (let i = from; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c >= 0x30 && c <= 0x39) w.write(c - 0x30, 4);
  }
}

function writeField(w: BitWriter, spec: FieldSpec, value: string): void {
  switch (spec.encoding) {
    case 'utf8':
      for (let i = 0; i < value.length; i++) w.write(value.charCodeAt(i), 8);
      return;
    case 'bin':
      w.write(value === '1' ? 1 : 0, 1);
      return;
    case 'dec':
    case 'hex':
      for (let i = 0; i < value.length; i++) w.write(nibble(value.charCodeAt(i)), 4);
      return;
    case 'datetime':
    case 'duration':
      writeDigits(w, value);
      return;
    case 'lat':
    case 'long':
      // §4.3.1.1: one sign bit (1 for +, north/east) and the digits without the point
      w.write(value.charCodeAt(0) === 0x2b ? 1 : 0, 1);
      writeDigits(w, value, 1);
      return;
  }
}

function writeBody(w: BitWriter, code: string, body: WhiteflagBody): void {
  if (code === 'T') {
    const pseudo = body['PseudoMessageCode'] as string;
    writeField(w, PSEUDO_MESSAGE_CODE_FIELD, pseudo);
    writeBody(w, pseudo, body.PseudoMessageBody!);
    return;
  }
  for (const spec of bodyFields(code)!) writeField(w, spec, body[spec.name] as string);
  for (const o of body.requestObjects ?? []) {
    writeField(w, REQUEST_OBJECT_FIELDS[0]!, o.ObjectType);
    writeField(w, REQUEST_OBJECT_FIELDS[1]!, o.ObjectTypeQuant);
  }
}

/**
 * Compress a message into the bytes that go on chain (§4.1.3): fixed characters dropped, binary characters to 1 bit,
 * decimal and hexadecimal digits to 4 bits, text to 8 bits, the last byte padded with zeros. The input is checked with
 * `parseWhiteflagMessage` first; the message is not encrypted here (see `encryptWhiteflag`).
 *
 * @example encodeWhiteflag({ MessageHeader: { Prefix: 'WF', Version: '1', …, MessageCode: 'F' }, MessageBody: { Text: 'hi' } })
 */
export function encodeWhiteflag(message: unknown): Result<Uint8Array> {
  const parsed = parseWhiteflagMessage(message);
  if (!parsed.ok) return parsed;
  const { MessageHeader: h, MessageBody: b } = parsed.value;
  const w = new BitWriter();
  for (const spec of HEADER_FIELDS) writeField(w, spec, h[spec.name as keyof WhiteflagHeader]);
  writeBody(w, h.MessageCode, b);
  const bytes = w.toBytes();
  if (bytes.length > WHITEFLAG_MAX_MESSAGE_BYTES)
    return err(
      'ERR_WHITEFLAG_TOO_LARGE',
      `the encoded message is ${bytes.length} bytes; at most ${WHITEFLAG_MAX_MESSAGE_BYTES} are accepted`,
    );
  return ok(bytes);
}

/** Bits a fixed-length field takes in the compressed form. */
function bitWidth(spec: FieldSpec): number {
  switch (spec.encoding) {
    case 'utf8':
      return 8 * spec.length!;
    case 'bin':
      return spec.length!;
    case 'dec':
    case 'hex':
      return 4 * spec.length!;
    case 'datetime':
      return 56;
    case 'duration':
      return 24;
    case 'lat':
      return 29;
    case 'long':
      return 33;
  }
}

/** `n` 4-bit digits; refuses a nibble above 9 in a decimal field. (A plain function: no closure per field read.) */
function readDigits(r: BitReader, spec: FieldSpec, n: number, decimal: boolean): Result<string> {
  let s = '';
  for (let i = 0; i < n; i++) {
    const d = r.read(4);
    if (decimal && d > 9) return malformed(`field ${spec.name} holds a nibble that is not a decimal digit`);
    s += HEX[d];
  }
  return ok(s);
}

/** Read one field; the variable-length last field takes every whole character left (the rest is padding). */
function readField(r: BitReader, spec: FieldSpec): Result<string> {
  if (spec.length !== undefined && r.remaining < bitWidth(spec))
    return malformed(`the message ends inside field ${spec.name}`);
  switch (spec.encoding) {
    case 'utf8': {
      const n = spec.length ?? Math.floor(r.remaining / 8);
      let s = '';
      for (let i = 0; i < n; i++) {
        const c = r.read(8);
        if (c > 0x7f)
          return malformed(`field ${spec.name} holds a byte above 0x7f (only 7-bit characters are allowed)`);
        s += String.fromCharCode(c);
      }
      return ok(s);
    }
    case 'bin':
      return ok(String(r.read(1)));
    case 'hex': {
      const d = readDigits(r, spec, spec.length ?? Math.floor(r.remaining / 4), false);
      return d.ok ? ok(normaliseField(spec, d.value)) : d;
    }
    case 'dec':
      return readDigits(r, spec, spec.length!, true);
    case 'datetime': {
      const d = readDigits(r, spec, 14, true);
      if (!d.ok) return d;
      const v = d.value;
      return ok(
        `${v.slice(0, 4)}-${v.slice(4, 6)}-${v.slice(6, 8)}T${v.slice(8, 10)}:${v.slice(10, 12)}:${v.slice(12)}Z`,
      );
    }
    case 'duration': {
      const d = readDigits(r, spec, 6, true);
      if (!d.ok) return d;
      return ok(`P${d.value.slice(0, 2)}D${d.value.slice(2, 4)}H${d.value.slice(4)}M`);
    }
    case 'lat':
    case 'long': {
      const sign = r.read(1) === 1 ? '+' : '-';
      const whole = spec.encoding === 'lat' ? 2 : 3;
      const d = readDigits(r, spec, whole + 5, true);
      if (!d.ok) return d;
      return ok(`${sign}${d.value.slice(0, whole)}.${d.value.slice(whole)}`);
    }
  }
}

function readBody(r: BitReader, code: string, depth = 0): Result<WhiteflagBody> {
  if (code === 'T' && depth === 0) {
    const pseudo = readField(r, PSEUDO_MESSAGE_CODE_FIELD);
    if (!pseudo.ok) return pseudo;
    if (pseudo.value === 'T' || !isMessageCode(pseudo.value))
      return malformed(`the test message tests '${pseudo.value}', which is not a message type it can carry`);
    const inner = readBody(r, pseudo.value, depth + 1);
    if (!inner.ok) return inner;
    return ok({ PseudoMessageCode: pseudo.value, PseudoMessageBody: inner.value });
  }
  const fields = bodyFields(code);
  if (!fields)
    return malformed(`'${code}' is not a message type of the standard (§4.2.1.6: such a message must be ignored)`);
  const body: WhiteflagBody = {};
  for (const spec of fields) {
    const v = readField(r, spec);
    if (!v.ok) return v;
    body[spec.name] = v.value;
  }
  if (code === 'Q') {
    const objects: RequestObject[] = [];
    while (r.remaining >= 16) {
      const t = readField(r, REQUEST_OBJECT_FIELDS[0]!);
      if (!t.ok) return t;
      const q = readField(r, REQUEST_OBJECT_FIELDS[1]!);
      if (!q.ok) return q;
      objects.push({ ObjectType: t.value, ObjectTypeQuant: q.value });
    }
    if (objects.length > 0) body.requestObjects = objects;
  }
  return ok(body);
}

/**
 * The unencrypted start of an encoded message (its first 4 bytes are never encrypted, §4.1.4): enough to tell whether
 * the rest must be decrypted before `decodeWhiteflag`.
 */
export function peekWhiteflag(bytes: Uint8Array): Result<{ version: string; encryptionIndicator: string }> {
  if (bytes.length < 4 || bytes[0] !== 0x57 || bytes[1] !== 0x46)
    return malformed("the data does not start with the Whiteflag prefix 'WF'");
  const version = String.fromCharCode(bytes[2]!);
  if (version !== WHITEFLAG_VERSION)
    return malformed(`Whiteflag version '${version}' is not supported (this implementation speaks version 1)`);
  const encryptionIndicator = String.fromCharCode(bytes[3]!);
  if (!/^[A-Za-z0-9]$/.test(encryptionIndicator))
    return malformed('the encryption indicator is not an alphanumeric character');
  return ok({ version, encryptionIndicator });
}

/**
 * Decompress the bytes of an unencrypted (or already decrypted) message into its JSON form. Refuses what cannot be a
 * version-1 message (prefix, version, an unknown message type, a truncated field, a non-decimal digit, bytes beyond
 * the last field and its padding) with ERR_WHITEFLAG_MALFORMED, and anything larger than the accepted size with
 * ERR_WHITEFLAG_TOO_LARGE. The decoded fields are syntactically valid; `validateWhiteflag` checks their meaning.
 */
export function decodeWhiteflag(data: Uint8Array | string): Result<WhiteflagMessage> {
  let bytes: Uint8Array;
  if (typeof data === 'string') {
    const h = fromHex(data);
    if (!h.ok) return h;
    bytes = h.value;
  } else bytes = data;
  if (bytes.length > WHITEFLAG_MAX_MESSAGE_BYTES)
    return err(
      'ERR_WHITEFLAG_TOO_LARGE',
      `the message is ${bytes.length} bytes; at most ${WHITEFLAG_MAX_MESSAGE_BYTES}`,
    );
  const start = peekWhiteflag(bytes);
  if (!start.ok) return start;
  const r = new BitReader(bytes);
  const header: Record<string, string> = {};
  for (const spec of HEADER_FIELDS) {
    const v = readField(r, spec);
    if (!v.ok) return v;
    header[spec.name] = v.value;
  }
  const body = readBody(r, header['MessageCode']!);
  if (!body.ok) return body;
  if (r.remaining >= 8)
    return malformed(
      `${Math.floor(r.remaining / 8)} byte(s) follow the last field of the ${header['MessageCode']} message`,
    );
  return ok({ MessageHeader: header as unknown as WhiteflagHeader, MessageBody: body.value });
}

// ---------------------------------------------------------------------------------------------------------------
// Uncompressed concatenated string (§4.1.1: the Decentralised Protocol Layer representation)

function serializeBody(code: string, body: WhiteflagBody): string {
  if (code === 'T') {
    const pseudo = body['PseudoMessageCode'] as string;
    return pseudo + serializeBody(pseudo, body.PseudoMessageBody!);
  }
  let s = '';
  for (const spec of bodyFields(code)!) s += body[spec.name] as string;
  for (const o of body.requestObjects ?? []) s += o.ObjectType + o.ObjectTypeQuant;
  return s;
}

/** The uncompressed concatenation of a message's fields (checked with `parseWhiteflagMessage` first). */
export function serializeWhiteflag(message: unknown): Result<string> {
  const parsed = parseWhiteflagMessage(message);
  if (!parsed.ok) return parsed;
  const { MessageHeader: h, MessageBody: b } = parsed.value;
  return ok(HEADER_FIELDS.map((s) => h[s.name as keyof WhiteflagHeader]).join('') + serializeBody(h.MessageCode, b));
}

/** Split an uncompressed concatenated message into its fields (the inverse of `serializeWhiteflag`). */
export function deserializeWhiteflag(text: string): Result<WhiteflagMessage> {
  if (typeof text !== 'string' || text.length > WHITEFLAG_MAX_MESSAGE_BYTES * 2)
    return malformed('a serialized message is a string of at most 2048 characters');
  if (!text.startsWith(WHITEFLAG_PREFIX)) return malformed("the string does not start with the Whiteflag prefix 'WF'");
  let at = 0;
  const take = (spec: FieldSpec): string => {
    const v = spec.length === undefined ? text.slice(at) : text.slice(at, at + spec.length);
    at += v.length;
    return v;
  };
  const header: Record<string, string> = {};
  for (const spec of HEADER_FIELDS) header[spec.name] = take(spec);
  const code = header['MessageCode']!;
  const readFields = (c: string): Result<Record<string, unknown>> => {
    if (c === 'T') {
      const pseudo = take(PSEUDO_MESSAGE_CODE_FIELD);
      if (pseudo === 'T' || !isMessageCode(pseudo)) return malformed(`'${pseudo}' cannot be tested in a T message`);
      const inner = readFields(pseudo);
      return inner.ok ? ok({ PseudoMessageCode: pseudo, PseudoMessageBody: inner.value }) : inner;
    }
    const fields = bodyFields(c);
    if (!fields) return malformed(`'${c}' is not a message type of the standard`);
    const body: Record<string, unknown> = {};
    for (const spec of fields) body[spec.name] = take(spec);
    if (c === 'Q' && at < text.length) {
      const objects: Record<string, string>[] = [];
      while (at < text.length) {
        objects.push({ ObjectType: take(REQUEST_OBJECT_FIELDS[0]!), ObjectTypeQuant: take(REQUEST_OBJECT_FIELDS[1]!) });
      }
      body['requestObjects'] = objects;
    }
    return ok(body);
  };
  const body = readFields(code);
  if (!body.ok) return body;
  if (at !== text.length) return malformed(`${text.length - at} character(s) follow the last field`);
  return parseWhiteflagMessage({ MessageHeader: header, MessageBody: body.value });
}

// ---------------------------------------------------------------------------------------------------------------
// Hex

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

/** Hex (with or without 0x, either case) to bytes; refuses odd lengths and non-hex characters. */
export function fromHex(hex: string): Result<Uint8Array> {
  const h = hex.startsWith('0x') || hex.startsWith('0X') ? hex.slice(2) : hex;
  if (h.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(h))
    return malformed('the data is not an even number of hexadecimal digits');
  if (h.length / 2 > WHITEFLAG_MAX_MESSAGE_BYTES)
    return err(
      'ERR_WHITEFLAG_TOO_LARGE',
      `the message is ${h.length / 2} bytes; at most ${WHITEFLAG_MAX_MESSAGE_BYTES}`,
    );
  return ok(Uint8Array.from(Buffer.from(h, 'hex')));
}

/**
 * A message with the standard header filled in: version 1, no encryption, no duress, an original unless a reference is
 * given (an original's `ReferencedMessage` is all zeros: §4.2.1.8 lets a receiver ignore it).
 */
export function composeWhiteflag(
  code: string,
  body: WhiteflagBody,
  header: Partial<Omit<WhiteflagHeader, 'Prefix' | 'Version' | 'MessageCode'>> = {},
): WhiteflagMessage {
  return {
    MessageHeader: {
      Prefix: WHITEFLAG_PREFIX,
      Version: WHITEFLAG_VERSION,
      EncryptionIndicator: header.EncryptionIndicator ?? '0',
      DuressIndicator: header.DuressIndicator ?? '0',
      MessageCode: code,
      ReferenceIndicator: header.ReferenceIndicator ?? '0',
      ReferencedMessage: header.ReferencedMessage ?? '0'.repeat(64),
    },
    MessageBody: body,
  };
}
