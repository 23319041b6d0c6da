// Small shared pieces: the problem box, async actions with a busy state, confirmation dialogs.
import { useEffect, useRef, useState } from "preact/hooks";

/** A problem+json error: its title in bold, its detail after it. Announced to screen readers. */
export function Problem({ error }) {
  if (!error) return null;
  return (
    <div class="problem" role="alert" data-testid="problem">
      <strong class="problem-title">{error.title || "Error"}</strong>
      {error.detail ? <span class="problem-detail"> {error.detail}</span> : null}
      {error.field ? <span class="problem-field"> (field: {error.field})</span> : null}
    </div>
  );
}

/** Runs `fn` for a form or button, keeping a busy flag and the last problem. */
export function useAction() {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  async function run(fn) {
    setBusy(true);
    setError(null);
    try {
      return await fn();
    } catch (e) {
      setError(e);
      return undefined;
    } finally {
      setBusy(false);
    }
  }
  return { busy, error, setError, run };
}

/** Loads `fn()` now and whenever `deps` change; `reload()` loads again. */
export function useLoad(fn, deps) {
  const [state, setState] = useState({ data: null, error: null, loading: true });
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    setState((s) => ({ ...s, loading: true }));
    fn().then(
      (data) => live && setState({ data, error: null, loading: false }),
      (error) => live && setState({ data: null, error, loading: false }),
    );
    return () => {
      live = false;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [...deps, tick]);
  return { ...state, reload: () => setTick((t) => t + 1) };
}

/** Calls `fn` every `ms` while `active`. */
export function useInterval(fn, ms, active = true) {
  const saved = useRef(fn);
  saved.current = fn;
  useEffect(() => {
    if (!active) return undefined;
    const t = setInterval(() => saved.current(), ms);
    return () => clearInterval(t);
  }, [ms, active]);
}

/** A modal confirmation (<dialog>): the action runs only after an explicit confirm; when
 * `typed` is set, the user types it first (deleting a cluster asks for its name). */
export function Confirm({ open, title, children, typed, confirmLabel, onConfirm, onCancel, busy, error }) {
  const ref = useRef(null);
  const [text, setText] = useState("");
  useEffect(() => {
    const d = ref.current;
    if (!d) return;
    if (open && !d.open) {
      setText("");
      d.showModal();
    } else if (!open && d.open) d.close();
  }, [open]);
  const ok = !typed || text === typed;
  return (
    <dialog ref={ref} onCancel={(e) => { e.preventDefault(); onCancel(); }} aria-labelledby="confirm-title">
      <form method="dialog" onSubmit={(e) => { e.preventDefault(); if (ok) onConfirm(); }}>
        <h2 id="confirm-title">{title}</h2>
        {children}
        {typed ? (
          <label>
            Type <code>{typed}</code> to confirm
            <input value={text} onInput={(e) => setText(e.currentTarget.value)} autoComplete="off" />
          </label>
        ) : null}
        <Problem error={error} />
        <div class="row">
          <button type="submit" class="danger" disabled={!ok || busy}>{busy ? "Working…" : confirmLabel || "Confirm"}</button>
          <button type="button" onClick={onCancel}>Cancel</button>
        </div>
      </form>
    </dialog>
  );
}

/** A secret shown once (API key, Kafka user password, invitation token). */
export function ShownOnce({ label, value, onDone }) {
  if (!value) return null;
  return (
    <div class="once" role="status">
      <p>{label} — shown only now: copy it.</p>
      <pre data-testid="secret">{value}</pre>
      <button type="button" onClick={onDone}>I have copied it</button>
    </div>
  );
}

export function when(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString();
}
