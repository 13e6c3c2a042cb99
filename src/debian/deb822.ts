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
