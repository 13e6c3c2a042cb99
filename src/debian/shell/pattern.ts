/**
 * Shell patterns (case arms, ${x#pattern}, globs). Pieces that were quoted in the script match
 * literally; unquoted `*`, `?` and `[...]` are wildcards.
 *
 * Matching simulates the pattern as an automaton over the value, one character at a time, with the
 * set of pattern positions still alive: O(value × pattern) for one match and for every prefix or
 * suffix of ${x%%pattern} at once. A backtracking regular expression takes exponential time on
 * `*a*a*…*b` against a run of a's, which a hostile script would use to hang a build; the work here
 * is bounded and a match over the bound throws PatternLimitError.
 */
export interface PatternPiece {
  text: string;
  quoted: boolean;
}

/** A step of a compiled pattern: any run of characters, one character, or one of a set. */
type Token = { t: "star" } | { t: "one"; test: (c: string) => boolean };

/**
 * The value × pattern steps a script's matches may take in all (a real script's take thousands);
 * one budget a script, so a loop of matches is bounded too.
 */
export const MAX_PATTERN_WORK = 20_000_000;

export interface PatternBudget {
  left: number;
}

export const patternBudget = (): PatternBudget => ({ left: MAX_PATTERN_WORK });

export class PatternLimitError extends Error {}

export function hasWildcard(pieces: PatternPiece[]): boolean {
  return pieces.some((p) => !p.quoted && /[*?[]/.test(p.text));
}

export function matchesPattern(value: string, pieces: PatternPiece[], budget = patternBudget()): boolean {
  const tokens = compile(pieces);
  const ends = prefixMatches(tokens, [...value], budget);
  return ends[ends.length - 1];
}

/** ${value#pat}, ${value##pat}, ${value%pat}, ${value%%pat}: the shortest or longest match removed. */
export function trimPattern(
  value: string,
  op: string,
  pieces: PatternPiece[],
  budget = patternBudget(),
): string {
  const fromStart = op.startsWith("#");
  const longest = op.length === 2;
  const chars = [...value];
  const tokens = compile(pieces);
  // A suffix matches the pattern when the reversed suffix matches the reversed pattern.
  const ends = fromStart
    ? prefixMatches(tokens, chars, budget)
    : prefixMatches(tokens.reverse(), [...chars].reverse(), budget);
  let cut = -1;
  for (let n = 0; n < ends.length; n++) {
    if (!ends[n]) continue;
    cut = n;
    if (!longest) break;
  }
  if (cut < 0) return value;
  return (fromStart ? chars.slice(cut) : chars.slice(0, chars.length - cut)).join("");
}

/**
 * For each n from 0 to chars.length, whether the first n characters match the whole pattern:
 * the automaton's live positions after each character.
 */
function prefixMatches(tokens: Token[], chars: string[], budget: PatternBudget): boolean[] {
  budget.left -= (chars.length + 1) * (tokens.length + 1);
  if (budget.left < 0)
    throw new PatternLimitError(
      `pattern matching over its bound (${MAX_PATTERN_WORK} steps; this one: ${tokens.length} against ${chars.length} characters)`,
    );
  let live = closure(tokens, [0]);
  const ends = [live.has(tokens.length)];
  for (const c of chars) {
    const next: number[] = [];
    for (const at of live) {
      const token = tokens[at];
      if (token === undefined) continue;
      if (token.t === "star") next.push(at);
      else if (token.test(c)) next.push(at + 1);
    }
    live = closure(tokens, next);
    ends.push(live.has(tokens.length));
    if (live.size === 0) {
      while (ends.length <= chars.length) ends.push(false);
      break;
    }
  }
  return ends;
}

/** Positions reachable without consuming a character: a star may match nothing. */
function closure(tokens: Token[], positions: number[]): Set<number> {
  const out = new Set<number>();
  for (let at of positions) {
    while (!out.has(at)) {
      out.add(at);
      if (tokens[at]?.t !== "star") break;
      at++;
    }
  }
  return out;
}

function compile(pieces: PatternPiece[]): Token[] {
  const tokens: Token[] = [];
  const literal = (ch: string): Token => ({ t: "one", test: (c) => c === ch });
  for (const { text, quoted } of pieces) {
    const chars = [...text];
    if (quoted) {
      tokens.push(...chars.map(literal));
      continue;
    }
    for (let i = 0; i < chars.length; i++) {
      const c = chars[i];
      if (c === "*") {
        if (tokens.at(-1)?.t !== "star") tokens.push({ t: "star" });
      } else if (c === "?") tokens.push({ t: "one", test: () => true });
      else if (c === "[") {
        const end = chars.indexOf("]", i + 2);
        if (end < 0) tokens.push(literal(c));
        else {
          tokens.push(bracket(chars.slice(i + 1, end)));
          i = end;
        }
      } else if (c === "\\" && i + 1 < chars.length) tokens.push(literal(chars[++i]));
      else tokens.push(literal(c));
    }
  }
  return tokens;
}

/** `[abc]`, `[a-z]`, `[!x]` / `[^x]`: the characters between the brackets. */
function bracket(body: string[]): Token {
  const negate = body[0] === "!" || body[0] === "^";
  const items = negate ? body.slice(1) : body;
  const ranges: [string, string][] = [];
  for (let i = 0; i < items.length; i++) {
    if (items[i] === "\\" && i + 1 < items.length) i++;
    if (items[i + 1] === "-" && i + 2 < items.length) {
      ranges.push([items[i], items[i + 2]]);
      i += 2;
    } else ranges.push([items[i], items[i]]);
  }
  const inSet = (c: string) => ranges.some(([lo, hi]) => lo <= c && c <= hi);
  return { t: "one", test: (c) => inSet(c) !== negate };
}
