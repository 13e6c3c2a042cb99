import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, readdir, readFile, rm, stat } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { STATIC_GROUPS, STATIC_USERS } from "../../src/debian/base-passwd.js";
import { mergedUsrPath } from "../../src/debian/merged-usr.js";
import { excludedReason } from "../../src/effects/excluded.js";
import { DEFAULT_ACCOUNTS } from "../../src/spec/accounts.js";
import { writeFileAtomic } from "../../src/util/fs.js";
import { sha256Hex } from "../../src/util/hash.js";
import { FsTree, imageTree, type TreeNode, tarballTree } from "./fs-tree.js";
import { jksCertificates } from "./jks.js";
import { compareTrees, type WideParity } from "./tree-parity.js";

/**
 * Parity of strata's images with what dpkg's maintainer scripts make (issue 11 §1), for the e2e
 * test and the bench row. The reference is mmdebstrap --variant=essential with the locked packages
 * included (it runs the scripts); its effects are the paths no package's .list ships (merged-/usr
 * mapped) and the essential baseline lacks, minus what is not an effect an image needs (below).
 * Each effect is made by strata (same type, a link leading where dpkg's leads, a file of equal or
 * equivalent content), skipped on purpose (src/effects/excluded.ts), or missing.
 */
export const PARITY_SETS: ReadonlyArray<{ name: string; packages: string[] }> = [
  { name: "openjdk-17-jre-headless", packages: ["openjdk-17-jre-headless"] },
  { name: "nginx", packages: ["nginx"] },
  { name: "python3 + ca-certificates", packages: ["python3", "ca-certificates"] },
  { name: "ruby", packages: ["ruby"] },
  { name: "postgresql-client", packages: ["postgresql-client"] },
];

/** Paths that are no effect an image needs: dpkg's (and apt's) state, logs, caches, docs, the
 * alternatives directory itself (links are compared where they lead), init-system links (and
 * deb-systemd-helper's record of them), binfmt registrations. */
const NOT_EFFECTS: readonly RegExp[] = [
  /^var\/lib\/(dpkg|apt)(\/|$)/,
  /^var\/log(\/|$)/,
  /^var\/cache(\/|$)/,
  /^usr\/share\/(doc|man|info|locale|lintian|doc-base)(\/|$)/,
  /^etc\/alternatives(\/|$)/,
  /^etc\/rc[0-6S]\.d(\/|$)/,
  /^etc\/systemd(\/|$)/,
  /^var\/lib\/systemd\/deb-systemd-helper-(enabled|masked)(\/|$)/,
  /^(usr\/share|var\/lib)\/binfmts(\/|$)/,
];

/** Generated files whose bytes may differ from dpkg's while holding the same thing. */
const EQUIVALENT: Record<string, (a: Buffer, b: Buffer) => boolean> = {
  "etc/ssl/certs/java/cacerts": (a, b) => jksCertificates(a).join("\n") === jksCertificates(b).join("\n"),
  "etc/shadow": (a, b) => sameAccounts(a, b),
  "etc/gshadow": (a, b) => sameAccounts(a, b),
};

/**
 * shadow and gshadow hold the same accounts: every one strata's image has is dpkg's, and every one
 * dpkg's has is strata's unless it is one of base-passwd's fixed ones (strata adds those only where
 * a script names one) or one the essential baseline already has (apt's `_apt`: made by what strata
 * leaves out). Password fields and dates are not compared (dpkg's carry the install day).
 */
export function sameAccounts(
  dpkg: Buffer,
  strata: Buffer,
  baseline: ReadonlySet<string> = new Set(),
): boolean {
  const names = (b: Buffer) =>
    new Set(
      b
        .toString("utf8")
        .split("\n")
        .filter(Boolean)
        .map((l) => l.split(":")[0]),
    );
  const [want, got] = [names(dpkg), names(strata)];
  const fixed = new Set(["root", ...STATIC_USERS.map((u) => u.name), ...STATIC_GROUPS.keys(), ...baseline]);
  // The spec's default accounts (nonroot) are strata's own, in every image.
  const own = new Set([...DEFAULT_ACCOUNTS.users, ...DEFAULT_ACCOUNTS.groups].map((a) => a.name));
  return (
    [...got].every((n) => want.has(n) || own.has(n)) && [...want].every((n) => got.has(n) || fixed.has(n))
  );
}

/** The account names of a tree's passwd and group files. */
function accountNames(tree: FsTree): Set<string> {
  const out = new Set<string>();
  for (const file of ["etc/passwd", "etc/group"]) {
    for (const line of (tree.bodies.get(file)?.toString("utf8") ?? "").split("\n"))
      if (line) out.add(line.split(":")[0]);
  }
  return out;
}

/** Bodies a comparison reads: the equivalent files, and the account files that name owners. */
const keepBody = (path: string) => path in EQUIVALENT || path === "etc/passwd" || path === "etc/group";

