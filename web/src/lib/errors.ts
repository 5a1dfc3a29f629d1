// Readable errors from the services. A validation failure carries a
// google.rpc.BadRequest detail; no google/rpc proto is vendored, so the few
// fields we show are decoded here with BinaryReader (field numbers from
// google/rpc/error_details.proto).
import { BinaryReader, WireType } from "@bufbuild/protobuf/wire";
import { Code, ConnectError } from "@connectrpc/connect";

export const BAD_REQUEST_TYPE = "google.rpc.BadRequest";

/** FieldViolation is one entry of google.rpc.BadRequest.field_violations. */
export interface FieldViolation {
  field: string;
  description: string;
  reason: string;
}

/** decodeBadRequest decodes the bytes of a google.rpc.BadRequest. */
export function decodeBadRequest(bytes: Uint8Array): FieldViolation[] {
  const r = new BinaryReader(bytes);
  const out: FieldViolation[] = [];
  while (r.pos < r.len) {
    const [no, wt] = r.tag();
    if (no === 1 && wt === WireType.LengthDelimited) {
      out.push(decodeFieldViolation(r.bytes()));
    } else {
      r.skip(wt, no);
    }
  }
  return out;
}

function decodeFieldViolation(bytes: Uint8Array): FieldViolation {
  const r = new BinaryReader(bytes);
  const v: FieldViolation = { field: "", description: "", reason: "" };
  while (r.pos < r.len) {
    const [no, wt] = r.tag();
    if (wt === WireType.LengthDelimited && no === 1) v.field = r.string();
    else if (wt === WireType.LengthDelimited && no === 2) v.description = r.string();
    else if (wt === WireType.LengthDelimited && no === 3) v.reason = r.string();
    else r.skip(wt, no); // 4: localized_message, and anything newer
  }
  return v;
}

/** ReadableError is what the UI shows for a failed call. */
export interface ReadableError {
  code: string;
  message: string;
  fields: FieldViolation[];
}

/** codeName turns a Connect code into the gRPC spelling (INVALID_ARGUMENT). */
export function codeName(code: Code): string {
  const name = Code[code] ?? "Unknown";
  return name.replace(/([a-z])([A-Z])/g, "$1_$2").toUpperCase();
}

/** describeError turns anything thrown by a client call into a ReadableError. */
export function describeError(err: unknown): ReadableError {
  const ce = ConnectError.from(err);
  const fields: FieldViolation[] = [];
  for (const d of ce.details) {
    // Incoming details are {type, value: bytes}; outgoing ones (made in
    // this page) carry a schema instead and are not ours to decode.
    if ("type" in d && d.type === BAD_REQUEST_TYPE && d.value instanceof Uint8Array) {
      try {
        fields.push(...decodeBadRequest(d.value));
      } catch {
        // a malformed detail must not hide the error itself
      }
    }
  }
  return { code: codeName(ce.code), message: ce.rawMessage, fields };
}
