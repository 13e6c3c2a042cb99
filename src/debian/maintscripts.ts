/**
 * What strata reads from maintainer scripts it never runs: the literal
 * `update-alternatives --install LINK NAME PATH PRIORITY [--slave LINK NAME PATH]...` calls of a
 * postinst, so the links update-alternatives would make can be made natively.
 */
export interface AlternativeLink {
  link: string;
  name: string;
  path: string;
}

export interface AlternativeInstall extends AlternativeLink {
  priority: number;
  slaves: AlternativeLink[];
}

/** Words that make an argument computed at run time rather than literal. */
const NOT_LITERAL = /[$`"'*]/;

export function parseAlternatives(script: string): AlternativeInstall[] {
  const joined = script.replace(/\\\n\s*/g, " ");
  const out: AlternativeInstall[] = [];
  for (const line of joined.split("\n")) {
    const m = /update-alternatives\s+(?:--quiet\s+)?--install\s+(\S+)\s+(\S+)\s+(\S+)\s+(\d+)(.*)$/.exec(
      line,
    );
    if (!m) continue;
    const [, link, name, path, priority, rest] = m;
    if ([link, name, path].some((s) => NOT_LITERAL.test(s))) continue;
    const slaves: AlternativeLink[] = [];
    for (const s of rest.matchAll(/--slave\s+(\S+)\s+(\S+)\s+(\S+)/g)) {
      if (![s[1], s[2], s[3]].some((x) => NOT_LITERAL.test(x)))
        slaves.push({ link: s[1], name: s[2], path: s[3] });
    }
    out.push({ link, name, path, priority: Number(priority), slaves });
  }
  return out;
}
