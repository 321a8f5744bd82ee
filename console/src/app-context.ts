/**
 * What every page gets from the signed-in shell: the API, who is signed in (and whether they
 * may change anything), and the live event stream. Plus `useLoad`, the one way pages fetch:
 * on mount, when inputs change, on a timer, and when a matching fleet event arrives.
 */
import { createContext } from 'preact';
import { useCallback, useContext, useEffect, useRef, useState } from 'preact/hooks';
import type { FleetEventEnvelope } from '@edgefleet/shared/api/events';
import { ApiFailure } from './api/client.js';
import type { FleetApi, Whoami } from './api/endpoints.js';
import type { StreamStatus } from './api/event-stream.js';
import { asError } from '@edgefleet/shared/errors';

export interface AppContextValue {
  readonly api: FleetApi;
  readonly whoami: Whoami;
  /** Admin scope: may start and abort rollouts, revoke devices, plan. Read tokens see no such buttons. */
  readonly canChange: boolean;
  readonly streamStatus: StreamStatus;
  /** Listens to fleet events; returns the unsubscribe function. */
  subscribe(listener: (envelope: FleetEventEnvelope) => void): () => void;
}

export const AppContext = createContext<AppContextValue | null>(null);

export function useApp(): AppContextValue {
  const value = useContext(AppContext);
  if (!value) throw new Error('useApp outside the signed-in shell');
  return value;
}

/** Calls `listener` for every fleet event while the component is mounted. */
export function useFleetEvents(listener: (envelope: FleetEventEnvelope) => void): void {
  const { subscribe } = useApp();
  const latest = useRef(listener);
  latest.current = listener;
  useEffect(() => subscribe((e) => latest.current(e)), [subscribe]);
}

export interface Loaded<T> {
  readonly data: T | null;
  readonly error: ApiFailure | null;
  /** True until the first answer (or error) for the current inputs. */
  readonly loading: boolean;
  reload(): void;
}

export interface LoadOptions {
  /** Poll every so many ms (skipped while the tab is hidden). */
  readonly everyMs?: number;
  /** Reload when a fleet event matches. */
  readonly refreshOn?: (envelope: FleetEventEnvelope) => boolean;
}

/** Loads with `load` whenever `inputs` change, then as `options` say. Stale answers are dropped. */
export function useLoad<T>(load: () => Promise<T>, inputs: readonly unknown[], options: LoadOptions = {}): Loaded<T> {
  const [state, setState] = useState<{ data: T | null; error: ApiFailure | null; loading: boolean }>({
    data: null,
    error: null,
    loading: true,
  });
  const generation = useRef(0);
  const loadRef = useRef(load);
  loadRef.current = load;
  const inFlight = useRef(false);
  const again = useRef(false);

  const run = useCallback((fresh: boolean) => {
    if (inFlight.current && !fresh) {
      // Something changed while a load was under way: load once more when it answers.
      again.current = true;
      return;
    }
    again.current = false;
    const mine = fresh ? ++generation.current : generation.current;
    inFlight.current = true;
    loadRef
      .current()
      .then((data) => {
        if (mine === generation.current) setState({ data, error: null, loading: false });
      })
      .catch((err: unknown) => {
        const failure = err instanceof ApiFailure ? err : new ApiFailure('EF_CONSOLE_ERROR', 0, asError(err).message);
        if (mine === generation.current) setState((s) => ({ data: s.data, error: failure, loading: false }));
      })
      .finally(() => {
        if (mine !== generation.current) return;
        inFlight.current = false;
        if (again.current) run(false);
      });
  }, []);
  useEffect(() => {
    setState({ data: null, error: null, loading: true });
    run(true);
  }, inputs);

  useEffect(() => {
    if (!options.everyMs) return;
    const timer = setInterval(() => {
      if (!document.hidden) run(false);
    }, options.everyMs);
    return () => clearInterval(timer);
  }, [options.everyMs, run]);

  const refreshOn = useRef(options.refreshOn);
  refreshOn.current = options.refreshOn;
  const pending = useRef<ReturnType<typeof setTimeout> | null>(null);
  useFleetEvents((e) => {
    if (!refreshOn.current?.(e) || pending.current) return;
    // Bursts (a wave of 20 devices coming online) cost one reload, not twenty.
    pending.current = setTimeout(() => {
      pending.current = null;
      run(false);
    }, 250);
  });
  useEffect(
    () => () => {
      if (pending.current) clearTimeout(pending.current);
    },
    [],
  );

  return { ...state, reload: () => run(false) };
}
