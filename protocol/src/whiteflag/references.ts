import { err, ok, type Result } from '../result.js';
import type { WhiteflagHeader } from './codec.js';
import { REFERENCE_INDICATORS, type ReferenceIndicator } from './definitions.js';

/**
 * Referencing (Whiteflag §5.4): which message type may reference which with which reference code (§5.4.1.1), which
 * reference code may follow which, and whether the referencing message must come from the same originator, another
 * one, or either (§5.4.1.2). A message sequence (a chain) is built by following `ReferencedMessage` back to an original.
 */

/** §5.4.1.1: referencing message type → referenced message type → the reference codes allowed (absent: prohibited). */
const TYPE_RULES: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  P: { P: '12346789', I: '35', M: '35' },
  E: { E: '123467', D: '35', S: '5', M: '5' },
  D: { P: '5', D: '1234679', I: '5', M: '5' },
  S: { P: '35', S: '12467', I: '35' },
  I: { I: '123467' },
  Q: { E: '5', D: '5', Q: '1234789' },
  M: { E: '5', D: '5', Q: '3', M: '12347' },
  F: { P: '3', E: '3', D: '3', S: '3', I: '3', Q: '3', M: '3', F: '1234', R: '3' },
  R: { P: '3', E: '3', D: '3', S: '3', I: '3', Q: '3', M: '3', F: '3', R: '1234' },
  A: { A: '123467' },
  K: { P: '3', E: '3', D: '3', S: '3', I: '3', Q: '3', M: '3', F: '3', R: '3', A: '3', K: '1234' },
};

type Who = 'same' | 'other' | 'both';
/** §5.4.1.2: referencing reference code → referenced reference code → whose message it may be (absent: prohibited). */
const CODE_RULES: Readonly<Record<ReferenceIndicator, Readonly<Partial<Record<ReferenceIndicator, Who>>>>> = {
  '0': {},
  '1': {
    '0': 'same',
    '1': 'same',
    '2': 'same',
    '3': 'same',
    '4': 'same',
    '5': 'same',
    '6': 'same',
    '7': 'same',
    '8': 'same',
    '9': 'same',
  },
  '2': { '0': 'same', '3': 'same', '5': 'same' },
  '3': { '0': 'same', '2': 'same', '5': 'same' },
  '4': { '0': 'same', '5': 'same', '6': 'same', '8': 'same', '9': 'same' },
  '5': { '0': 'both', '5': 'both' },
  '6': { '0': 'other', '2': 'other', '3': 'other', '4': 'other', '5': 'other' },
  '7': { '0': 'other', '2': 'other', '5': 'other', '8': 'other', '9': 'other' },
  '8': { '0': 'other', '2': 'other', '5': 'other' },
  '9': { '0': 'other', '2': 'other', '5': 'other' },
};

export interface ReferencedMessageInfo {
  header: Pick<WhiteflagHeader, 'MessageCode' | 'ReferenceIndicator'>;
  /** Whether the referenced message comes from the same originator as the referencing one. */
  sameOriginator: boolean;
}

/**
 * Is `message` allowed to reference `referenced` this way (§5.4.1)? Originals (`0`) reference nothing, so they always
 * pass; test messages (`T`) may reference anything (§5.5).
 *
 * @returns ERR_WHITEFLAG_REFERENCE_INVALID saying which rule is broken.
 */
export function checkReference(
  message: Pick<WhiteflagHeader, 'MessageCode' | 'ReferenceIndicator'>,
  referenced: ReferencedMessageInfo,
): Result<true> {
  const code = message.ReferenceIndicator as ReferenceIndicator;
  if (code === '0' || message.MessageCode === 'T') return ok(true);
  const name = (c: string) => `${REFERENCE_INDICATORS[c as ReferenceIndicator] ?? c} (${c})`;
  const by = referenced.header.MessageCode;
  const allowedCodes = TYPE_RULES[message.MessageCode]?.[by] ?? '';
  if (!allowedCodes.includes(code))
    return err(
      'ERR_WHITEFLAG_REFERENCE_INVALID',
      `a ${message.MessageCode} message may not reference a ${by} message with ${name(code)} (§5.4.1.1)`,
    );
  const who = CODE_RULES[code]?.[referenced.header.ReferenceIndicator as ReferenceIndicator];
  if (who === undefined)
    return err(
      'ERR_WHITEFLAG_REFERENCE_INVALID',
      `${name(code)} may not reference a message with ${name(referenced.header.ReferenceIndicator)} (§5.4.1.2)`,
    );
  if (who === 'same' && !referenced.sameOriginator)
    return err(
      'ERR_WHITEFLAG_REFERENCE_INVALID',
      `${name(code)} may only reference a message of the same originator (§5.4.1.2)`,
    );
  if (who === 'other' && referenced.sameOriginator)
    return err(
      'ERR_WHITEFLAG_REFERENCE_INVALID',
      `${name(code)} may only reference a message of another originator (§5.4.1.2)`,
    );
  return ok(true);
}

/** The notation of §2.7 for one message: `D21(0)`, `K11(3)`, `[Q20(0)]` when encrypted. */
export function notation(m: { MessageHeader: WhiteflagHeader; MessageBody: Record<string, unknown> }): string {
  const h = m.MessageHeader;
  const b = m.MessageBody;
  const sub =
    typeof b['SubjectCode'] === 'string'
      ? b['SubjectCode']
      : typeof b['CryptoDataType'] === 'string'
        ? b['CryptoDataType']
        : typeof b['VerificationMethod'] === 'string'
          ? b['VerificationMethod']
          : '';
  const text = `${h.MessageCode}${sub}(${h.ReferenceIndicator})`;
  return h.EncryptionIndicator === '0' ? text : `[${text}]`;
}
