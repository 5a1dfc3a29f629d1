import { afterEach, describe, expect, it, vi } from "vitest";
import { authHeader, getSession, onSessionChange, setSession } from "./session";

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
