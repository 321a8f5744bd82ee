/** Sign in with an admin API token (admin or read scope); the shell checks it with `GET /v1/whoami`. */
import { useState } from 'preact/hooks';

export interface SignInProps {
  /** Why the user is here again (a revoked token, a failed check), if they were signed in. */
  readonly message: string | null;
  readonly busy: boolean;
  onSubmit(token: string): void;
}

export function SignIn({ message, busy, onSubmit }: SignInProps) {
  const [token, setToken] = useState('');
  return (
    <main id="main" class="signin">
      <form
        class="signin-card"
        aria-labelledby="signin-title"
        onSubmit={(e) => {
          e.preventDefault();
          if (token.trim() !== '') onSubmit(token.trim());
        }}
      >
        <p class="brand brand-large" aria-hidden="true">
          edgefleet <span>console</span>
        </p>
        <h1 id="signin-title">Sign in</h1>
        <p>
          Paste an admin API token. A <strong>read</strong> token shows the whole fleet but changes nothing; an{' '}
          <strong>admin</strong> token can also start and abort rollouts, plan models and revoke devices.
        </p>
        <label class="field" for="token">
          <span>API token</span>
          <input
            id="token"
            name="token"
            type="password"
            autoComplete="off"
            spellcheck={false}
            required
            value={token}
            aria-describedby="token-help"
            onInput={(e) => setToken((e.target as HTMLInputElement).value)}
          />
        </label>
        <p id="token-help" class="help">
          Create one on the server host with <code>npx edgefleet token create --scope read</code> (or{' '}
          <code>--scope admin</code>). <code>npm start</code> prints a console link that signs in with a read token. The
          token stays in this browser tab only.
        </p>
        {message ? (
          <p class="notice notice-error" role="alert">
            {message}
          </p>
        ) : null}
        <button type="submit" class="button button-primary" disabled={busy}>
          {busy ? 'Checking…' : 'Sign in'}
        </button>
      </form>
    </main>
  );
}
