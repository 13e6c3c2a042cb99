import { excludedReason } from "../../src/effects/excluded.js";
import type { FsTree, TreeNode } from "./fs-tree.js";

/**
 * Whole-tree parity with dpkg (issue 16 §1): every path an install leaves beyond the essential
 * baseline, shipped by a package or made by a script, compared with strata's image: the same type,
 * a link leading where dpkg's leads, the same permission bits, the same owner and group *names*
 * (ids are allocated in install order), and a regular file the same bytes. What no image should
 * hold is left out, each kind with its reason (NOT_IN_IMAGES).
 */
export const NOT_IN_IMAGES: ReadonlyArray<{ match: RegExp; reason: string }> = [
  {
    match: /^var\/lib\/(dpkg|apt|ucf)(\/|$)/,
    reason: "dpkg's, apt's and ucf's state: no package manager runs in the image",
  },
  { match: /^etc\/apt(\/|$)/, reason: "apt's configuration (scripts add to it): no apt in the image" },
  {
    match: /^etc\/(\.pwd\.lock|(passwd|group|shadow|gshadow)-)$/,
    reason: "the account tools' lock and backup files",
  },
  { match: /^var\/log(\/|$)/, reason: "logs of the install" },
  { match: /^var\/cache(\/|$)/, reason: "caches (apt's, man-db's, debconf's), rebuilt on demand" },
  {
    match: /^usr\/share\/(doc|man|info|locale|lintian|doc-base)(\/|$)/,
    reason: "documentation (docs: false by default; copyright files are kept and compared as shipped)",
  },
  {
    match: /^etc\/alternatives(\/|$)/,
    reason: "the alternatives directory itself: links are compared where they lead",
  },
  {
    match: /^etc\/(rc[0-6S]\.d|systemd)(\/|$)/,
    reason: "init-system links: no init system runs in a container",
  },
  {
    match: /^var\/lib\/systemd\/deb-systemd-helper-(enabled|masked)(\/|$)/,
    reason: "deb-systemd-helper's record of init-system links",
  },
  {
    match: /^(usr\/share|var\/lib)\/binfmts(\/|$)/,
    reason: "binfmt registrations: the kernel's, not the image's",
  },
  { match: /(^|\/)__pycache__(\/|$)|\.pyc$/, reason: "byte-code: Python compiles it at first import" },
  {
    match: /^etc\/ssh\/ssh_host_|^etc\/ssl\/(private\/ssl-cert-snakeoil\.key|certs\/ssl-cert-snakeoil\.pem)$/,
    reason: "machine secrets made at install: an image shared by many containers must not carry one key",
  },
  {
    match: /^(etc\/machine-id|var\/lib\/dbus\/machine-id)$/,
    reason: "the machine's identity, made at first boot",
  },
  {
    match: /^(var\/lib\/postgresql\/\d+\/main|etc\/postgresql\/\d+\/main|var\/lib\/mysql)(\/|$)/,
    reason: "a database cluster initialised at install: images leave it to the first start",
  },
];

export function notInImages(path: string): string | undefined {
  return NOT_IN_IMAGES.find((e) => e.match.test(path))?.reason ?? excludedReason(path);
}

export interface WideParity {
  /** Paths compared: beyond the baseline, not left out. */
  paths: number;
  matching: number;
  /** Of those, the paths no package ships (a script made them). */
  scriptPaths: number;
  scriptMatching: number;
  /** Each path that differs, with how. */
  differ: Array<{ path: string; why: string; script: boolean }>;
}

/** Names of ids, from a tree's /etc/passwd or /etc/group. */
function names(tree: FsTree, file: string): Map<number, string> {
  const out = new Map<number, string>();
  for (const line of (tree.bodies.get(file) ?? Buffer.alloc(0)).toString("utf8").split("\n")) {
    const [name, , id] = line.split(":");
    if (name && id !== undefined && /^\d+$/.test(id)) out.set(Number(id), name);
  }
  return out;
}

function ownerText(node: TreeNode, users: Map<number, string>, groups: Map<number, string>): string {
  return `${users.get(node.uid ?? 0) ?? `#${node.uid}`}:${groups.get(node.gid ?? 0) ?? `#${node.gid}`}`;
}

export interface CompareOptions {
  /** A file whose bytes differ from dpkg's but hold the same thing (a Java trust store). */
  equivalent?: (path: string) => boolean;
  /**
   * Packages strata leaves out (adduser, apt, debconf, dpkg, ucf...: machinery only maintainer
   * scripts use): what they ship is not compared.
   */
  leftOut?: Set<string>;
}

export function compareTrees(
  ref: { tree: FsTree; shipped: Set<string>; owners: Map<string, string> },
  baseline: Set<string>,
  image: FsTree,
  opts: CompareOptions = {},
): WideParity {
  const equivalent = opts.equivalent ?? (() => false);
  const result: WideParity = { paths: 0, matching: 0, scriptPaths: 0, scriptMatching: 0, differ: [] };
  const owners = {
    ref: [names(ref.tree, "etc/passwd"), names(ref.tree, "etc/group")] as const,
    image: [names(image, "etc/passwd"), names(image, "etc/group")] as const,
  };
  for (const path of [...ref.tree.nodes.keys()].sort()) {
    if (baseline.has(path) || notInImages(path) !== undefined) continue;
    // A link to what is left out (ssl-cert's hash link to the snakeoil certificate) goes with it.
    const node = ref.tree.nodes.get(path);
    if (node?.type === "symlink" && notInImages(ref.tree.realpath(path) ?? "") !== undefined) continue;
    if (opts.leftOut?.has(ref.owners.get(path) ?? "")) continue;
    const script = !ref.shipped.has(path);
    result.paths++;
    if (script) result.scriptPaths++;
    const why = difference(path, ref.tree, image, owners, equivalent);
    if (why === undefined) {
      result.matching++;
      if (script) result.scriptMatching++;
    } else result.differ.push({ path, why, script });
  }
  return result;
}

type Owners = {
  ref: readonly [Map<number, string>, Map<number, string>];
  image: readonly [Map<number, string>, Map<number, string>];
};

/** How strata's image differs from dpkg's tree at `path`, or undefined when it does not. */
function difference(
  path: string,
  ref: FsTree,
  image: FsTree,
  owners: Owners,
  equivalent: (path: string) => boolean,
): string | undefined {
  const want = ref.nodes.get(path)!;
  const found = image.lstat(path);
  if (!found) return "absent";
  const got = found.node;
  if (got.type !== want.type) return `a ${got.type} where dpkg left a ${want.type}`;
  if (want.type === "symlink") {
    const [wantEnd, gotEnd] = [ref.realpath(path), image.realpath(found.path)];
    return wantEnd === gotEnd ? undefined : `leads to /${gotEnd}, dpkg's to /${wantEnd}`;
  }
  if (want.mode !== got.mode) return `mode ${got.mode?.toString(8)}, dpkg's ${want.mode?.toString(8)}`;
  const [wantOwner, gotOwner] = [ownerText(want, ...owners.ref), ownerText(got, ...owners.image)];
  if (wantOwner !== gotOwner) return `owner ${gotOwner}, dpkg's ${wantOwner}`;
  if (want.type === "file" && want.sha256 !== got.sha256 && !equivalent(path)) return "content differs";
  return undefined;
}

/** A fraction as a percentage with one decimal, "–" for none. */
export function percent(part: number, whole: number): string {
  return whole === 0 ? "–" : `${((100 * part) / whole).toFixed(1)} %`;
}
