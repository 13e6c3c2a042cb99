import { type Accounts, accountFiles } from "../debian/accounts.js";
import { STATIC_GROUPS } from "../debian/base-passwd.js";
import { baseLayerEntries } from "../debian/base-root.js";
import { followScripts, type SkippedEffect } from "../debian/maintscripts.js";
import { ImageTree } from "../debian/shell/tree.js";
import type { LayerEntry } from "../oci/layer-entry.js";
import { type ContentStore, cacheStore } from "../util/cas.js";
import { compareText } from "../util/order.js";
import { dropDanglingLinks } from "./dangling.js";
import { foldDocLinkNotes } from "./doc-links.js";
import { generatedFiles, readCaBundle } from "./generated.js";
import type { PackageFacts } from "./package-facts.js";
import { shipEntries, treeNode } from "./script-facts.js";

/**
 * strata never runs maintainer scripts. The effects of theirs that an image needs are made here,
 * natively and deterministically, for the files layer, from facts recorded when each package's
 * layer was built (so a warm build reads no .deb):
 *
 * - the scripts themselves are followed (src/debian/maintscripts.ts) over the image's tree: the
 *   links update-alternatives makes, files and directories they make (nginx's default site link and
 *   page, /etc/.java), accounts adduser and useradd add, /etc/shells; what is not followed is
 *   returned as skipped effects, one per command, with the reason;
 * - ca-certificates: /etc/ssl/certs/ca-certificates.crt, the bundle update-ca-certificates writes
 *   with every packaged certificate enabled (its default);
 * - files generated from other packages' data (src/effects/generated.ts);
 * - no link whose target is not in the image (src/effects/dangling.ts).
 */
export interface NativeEffects {
  entries: LayerEntry[];
  notes: string[];
  skipped: SkippedEffect[];
  /** Per package, what its scripts made natively (paths and accounts). */
  made: Map<string, number>;
  /** The image's tree with the effects made: for the entrypoint check. */
  tree: ImageTree;
  /** The image's accounts, with those scripts added. */
  accounts: Accounts;
}

export interface EffectsInput {
  /** The members of the image's package layers, in layer order (the order dpkg configures them). */
  members: PackageFacts[];
  storeRoot: string;
  architecture: string;
  /** The base layer: its entries (merged-/usr links, /etc/passwd...) and the accounts it holds. */
  baseEntries: LayerEntry[];
  accounts: Accounts;
  /** Every path the image's layers hold, to tell a dangling link. */
  files: string[];
  epoch: number;
  /**
   * The bytes of files of a package's layer (at most 1 MiB each), for files other packages' scripts
   * read that its layer's facts did not record; without it those are reported as not recorded.
   */
  readBodies?: (pkg: string, paths: string[]) => Promise<Map<string, Buffer>>;
}

const CA_BUNDLE = "etc/ssl/certs/ca-certificates.crt";

/** The most passes over the scripts: a file read in one pass may lead a script to read another. */
const MAX_PASSES = 3;

export async function nativeEffects(input: EffectsInput): Promise<NativeEffects> {
  const store = cacheStore(input.storeRoot);
  const bodies = new Map<string, Buffer>();
  for (const facts of input.members) {
    for (const [path, sha256] of Object.entries(facts.bodies))
      bodies.set(
        `${facts.package}\0${path}`,
        await store.readRecorded(sha256, `a file recorded for ${facts.package}`),
      );
  }
  // Scripts read files of other packages (php's helpers, postgresql-common's functions) whose bytes
  // their own layers did not record: those are read from their layers, and the scripts followed again.
  let followed = followAll(input, bodies);
  for (let pass = 1; pass < MAX_PASSES && input.readBodies; pass++) {
    const wanted = unrecordedReads(followed.tree);
    if (wanted.size === 0) break;
    for (const [pkg, paths] of wanted) {
      for (const [path, body] of await input.readBodies(pkg, [...paths])) bodies.set(`${pkg}\0${path}`, body);
    }
    followed = followAll(input, bodies);
  }
  const { tree, run } = followed;
  const skipped = [...run.skipped, ...oversizedScripts(input.members)];
  const notes = foldDocLinkNotes(run.notes);
  const accounts = { users: run.accounts.users, groups: run.accounts.groups };
  const made = changedEntries(tree);
  if (run.accounts.changed) made.push(...accountEntries(input.architecture, accounts, input.epoch));
  const bundle = await caBundle(input.members, store);
  if (bundle) {
    made.push(bundle.entry);
    notes.push(bundle.note);
  }
  const byPackage = [...input.members].sort((a, b) => compareText(a.package, b.package));
  const generated = await generatedFiles(byPackage, store, input.epoch);
  made.push(...generated.entries);
  // One entry a path: what is made natively last (accounts, generated files) replaces what a script wrote.
  const kept = dropDanglingLinks([...new Map(made.map((e) => [e.path, e])).values()], input.files);
  return {
    entries: kept.entries,
    notes: [...notes, ...generated.notes, ...kept.notes],
    skipped,
    made: run.made,
    tree,
    accounts,
  };
}

