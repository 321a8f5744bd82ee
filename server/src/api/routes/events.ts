import { z } from 'zod';
import { recentEventsQuerySchema, recentEventsSchema, type FleetEventEnvelope } from '@edgefleet/shared';
import type { ApiDeps } from '../deps.js';
import { jsonRoute, rawRoute, type AnyRoute } from '../route.js';

const eventsQuerySchema = z.strictObject({
  /** Comma-separated event types to receive (default: all). */
  types: z.string().max(1000).optional(),
});

/** How often an idle stream sends a comment line so proxies keep it open, ms. */
const KEEPALIVE_MS = 15_000;

/**
 * `GET /v1/events`: fleet events as Server-Sent Events. Each event's `id` is its sequence
 * number; a client that reconnects with `Last-Event-ID` first receives what it missed
 * (as far as the bus's ring reaches).
 */
export function eventRoutes(deps: ApiDeps): AnyRoute[] {
  return [
    jsonRoute({
      method: 'GET',
      url: '/v1/events/recent',
      tag: 'events',
      scope: 'read',
      summary:
        "Recent fleet events still in the server's ring (last 1000), oldest first, as JSON: for polling clients " +
        'and the CLI.',
      query: recentEventsQuerySchema,
      response: recentEventsSchema,
      handler: ({ query }) => {
        const wanted = query.types
          ? new Set(
              query.types
                .split(',')
                .map((t) => t.trim())
                .filter((t) => t !== ''),
            )
          : null;
        return {
          events: deps.events
            .since(query.after)
            .filter((e) => !wanted || wanted.has(e.event.type))
            .slice(-query.limit),
        };
      },
    }),
    rawRoute({
      method: 'GET',
      url: '/v1/events',
      tag: 'events',
      scope: 'read',
      produces: 'text/event-stream',
      summary: 'Live fleet events (SSE). Data lines are FleetEventEnvelope JSON; `?types=a,b` filters by type.',
      query: eventsQuerySchema,
      handle(request, reply) {
        const query = eventsQuerySchema.parse(request.query);
        const wanted = query.types
          ? new Set(
              query.types
                .split(',')
                .map((t) => t.trim())
                .filter((t) => t !== ''),
            )
          : null;
        const lastId = Number(request.headers['last-event-id'] ?? 0);
        reply.hijack();
        const res = reply.raw;
        res.writeHead(200, {
          'content-type': 'text/event-stream; charset=utf-8',
          'cache-control': 'no-store',
          connection: 'keep-alive',
          'x-accel-buffering': 'no',
        });
        const send = (envelope: FleetEventEnvelope) => {
          if (wanted && !wanted.has(envelope.event.type)) return;
          res.write(`id: ${envelope.seq}\nevent: ${envelope.event.type}\ndata: ${JSON.stringify(envelope)}\n\n`);
        };
        res.write(': edgefleet events\n\n');
        if (Number.isInteger(lastId) && lastId > 0) for (const envelope of deps.events.since(lastId)) send(envelope);
        const unsubscribe = deps.events.subscribe(send);
        const keepalive = setInterval(() => res.write(': keepalive\n\n'), KEEPALIVE_MS);
        keepalive.unref();
        const end = () => {
          clearInterval(keepalive);
          unsubscribe();
        };
        request.raw.on('close', end);
        res.on('close', end);
      },
    }),
  ];
}
