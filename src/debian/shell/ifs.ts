/**
 * Field splitting by IFS, as POSIX has it: runs of IFS white space (space, tab, newline) separate
 * fields and make none at the ends; every other IFS character ends a field, so `a::b` with IFS=:
 * has an empty field between the colons. An empty IFS splits nothing.
 */
export const DEFAULT_IFS = " \t\n";

const WHITE = " \t\n";

/** A piece of split text: the first joins the field before it, each later one starts a new field. */
export interface SplitPiece {
  text: string;
  /** A field even when empty (it ended at a delimiter other than white space). */
  kept: boolean;
}

/** Where the delimiter at `at` ends: white space, at most one other IFS character, white space. */
function delimiterEnd(text: string, at: number, ifs: string): { end: number; hard: boolean } {
  const white = (c: string | undefined) => c !== undefined && ifs.includes(c) && WHITE.includes(c);
  let end = at;
  while (white(text[end])) end++;
  const hard = end < text.length && ifs.includes(text[end]) && !WHITE.includes(text[end]);
  if (hard) {
    end++;
    while (white(text[end])) end++;
  }
  return { end, hard };
}

/** An unquoted expansion's text split on IFS into pieces (see SplitPiece). */
export function splitFields(text: string, ifs: string): SplitPiece[] {
  if (ifs === "") return [{ text, kept: false }];
  const pieces: SplitPiece[] = [];
  let start = 0;
  let at = 0;
  while (at < text.length) {
    if (!ifs.includes(text[at])) {
      at++;
      continue;
    }
    const { end, hard } = delimiterEnd(text, at, ifs);
    pieces.push({ text: text.slice(start, at), kept: hard });
    start = at = end;
  }
  pieces.push({ text: text.slice(start), kept: false });
  return pieces;
}

/**
 * `read`'s split of a line into `count` values: IFS white space trimmed at both ends, a field for
 * each name but the last, which takes the rest of the line.
 */
export function readFields(line: string, count: number, ifs: string): string[] {
  const white = [...ifs].filter((c) => WHITE.includes(c));
  let begin = 0;
  let finish = line.length;
  while (begin < finish && white.includes(line[begin])) begin++;
  while (finish > begin && white.includes(line[finish - 1])) finish--;
  let rest = line.slice(begin, finish);
  const values: string[] = [];
  for (let i = 0; i < count - 1; i++) {
    const at = [...rest].findIndex((c) => ifs.includes(c));
    if (ifs === "" || at < 0) {
      values.push(rest);
      rest = "";
      continue;
    }
    values.push(rest.slice(0, at));
    rest = rest.slice(delimiterEnd(rest, at, ifs).end);
  }
  return [...values, rest];
}
