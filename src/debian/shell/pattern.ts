/**
 * Shell patterns (case arms, ${x#pattern}, globs) as regular expressions. Pieces that were quoted
 * in the script match literally; unquoted `*`, `?` and `[...]` are wildcards.
 */
export interface PatternPiece {
  text: string;
  quoted: boolean;
}

export function patternSource(pieces: PatternPiece[]): string {
  let out = "";
  for (const { text, quoted } of pieces) {
    if (quoted) {
      out += escapeRegExp(text);
      continue;
    }
    for (let i = 0; i < text.length; i++) {
      const c = text[i];
      if (c === "*") out += "[\\s\\S]*";
      else if (c === "?") out += "[\\s\\S]";
      else if (c === "[") {
        const end = text.indexOf("]", i + 2);
        if (end < 0) {
          out += "\\[";
          continue;
        }
        let body = text.slice(i + 1, end);
        if (body.startsWith("!")) body = `^${body.slice(1)}`;
        out += `[${body.replace(/\\/g, "\\\\")}]`;
        i = end;
      } else if (c === "\\" && i + 1 < text.length) out += escapeRegExp(text[++i]);
      else out += escapeRegExp(c);
    }
  }
  return out;
}

export function hasWildcard(pieces: PatternPiece[]): boolean {
  return pieces.some((p) => !p.quoted && /[*?[]/.test(p.text));
}

export function matchesPattern(value: string, pieces: PatternPiece[]): boolean {
  return new RegExp(`^${patternSource(pieces)}$`).test(value);
}

/** ${value#pat}, ${value##pat}, ${value%pat}, ${value%%pat}: the shortest or longest match removed. */
export function trimPattern(value: string, op: string, pieces: PatternPiece[]): string {
  const re = new RegExp(`^${patternSource(pieces)}$`);
  const fromStart = op.startsWith("#");
  const longest = op.length === 2;
  const cuts = [...Array(value.length + 1).keys()];
  if (longest) cuts.reverse();
  for (const n of cuts) {
    const piece = fromStart ? value.slice(0, n) : value.slice(value.length - n);
    if (re.test(piece)) return fromStart ? value.slice(n) : value.slice(0, value.length - n);
  }
  return value;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
}
