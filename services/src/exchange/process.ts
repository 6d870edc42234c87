import type { MessageKind } from './messages.js';

/**
 * Processes chain exchanges between two partners: the initiator (the one who sends the first step) and the
 * counterparty. A step is `waiting` until the previous one is acknowledged, then `open`; the message for it makes it
 * `sent`, and the receiver's signed acknowledgement makes it `acknowledged` and opens the next. The process is
 * `completed` when its last step is acknowledged, `rejected` as soon as a negative decision is sent.
 */

export type ProcessRole = 'initiator' | 'counterparty';
export type StepState = 'waiting' | 'open' | 'sent' | 'acknowledged';
export type ProcessStatus = 'running' | 'completed' | 'rejected';

export interface StepTemplate {
  name: string;
  kind: MessageKind;
  from: ProcessRole;
}

export interface ProcessStep extends StepTemplate {
  state: StepState;
  messageId?: string;
}

export interface Process {
  id: string;
  template: ProcessTemplateName;
  initiator: string;
  counterparty: string;
  status: ProcessStatus;
  steps: ProcessStep[];
  createdAt: string;
  updatedAt: string;
}

export const PROCESS_TEMPLATES = {
  /** A buyer onboards a supplier: questionnaire, the supplier's answer, its certificate, the buyer's approval. */
  'supplier-onboarding': [
    { name: 'questionnaire', kind: 'request', from: 'initiator' },
    { name: 'answer', kind: 'answer', from: 'counterparty' },
    { name: 'certificate', kind: 'data', from: 'counterparty' },
    { name: 'approval', kind: 'decision', from: 'initiator' },
  ],
} as const satisfies Record<string, readonly StepTemplate[]>;
export type ProcessTemplateName = keyof typeof PROCESS_TEMPLATES;

export function newSteps(template: ProcessTemplateName): ProcessStep[] {
  return PROCESS_TEMPLATES[template].map((s, i) => ({ ...s, state: i === 0 ? 'open' : 'waiting' }));
}

/** The step a new message of the process must be, or undefined when none is open. */
export const openStep = (steps: ProcessStep[]): ProcessStep | undefined => steps.find((s) => s.state === 'open');

/** After the message of `messageId` was acknowledged: mark its step and open the next. */
export function acknowledgeStep(steps: ProcessStep[], messageId: string): { steps: ProcessStep[]; last: boolean } {
  const i = steps.findIndex((s) => s.messageId === messageId);
  if (i < 0) return { steps, last: false };
  const next = steps.map((s) => ({ ...s }));
  next[i]!.state = 'acknowledged';
  if (next[i + 1]) next[i + 1]!.state = 'open';
  return { steps: next, last: i === steps.length - 1 };
}
