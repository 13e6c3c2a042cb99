import { StrataError } from "../util/errors.js";

/** Byte span of one stanza inside the cached Packages file. */
export type Span = [start: number, end: number];

type Kind = "P" | "V";

/**
 * Which stanzas of a Packages text carry a name (P) or provide a virtual one (V), as sorted lines
 * `KIND\tNAME\tSTART,END STARTEND...\n` under a `#\tSHA256` header. Looked up by binary search in
 * the raw bytes, so a warm run reads the cached file and parses nothing: bookworm main's table is
 * 4.6 MB, whose JSON.parse cost more than the resolution it served.
 */
export class NameTable {
  constructor(readonly bytes: Buffer) {}

  /** The sha256 of the Packages text the spans point into (the header line). */
  get packagesSha256(): string {
    const end = this.bytes.indexOf(0x0a);
    return this.bytes.toString("latin1", 2, Math.max(end, 0));
  }

  packages(name: string): Span[] {
    return this.lookup("P", name);
  }

  provides(name: string): Span[] {
    return this.lookup("V", name);
  }

  names(): string[] {
    const out: string[] = [];
    for (const line of this.bytes.toString("latin1").split("\n")) {
      if (line.startsWith("P\t")) out.push(line.slice(2, line.indexOf("\t", 2)));
    }
    return out;
  }

  private lookup(kind: Kind, name: string): Span[] {
    const key = Buffer.from(`${kind}\t${name}\t`, "latin1");
    const buf = this.bytes;
    let lo = 0;
    let hi = buf.length;
    while (lo < hi) {
      // The line holding byte `mid`: lines are sorted, so comparing their key-length prefixes is
      // monotone and each step drops that line and one side.
      const mid = (lo + hi) >>> 1;
      const start = mid === 0 ? 0 : buf.lastIndexOf(0x0a, mid - 1) + 1;
      let end = buf.indexOf(0x0a, start);
      if (end < 0) end = buf.length;
      // The line against the key (buf.compare's source is buf, its target the key).
      const cmp = buf.compare(key, 0, key.length, start, Math.min(start + key.length, end));
      if (cmp === 0) return parseSpans(buf.toString("latin1", start + key.length, end));
      if (cmp < 0) lo = end + 1;
      else hi = start;
    }
    return [];
  }
}

function parseSpans(text: string): Span[] {
  return text.split(" ").map((pair) => {
    const [start, end] = pair.split(",").map(Number);
    if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || end <= start) {
      throw new StrataError(
        "INDEX_INVALID",
        `cached name table: ${JSON.stringify(pair).slice(0, 40)} is not a span`,
        {
          hint: "remove the cache's indexes directory (strata fetches them again)",
        },
      );
    }
    return [start, end];
  });
}

/** Finds stanza boundaries and the Package / Provides names without parsing the rest. */
export function buildNameTable(text: Buffer, packagesSha256: string): NameTable {
  const spans = new Map<string, Span[]>();
  const add = (kind: Kind, name: string, span: Span) => {
    // Debian names have no blanks; one that has cannot be a key (and no relation can ask for it).
    if (/\s/.test(name)) return;
    const key = `${kind}\t${name}`;
    const list = spans.get(key);
    if (list) list.push(span);
    else spans.set(key, [span]);
  };
  const NL = 0x0a;
  let pos = 0;
  const n = text.length;
  while (pos < n) {
    while (pos < n && text[pos] === NL) pos++;
    if (pos >= n) break;
    let end = text.indexOf("\n\n", pos);
    if (end < 0) end = n;
    const span: Span = [pos, end];
    const stanza = text.toString("latin1", pos, end);
    const name = fieldValue(stanza, "Package");
    if (name) add("P", name, span);
    const prov = fieldValue(stanza, "Provides");
    if (prov) {
      for (const item of prov.split(",")) {
        const virtual = item.trim().split(/[\s(:]/)[0];
        if (virtual) add("V", virtual, span);
      }
    }
    pos = end + 2;
  }
  const lines = [...spans].map(([key, list]) =>
    Buffer.from(`${key}\t${list.map((s) => s.join(",")).join(" ")}`, "latin1"),
  );
  lines.sort(Buffer.compare);
  const body = Buffer.concat(lines.flatMap((line) => [line, Buffer.from("\n")]));
  return new NameTable(Buffer.concat([Buffer.from(`#\t${packagesSha256}\n`, "latin1"), body]));
}

function fieldValue(stanza: string, field: string): string | undefined {
  const at = stanza.startsWith(`${field}:`) ? 0 : stanza.indexOf(`\n${field}:`);
  if (at < 0) return undefined;
  const start = at === 0 ? field.length + 1 : at + field.length + 2;
  let end = stanza.indexOf("\n", start);
  if (end < 0) end = stanza.length;
  // Provides can continue over several lines in principle.
  while (end + 1 < stanza.length && (stanza[end + 1] === " " || stanza[end + 1] === "\t")) {
    const next = stanza.indexOf("\n", end + 1);
    end = next < 0 ? stanza.length : next;
  }
  return stanza.slice(start, end).trim();
}
