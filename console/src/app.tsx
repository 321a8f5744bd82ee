/**
 * The console: sign-in until a token checks out, then the shell with one page per route,
 * one live event stream shared by every page, and focus moved to each new page's heading.
 */
import { useCallback, useEffect, useMemo, useRef, useState } from 'preact/hooks';
import type { FleetEventEnvelope } from '@edgefleet/shared/api/events';
import { ApiFailure, createApiClient } from './api/client.js';
import { type FleetApi, fleetApi, type Whoami } from './api/endpoints.js';
import { openEventStream, type StreamStatus } from './api/event-stream.js';
import { AppContext, type AppContextValue } from './app-context.js';
import { Shell } from './components/shell.js';
import { ClassesPage } from './pages/classes.js';
import { DecisionsPage } from './pages/decisions.js';
import { DevicePage } from './pages/device.js';
import { EventsPage } from './pages/events.js';
import { FleetPage } from './pages/fleet.js';
import { PlansPage } from './pages/plans.js';
import { RolloutPage } from './pages/rollout.js';
import { RolloutsPage } from './pages/rollouts.js';
import { SignIn } from './pages/sign-in.js';
import { type Route, useRoute } from './router.js';
import { storedToken, storeToken, takeTokenFromLink } from './session.js';

const TITLES: Readonly<Record<Route['page'], string>> = {
  fleet: 'Fleet',
  device: 'Device',
  classes: 'Classes',
  plans: 'Models & plans',
  rollouts: 'Rollouts',
  rollout: 'Rollout',
  decisions: 'Decisions',
  events: 'Events',
  'not-found': 'Not found',
};

function Page({ route }: { route: Route }) {
  switch (route.page) {
    case 'fleet':
      return <FleetPage />;
    case 'device':
      return <DevicePage id={route.id} />;
    case 'classes':
      return <ClassesPage />;
    case 'plans':
      return <PlansPage deviceClass={route.deviceClass} />;
    case 'rollouts':
      return <RolloutsPage />;
    case 'rollout':
      return <RolloutPage id={route.id} />;
    case 'decisions':
      return <DecisionsPage deviceClass={route.deviceClass} />;
    case 'events':
      return <EventsPage />;
    case 'not-found':
      return (
        <section aria-labelledby="page-title">
          <h1 id="page-title" tabIndex={-1}>
            Page not found
          </h1>
          <p>
            Nothing lives at <code>{route.path}</code>. <a href="#/fleet">Go to the fleet</a>.
          </p>
        </section>
      );
  }
}

interface Session {
  readonly token: string;
  readonly api: FleetApi;
  readonly whoami: Whoami;
}

export function App() {
  const route = useRoute();
  const [session, setSession] = useState<Session | null>(null);
  const [message, setMessage] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [streamStatus, setStreamStatus] = useState<StreamStatus>('connecting');
  const listeners = useRef(new Set<(e: FleetEventEnvelope) => void>());

  const signOut = useCallback((why: string | null) => {
    storeToken(null);
    setSession(null);
    setMessage(why);
  }, []);

  const signIn = useCallback(
    async (token: string) => {
      setBusy(true);
      const api = fleetApi(createApiClient(token, (failure) => signOut(`Signed out: ${failure.message}`)));
      try {
        const whoami = await api.whoami();
        storeToken(token);
        setMessage(null);
        setSession({ token, api, whoami });
      } catch (err: unknown) {
        storeToken(null);
        setMessage(err instanceof ApiFailure ? err.message : String(err));
      } finally {
        setBusy(false);
      }
    },
    [signOut],
  );

  // A token from the `npm start` link, or the one this tab signed in with before a reload.
  useEffect(() => {
    const token = takeTokenFromLink() ?? storedToken();
    if (token) void signIn(token);
  }, [signIn]);

  useEffect(() => {
    if (!session) return;
    return openEventStream(session.token, {
      onEvent: (e) => {
        for (const listener of listeners.current) listener(e);
      },
      onStatus: (status) => {
        setStreamStatus(status);
        if (status === 'unauthorized') signOut('Signed out: the server no longer accepts this token.');
      },
    });
  }, [session, signOut]);

  // Each page change moves focus to the new page's heading, as a screen reader user expects.
  const firstRender = useRef(true);
  useEffect(() => {
    document.title = `${TITLES[route.page]} · edgefleet console`;
    if (firstRender.current) {
      firstRender.current = false;
      return;
    }
    requestAnimationFrame(() => document.getElementById('page-title')?.focus({ preventScroll: false }));
  }, [route]);

  const subscribe = useCallback((listener: (e: FleetEventEnvelope) => void) => {
    listeners.current.add(listener);
    return () => {
      listeners.current.delete(listener);
    };
  }, []);
  const context = useMemo<AppContextValue | null>(
    () =>
      session && {
        api: session.api,
        whoami: session.whoami,
        canChange: session.whoami.scope === 'admin',
        streamStatus,
        subscribe,
      },
    [session, streamStatus, subscribe],
  );

  if (!session || !context) return <SignIn message={message} busy={busy} onSubmit={(t) => void signIn(t)} />;
  return (
    <AppContext.Provider value={context}>
      <Shell route={route} whoami={session.whoami} streamStatus={streamStatus} onSignOut={() => signOut('Signed out.')}>
        <Page route={route} />
      </Shell>
    </AppContext.Provider>
  );
}