export interface ParityResult {
  name: string;
  effects: number;
  made: string[];
  skipped: Array<{ path: string; reason: string }>;
  missing: Array<{ path: string; why: string }>;
  /** Locked packages that mmdebstrap installed at another version (should be none). */
  skew: string[];
  /** strata's image, an OCI layout. */
  layout: string;
  /** The whole tree beyond the baseline, shipped paths and made ones. */
  wide: WideParity;
  /** Packages mmdebstrap installed that the lock does not hold (excluded machinery and its needs). */
  onlyInReference: string[];
}

export interface ParityOptions {
  /** Scratch space for the spec, lock, layout and mmdebstrap's tarball. */
  work: string;
  /** Runs the strata CLI with these arguments; throws when it fails. */
  strata: (args: string[]) => Promise<unknown>;
}

/** Locks and builds the set with strata, takes dpkg's effects from the cached references, compares. */
export async function measureParity(set: { name: string; packages: string[] }, opts: ParityOptions) {
  const dir = join(opts.work, set.name.replace(/[^a-z0-9]+/gi, "-"));
  await mkdir(dir, { recursive: true });
  const spec = join(dir, "strata.yaml");
  await writeFileAtomic(spec, `archs: [amd64]\npackages: [${set.packages.join(", ")}]\n`);
  await opts.strata(["lock", spec]);
  await opts.strata(["build", spec, "-o", join(dir, "out"), "--force"]);
  const lock = JSON.parse(await readFile(join(dir, "strata.lock"), "utf8")) as {
    packages: Array<{ name: string; version: string }>;
    excluded: Array<{ name: string }>;
  };
  const locked = lock.packages;
  const include = locked.map((p) => `${p.name}=${p.version}`).sort();
  const sources = await hostSourceFiles();
  const reference = await cachedReference(
    `v4-with-${sha256Hex(include.join("\n"))}`,
    include,
    sources,
    opts.work,
  );
  const baseline = await cachedReference(
    `v4-baseline-${sha256Hex(await sourcesText(sources))}`,
    [],
    sources,
    opts.work,
  );
  const layout = join(dir, "out");
  const image = await imageTree(layout, keepBody);
  // What mmdebstrap installed beyond the lock: the machinery strata excludes (adduser, debconf, ucf)
  // and what only it needs (passwd); their files are not the set's.
  const lockedNames = new Set(locked.map((p) => p.name));
  const onlyInReference = Object.keys(reference.versions)
    .filter((name) => !lockedNames.has(name))
    .sort();
  const skew = locked
    .filter((p) => reference.versions[p.name] !== p.version)
    .map((p) => `${p.name}: locked ${p.version}, mmdebstrap ${reference.versions[p.name] ?? "absent"}`);
  const baselinePaths = new Set(baseline.tree.nodes.keys());
  const baselineAccounts = accountNames(baseline.tree);
  const equivalent = (path: string) => {
    const [a, b] = [reference.tree.bodies.get(path), image.bodies.get(path)];
    if (a === undefined || b === undefined) return false;
    if (path === "etc/shadow" || path === "etc/gshadow") return sameAccounts(a, b, baselineAccounts);
    return EQUIVALENT[path]?.(a, b) === true;
  };
  return {
    ...compareEffects(set.name, reference, baselinePaths, image),
    wide: compareTrees(reference, baselinePaths, image, {
      equivalent,
      leftOut: new Set(onlyInReference),
    }),
    skew,
    layout,
    onlyInReference,
  };
}

interface Reference {
  tree: FsTree;
  shipped: Set<string>;
  /** The package whose .list names each shipped path. */
  owners: Map<string, string>;
  versions: Record<string, string>;
}

function compareEffects(name: string, ref: Reference, baseline: Set<string>, image: FsTree) {
  const result: Omit<ParityResult, "skew" | "layout" | "wide" | "onlyInReference"> = {
    name,
    effects: 0,
    made: [],
    skipped: [],
    missing: [],
  };
  for (const path of [...ref.tree.nodes.keys()].sort()) {
    if (ref.shipped.has(path) || baseline.has(path) || NOT_EFFECTS.some((r) => r.test(path))) continue;
    result.effects++;
    const why = judge(path, ref.tree, image);
    const reason = excludedReason(path);
    if (why === undefined) result.made.push(path);
    else if (reason !== undefined) result.skipped.push({ path, reason });
    else result.missing.push({ path, why });
  }
  return result;
}

/** Why strata's image lacks dpkg's effect at `path`, or undefined when it has it. */
function judge(path: string, ref: FsTree, image: FsTree): string | undefined {
  const want = ref.nodes.get(path)!;
  const got = image.lstat(path);
  if (!got) return "absent";
  if (got.node.type !== want.type) return `a ${got.node.type} where dpkg made a ${want.type}`;
  if (want.type === "symlink") {
    const [wantEnd, gotEnd] = [ref.realpath(path), image.realpath(got.path)];
    if (wantEnd !== gotEnd) return `leads to /${gotEnd}, dpkg's to /${wantEnd}`;
  }
  if (want.type === "file" && want.sha256 !== got.node.sha256) {
    const same = EQUIVALENT[path];
    const [a, b] = [ref.bodies.get(path), image.bodies.get(got.path)];
    if (!same || !a || !b || !same(a, b)) return "content differs";
  }
  return undefined;
}

