// swagger-ui's requestInterceptor for the API explorer.
import { authHeader } from "./session";

/** SwaggerRequest is the part of swagger-ui's request we touch. */
export interface SwaggerRequest {
  url: string;
  headers: Record<string, string>;
}

/**
 * withToken is swagger-ui's requestInterceptor: a "Try it out" call to one
 * of the services carries the logged-in user's token, read at call time so
 * logging in after the page rendered works. Only a request whose origin is
 * one of serviceOrigins (the services' http_url origins from the service
 * map) gets it: the spec fetch from the console, relative URLs and any other
 * host (a server typed into the explorer) do not. A header the user typed
 * wins.
 */
export function withToken<R extends SwaggerRequest>(req: R, serviceOrigins: readonly string[]): R {
  const auth = authHeader();
  if (!auth) return req;
  let origin: string;
  try {
    origin = new URL(req.url).origin; // throws on a relative URL: the console's own
  } catch {
    return req;
  }
  if (!serviceOrigins.includes(origin)) return req;
  if (!req.headers.Authorization && !req.headers.authorization) req.headers.Authorization = auth;
  return req;
}
