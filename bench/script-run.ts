/**
 * `node --import tsx bench/script-run.ts [SET...]`: the other road for maintainer-script effects
 * (issue 16 §3), a prototype measured against strata's follower. For each set of the wide corpus
 * (test/helpers/parity-corpus.ts; default: the eight below):
 *
 * 1. strata locks and builds it (the follower's image), CPU of a cold and a warm build.
 * 2. The real run: mmdebstrap --mode=unshare --variant=essential --include=<the locked versions>,
 *    run by an unprivileged user (STRATA_RUNNER_USER when this runs as root). A first run fetches
 *    the .debs (network) and keeps them as a local repository; then two runs and the essential
 *    baseline are made from it with NO network: the whole mmdebstrap inside
 *    `unshare --user --map-auto --map-root-user --net --uts` (loopback only), so no script can
 *    reach the outside. SOURCE_DATE_EPOCH is fixed; each run has its own TMPDIR and host name.
 * 3. Determinism: every path whose type, link, mode, owner or bytes differ between the two offline
 *    runs (mtimes are not compared: strata normalises them).
 * 4. Attribution: the paths the run leaves that no locked .deb ships and the tool root (the
 *    essential baseline and the packages outside the lock: debconf, adduser, ucf, perl...) does not
 *    hold, plus the shipped paths whose mode, owner or bytes the scripts changed; compared with the
 *    follower's image (test/helpers/tree-parity.ts), both ways.
 * 5. CPU (user + sys of the whole process tree, reaped children) of the offline run vs the build.
 *
 * Results go to stdout and .bench/script-run.md (and .json); the per-path lists to
 * .bench/script-run-details.md; BENCHMARKS.md §4c holds a run of the eight default sets. What a
 * production real-run road would need: docs/real-run-road.md.
 *
 * Needs mmdebstrap, dpkg-scanpackages, unshare, ip, unprivileged user namespaces, and a runner
 * with a subuid/subgid range (as root: `useradd -m realrun`, `realrun:100000:65536` in
 * /etc/subuid and /etc/subgid, then STRATA_RUNNER_USER=realrun). STRATA_KEEP_WORK=1 keeps the
 * work directory (repositories, caches, strata's images).
 */
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { chmod, chown, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MERGED_USR_DIRS, mergedUsrPath } from "../src/debian/merged-usr.js";
import { dpkgState, sameAccounts } from "../test/helpers/effects-parity.js";
import { FsTree, imageTree, type TreeNode, tarballTree } from "../test/helpers/fs-tree.js";
import { PARITY_CORPUS } from "../test/helpers/parity-corpus.js";
import { compareTrees, notInImages, type WideParity } from "../test/helpers/tree-parity.js";
import { table } from "./format.js";
import { log, ROOT, run, strata } from "./proc.js";

const DEFAULT_SETS = [
  "apache2",
  "php8.2-cli",
  "postfix",
  "dovecot-imapd",
  "postgresql-15",
  "tomcat10",
  "nginx",
  "python3",
];
/** Any fixed instant: what scripts date (shadow's last change, generated files) reads it. */
const EPOCH = "1700000000";
const SUITE = "bookworm";

interface Runner {
  /** The unprivileged account the runs use, when this process is root. */
  user?: string;
  uid: number;
  gid: number;
}