/** mmdebstrap's tree for `include`, summarised and cached per package list (a week at most). */
async function cachedReference(key: string, include: string[], sources: string[], work: string) {
  const file = join(referenceCache(), `${key}.json`);
  const fresh = existsSync(file) && Date.now() - (await stat(file)).mtimeMs < 7 * 24 * 3600 * 1000;
  if (fresh) return parseReference(await readFile(file, "utf8"));
  const tarball = join(work, `${key}.tar`);
  const args = [
    "--variant=essential",
    "--quiet",
    ...(include.length ? [`--include=${include.join(",")}`] : []),
  ];
  await promisify(execFile)("mmdebstrap", [...args, "bookworm", tarball, ...sources], { maxBuffer: 1 << 26 });
  // The account tools' backups too: tar may store /etc/shadow as a hard link to /etc/shadow-, whose
  // body a link takes (the bodies are trimmed to keepBody's after summarise).
  const keep = (p: string) =>
    keepBody(p) ||
    /^etc\/(passwd|group|shadow|gshadow)-$/.test(p) ||
    /^var\/lib\/dpkg\/(info\/[^/]+\.list|status)$/.test(p);
  const tree = await tarballTree(tarball, keep);
  await rm(tarball, { force: true });
  const reference = summarise(tree);
  await mkdir(referenceCache(), { recursive: true });
  await writeFileAtomic(file, serialise(reference));
  return reference;
}

/**
 * What dpkg's database in `tree` says: the paths each package's .list ships (merged-/usr), the
 * package that ships each, and the version of each package installed.
 */
export function dpkgState(tree: FsTree) {
  const shipped = new Set<string>();
  const owners = new Map<string, string>();
  for (const [path, body] of tree.bodies) {
    const pkg = /^var\/lib\/dpkg\/info\/([^/:]+)(:[^/]+)?\.list$/.exec(path)?.[1];
    if (pkg === undefined) continue;
    for (const line of body.toString("utf8").split("\n")) {
      const p = line.replace(/^\/+/, "").replace(/\/+$/, "");
      if (p === "" || p === ".") continue;
      shipped.add(mergedUsrPath(p));
      owners.set(mergedUsrPath(p), pkg);
    }
  }
  const versions: Record<string, string> = {};
  for (const stanza of (tree.bodies.get("var/lib/dpkg/status") ?? "").toString().split("\n\n")) {
    const name = /^Package: (.+)$/m.exec(stanza)?.[1];
    const version = /^Version: (.+)$/m.exec(stanza)?.[1];
    if (name && version) versions[name] = version;
  }
  return { shipped, owners, versions };
}

function summarise(tree: FsTree): Reference {
  const state = dpkgState(tree);
  for (const path of [...tree.bodies.keys()]) if (!keepBody(path)) tree.bodies.delete(path);
  return { tree, ...state };
}

function serialise(r: Reference): string {
  return JSON.stringify({
    nodes: [...r.tree.nodes],
    bodies: [...r.tree.bodies].map(([p, b]) => [p, b.toString("base64")]),
    shipped: [...r.shipped],
    owners: [...r.owners],
    versions: r.versions,
  });
}

function parseReference(text: string): Reference {
  const data = JSON.parse(text) as {
    nodes: Array<[string, TreeNode]>;
    bodies: Array<[string, string]>;
    shipped: string[];
    owners: Array<[string, string]>;
    versions: Record<string, string>;
  };
  const tree = new FsTree();
  for (const [p, n] of data.nodes) tree.nodes.set(p, n);
  for (const [p, b] of data.bodies) tree.bodies.set(p, Buffer.from(b, "base64"));
  return { tree, shipped: new Set(data.shipped), owners: new Map(data.owners), versions: data.versions };
}

/** Where references survive between runs: $STRATA_TEST_CACHE, else ~/.cache/strata-test. */
function referenceCache(): string {
  return join(process.env.STRATA_TEST_CACHE ?? join(homedir(), ".cache", "strata-test"), "effects-parity");
}

/** The host's apt source files, handed to mmdebstrap as its mirrors (it pastes files in as they are). */
export async function hostSourceFiles(): Promise<string[]> {
  const files: string[] = [];
  const main = "/etc/apt/sources.list";
  if (existsSync(main) && /^\s*deb\s/m.test(await readFile(main, "utf8"))) files.push(main);
  const dir = "/etc/apt/sources.list.d";
  const names = existsSync(dir) ? (await readdir(dir)).sort() : [];
  for (const name of names) {
    if (name.endsWith(".sources") || name.endsWith(".list")) files.push(join(dir, name));
  }
  if (files.length === 0) throw new Error("no apt sources on this host for mmdebstrap");
  return files;
}

async function sourcesText(files: string[]): Promise<string> {
  return (await Promise.all(files.map((f) => readFile(f, "utf8")))).join("\n");
}
