/**
 * Deb822 control data (Policy 5.1): stanzas separated by blank lines, `Field: value` lines, and
 * continuation lines that start with a space or tab. Field names are case-insensitive; we keep
 * them as written and look them up by their canonical spelling.
 */

export type Stanza = Map<string, string>;

/** Parses one stanza. Continuation lines are joined with "\n", leading space kept as dpkg keeps it. */
export function parseStanza(text: string): Stanza {
  const fields: Stanza = new Map();
  let name: string | undefined;
  let value = "";
  for (const line of text.split("\n")) {
    if (line.length === 0 || line.startsWith("#")) continue;
    const first = line.charCodeAt(0);
    if (first === 0x20 || first === 0x09) {
      if (name !== undefined) value += `\n${line}`;
      continue;
    }
    if (name !== undefined) fields.set(name, value);
    const colon = line.indexOf(":");
    if (colon <= 0) {
      name = undefined;
      continue;
    }
    name = line.slice(0, colon);
    value = line.slice(colon + 1).trim();
  }
  if (name !== undefined) fields.set(name, value);
  return fields;
}

/** Yields each stanza's text with its start offset; tolerant of CRLF-free multiple blank lines. */
export function* stanzaSpans(text: string): Generator<{ start: number; end: number }> {
  let pos = 0;
  const n = text.length;
  while (pos < n) {
    while (pos < n && text.charCodeAt(pos) === 0x0a) pos++;
    if (pos >= n) return;
    let end = text.indexOf("\n\n", pos);
    if (end < 0) end = n;
    yield { start: pos, end };
    pos = end + 2;
  }
}

export function parseStanzas(text: string): Stanza[] {
  const out: Stanza[] = [];
  for (const { start, end } of stanzaSpans(text)) out.push(parseStanza(text.slice(start, end)));
  return out;
}

/**
 * Why `text` is not exactly one stanza that a dpkg status file can hold unchanged, or undefined
 * when it is. Scanners split status files on blank (or whitespace-only) lines and take the last of
 * two equal fields, so a second stanza, a blank continuation line, a repeated field or a control
 * character could make them read a package that is not there.
 */
export function singleStanzaDefect(text: string): string | undefined {
  const body = text.replace(/\n+$/, "");
  if (body === "") return "it is empty";
  const bad = /[\0-\x08\x0b-\x1f\x7f]/.exec(body);
  if (bad) return `it holds the control character 0x${bad[0].charCodeAt(0).toString(16).padStart(2, "0")}`;
  const seen = new Set<string>();
  for (const [i, line] of body.split("\n").entries()) {
    if (line.trim() === "") return `line ${i + 1} is blank: a second stanza follows the first`;
    if (line.startsWith(" ") || line.startsWith("\t")) {
      if (i === 0) return "it starts with a continuation line";
      continue;
    }
    const field = /^([!-9;-~][!-9;-~]*):/.exec(line);
    if (!field || field[1].startsWith("#") || field[1].startsWith("-")) return `line ${i + 1} is not a field`;
    const name = field[1].toLowerCase();
    if (seen.has(name)) return `field ${field[1]} appears twice`;
    seen.add(name);
  }
  return undefined;
}
