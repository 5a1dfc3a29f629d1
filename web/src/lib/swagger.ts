// swagger-ui's requestInterceptor for the API explorer.
import { authHeader } from "./session";

/** SwaggerRequest is the part of swagger-ui's request we touch. */
export interface SwaggerRequest {
  url: string;
  headers: Record<string, string>;
}

/**
 * withToken is swagger-ui's requestInterceptor: a "Try it out" call to a
 * service carries the logged-in user's token, read at call time so logging
 * in after the page rendered works. Fetching the spec from the console (same
 * origin) is left alone, and a header the user typed wins.
 */
export function withToken<R extends SwaggerRequest>(req: R, consoleOrigin: string = location.origin): R {
  const auth = authHeader();
  if (!auth || req.url.startsWith(consoleOrigin) || req.url.startsWith("/")) return req;
  if (!req.headers.Authorization && !req.headers.authorization) req.headers.Authorization = auth;
  return req;
}
