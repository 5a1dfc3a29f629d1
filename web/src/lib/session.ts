// The logged-in user lives only in this module: never in localStorage,
// sessionStorage or cookies, so a reload logs out and nothing outlives the tab.

/** Session is the logged-in user and the bearer token of its calls. */
export interface Session {
  token: string;
  userId: string;
  email: string;
  displayName: string;
  expiresAt?: Date;
}

let current: Session | undefined;
const listeners = new Set<() => void>();

/** getSession returns the logged-in user, if any. */
export function getSession(): Session | undefined {
  return current;
}

/** setSession replaces (or, with undefined, clears) the session. */
export function setSession(s: Session | undefined): void {
  current = s;
  for (const l of listeners) l();
}

/** onSessionChange calls fn after every change; it returns the unsubscribe. */
export function onSessionChange(fn: () => void): () => void {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

/** authHeader is the Authorization value for the session, or undefined. */
export function authHeader(): string | undefined {
  return current ? `Bearer ${current.token}` : undefined;
}
