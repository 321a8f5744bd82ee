/**
 * The fleet's event log: what the server still holds (its last 1000), then live from the
 * stream. Filter by area; pause to read without the list moving.
 */
import { useEffect, useMemo, useState } from 'preact/hooks';
import type { FleetEventEnvelope } from '@edgefleet/shared/api/events';
import { useApp, useFleetEvents } from '../app-context.js';
import { ErrorNotice, Loading, PageHeader, Time } from '../components/ui.js';
import { ApiFailure } from '../api/client.js';
import { href } from '../router.js';

const AREAS = ['device', 'rollout', 'control', 'broker', 'token', 'enroll-token'] as const;
const KEEP = 1000;

function Subject({ e }: { e: FleetEventEnvelope['event'] }) {
  if ('deviceId' in e) return <a href={href.device(e.deviceId)}>{e.deviceId}</a>;
  if ('rolloutId' in e) return <a href={href.rollout(e.rolloutId)}>{e.rolloutId}</a>;
  if ('deviceClass' in e) return <a href={href.decisions(e.deviceClass)}>{e.deviceClass}</a>;
  if ('tokenId' in e) return <code>{e.tokenId}</code>;
  if ('clientId' in e) return <code>{e.clientId}</code>;
  return <span>–</span>;
}

/** The event's own fields, minus those the other columns show. */
function details(e: FleetEventEnvelope['event']): string {
  const { type: _t, deviceId: _d, rolloutId: _r, ...rest } = e as Record<string, unknown>;
  return Object.entries(rest)
    .map(([k, v]) => `${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' · ');
}

export function EventsPage() {
  const { api } = useApp();
  const [events, setEvents] = useState<FleetEventEnvelope[]>([]);
  const [error, setError] = useState<ApiFailure | null>(null);
  const [loading, setLoading] = useState(true);
  const [paused, setPaused] = useState(false);
  const [area, setArea] = useState('all');
  const [held, setHeld] = useState<FleetEventEnvelope[]>([]);

  useEffect(() => {
    api
      .recentEvents(500)
      .then((recent) => setEvents((live) => merge(recent, live)))
      .catch((err: unknown) =>
        setError(err instanceof ApiFailure ? err : new ApiFailure('EF_CONSOLE_ERROR', 0, String(err))),
      )
      .finally(() => setLoading(false));
  }, [api]);

  useFleetEvents((e) => {
    if (paused) setHeld((h) => [...h, e]);
    else setEvents((list) => merge(list, [e]));
  });

  const shown = useMemo(
    () => [...events].reverse().filter((e) => area === 'all' || e.event.type.split('.')[0] === area),
    [events, area],
  );
  return (
    <section aria-labelledby="page-title">
      <PageHeader title="Events">
        <label class="field field-inline">
          <span>Area</span>
          <select value={area} onChange={(e) => setArea((e.target as HTMLSelectElement).value)}>
            <option value="all">All events</option>
            {AREAS.map((a) => (
              <option key={a} value={a}>
                {a}
              </option>
            ))}
          </select>
        </label>
        <button
          type="button"
          class="button"
          aria-pressed={paused}
          onClick={() => {
            if (paused) {
              setEvents((list) => merge(list, held));
              setHeld([]);
            }
            setPaused(!paused);
          }}
        >
          {paused ? `Resume (${held.length} new)` : 'Pause'}
        </button>
      </PageHeader>
      <ErrorNotice error={error} what="recent events" />
      {loading ? <Loading what="recent events" /> : null}
      <p class="lede" role="status">
        {shown.length} events{area === 'all' ? '' : ` in ${area}`}, newest first{paused ? ' (paused)' : ''}.
      </p>
      <table class="table events-table" data-testid="events-table">
        <caption class="sr-only">Fleet events, newest first</caption>
        <thead>
          <tr>
            <th scope="col">Time</th>
            <th scope="col">Event</th>
            <th scope="col">Subject</th>
            <th scope="col">Details</th>
          </tr>
        </thead>
        <tbody>
          {shown.slice(0, 300).map((e) => (
            <tr key={e.seq}>
              <td>
                <Time at={e.at} />
              </td>
              <td>
                <code>{e.event.type}</code>
              </td>
              <td>
                <Subject e={e.event} />
              </td>
              <td class="details">{details(e.event)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

/** Adds events by sequence number, each once, oldest first, keeping the last KEEP. */
function merge(a: readonly FleetEventEnvelope[], b: readonly FleetEventEnvelope[]): FleetEventEnvelope[] {
  const bySeq = new Map<number, FleetEventEnvelope>();
  for (const e of [...a, ...b]) bySeq.set(e.seq, e);
  return [...bySeq.values()].sort((x, y) => x.seq - y.seq).slice(-KEEP);
}
