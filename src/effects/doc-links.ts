/**
 * update-alternatives gives no link to a slave whose target is not in the image
 * (src/debian/shell/alternatives.ts notes each one). When the target is documentation (a man page
 * `docs: false` dropped, as for mawk's awk.1.gz on every build) that is expected, not news: such
 * notes are folded into one counted line, and every other note is kept as it is.
 */

/** The note alternatives.ts writes: "PKG: alternative NAME: no link, PATH is not in the image". */
const UNLINKED = /^(\S+): alternative (\S+): no link, (\S+) is not in the image$/;
const DOC_DIRS = /^\/usr\/share\/(?:doc|man|info|locale)\//;

export function foldDocLinkNotes(notes: string[]): string[] {
  const kept: string[] = [];
  const folded: string[] = [];
  for (const note of notes) {
    const m = UNLINKED.exec(note);
    if (m && DOC_DIRS.test(m[3])) folded.push(`${m[1]} ${m[2]}`);
    else kept.push(note);
  }
  if (folded.length === 0) return kept;
  const links = folded.length === 1 ? "link" : "links";
  return [
    ...kept,
    `${folded.length} alternative ${links} to documentation not made (not in the image): ${folded.join(", ")}`,
  ];
}
