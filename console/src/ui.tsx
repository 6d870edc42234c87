import type { ComponentChildren } from 'preact';
import { useState } from 'preact/hooks';
import type { ApiError, ApiResult } from './api';
import { current, endsSession, sessionEnded } from './session';

/** A refusal as the API gave it: its stable code first, then its message. */
export function Refusal({ error }: { error?: { code: string; message: string } | undefined }) {
  if (!error) return null;
  return (
    <p class="error" role="alert" data-code={error.code}>
      <strong>{error.code}</strong>: {error.message}
    </p>
  );
}

export function Notice({ text }: { text?: string | undefined }) {
  return text ? (
    <p class="notice" role="status">
      {text}
    </p>
  ) : null;
}

/** The session's token; a request refused because the session ended ends it here (the page stays where it is). */
export function token(): string {
  return current().session?.token ?? '';
}
export function settle<T>(r: ApiResult<T>): ApiResult<T> {
  if (!r.ok && endsSession(r.error.code)) sessionEnded(r.error.code, r.error.message);
  return r;
}

/** A button whose action needs a second, explicit confirmation. */
export function ConfirmButton(props: {
  label: string;
  question: string;
  onConfirm: () => Promise<void> | void;
  danger?: boolean;
  name?: string;
}) {
  const [asking, setAsking] = useState(false);
  if (!asking)
    return (
      <button
        type="button"
        class={props.danger ? 'danger' : ''}
        data-action={props.name}
        onClick={() => setAsking(true)}
      >
        {props.label}
      </button>
    );
  return (
    <fieldset class="confirm">
      <legend>{props.question}</legend>
      <button
        type="button"
        class="danger"
        data-confirm={props.name}
        onClick={async () => {
          setAsking(false);
          await props.onConfirm();
        }}
      >
        Yes, {props.label.toLowerCase()}
      </button>{' '}
      <button type="button" onClick={() => setAsking(false)}>
        Cancel
      </button>
    </fieldset>
  );
}

export function Section(props: { title: string; children: ComponentChildren; id?: string }) {
  return (
    <section aria-labelledby={`${props.id ?? props.title}-h`} id={props.id}>
      <h2 id={`${props.id ?? props.title}-h`}>{props.title}</h2>
      {props.children}
    </section>
  );
}

export const short = (s: string, n = 18) => (s.length > n + 6 ? `${s.slice(0, n)}…${s.slice(-6)}` : s);
export type { ApiError };
