/**
 * The signed-in frame: a skip link, the banner with the page navigation, who is signed in
 * (and whether that token is read-only), the live-stream status, and the main landmark.
 */
import type { ComponentChildren } from 'preact';
import type { Whoami } from '../api/endpoints.js';
import type { StreamStatus } from '../api/event-stream.js';
import { href, type Route } from '../router.js';

const NAV: ReadonlyArray<{ readonly label: string; readonly to: string; readonly pages: readonly Route['page'][] }> = [
  { label: 'Fleet', to: href.fleet(), pages: ['fleet', 'device'] },
  { label: 'Classes', to: href.classes(), pages: ['classes'] },
  { label: 'Models & plans', to: href.plans(), pages: ['plans'] },
  { label: 'Rollouts', to: href.rollouts(), pages: ['rollouts', 'rollout'] },
  { label: 'Decisions', to: href.decisions(), pages: ['decisions'] },
  { label: 'Events', to: href.events(), pages: ['events'] },
];

const STREAM_TEXT: Readonly<Record<StreamStatus, string>> = {
  connecting: 'Connecting…',
  live: 'Live',
  reconnecting: 'Reconnecting…',
  unauthorized: 'Signed out',
};

export interface ShellProps {
  readonly route: Route;
  readonly whoami: Whoami;
  readonly streamStatus: StreamStatus;
  readonly children: ComponentChildren;
  onSignOut(): void;
}

export function Shell({ route, whoami, streamStatus, children, onSignOut }: ShellProps) {
  const readOnly = whoami.scope !== 'admin';
  return (
    <div class="app">
      {/* A button, not a link: the URL fragment belongs to the router. */}
      <button type="button" class="skip-link" onClick={() => document.getElementById('main')?.focus()}>
        Skip to content
      </button>
      <header class="topbar">
        <a class="brand" href={href.fleet()}>
          edgefleet <span>console</span>
        </a>
        <nav class="nav" aria-label="Console pages">
          <ul>
            {NAV.map((item) => {
              const current = item.pages.includes(route.page);
              return (
                <li key={item.to}>
                  <a href={item.to} aria-current={current ? 'page' : undefined} class={current ? 'current' : ''}>
                    {item.label}
                  </a>
                </li>
              );
            })}
          </ul>
        </nav>
        <div class="session">
          <span class={`stream stream-${streamStatus}`} role="status" title="Live fleet events (Server-Sent Events)">
            <span class="dot" aria-hidden="true" />
            {STREAM_TEXT[streamStatus]}
          </span>
          <span
            class={`scope ${readOnly ? 'scope-read' : 'scope-admin'}`}
            data-testid="scope"
            title={whoami.auth === 'open' ? 'The server runs with auth off' : `Token ${whoami.tokenId ?? ''}`}
          >
            {readOnly ? 'Read-only' : 'Admin'}
            {whoami.name ? <span class="scope-name"> · {whoami.name}</span> : null}
          </span>
          <button type="button" class="button button-quiet" onClick={onSignOut}>
            Sign out
          </button>
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        {children}
      </main>
    </div>
  );
}
