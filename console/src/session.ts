/**
 * The signed-in token lives in sessionStorage: it survives a reload but not the tab, and it
 * is never written to a cookie (so no request carries it unless the console adds it) or to
 * the URL. `npm start` prints a link with `#token=…`; the console takes the token from the
 * fragment (which browsers never send to a server) and removes it from the address bar.
 */
const KEY = 'edgefleet.console.token';

export function storedToken(): string | null {
  try {
    return sessionStorage.getItem(KEY);
  } catch {
    return null;
  }
}

export function storeToken(token: string | null): void {
  try {
    if (token === null) sessionStorage.removeItem(KEY);
    else sessionStorage.setItem(KEY, token);
  } catch {
    // Storage disabled (private mode policies): the session lasts until the page is left.
  }
}

/** A token handed over in the link (`/ui/#token=…`), removed from the address bar at once. */
export function takeTokenFromLink(): string | null {
  const match = /^#token=([A-Za-z0-9_.~-]+)/.exec(window.location.hash);
  if (!match?.[1]) return null;
  history.replaceState(null, '', `${window.location.pathname}${window.location.search}#/`);
  return decodeURIComponent(match[1]);
}
