import { openDeb } from "../debian/deb.js";
import { type LayerEntry, mergedUsrPath } from "./layer.js";
import type { LockedPackage } from "./lock.js";

/**
 * strata never runs maintainer scripts. The effects of theirs that an image needs to work are made
 * here, natively and deterministically, into the files layer:
 *
 * - ca-certificates: /etc/ssl/certs/ca-certificates.crt, the bundle update-ca-certificates would
 *   write with every packaged certificate enabled (its default), in path order;
 * - update-alternatives: each `update-alternatives --install LINK NAME PATH PRIORITY` a postinst
 *   states literally becomes LINK -> /etc/alternatives/NAME -> PATH (with its --slave links), the
 *   highest priority winning per NAME, as update-alternatives' automatic mode does.
 */
export interface NativeEffects {
  entries: LayerEntry[];
  notes: string[];
}

const CA_DIR = "usr/share/ca-certificates/";
const CA_BUNDLE = "etc/ssl/certs/ca-certificates.crt";

interface Alternative {
  name: string;
  link: string;
  path: string;
  priority: number;
  slaves: { link: string; name: string; path: string }[];
  pkg: string;
}

export async function nativeEffects(
  packages: LockedPackage[],
  debPaths: Map<string, string>,
): Promise<NativeEffects> {
  const entries: LayerEntry[] = [];
  const notes: string[] = [];
  const alternatives = new Map<string, Alternative>();
  for (const pkg of [...packages].sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const deb = await openDeb(debPaths.get(pkg.sha256)!);
    const shipped = new Set<string>();
    const certs: { path: string; body: Buffer }[] = [];
    const wantsFiles = pkg.name === "ca-certificates";
    const postinst = deb.control.scripts.postinst;
    const alts = postinst ? parseAlternatives(postinst, pkg.name) : [];
    if (wantsFiles || alts.length > 0) {
      for await (const { header, body } of deb.dataEntries()) {
        const path = header.name.replace(/^\.?\//, "");
        shipped.add(mergedUsrPath(path));
        if (wantsFiles && header.type === "file" && path.startsWith(CA_DIR) && path.endsWith(".crt")) {
          certs.push({ path, body });
        }
      }
    }
    if (wantsFiles) {
      certs.sort((a, b) => Buffer.compare(Buffer.from(a.path), Buffer.from(b.path)));
      const bundle = Buffer.concat(
        certs.map((c) => (c.body.at(-1) === 0x0a ? c.body : Buffer.concat([c.body, Buffer.from("\n")]))),
      );
      entries.push({ path: CA_BUNDLE, type: "file", mode: 0o644, uid: 0, gid: 0, body: bundle });
      notes.push(`made ${CA_BUNDLE} from ${certs.length} certificates of ca-certificates`);
    }
    for (const alt of alts) {
      // Only alternatives whose target the package itself ships: the rest belong to other setups.
      if (!shipped.has(mergedUsrPath(alt.path.replace(/^\//, "")))) continue;
      const current = alternatives.get(alt.name);
      if (!current || alt.priority > current.priority) alternatives.set(alt.name, alt);
    }
  }
  const linked = new Set<string>();
  for (const alt of [...alternatives.values()].sort((a, b) => (a.name < b.name ? -1 : 1))) {
    for (const { link, name, path } of [{ link: alt.link, name: alt.name, path: alt.path }, ...alt.slaves]) {
      const linkPath = mergedUsrPath(link.replace(/^\//, ""));
      if (linked.has(linkPath)) continue;
      linked.add(linkPath);
      entries.push({
        path: `etc/alternatives/${name}`,
        type: "symlink",
        mode: 0o777,
        uid: 0,
        gid: 0,
        linkname: path,
      });
      entries.push({
        path: linkPath,
        type: "symlink",
        mode: 0o777,
        uid: 0,
        gid: 0,
        linkname: `/etc/alternatives/${name}`,
      });
    }
    notes.push(`alternative ${alt.name} -> ${alt.path} (from ${alt.pkg})`);
  }
  return { entries: dedupeByPath(entries), notes };
}

function dedupeByPath(entries: LayerEntry[]): LayerEntry[] {
  const seen = new Map<string, LayerEntry>();
  for (const e of entries) if (!seen.has(e.path)) seen.set(e.path, e);
  return [...seen.values()];
}

/** Literal `update-alternatives --install` calls of a postinst, continuation lines joined. */
export function parseAlternatives(script: string, pkg: string): Alternative[] {
  const joined = script.replace(/\\\n\s*/g, " ");
  const out: Alternative[] = [];
  for (const line of joined.split("\n")) {
    const m = /update-alternatives\s+(?:--quiet\s+)?--install\s+(\S+)\s+(\S+)\s+(\S+)\s+(\d+)(.*)$/.exec(
      line,
    );
    if (!m) continue;
    const [, link, name, path, priority, rest] = m;
    if ([link, name, path].some((s) => /[$`"'*]/.test(s))) continue; // not literal: computed at run time
    const slaves: Alternative["slaves"] = [];
    for (const s of rest.matchAll(/--slave\s+(\S+)\s+(\S+)\s+(\S+)/g)) {
      if (![s[1], s[2], s[3]].some((x) => /[$`"'*]/.test(x)))
        slaves.push({ link: s[1], name: s[2], path: s[3] });
    }
    out.push({ name, link, path, priority: Number(priority), slaves, pkg });
  }
  return out;
}
