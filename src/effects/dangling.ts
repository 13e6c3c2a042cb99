import { posix } from "node:path";
import { mergedUsrPath } from "../debian/merged-usr.js";
import { ancestors, type LayerEntry } from "../oci/layer-entry.js";

/**
 * Effects must not leave dangling links: update-alternatives' --slave links to man pages that
 * `docs: false` dropped (e.g. /usr/share/man/man1/java.1.gz -> /etc/alternatives/java.1.gz ->
 * a page no layer holds) are not made. A link is dropped when its target, followed through the
 * other effect links, is neither a path of the image, nor a directory above one, nor a directory
 * the effects make. (Layer records list no directories, so a link to an empty directory a package
 * ships would be taken for dangling; no script seen links to one.) It is kept when it cannot be
 * judged: its target passes through a package's own symlink (the layer records keep no link
 * targets), or lies on a filesystem the runtime mounts (/proc, /sys, /dev, /run).
 */
const RUNTIME_TREES = ["proc", "sys", "dev", "run"];
const MAX_HOPS = 40;

export function dropDanglingLinks(
  effects: LayerEntry[],
  imageFiles: Iterable<string>,
): { entries: LayerEntry[]; notes: string[] } {
  const links = new Map<string, string>();
  for (const e of effects) if (e.type === "symlink") links.set(e.path, e.linkname ?? "");
  const files = new Set<string>(imageFiles);
  for (const e of effects) if (e.type !== "dir" && !links.has(e.path)) files.add(e.path);
  const dirs = new Set<string>(effects.filter((e) => e.type === "dir").map((e) => e.path));
  for (const path of [...files, ...links.keys()]) for (const dir of ancestors(path)) dirs.add(dir);
  const exists = (path: string) => path === "" || files.has(path) || dirs.has(path);
  const unjudgeable = (path: string) =>
    RUNTIME_TREES.some((t) => path === t || path.startsWith(`${t}/`)) ||
    ancestors(path).some((a) => files.has(a));

  const dangling = new Set<string>();
  for (const path of links.keys()) {
    const end = finalTarget(path, links);
    if (end !== undefined && !exists(end) && !unjudgeable(end)) dangling.add(path);
  }
  return {
    entries: effects.filter((e) => !dangling.has(e.path)),
    notes: [...dangling].map((p) => `not made: /${p} -> ${links.get(p)} (the target is not in the image)`),
  };
}

/** Where a link ends after following the effect links (image-relative), or undefined on a loop. */
function finalTarget(path: string, links: Map<string, string>): string | undefined {
  let at = path;
  for (let hop = 0; hop < MAX_HOPS; hop++) {
    const target = links.get(at);
    if (target === undefined) return at;
    const joined = target.startsWith("/") ? target : posix.join(posix.dirname(`/${at}`), target);
    at = mergedUsrPath(posix.normalize(joined).replace(/^\/+/, "").replace(/\/+$/, ""));
  }
  return undefined;
}
