/** Small building blocks every page uses: badges, notices, loading states, a confirm dialog. */
import type { ComponentChildren } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import type { ApiFailure } from '../api/client.js';
import { formatAgo, formatTime, isoTime } from '../format.js';

/** Colour families for states; text always says the state too, colour is never the only cue. */
const TONES: Readonly<Record<string, string>> = {
  online: 'good',
  succeeded: 'good',
  completed: 'good',
  healthy: 'good',
  recovered: 'good',
  active: 'good',
  feasible: 'good',
  offline: 'bad',
  failed: 'bad',
  'timed-out': 'bad',
  aborted: 'bad',
  revoked: 'bad',
  alert: 'bad',
  breached: 'bad',
  'in-progress': 'busy',
  notified: 'busy',
  deploy: 'busy',
  replan: 'busy',
  waiting: 'busy',
  'rolling-back': 'warn',
  'rolled-back': 'warn',
  watching: 'warn',
  hold: 'warn',
  throttled: 'warn',
};

export function StateBadge({ state, label }: { state: string; label?: string }) {
  return (
    <span class={`badge tone-${TONES[state] ?? 'neutral'}`} data-state={state}>
      {label ?? state}
    </span>
  );
}

export function ErrorNotice({ error, what }: { error: ApiFailure | null; what: string }) {
  if (!error) return null;
  return (
    <div class="notice notice-error" role="alert">
      <strong>Could not load {what}.</strong> {error.message}
      {error.code.startsWith('EF_ERR_') ? <code class="notice-code">{error.code}</code> : null}
    </div>
  );
}

export function Loading({ what }: { what: string }) {
  return (
    <p class="loading" aria-live="polite">
      Loading {what}…
    </p>
  );
}

export function Empty({ children }: { children: ComponentChildren }) {
  return <p class="empty">{children}</p>;
}

/** A time with its exact value in the tooltip and in `datetime`. */
export function Time({ at, relative = false }: { at: number | null; relative?: boolean }) {
  if (at === null) return <span>–</span>;
  return (
    <time dateTime={isoTime(at)} title={new Date(at).toLocaleString()}>
      {relative ? formatAgo(at) : formatTime(at)}
    </time>
  );
}

export function PageHeader({ title, children }: { title: ComponentChildren; children?: ComponentChildren }) {
  return (
    <div class="page-header">
      <h1 id="page-title" tabIndex={-1}>
        {title}
      </h1>
      {children ? <div class="page-header-extra">{children}</div> : null}
    </div>
  );
}

export interface ConfirmProps {
  readonly open: boolean;
  readonly title: string;
  readonly confirmLabel: string;
  readonly children: ComponentChildren;
  /** Optional free-text reason (e.g. why a rollout is aborted). */
  readonly reason?: { readonly label: string; readonly initial: string };
  onConfirm(reason: string): void;
  onCancel(): void;
}

/**
 * A modal `<dialog>`: the browser traps focus inside, Escape cancels, and focus returns to the
 * button that opened it when it closes.
 */
export function ConfirmDialog(props: ConfirmProps) {
  const ref = useRef<HTMLDialogElement>(null);
  const [reason, setReason] = useState(props.reason?.initial ?? '');
  useEffect(() => {
    const dialog = ref.current;
    if (!dialog) return;
    if (props.open && !dialog.open) {
      setReason(props.reason?.initial ?? '');
      dialog.showModal();
    }
    if (!props.open && dialog.open) dialog.close();
  }, [props.open, props.reason?.initial]);
  return (
    <dialog ref={ref} class="dialog" aria-labelledby="dialog-title" onCancel={() => props.onCancel()}>
      <form
        method="dialog"
        onSubmit={(e) => {
          e.preventDefault();
          props.onConfirm(reason);
        }}
      >
        <h2 id="dialog-title">{props.title}</h2>
        <div class="dialog-body">{props.children}</div>
        {props.reason ? (
          <label class="field">
            <span>{props.reason.label}</span>
            <input
              type="text"
              value={reason}
              maxLength={500}
              required
              onInput={(e) => setReason((e.target as HTMLInputElement).value)}
            />
          </label>
        ) : null}
        <div class="dialog-actions">
          <button type="button" class="button" onClick={() => props.onCancel()}>
            Cancel
          </button>
          <button type="submit" class="button button-danger">
            {props.confirmLabel}
          </button>
        </div>
      </form>
    </dialog>
  );
}

/** A definition list of label → value pairs, the console's way of showing one record. */
export function Facts({ items }: { items: ReadonlyArray<readonly [string, ComponentChildren]> }) {
  return (
    <dl class="facts">
      {items.map(([label, value]) => (
        <div class="fact" key={label}>
          <dt>{label}</dt>
          <dd>{value}</dd>
        </div>
      ))}
    </dl>
  );
}
