import { err, ok, type Result } from '../result.js';
import { type FieldProblem, parseWhiteflagMessage, type WhiteflagBody, type WhiteflagMessage } from './codec.js';
import {
  CRYPTO_DATA_LENGTHS,
  CRYPTO_DATA_TYPES,
  isMessageCode,
  isReferenceIndicator,
  isSignSignalCode,
  LOCATION_OPTIONAL,
  MAX_REQUEST_OBJECTS,
  NO_LATITUDE,
  NO_LONGITUDE,
  OBJECT_TYPES,
  objectCategory,
  PRIVATE_USE_SUBJECTS,
  RESOURCE_METHODS,
  type SignSignalCode,
  SUBJECT_CODES,
  SUBJECT_OBJECT_RULES,
  VERIFICATION_METHODS,
  WHITEFLAG_VERSION,
} from './definitions.js';

/**
 * What the fields of a syntactically correct message mean, checked against the standard: codes that exist, calendar
 * dates, durations, coordinates, the object rules of signs and signals (§4.3.1.5 to §4.3.1.9), and the rules of the
 * management messages (§4.3.4 to §4.3.6). The standard says a message that breaks them "must be ignored"; we refuse to
 * send one and mark a received one invalid.
 */

const num = (s: string) => Number.parseInt(s, 10);
const hexNum = (s: string) => Number.parseInt(s, 16);
const isPrivateHex = (code: string, from: number) => hexNum(code) >= from;
const DAYS = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
const leap = (y: number) => (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;

/** §4.3.1.3: a real UTC date and time (seconds up to 60 for a leap second). */
function dateTimeProblem(v: string): string | undefined {
  const y = num(v.slice(0, 4));
  const mo = num(v.slice(5, 7));
  const d = num(v.slice(8, 10));
  const h = num(v.slice(11, 13));
  const mi = num(v.slice(14, 16));
  const s = num(v.slice(17, 19));
  if (mo < 1 || mo > 12) return 'month must be 01 to 12';
  const max = mo === 2 && !leap(y) ? 28 : DAYS[mo - 1]!;
  if (d < 1 || d > max) return `day must be 01 to ${max} in that month`;
  if (h > 23) return 'hour must be 00 to 23';
  if (mi > 59) return 'minutes must be 00 to 59';
  if (s > 60) return 'seconds must be 00 to 60';
  return undefined;
}

/** §4.3.1.4: days 00-99, hours 00-23, minutes 00-59 (`P00D00H00M` is indefinite). */
function durationProblem(v: string): string | undefined {
  if (num(v.slice(4, 6)) > 23) return 'hours must be 00 to 23';
  if (num(v.slice(7, 9)) > 59) return 'minutes must be 00 to 59';
  return undefined;
}

function isUrl(v: string): boolean {
  try {
    const u = new URL(v);
    return u.protocol === 'https:' || u.protocol === 'http:';
  } catch {
    return false;
  }
}

function subjectKnown(code: SignSignalCode, subject: string): boolean {
  if (Object.hasOwn(SUBJECT_CODES[code], subject)) return true;
  return PRIVATE_USE_SUBJECTS.includes(code) && isPrivateHex(subject, 0xf0);
}

function objectTypeKnown(objectType: string): boolean {
  return Object.hasOwn(OBJECT_TYPES, objectType) || isPrivateHex(objectType, 0xf0);
}

function checkSignSignal(code: SignSignalCode, b: WhiteflagBody, at: string, problems: FieldProblem[]): void {
  const p = (field: string, message: string) => problems.push({ field: `${at}.${field}`, message });
  const subject = b['SubjectCode'] as string;
  const objectType = b['ObjectType'] as string;
  if (!subjectKnown(code, subject)) p('SubjectCode', `${code}${subject} is not a subject code of the standard`);
  const dt = dateTimeProblem(b['DateTime'] as string);
  if (dt) p('DateTime', dt);
  const du = durationProblem(b['Duration'] as string);
  if (du) p('Duration', du);
  if (!objectTypeKnown(objectType)) p('ObjectType', `${objectType} is a reserved object type`);

  // §4.3.1.5: which objects a subject may refer to (type 00, "not provided", is always allowed)
  const category = objectCategory(objectType);
  const rule = SUBJECT_OBJECT_RULES.find(
    (r) => r.code === code && hexNum(subject) >= r.from && hexNum(subject) <= r.to,
  );
  if (category && rule && !rule.allowed.includes(category))
    p('ObjectType', `${code}${subject} may not refer to ${category} (object type ${objectType})`);

  // §4.3.1.6: location
  const lat = b['ObjectLatitude'] as string;
  const long = b['ObjectLongitude'] as string;
  const omitted = lat === NO_LATITUDE && long === NO_LONGITUDE;
  if (omitted) {
    if (!LOCATION_OPTIONAL.includes(code)) p('ObjectLatitude', `a ${code} message must give the object's location`);
  } else {
    if (Math.abs(Number(lat)) > 90) p('ObjectLatitude', 'must be -90.00000 to +90.00000 (or +99.99999 when omitted)');
    if (Math.abs(Number(long)) > 180)
      p('ObjectLongitude', 'must be -180.00000 to +180.00000 (or +999.99999 when omitted)');
  }

  // §4.3.1.7 and §4.3.1.8: size and orientation
  const dim1 = num(b['ObjectSizeDim1'] as string);
  const dim2 = num(b['ObjectSizeDim2'] as string);
  const orientation = num(b['ObjectOrientation'] as string);
  const t = hexNum(objectType);
  const shaped = (t >= 0x21 && t <= 0x2f) || (t >= 0x31 && t <= 0x3f);
  const circle = t === 0x21 || t === 0x31;
  const persons = category === 'persons';
  const privateUse = t >= 0xf0;
  if (shaped) {
    if (dim1 === 0) p('ObjectSizeDim1', `object type ${objectType} is a shape: its size must be given`);
    if (circle && dim2 !== 0) p('ObjectSizeDim2', 'a circle has a radius only: must be 0000');
    if (!circle && dim2 === 0) p('ObjectSizeDim2', `object type ${objectType} needs both dimensions`);
  } else if (!persons && !privateUse && (dim1 !== 0 || dim2 !== 0)) {
    p('ObjectSizeDim1', `object type ${objectType} has no size: both dimensions must be 0000`);
  }
  const sized = dim1 !== 0 || dim2 !== 0;
  if (sized && orientation > 359 && !(circle && orientation === 999))
    p('ObjectOrientation', 'an object with a size needs an orientation from 000 to 359');
  if (!sized && orientation !== 999) p('ObjectOrientation', 'an object without a size has no orientation: must be 999');

  // §4.3.1.9: request objects, only in Q
  const objects = b.requestObjects ?? [];
  if (code !== 'Q' && objects.length > 0) p('requestObjects', 'only request signals (Q) carry request objects');
  if (code === 'Q') {
    if (category !== 'areas') p('ObjectType', 'the object of a request signal must be an area (20 to 2F)');
    if (objects.length > MAX_REQUEST_OBJECTS) p('requestObjects', `at most ${MAX_REQUEST_OBJECTS} request objects`);
    objects.forEach((o, i) => {
      const ot = hexNum(o.ObjectType);
      if (!objectTypeKnown(o.ObjectType)) p(`requestObjects.${i}.ObjectType`, `${o.ObjectType} is reserved`);
      else if (ot >= 0x12 && ot <= 0x1f)
        p(`requestObjects.${i}.ObjectType`, 'persons must be counted exactly: use 10 or 11, not 12 to 1F');
      else if (ot >= 0x20 && ot <= 0x3f)
        p(`requestObjects.${i}.ObjectType`, 'areas and structures cannot be requested (20 to 3F)');
    });
  }
}

function checkBody(
  code: string,
  header: WhiteflagMessage['MessageHeader'],
  b: WhiteflagBody,
  at: string,
  problems: FieldProblem[],
): void {
  const p = (field: string, message: string) => problems.push({ field: `${at}.${field}`, message });
  if (isSignSignalCode(code)) {
    checkSignSignal(code, b, at, problems);
    return;
  }
  switch (code) {
    case 'A': {
      const method = b['VerificationMethod'] as string;
      const data = b['VerificationData'] as string;
      if (!Object.hasOwn(VERIFICATION_METHODS, method) && !isPrivateHex(method, 0xa))
        p('VerificationMethod', `${method} is reserved (1 internet resource, 2 shared token, A-F private use)`);
      if (method === '1' && !isUrl(data)) p('VerificationData', 'method 1 needs the URL of the signed statement');
      if (method === '2' && !/^[0-9a-fA-F]{64}$/.test(data))
        p('VerificationData', 'method 2 needs the 32-byte verification token in hex (§5.2.3)');
      return;
    }
    case 'K': {
      const type = b['CryptoDataType'] as string;
      const data = b['CryptoData'] as string;
      if (!Object.hasOwn(CRYPTO_DATA_TYPES, type) && !isPrivateHex(type, 0xa0))
        p('CryptoDataType', `${type} is reserved`);
      if (data.length % 2 !== 0) p('CryptoData', 'must be whole bytes (an even number of hex digits)');
      const expected = CRYPTO_DATA_LENGTHS[type];
      if (expected !== undefined && data.length !== expected * 2)
        p('CryptoData', `type ${type} carries exactly ${expected} bytes`);
      if ((type === '0A' || type === '0B') && !/^0[23]/.test(data))
        p('CryptoData', 'an ECDH public key is a compressed point (02 or 03 and 32 bytes)');
      if (type === '11' || type === '21') {
        // §5.2.4.1: the initialisation vector follows and references the encrypted message, in the clear, no duress
        if (header.ReferenceIndicator !== '3') p('CryptoDataType', 'an initialisation vector is sent as K(3)');
        if (header.EncryptionIndicator !== '0') p('CryptoDataType', 'an initialisation vector is never encrypted');
        if (header.DuressIndicator !== '0') p('CryptoDataType', 'an initialisation vector has duress indicator 0');
      }
      return;
    }
    case 'R': {
      const method = b['ResourceMethod'] as string;
      if (!Object.hasOwn(RESOURCE_METHODS, method) && !isPrivateHex(method, 0xa))
        p('ResourceMethod', `${method} is reserved (1 internet resource, A-F private use)`);
      if (method === '1' && !isUrl(b['ResourceData'] as string)) p('ResourceData', 'method 1 needs a URL');
      return;
    }
    case 'F':
      return;
    case 'T': {
      const pseudo = b['PseudoMessageCode'] as string;
      checkBody(pseudo, header, b.PseudoMessageBody ?? {}, `${at}.PseudoMessageBody`, problems);
      return;
    }
  }
}

/**
 * Check a message against the standard beyond its syntax, reporting every problem at once.
 *
 * @returns the normalised message, or ERR_WHITEFLAG_FIELD_INVALID with `details` listing `{ field, message }`.
 */
export function validateWhiteflag(message: unknown): Result<WhiteflagMessage> {
  const parsed = parseWhiteflagMessage(message);
  if (!parsed.ok) return parsed;
  const m = parsed.value;
  const h = m.MessageHeader;
  const problems: FieldProblem[] = [];
  const p = (field: string, msg: string) => problems.push({ field: `MessageHeader.${field}`, message: msg });
  if (h.Version !== WHITEFLAG_VERSION) p('Version', `must be ${WHITEFLAG_VERSION}`);
  if (/^[3-9]$/.test(h.EncryptionIndicator)) p('EncryptionIndicator', '3 to 9 are reserved');
  if (!isMessageCode(h.MessageCode)) p('MessageCode', `'${h.MessageCode}' is not a message type of the standard`);
  if (!isReferenceIndicator(h.ReferenceIndicator)) p('ReferenceIndicator', 'must be 0 to 9 (A to F are not defined)');
  if (problems.length === 0) checkBody(h.MessageCode, h, m.MessageBody, 'MessageBody', problems);
  if (problems.length > 0)
    return err(
      'ERR_WHITEFLAG_FIELD_INVALID',
      `the message breaks the standard: ${problems
        .slice(0, 8)
        .map((x) => `${x.field}: ${x.message}`)
        .join('; ')}`,
      problems,
    );
  return ok(m);
}
