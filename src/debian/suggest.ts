import { compareText } from "../util/order.js";
/** Up to `limit` names closest to `wanted` by edit distance (and shared prefix), for "did you mean". */
export function closeNames(wanted: string, names: Iterable<string>, limit = 3): string[] {
  const maxDistance = Math.max(2, Math.floor(wanted.length / 3));
  const scored: { name: string; score: number }[] = [];
  for (const name of names) {
    if (Math.abs(name.length - wanted.length) > maxDistance && !name.startsWith(wanted)) continue;
    const d = name.startsWith(wanted) ? name.length - wanted.length : editDistance(wanted, name, maxDistance);
    if (d <= maxDistance) scored.push({ name, score: d });
  }
  scored.sort((a, b) => a.score - b.score || compareText(a.name, b.name));
  return scored.slice(0, limit).map((s) => s.name);
}

/** Levenshtein distance, giving up (returning max+1) once it exceeds `max`. */
export function editDistance(a: string, b: string, max = Number.POSITIVE_INFINITY): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    let rowMin = i;
    for (let j = 1; j <= b.length; j++) {
      const v = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
      cur.push(v);
      if (v < rowMin) rowMin = v;
    }
    if (rowMin > max) return max + 1;
    prev = cur;
  }
  return prev[b.length];
}
