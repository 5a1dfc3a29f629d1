import { afterEach, describe, expect, it } from "vitest";
import type { ServiceInfo } from "./api";
import { serviceOrigins } from "./services";
import { setSession } from "./session";
import { withToken } from "./swagger";

afterEach(() => setSession(undefined));

// The service map of a dev session on moved ports (--http-port-base 18181).
const map: ServiceInfo[] = [
  { name: "user", state: "SERVING", grpc_addr: "127.0.0.1:51151", http_url: "http://127.0.0.1:18181" },
  { name: "order", state: "SERVING", grpc_addr: "127.0.0.1:51152", http_url: "http://127.0.0.1:18182/" },
];
const origins = serviceOrigins(map);
const req = (url: string, headers: Record<string, string> = {}) => ({ url, headers });

describe("withToken (swagger-ui requestInterceptor)", () => {
  it("adds the token to calls to a service in the map, read at call time", () => {
    expect(origins).toEqual(["http://127.0.0.1:18181", "http://127.0.0.1:18182"]);
    expect(withToken(req("http://127.0.0.1:18182/v1/orders"), origins).headers.Authorization).toBeUndefined();
    setSession({ token: "abc", userId: "u", email: "e", displayName: "" });
    expect(withToken(req("http://127.0.0.1:18182/v1/orders"), origins).headers.Authorization).toBe("Bearer abc");
    expect(withToken(req("http://127.0.0.1:18181/v1/me?x=1"), origins).headers.Authorization).toBe("Bearer abc");
  });

  it("sends it nowhere else: console, relative URLs, other hosts and ports", () => {
    setSession({ token: "abc", userId: "u", email: "e", displayName: "" });
    for (const url of [
      "http://localhost:18080/api/openapi/user", // the console serving the spec
      "/api/openapi/user",
      "http://127.0.0.1:8081/v1/me", // the default port of a dev session not in the map
      "https://127.0.0.1:18181/v1/me", // another scheme is another origin
      "http://localhost:18181/v1/me", // another host name is another origin
      "https://evil.example/v1/me",
      "not a url",
    ]) {
      expect(withToken(req(url), origins).headers, url).toEqual({});
    }
    expect(withToken(req("http://127.0.0.1:18181/v1/me"), []).headers).toEqual({}); // no map yet
  });

  it("leaves a header the user typed alone", () => {
    setSession({ token: "abc", userId: "u", email: "e", displayName: "" });
    expect(withToken(req("http://127.0.0.1:18181/v1/me", { Authorization: "Bearer mine" }), origins).headers.Authorization).toBe("Bearer mine");
    expect(withToken(req("http://127.0.0.1:18181/v1/me", { authorization: "Bearer mine" }), origins).headers).toEqual({ authorization: "Bearer mine" });
  });
});
