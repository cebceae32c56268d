// Ordering for sorts that only need to be deterministic.

/**
 * Strings by UTF-16 code unit, as `<` compares them. Not localeCompare: its order follows the locale, and it
 * brings in ICU's collation, 2 MB of data resident in every process that calls it.
 */
export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
