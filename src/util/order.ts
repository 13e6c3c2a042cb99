/**
 * Orders strings by UTF-16 code units, never by locale: every sort whose result ends up in a lock,
 * a layer or a manifest must give the same order on every machine.
 */
export function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
