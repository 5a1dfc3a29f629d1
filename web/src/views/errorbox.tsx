import type { ReadableError } from "../lib/errors";

/** ErrorBox shows a failed call: code, message, and each field at fault. */
export function ErrorBox({ err, testid = "error" }: { err?: ReadableError; testid?: string }) {
  if (!err) return null;
  return (
    <div class="errorbox" data-testid={testid} role="alert">
      <strong>{err.code}</strong> {err.message}
      {err.fields.length > 0 && (
        <ul>
          {err.fields.map((f) => (
            <li key={f.field + f.description} data-testid="error-field" data-field={f.field}>
              <code>{f.field}</code>: {f.description}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}
