import { BinaryWriter } from "@bufbuild/protobuf/wire";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-web";
import { describe, expect, it } from "vitest";
import { UserService } from "../gen/slipway/user/v1/user_pb";
import { BAD_REQUEST_TYPE, codeName, decodeBadRequest, describeError } from "./errors";

// badRequest encodes a google.rpc.BadRequest as the services send it.
function badRequest(violations: { field: string; description: string; reason?: string }[]): Uint8Array {
  const w = new BinaryWriter();
  for (const v of violations) {
    w.tag(1, 2).fork();
    w.tag(1, 2).string(v.field);
    w.tag(2, 2).string(v.description);
    if (v.reason) w.tag(3, 2).string(v.reason);
    w.tag(4, 2).fork().tag(1, 2).string("en").tag(2, 2).string("localized").join(); // skipped
    w.join();
  }
  return w.finish();
}

// status encodes a google.rpc.Status with Any details.
function status(code: number, message: string, details: { typeUrl: string; value: Uint8Array }[]): Uint8Array {
  const w = new BinaryWriter();
  w.tag(1, 0).int32(code);
  w.tag(2, 2).string(message);
  for (const d of details) w.tag(3, 2).fork().tag(1, 2).string(d.typeUrl).tag(2, 2).bytes(d.value).join();
  return w.finish();
}

describe("decodeBadRequest", () => {
  it("decodes every field violation and skips unknown fields", () => {
    const got = decodeBadRequest(
      badRequest([
        { field: "email", description: "value must be a valid email address", reason: "string.email" },
        { field: "password", description: "value length must be at least 8 characters" },
      ]),
    );
    expect(got).toEqual([
      { field: "email", description: "value must be a valid email address", reason: "string.email" },
      { field: "password", description: "value length must be at least 8 characters", reason: "" },
    ]);
  });

  it("returns nothing for an empty message", () => {
    expect(decodeBadRequest(new Uint8Array())).toEqual([]);
  });

  it("throws on truncated bytes", () => {
    const b = badRequest([{ field: "email", description: "bad" }]);
    expect(() => decodeBadRequest(b.subarray(0, b.length - 2))).toThrow();
  });
});

describe("describeError", () => {
  it("names the code and lists the fields of a BadRequest detail", () => {
    const err = new ConnectError("invalid request", Code.InvalidArgument);
    err.details.push({ type: BAD_REQUEST_TYPE, value: badRequest([{ field: "items", description: "at least 1 item" }]) });
    expect(describeError(err)).toEqual({
      code: "INVALID_ARGUMENT",
      message: "invalid request",
      fields: [{ field: "items", description: "at least 1 item", reason: "" }],
    });
  });

  it("ignores details of other types and malformed ones", () => {
    const err = new ConnectError("nope", Code.FailedPrecondition);
    err.details.push({ type: "google.rpc.ErrorInfo", value: new Uint8Array([1, 2, 3]) });
    err.details.push({ type: BAD_REQUEST_TYPE, value: new Uint8Array([0x0a, 0x05, 0x0a]) });
    expect(describeError(err)).toEqual({ code: "FAILED_PRECONDITION", message: "nope", fields: [] });
  });

  it("wraps anything thrown that is not a ConnectError", () => {
    expect(describeError(new Error("boom"))).toMatchObject({ code: "UNKNOWN", message: "boom", fields: [] });
  });

  it("decodes a gRPC-Web error with grpc-status-details-bin through the generated client", async () => {
    const details = status(3, "invalid email", [
      { typeUrl: `type.googleapis.com/${BAD_REQUEST_TYPE}`, value: badRequest([{ field: "email", description: "must be an email" }]) },
    ]);
    const b64 = btoa(String.fromCharCode(...details)).replace(/=+$/, "");
    // A trailers-only gRPC-Web response, as the services send for an error.
    const fetch: typeof globalThis.fetch = async () =>
      new Response(null, {
        status: 200,
        headers: {
          "content-type": "application/grpc-web+proto",
          "grpc-status": "3",
          "grpc-message": "invalid%20email",
          "grpc-status-details-bin": b64,
        },
      });
    const client = createClient(UserService, createGrpcWebTransport({ baseUrl: "http://svc", fetch }));
    const err = await client.register({ email: "nope", password: "x", displayName: "A" }).catch((e: unknown) => e);
    expect(describeError(err)).toEqual({
      code: "INVALID_ARGUMENT",
      message: "invalid email",
      fields: [{ field: "email", description: "must be an email", reason: "" }],
    });
  });
});

describe("codeName", () => {
  it("spells codes as gRPC does", () => {
    expect(codeName(Code.NotFound)).toBe("NOT_FOUND");
    expect(codeName(Code.ResourceExhausted)).toBe("RESOURCE_EXHAUSTED");
    expect(codeName(Code.Unauthenticated)).toBe("UNAUTHENTICATED");
  });
});