/** The scripts followed over a fresh tree of the image, with the file bodies known so far. */
function followAll(input: EffectsInput, bodies: Map<string, Buffer>) {
  const tree = new ImageTree();
  shipEntries(tree, input.baseEntries);
  const byName = new Map(input.members.map((m) => [m.package, m]));
  const run = followScripts(
    input.members.map((m) => ({
      name: m.package,
      version: m.version,
      architecture: m.architecture,
      ...m.maintainerScripts,
    })),
    {
      tree,
      architecture: input.architecture,
      accounts: input.accounts,
      unpack: (pkg) => {
        for (const fact of byName.get(pkg.name)?.paths ?? [])
          tree.ship(fact[0], { ...treeNode(fact, bodies.get(`${pkg.name}\0${fact[0]}`)), owner: pkg.name });
      },
    },
  );
  return { tree, run };
}

/** Packaged files scripts read whose bytes were not recorded, by the package that ships them. */
function unrecordedReads(tree: ImageTree): Map<string, Set<string>> {
  const wanted = new Map<string, Set<string>>();
  for (const path of tree.read) {
    const node = tree.at(path);
    if (node?.type !== "file" || node.body !== undefined || node.owner === undefined) continue;
    const paths = wanted.get(node.owner) ?? new Set<string>();
    wanted.set(node.owner, paths.add(path));
  }
  return wanted;
}

/** What scripts made or changed, as entries of the files layer. */
function changedEntries(tree: ImageTree): LayerEntry[] {
  const known = [...tree.changed].filter((path) => !tree.at(path)?.unknown);
  return known.sort(compareText).map((path) => {
    const node = tree.at(path)!;
    const base = { path, mode: node.mode, uid: node.uid, gid: node.gid };
    if (node.type === "symlink") return { ...base, type: "symlink", linkname: node.link };
    if (node.type === "dir") return { ...base, type: "dir" };
    return { ...base, type: "file", body: node.body };
  });
}

/**
 * /etc/passwd, group and shadow as the base layer writes them, now with the accounts scripts added,
 * and as the shadow tools leave them where accounts are made: the `shadow` group (base-passwd's 42,
 * unless the spec gave that id to another group), /etc/shadow and /etc/gshadow 0640 root:shadow,
 * shadow's last-change date the build epoch's day (the tools write the clock's), empty at epoch 0.
 */
function accountEntries(architecture: string, accounts: Accounts, epoch: number): LayerEntry[] {
  const files = new Set(["etc/passwd", "etc/group", "etc/shadow"]);
  const shadowGid = STATIC_GROUPS.get("shadow")!;
  const withShadow: Accounts = accounts.groups.some((g) => g.name === "shadow" || g.gid === shadowGid)
    ? accounts
    : { ...accounts, groups: [...accounts.groups, { name: "shadow", gid: shadowGid }] };
  const gid = withShadow.groups.find((g) => g.name === "shadow")?.gid ?? 0;
  const gshadow: LayerEntry = {
    path: "etc/gshadow",
    type: "file",
    mode: 0o640,
    uid: 0,
    gid,
    body: Buffer.from(accountFiles(withShadow).gshadow),
  };
  // Day 0 would say "change the password at the next login": the default epoch leaves it empty.
  const day = Math.floor(epoch / 86_400);
  const shadow = Buffer.from(accountFiles(withShadow, day > 0 ? day : undefined).shadow);
  const entries = baseLayerEntries(architecture, withShadow).filter((e) => files.has(e.path));
  return [...entries.map((e) => (e.path === "etc/shadow" ? { ...e, body: shadow } : e)), gshadow];
}

/** Scripts too big to have been recorded (so not followed), reported like any other skip. */
function oversizedScripts(members: PackageFacts[]): SkippedEffect[] {
  return members.flatMap((m) =>
    (["preinst", "postinst"] as const)
      .filter((s) => m.scripts.includes(s) && m.maintainerScripts[s] === undefined)
      .map((script) => ({
        package: m.package,
        script,
        command: "(the whole script)",
        reason: "not followed: too big",
      })),
  );
}

async function caBundle(
  members: PackageFacts[],
  store: ContentStore,
): Promise<{ entry: LayerEntry; note: string } | undefined> {
  const facts = [...members].sort((a, b) => compareText(a.package, b.package)).find((m) => m.caBundle);
  if (!facts?.caBundle) return undefined;
  const body = await readCaBundle(facts, store);
  return {
    entry: { path: CA_BUNDLE, type: "file", mode: 0o644, uid: 0, gid: 0, body },
    note: `made /${CA_BUNDLE} from ${facts.caBundle.certificates} certificates of ${facts.package}`,
  };
}