async function runnerAccount(): Promise<Runner> {
  const self = { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
  if (self.uid !== 0) return self;
  const user = process.env.STRATA_RUNNER_USER;
  if (!user) throw new Error("running as root: set STRATA_RUNNER_USER to an unprivileged user with subuids");
  const id = async (flag: string) => Number((await run("id", [flag, user])).stdout.trim());
  return { user, uid: await id("-u"), gid: await id("-g") };
}

/** The command as the runner, with the fixed epoch and its own TMPDIR. */
function asRunner(r: Runner, tmp: string, argv: string[]): [string, string[]] {
  const env = ["env", `SOURCE_DATE_EPOCH=${EPOCH}`, `TMPDIR=${tmp}`, "LC_ALL=C.UTF-8"];
  return r.user ? ["runuser", ["-u", r.user, "--", ...env, ...argv]] : [env[0], [...env.slice(1), ...argv]];
}

async function runnerDir(r: Runner, path: string): Promise<string> {
  await mkdir(path, { recursive: true });
  await chown(path, r.uid, r.gid);
  // Inside mmdebstrap's namespace root is a subordinate id: it must traverse what the runner owns.
  await chmod(path, 0o755);
  return path;
}

/** The host's deb822 or one-line source files, mmdebstrap's mirrors for the download run. */
async function hostSources(): Promise<string[]> {
  const dir = "/etc/apt/sources.list.d";
  const names = (await readdir(dir)).filter((n) => /\.(sources|list)$/.test(n)).sort();
  return names.map((n) => join(dir, n));
}

interface Locked {
  include: string[];
  names: Set<string>;
  /** CPU of builds: nothing cached; the .debs cached but no layer; everything cached. */
  buildCpu: { cold: number; layers: number; warm: number };
}

/** strata lock + build three times (see buildCpu), the follower's image; a cache of the set's own. */
async function lockAndBuild(packages: string[], dir: string): Promise<Locked> {
  const [spec, cache] = [join(dir, "strata.yaml"), join(dir, "cache")];
  await writeFile(spec, `archs: [amd64]\npackages: [${packages.join(", ")}]\n`);
  const cli = (args: string[]) => strata(["--cache-dir", cache, "--quiet", ...args]);
  await cli(["lock", spec]);
  const build = ["build", spec, "-o", join(dir, "out"), "--force", "--no-sbom", "--no-vex"];
  const cold = (await cli(build)).cpu;
  // Without its built layers the cache still holds the .debs: what the offline real run also has.
  for (const sub of ["layers", "layer-details", "blobs"])
    await rm(join(cache, sub), { recursive: true, force: true });
  const layers = (await cli(build)).cpu;
  const warm = (await cli(build)).cpu;
  const lock = JSON.parse(await readFile(join(dir, "strata.lock"), "utf8")) as {
    packages: Array<{ name: string; version: string }>;
  };
  return {
    include: lock.packages.map((p) => `${p.name}=${p.version}`).sort(),
    names: new Set(lock.packages.map((p) => p.name)),
    buildCpu: { cold, layers, warm },
  };
}

/** The first, networked run: it keeps every .deb it used as the pool of a local repository. */
async function downloadRun(r: Runner, dir: string, include: string[]): Promise<number> {
  const pool = await runnerDir(r, join(dir, "repo", "pool"));
  const tmp = await runnerDir(r, join(dir, "tmp-download"));
  const argv = [
    "mmdebstrap",
    "--mode=unshare",
    "--variant=essential",
    "--quiet",
    "--skip=essential/unlink",
    `--include=${include.join(",")}`,
    `--customize-hook=sync-out /var/cache/apt/archives ${pool}`,
    SUITE,
    "/dev/null",
    ...(await hostSources()),
  ];
  const res = await run(...asRunner(r, tmp, argv));
  await rm(join(pool, "partial"), { recursive: true, force: true });
  await rm(join(pool, "lock"), { force: true });
  return res.cpu;
}

/** dists/SUITE/main/binary-amd64/Packages and a Release naming the suite (mmdebstrap finds the
 * Essential set by it), unsigned: the repository is trusted because we filled it. */
async function indexRepo(dir: string): Promise<void> {
  const repo = join(dir, "repo");
  const packages = (await run("dpkg-scanpackages", ["pool"], { cwd: repo })).stdout;
  const rel = "main/binary-amd64/Packages";
  await mkdir(join(repo, "dists", SUITE, "main", "binary-amd64"), { recursive: true });
  await writeFile(join(repo, "dists", SUITE, rel), packages);
  const sha = createHash("sha256").update(packages).digest("hex");
  const release = [
    `Suite: ${SUITE}`,
    `Codename: ${SUITE}`,
    "Architectures: amd64",
    "Components: main",
    "SHA256:",
    ` ${sha} ${Buffer.byteLength(packages)} ${rel}`,
    "",
  ];
  await writeFile(join(repo, "dists", SUITE, "Release"), release.join("\n"));
}

/**
 * A run with no network but loopback (postfix's newaliases wants an interface up), from the local
 * repository, under its own host name (a UTS namespace and /etc/hostname): the tarball and its CPU. The two runs use
 * different names so that what depends on the host's name shows up as unreproducible.
 */
async function offlineRun(r: Runner, dir: string, name: string, include: string[]) {
  const tmp = await runnerDir(r, join(dir, `tmp-${name}`));
  const tar = join(dir, `${name}.tar`);
  const argv = [
    ...["unshare", "--user", "--map-auto", "--map-root-user", "--net", "--uts", "--fork"],
    ...["sh", "-c", 'ip link set lo up && hostname "$0" && exec "$@"', `${name}-host`],
    ...["mmdebstrap", "--mode=unshare", "--variant=essential", "--quiet"],
    // mmdebstrap copies the host's /etc/hostname in, and postfix's postinst reads it.
    `--essential-hook=echo ${name}-host > "$1/etc/hostname"`,
    ...(include.length > 0 ? [`--include=${include.join(",")}`] : []),
    SUITE,
    tar,
    `deb [trusted=yes] copy://${join(dir, "repo")} ${SUITE} main`,
  ];
  const res = await run(...asRunner(r, tmp, argv));
  return { tar, cpu: res.cpu };
}

const keepBody = (p: string) =>
  /^etc\/(passwd|group|shadow|gshadow)$/.test(p) || /^var\/lib\/dpkg\/(info\/[^/]+\.list|status)$/.test(p);

/** A run's tarball as a tree (then removed: they are 150 MB to 1 GB). */
async function readRun(tar: string): Promise<FsTree> {
  const tree = await tarballTree(tar, keepBody);
  await rm(tar, { force: true });
  return tree;
}

function nodeText(n: TreeNode | undefined): string {
  if (!n) return "absent";
  const owner = `${n.uid}:${n.gid} ${n.mode?.toString(8)}`;
  return n.type === "symlink"
    ? `-> ${n.linkname}`
    : `${n.type} ${owner}${n.sha256 ? ` ${n.sha256.slice(0, 8)}` : ""}`;
}

interface Unreproducible {
  path: string;
  a: string;
  b: string;
  /** Why no image holds it anyway (NOT_IN_IMAGES, or a link to such a path), if so. */
  leftOut?: string;
}

/** Every path whose type, link, mode, owner or bytes differ between two runs. */
function unreproducible(a: FsTree, b: FsTree): Unreproducible[] {
  const paths = new Set([...a.nodes.keys(), ...b.nodes.keys()]);
  const out: Unreproducible[] = [];
  for (const path of [...paths].sort()) {
    const [x, y] = [nodeText(a.nodes.get(path)), nodeText(b.nodes.get(path))];
    if (x === y) continue;
    const target = (t: FsTree) => (t.nodes.get(path)?.type === "symlink" ? t.realpath(path) : undefined);
    const toLeftOut = [target(a), target(b)].some((t) => t !== undefined && notInImages(t) !== undefined);
    const leftOut = notInImages(path) ?? (toLeftOut ? "a link to what is left out" : undefined);
    out.push({ path, a: x, b: y, leftOut });
  }
  return out;
}

/** What the locked .debs ship, as their data.tar says (merged-/usr paths). */
async function debsTree(dir: string, names: Set<string>): Promise<Map<string, TreeNode>> {
  const pool = join(dir, "repo", "pool");
  const tree = new FsTree();
  for (const file of (await readdir(pool)).filter((f) => f.endsWith(".deb")).sort()) {
    if (!names.has(file.slice(0, file.indexOf("_")))) continue;
    const child = spawn("dpkg-deb", ["--fsys-tarfile", join(pool, file)], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    await tree.readTar(child.stdout, () => false);
  }
  return new Map([...tree.nodes].map(([p, n]) => [mergedUsrPath(p), n]));
}

interface Attribution {
  wide: WideParity;
  /** Shipped by a locked .deb, changed by a script (mode, owner, bytes): path and how. */
  changed: Array<{ path: string; how: string; follower: boolean }>;
  /** Paths the follower's image has that no .deb ships and the real run does not leave. */
  followerOnly: string[];
}

/** Nodes differ in what a script changes: mode, owner, bytes, type, link. */
function metaChange(deb: TreeNode, got: TreeNode): string | undefined {
  if (deb.type !== got.type) return `${deb.type} → ${got.type}`;
  if (deb.type === "symlink") return deb.linkname === got.linkname ? undefined : "link target";
  const how: string[] = [];
  if (deb.mode !== got.mode) how.push(`mode ${deb.mode?.toString(8)} → ${got.mode?.toString(8)}`);
  if (deb.uid !== got.uid || deb.gid !== got.gid)
    how.push(`owner ${deb.uid}:${deb.gid} → ${got.uid}:${got.gid}`);
  if (deb.type === "file" && deb.sha256 !== got.sha256) how.push("bytes");
  return how.length > 0 ? how.join(", ") : undefined;
}

function attribute(
  real: FsTree,
  baseline: FsTree,
  debs: Map<string, TreeNode>,
  locked: Set<string>,
  image: FsTree,
): Attribution {
  const state = dpkgState(real);
  const leftOut = new Set(Object.keys(state.versions).filter((n) => !locked.has(n)));
  const base = new Set(baseline.nodes.keys());
  const wide = compareTrees({ tree: real, ...state }, base, image, {
    leftOut,
    equivalent: (p) => {
      const [a, b] = [real.bodies.get(p), image.bodies.get(p)];
      return /^etc\/g?shadow$/.test(p) && a !== undefined && b !== undefined && sameAccounts(a, b);
    },
  });
  const missed = new Set(wide.differ.map((d) => d.path));
  const changed: Attribution["changed"] = [];
  for (const [path, node] of [...real.nodes].sort(([a], [b]) => a.localeCompare(b))) {
    const deb = debs.get(path);
    if (!deb || !locked.has(state.owners.get(path) ?? "") || notInImages(path) !== undefined) continue;
    // bin, lib... made links to usr/ by merged-/usr (mmdebstrap's, strata's own), not by a script.
    if (MERGED_USR_DIRS.includes(path)) continue;
    const how = metaChange(deb, node);
    if (how) changed.push({ path, how, follower: !missed.has(path) });
  }
  const followerOnly = [...image.nodes.keys()]
    .filter((p) => !debs.has(mergedUsrPath(p)) && !base.has(p) && notInImages(p) === undefined)
    .filter((p) => real.lstat(p) === undefined)
    .sort();
  return { wide, changed, followerOnly };
}

interface SetResult {
  name: string;
  packages: number;
  attribution: Attribution;
  unreproducible: Unreproducible[];
  cpu: { download: number; offline: number; baseline: number; build: Locked["buildCpu"] };
}

async function measureSet(set: { name: string; packages: string[] }, r: Runner, work: string) {
  const dir = await runnerDir(r, join(work, set.name.replace(/[^a-z0-9.]+/gi, "-")));
  log(`${set.name}: strata lock + build`);
  const locked = await lockAndBuild(set.packages, dir);
  log(`${set.name}: download run (${locked.include.length} locked)`);
  const download = await downloadRun(r, dir, locked.include);
  await indexRepo(dir);
  log(`${set.name}: offline runs`);
  const first = await offlineRun(r, dir, "run-1", locked.include);
  const second = await offlineRun(r, dir, "run-2", locked.include);
  const base = await offlineRun(r, dir, "baseline", []);
  const [one, two, baseline] = [await readRun(first.tar), await readRun(second.tar), await readRun(base.tar)];
  const image = await imageTree(join(dir, "out"), (p) => keepBody(p));
  const debs = await debsTree(dir, locked.names);
  return {
    name: set.name,
    packages: locked.include.length,
    attribution: attribute(one, baseline, debs, locked.names, image),
    unreproducible: unreproducible(one, two),
    cpu: { download, offline: first.cpu, baseline: base.cpu, build: locked.buildCpu },
  } satisfies SetResult;
}

const s = (x: number) => `${x.toFixed(1)} s`;

function report(results: SetResult[], failed: string[]): string {
  const rows = results.map((x) => {
    const w = x.attribution.wide;
    const real = w.scriptPaths + x.attribution.changed.length;
    const both = w.scriptMatching + x.attribution.changed.filter((c) => c.follower).length;
    return [
      x.name,
      String(x.packages),
      `${real} (${w.scriptPaths} made, ${x.attribution.changed.length} changed)`,
      String(both),
      String(real - both),
      String(x.attribution.followerOnly.length),
      String(x.unreproducible.filter((u) => u.leftOut === undefined).length),
      `${s(x.cpu.offline)} (${s(x.cpu.baseline)}) / ${s(x.cpu.download)}`,
      `${s(x.cpu.build.layers)} / ${s(x.cpu.build.cold)} / ${s(x.cpu.build.warm)}`,
    ];
  });
  const header = [
    "set",
    "locked",
    "script effects, real run",
    "follower has too",
    "real run only",
    "follower only",
    "unreproducible (kept paths)",
    "CPU real run offline (Essential baseline alone) / download run",
    "CPU strata build: .debs cached / nothing / all cached",
  ];
  const notMeasured = failed.length > 0 ? ["", "_Not measured:_", "", ...failed.map((f) => `- ${f}`)] : [];
  return [table(header, rows), ...notMeasured].join("\n");
}

function details(results: SetResult[]): string {
  return results
    .flatMap((x) => [
      `## ${x.name}`,
      "",
      "### real run's script effects the follower lacks",
      ...x.attribution.wide.differ.filter((d) => d.script).map((d) => `- /${d.path}: ${d.why}`),
      ...x.attribution.changed.filter((c) => !c.follower).map((c) => `- /${c.path} (shipped, ${c.how})`),
      "",
      "### shipped paths the scripts changed (follower has it: yes/no)",
      ...x.attribution.changed.map((c) => `- /${c.path}: ${c.how} (${c.follower ? "yes" : "no"})`),
      "",
      "### follower only",
      ...x.attribution.followerOnly.map((p) => `- /${p}`),
      "",
      "### unreproducible between two offline runs (left out of images: marked)",
      ...x.unreproducible.map(
        (u) => `- /${u.path}: ${u.a} | ${u.b}${u.leftOut ? ` (left out: ${u.leftOut})` : ""}`,
      ),
      "",
    ])
    .join("\n");
}

async function main(): Promise<number> {
  const names = process.argv.slice(2).length > 0 ? process.argv.slice(2) : DEFAULT_SETS;
  const sets = PARITY_CORPUS.filter((x) => names.includes(x.name));
  if (sets.length !== names.length) {
    process.stderr.write(`unknown set; the corpus: ${PARITY_CORPUS.map((x) => x.name).join(", ")}\n`);
    return 2;
  }
  const r = await runnerAccount();
  const work = await runnerDir(r, await mkdtemp(join(tmpdir(), "strata-script-run-")));
  const [results, failed]: [SetResult[], string[]] = [[], []];
  try {
    for (const set of sets) {
      try {
        results.push(await measureSet(set, r, work));
      } catch (err) {
        failed.push(
          `${set.name}: ${(err instanceof Error ? err.message : String(err)).split("\n").slice(0, 4).join(" / ")}`,
        );
      }
      await mkdir(join(ROOT, ".bench"), { recursive: true });
      await writeFile(join(ROOT, ".bench", "script-run.md"), `${report(results, failed)}\n`);
      await writeFile(join(ROOT, ".bench", "script-run-details.md"), details(results));
      await writeFile(join(ROOT, ".bench", "script-run.json"), JSON.stringify(results, null, 1));
    }
  } finally {
    if (!process.env.STRATA_KEEP_WORK) await rm(work, { recursive: true, force: true });
  }
  process.stdout.write(`${report(results, failed)}\n`);
  return 0;
}

process.exitCode = await main();
