import { Readable } from "node:stream";
import { debconfDefaults } from "../debian/debconf.js";
import { followScripts, MAX_SCRIPT_BYTES } from "../debian/maintscripts.js";
import { MERGED_USR_DIRS } from "../debian/merged-usr.js";
import { ImageTree, type TreeNode } from "../debian/shell/tree.js";
import type { LayerEntry } from "../oci/layer-entry.js";
import { DEFAULT_ACCOUNTS } from "../spec/accounts.js";
import { cacheStore } from "../util/cas.js";
import type { PackageFacts, PathFact } from "./package-facts.js";

/**
 * What following a package's maintainer scripts needs, recorded when its layer is built so that a
 * warm build reads no .deb: the preinst and postinst text, every path of the layer (type, mode,
 * owner, link target) and the contents of the files of its own that its scripts read (nginx copies
 * its default page), kept in the content store.
 */

/** A file bigger than this is not recorded for scripts to read (none of the real ones comes close). */
const MAX_BODY_BYTES = 1 << 20;

export type ScriptFacts = Pick<PackageFacts, "maintainerScripts" | "paths" | "bodies">;

/** How the layer code hands over a file entry's bytes (in memory or spooled to disk). */
export type BodyReader = (entry: LayerEntry) => Promise<Buffer>;

export async function recordScriptFacts(
  pkg: { name: string; version: string; architecture: string },
  scripts: Partial<Record<string, string>>,
  entries: LayerEntry[],
  storage: { storeRoot: string; readBody: BodyReader },
): Promise<ScriptFacts> {
  const maintainerScripts: NonNullable<PackageFacts["maintainerScripts"]> = {};
  for (const name of ["preinst", "postinst", "config"] as const) {
    const text = scripts[name];
    if (text !== undefined && Buffer.byteLength(text) <= MAX_SCRIPT_BYTES) maintainerScripts[name] = text;
  }
  const debconf = debconfDefaults(scripts.templates);
  if (Object.keys(debconf).length > 0) maintainerScripts.debconf = debconf;
  const paths = entries.map(pathFact(entries));
  const bodies: Record<string, string> = {};
  if (maintainerScripts.preinst === undefined && maintainerScripts.postinst === undefined) {
    return { maintainerScripts, paths, bodies };
  }
  // A trial run over the package alone tells which of its files the scripts read.
  const tree = skeletonTree();
  shipEntries(tree, entries);
  followScripts([{ ...pkg, ...maintainerScripts }], {
    tree,
    architecture: pkg.architecture,
    accounts: DEFAULT_ACCOUNTS,
  });
  const store = cacheStore(storage.storeRoot);
  const byPath = new Map(entries.map((e) => [e.path, e]));
  for (const path of [...tree.read].sort()) {
    const entry = byPath.get(path);
    if (entry?.type !== "file" || (entry.spooled?.size ?? entry.body?.length ?? 0) > MAX_BODY_BYTES) continue;
    bodies[path] = (await store.put(Readable.from([await storage.readBody(entry)]))).hex;
  }
  return { maintainerScripts, paths, bodies };
}

function pathFact(entries: LayerEntry[]): (e: LayerEntry) => PathFact {
  const byPath = new Map(entries.map((e) => [e.path, e]));
  return (e) => {
    const root = e.type === "hardlink" ? (byPath.get(e.linkname ?? "") ?? e) : e;
    const type = e.type === "dir" ? "d" : e.type === "symlink" ? "l" : "f";
    return type === "l"
      ? [e.path, type, e.mode, e.uid, e.gid, e.linkname ?? ""]
      : [e.path, type, root.mode, root.uid, root.gid];
  };
}

export function treeNode([, type, mode, uid, gid, link]: PathFact, body?: Buffer): TreeNode {
  if (type === "l") return { type: "symlink", mode, uid, gid, link };
  if (type === "d") return { type: "dir", mode, uid, gid };
  return { type: "file", mode, uid, gid, body };
}

/** Adds in-memory layer entries (the base layer's, the spec's files) to a tree, contents kept. */
export function shipEntries(tree: ImageTree, entries: LayerEntry[]): void {
  const fact = pathFact(entries);
  for (const e of entries)
    tree.ship(e.path.replace(/^\/+/, ""), treeNode(fact(e), Buffer.from(e.body ?? [])));
}

/** The merged-/usr links every image has (the base layer's), for a trial run over one package. */
function skeletonTree(): ImageTree {
  const tree = new ImageTree();
  for (const dir of MERGED_USR_DIRS) {
    tree.ship(dir, { type: "symlink", mode: 0o777, uid: 0, gid: 0, link: `usr/${dir}` });
    tree.ship(`usr/${dir}`, { type: "dir", mode: 0o755, uid: 0, gid: 0 });
  }
  return tree;
}
