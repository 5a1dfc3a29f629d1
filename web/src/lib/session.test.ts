import { afterEach, describe, expect, it, vi } from "vitest";
import { authHeader, getSession, onSessionChange, setSession } from "./session";
import { withToken } from "./swagger";

afterEach(() => setSession(undefined));

describe("session", () => {
  it("holds the token in memory and notifies on change", () => {
    const fn = vi.fn();
    const off = onSessionChange(fn);
    expect(authHeader()).toBeUndefined();
    setSession({ token: "t0k", userId: "u1", email: "ada@example.com", displayName: "Ada" });
    expect(authHeader()).toBe("Bearer t0k");
    expect(getSession()?.email).toBe("ada@example.com");
    off();
    setSession(undefined);
    expect(fn).toHaveBeenCalledTimes(1);
  });
});

describe("withToken (swagger-ui requestInterceptor)", () => {
  const origin = "http://localhost:8080";
  it("adds the token to calls to a service, read at call time", () => {
    const req = { url: "http://127.0.0.1:8082/v1/orders", headers: {} as Record<string, string> };
    expect(withToken({ ...req, headers: {} as Record<string, string> }, origin).headers.Authorization).toBeUndefined();
    setSession({ token: "abc", userId: "u", email: "e", displayName: "" });
    expect(withToken({ ...req, headers: {} as Record<string, string> }, origin).headers.Authorization).toBe("Bearer abc");
  });
  it("leaves the spec fetch and a header the user typed alone", () => {
    setSession({ token: "abc", userId: "u", email: "e", displayName: "" });
    expect(withToken({ url: `${origin}/api/openapi/user`, headers: {} }, origin).headers).toEqual({});
    expect(withToken({ url: "http://127.0.0.1:8081/v1/me", headers: { Authorization: "Bearer mine" } }, origin).headers.Authorization).toBe("Bearer mine");
  });
});
