// The message of anything thrown, for logs and events.
/** The message of anything thrown: non-Error values too, which `(err as Error).message` turns into undefined. */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
