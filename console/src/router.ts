/**
 * Hash routes (`/ui/#/devices/sim-01`): the server serves one index.html and needs no
 * fallback route, and every page has a URL to share or reload.
 */
import { useEffect, useState } from 'preact/hooks';

export type Route =
  | { readonly page: 'fleet' }
  | { readonly page: 'device'; readonly id: string }
  | { readonly page: 'classes' }
  | { readonly page: 'plans'; readonly deviceClass: string | null }
  | { readonly page: 'rollouts' }
  | { readonly page: 'rollout'; readonly id: string }
  | { readonly page: 'decisions'; readonly deviceClass: string | null }
  | { readonly page: 'events' }
  | { readonly page: 'not-found'; readonly path: string };

export function parseRoute(hash: string): Route {
  const path = hash.replace(/^#/, '') || '/';
  const [, first = '', second] = path.split('/').map((p) => decodeURIComponent(p));
  switch (first) {
    case '':
    case 'fleet':
      return { page: 'fleet' };
    case 'devices':
      return second ? { page: 'device', id: second } : { page: 'fleet' };
    case 'classes':
      return { page: 'classes' };
    case 'plans':
      return { page: 'plans', deviceClass: second ?? null };
    case 'rollouts':
      return second ? { page: 'rollout', id: second } : { page: 'rollouts' };
    case 'decisions':
      return { page: 'decisions', deviceClass: second ?? null };
    case 'events':
      return { page: 'events' };
    default:
      return { page: 'not-found', path };
  }
}

const seg = encodeURIComponent;

/** Links, built in one place. */
export const href = {
  fleet: () => '#/fleet',
  device: (id: string) => `#/devices/${seg(id)}`,
  classes: () => '#/classes',
  plans: (deviceClass?: string) => (deviceClass ? `#/plans/${seg(deviceClass)}` : '#/plans'),
  rollouts: () => '#/rollouts',
  rollout: (id: string) => `#/rollouts/${seg(id)}`,
  decisions: (deviceClass?: string) => (deviceClass ? `#/decisions/${seg(deviceClass)}` : '#/decisions'),
  events: () => '#/events',
};

export function navigate(to: string): void {
  window.location.hash = to;
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(window.location.hash));
  useEffect(() => {
    const update = () => setRoute(parseRoute(window.location.hash));
    window.addEventListener('hashchange', update);
    return () => window.removeEventListener('hashchange', update);
  }, []);
  return route;
}
