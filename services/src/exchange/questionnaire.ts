import { err, ok, type Result } from '@tessera/protocol';
import { z } from 'zod';

/**
 * Questionnaires are a small subset of JSON Schema (2020-12) that we validate ourselves: an object whose properties
 * are the questions. Each question is a string (optionally with `enum`, `pattern`, `maxLength`, `format: "date"`), a
 * number or integer (`minimum`, `maximum`), or a boolean; `title` is the question text shown to whoever answers.
 * Anything outside the subset is refused when the questionnaire is sent, so an answer can always be checked.
 */

const QUESTION_ID = /^[A-Za-z][A-Za-z0-9_]{0,63}$/;
const MAX_QUESTIONS = 100;

const base = { title: z.string().min(1).max(500), description: z.string().max(2000).optional() };

export const QuestionSchema = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('string'),
    ...base,
    enum: z.array(z.string().max(200)).min(1).max(100).optional(),
    pattern: z
      .string()
      .max(200)
      .refine((p) => {
        try {
          new RegExp(p, 'u');
          return true;
        } catch {
          return false;
        }
      }, 'not a valid regular expression')
      .optional(),
    maxLength: z.number().int().min(1).max(10_000).optional(),
    format: z.literal('date').optional(),
  }),
  z.strictObject({
    type: z.enum(['number', 'integer']),
    ...base,
    minimum: z.number().optional(),
    maximum: z.number().optional(),
  }),
  z.strictObject({ type: z.literal('boolean'), ...base }),
]);
export type Question = z.infer<typeof QuestionSchema>;

export const QuestionnaireSchema = z
  .strictObject({
    $schema: z.literal('https://json-schema.org/draft/2020-12/schema').optional(),
    title: z.string().min(1).max(200),
    type: z.literal('object'),
    properties: z
      .record(z.string().regex(QUESTION_ID, 'question ids are identifiers (letters, digits, _)'), QuestionSchema)
      .refine((p) => Object.keys(p).length >= 1 && Object.keys(p).length <= MAX_QUESTIONS, {
        message: `between 1 and ${MAX_QUESTIONS} questions`,
      }),
    required: z.array(z.string()).default([]),
    additionalProperties: z.literal(false).default(false),
  })
  .refine((q) => q.required.every((r) => r in q.properties), {
    message: 'every required question must be one of the properties',
    path: ['required'],
  });
export type Questionnaire = z.infer<typeof QuestionnaireSchema>;

export interface AnswerProblem {
  path: string;
  message: string;
}

const DATE = /^\d{4}-\d{2}-\d{2}$/;

function checkOne(id: string, q: Question, v: unknown): string | undefined {
  switch (q.type) {
    case 'string': {
      if (typeof v !== 'string') return 'must be a string';
      if (q.enum && !q.enum.includes(v)) return `must be one of ${q.enum.join(', ')}`;
      if (q.maxLength !== undefined && v.length > q.maxLength) return `must be at most ${q.maxLength} characters`;
      if (q.pattern !== undefined && !new RegExp(q.pattern, 'u').test(v)) return `must match ${q.pattern}`;
      if (q.format === 'date' && (!DATE.test(v) || Number.isNaN(Date.parse(v)))) return 'must be a date (YYYY-MM-DD)';
      return undefined;
    }
    case 'number':
    case 'integer': {
      if (typeof v !== 'number' || !Number.isFinite(v)) return 'must be a number';
      if (q.type === 'integer' && !Number.isInteger(v)) return 'must be an integer';
      if (q.minimum !== undefined && v < q.minimum) return `must be at least ${q.minimum}`;
      if (q.maximum !== undefined && v > q.maximum) return `must be at most ${q.maximum}`;
      return undefined;
    }
    case 'boolean':
      return typeof v === 'boolean' ? undefined : 'must be true or false';
  }
  return `question ${id} has an unknown type`;
}

/**
 * Check answers against a questionnaire: every required question answered, no unknown question, each value of its
 * question's type and within its constraints. Every problem is reported at once.
 *
 * @returns the answers, or ERR_EXCHANGE_ANSWER_INVALID with `details` listing `{ path, message }` per problem.
 */
export function validateAnswers(questionnaire: Questionnaire, answers: unknown): Result<Record<string, unknown>> {
  if (answers === null || typeof answers !== 'object' || Array.isArray(answers)) {
    return err('ERR_EXCHANGE_ANSWER_INVALID', 'the answers must be an object keyed by question id', [
      { path: '(root)', message: 'must be an object' },
    ]);
  }
  const a = answers as Record<string, unknown>;
  const problems: AnswerProblem[] = [];
  for (const id of questionnaire.required) {
    if (a[id] === undefined) problems.push({ path: id, message: 'is required' });
  }
  for (const [id, v] of Object.entries(a)) {
    const q = questionnaire.properties[id];
    if (!q) {
      problems.push({ path: id, message: 'is not a question of this questionnaire' });
      continue;
    }
    const problem = checkOne(id, q, v);
    if (problem) problems.push({ path: id, message: problem });
  }
  if (problems.length > 0) {
    return err(
      'ERR_EXCHANGE_ANSWER_INVALID',
      `the answer does not match the questionnaire: ${problems.map((p) => `${p.path} ${p.message}`).join('; ')}`,
      problems,
    );
  }
  return ok(a);
}

/** The questionnaire of the supplier-onboarding process, as a buyer would send it. */
export const SUPPLIER_QUESTIONNAIRE: Questionnaire = {
  title: 'Supplier onboarding',
  type: 'object',
  properties: {
    legalName: { type: 'string', title: 'Registered legal name', maxLength: 200 },
    vatId: { type: 'string', title: 'VAT identification number', pattern: '^[A-Z]{2}[A-Z0-9]{2,13}$' },
    employees: { type: 'integer', title: 'Number of employees', minimum: 0, maximum: 1_000_000 },
    iso14001: { type: 'boolean', title: 'ISO 14001 certified environmental management?' },
    renewableShare: { type: 'number', title: 'Share of renewable electricity (%)', minimum: 0, maximum: 100 },
    country: { type: 'string', title: 'Country of registration', enum: ['AT', 'BE', 'DE', 'FR', 'IT', 'NL'] },
  },
  required: ['legalName', 'vatId', 'employees', 'iso14001', 'country'],
  additionalProperties: false,
};
