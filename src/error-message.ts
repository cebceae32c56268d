// The message of anything thrown, for logs and events.
/** The message of anything thrown: non-Error values too, which `(err as Error).message` turns into undefined. */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** How much of a user's value an error quotes: enough to recognise it, not a 20 KB annotation per retry. */
export const MAX_QUOTED_CHARS = 200;

/**
 * A value from a Service, a Node or the config, quoted for an error or log line: JSON-escaped (so
 * newlines and quotes cannot forge log structure), cut to MAX_QUOTED_CHARS with its full size after.
 */
export function quote(value: string): string {
  if (value.length <= MAX_QUOTED_CHARS) return JSON.stringify(value);
  return `${JSON.stringify(value.slice(0, MAX_QUOTED_CHARS))}…(${Buffer.byteLength(value)} bytes)`;
}

/** Up to `max` quoted values, then how many more: a list of 10,000 bad entries stays one short line. */
export function quoteList(values: readonly string[], max = 5): string {
  const shown = values.slice(0, max).map(quote).join(', ');
  return values.length > max ? `${shown} and ${values.length - max} more` : shown;
}
