/**
 * Where a cold build's CPU goes: one `strata build` on an empty cache under `node --cpu-prof` (which
 * profiles every worker thread too) and `/usr/bin/time` (CPU of the whole process tree: the xz
 * children are in it, not in any profile). Each sample is put in the phase of the innermost frame a
 * rule knows, and the phases are summed per thread; idle time is left out.
 *
 * CPU profiles sample wall-clock time on each thread, so on a loaded machine a descheduled thread's
 * time lands on whatever it was running: read the per-phase split as proportions, and take the
 * whole-tree CPU time (user + system) as the figure to compare.
 */
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { run, STRATA_BIN } from "./proc.js";

/** The parts of a .cpuprofile this reads. */
export interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string }; children?: number[] }[];
  samples: number[];
  timeDeltas: number[];
}

/** A phase and how to tell a frame belongs to it; the first rule that matches wins. */
interface PhaseRule {
  phase: string;
  url?: RegExp;
  fn?: RegExp;
}

const IDLE = "(idle)";

/** Library frames first (they are the innermost), then strata's own by function name. */
const PHASE_RULES: PhaseRule[] = [
  // strata's only WebAssembly is libdeflate (src/oci/libdeflate.ts); its frames are wasm://wasm/<hash>.
  { phase: "gzip (libdeflate wasm)", url: /^wasm:\/\// },
  { phase: "zstd", url: /\/zstd-napi\// },
  { phase: "hashing (sha256, md5)", url: /^node:internal\/crypto\/hash/ },
  { phase: "xz child start (fork)", url: /^node:internal\/child_process/ },
  { phase: "tar parse (tar-stream)", url: /\/(tar-stream|streamx|b4a|fast-fifo)\// },
  { phase: "garbage collection", fn: /^\(garbage collector\)$/ },
  { phase: "module load and compile", fn: /^(compile\w*|__require\w*|importModuleDynamically\w*)$/ },
  {
    phase: "canonical tar write",
    fn: /^(ustarBlock|tarHeader|octal|asciiFold|splitUstarPath|paxRecord|tarPadding)$/,
  },
  { phase: "spool (bodies kept)", fn: /^(take|read)$/, url: /layer-worker|spool/ },
  {
    phase: "facts (scripts, debconf, certificates)",
    fn: /^(recordScriptFacts|followScript\w*|parseShell\w*|tokenize\w*|caCertificateFacts|\w*[Dd]ebconf\w*)$/,
  },
  { phase: "signature checks (openpgp)", url: /\/openpgp/ },
  { phase: "network (download)", url: /^node:(_http_\w+|internal\/http|net|internal\/stream_base_commons)$/ },
  {
    phase: "streams and buffers (node)",
    url: /^node:(internal\/streams|stream|buffer|internal\/buffer|events)/,
  },
  { phase: "file system (node)", url: /^node:(internal\/fs|fs)/ },
];

function phaseOf(frame: { functionName: string; url: string }): string | undefined {
  for (const rule of PHASE_RULES) {
    if (rule.url && !rule.url.test(frame.url)) continue;
    if (rule.fn && !rule.fn.test(frame.functionName)) continue;
    return rule.phase;
  }
  return undefined;
}

/** Microseconds per phase of one profile; a sample no rule knows is "other". Idle is not counted. */
export function phaseTimes(profile: CpuProfile): Map<string, number> {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const phases = new Map<string, number>();
  const memo = new Map<number, string>();
  const phaseOfNode = (id: number): string => {
    const known = memo.get(id);
    if (known !== undefined) return known;
    let phase = "other";
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const found = phaseOf(byId.get(at)!.callFrame);
      if (found !== undefined) {
        phase = found;
        break;
      }
    }
    memo.set(id, phase);
    return phase;
  };
  profile.samples.forEach((id, i) => {
    if (byId.get(id)?.callFrame.functionName === IDLE) return;
    const phase = phaseOfNode(id);
    phases.set(phase, (phases.get(phase) ?? 0) + (profile.timeDeltas[i] ?? 0));
  });
  return phases;
}

export interface BuildProfile {
  /** Whole process tree, seconds (/usr/bin/time): node and its xz children. */
  tree: { user: number; system: number; wall: number };
  /** The node process alone (all its threads), seconds: the tree less this is xz's decoding. */
  node: { user: number; system: number };
  /** Seconds per phase, summed over the threads, and per thread ("main", "worker 1", ...). */
  phases: Map<string, number>;
  threads: Map<string, number>;
}

/** Profiles one cold build of `spec` (its lock beside it) into a fresh, empty cache. */
export async function profileColdBuild(spec: string): Promise<BuildProfile> {
  const work = await mkdtemp(join(tmpdir(), "strata-build-profile-"));
  try {
    const profiles = join(work, "profiles");
    const timeFile = join(work, "time");
    const usageFile = join(work, "usage.json");
    // The node process's own CPU, written as it exits (its children are not in it).
    const preload = join(work, "usage.cjs");
    await writeFile(
      preload,
      `process.on("exit", () => require("fs").writeFileSync(${JSON.stringify(usageFile)}, JSON.stringify(process.resourceUsage())));\n`,
    );
    await run("/usr/bin/time", [
      ...["-o", timeFile, "-f", "%U %S %e"],
      ...[process.execPath, "--cpu-prof", "--cpu-prof-dir", profiles, "--require", preload],
      STRATA_BIN,
      ...["--cache-dir", join(work, "cache"), "build", spec, "-o", join(work, "out"), "--force"],
    ]);
    const [user, system, wall] = (await readFile(timeFile, "utf8")).trim().split(/\s+/).slice(-3).map(Number);
    const phases = new Map<string, number>();
    const threads = new Map<string, number>();
    for (const file of (await readdir(profiles)).sort()) {
      const times = phaseTimes(JSON.parse(await readFile(join(profiles, file), "utf8")) as CpuProfile);
      // CPU.<date>.<time>.<pid>.<thread id>.<seq>.cpuprofile: thread 0 is the main thread.
      const threadId = Number(file.split(".").at(-3));
      const thread = threadId === 0 ? "main" : `worker ${threads.size}`;
      let total = 0;
      for (const [phase, us] of times) {
        phases.set(phase, (phases.get(phase) ?? 0) + us / 1e6);
        total += us / 1e6;
      }
      threads.set(thread, total);
    }
    const own = JSON.parse(await readFile(usageFile, "utf8")) as NodeJS.ResourceUsage;
    const node = { user: own.userCPUTime / 1e6, system: own.systemCPUTime / 1e6 };
    return { tree: { user, system, wall }, node, phases, threads };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** The profile as a Markdown table: phases by CPU seconds, with ms per MB of data.tar. */
export function buildProfileMarkdown(profile: BuildProfile, tarBytes: number): string {
  const mbOfTar = tarBytes / 1e6;
  const perMb = (s: number) => (mbOfTar > 0 ? `${((s * 1000) / mbOfTar).toFixed(1)} ms` : "–");
  const { user, system, wall } = profile.tree;
  const node = profile.node.user + profile.node.system;
  const children = user + system - node;
  const sampled = [...profile.phases.values()].reduce((a, b) => a + b, 0);
  const rows = [...profile.phases].sort((a, b) => b[1] - a[1]);
  return [
    `Cold build profile (one run, empty cache): whole process tree ${(user + system).toFixed(2)} s CPU ` +
      `(user ${user.toFixed(2)} s, system ${system.toFixed(2)} s; xz children included), ${wall.toFixed(2)} s wall; ` +
      `${mbOfTar.toFixed(1)} MB of data.tar. Node threads sampled busy: ` +
      [...profile.threads].map(([t, s]) => `${t} ${s.toFixed(2)} s`).join(", ") +
      ". Sampled time is wall-clock on each thread: on a loaded machine it exceeds the CPU used.",
    "",
    "| phase (Node threads, sampled) | CPU s | share | per MB of tar |",
    "|---|---|---|---|",
    ...rows.map(
      ([phase, s]) => `| ${phase} | ${s.toFixed(2)} | ${((100 * s) / sampled).toFixed(0)} % | ${perMb(s)} |`,
    ),
    `| node process, all threads (its own rusage) | ${node.toFixed(2)} | | ${perMb(node)} |`,
    `| xz children (ar member decoding; tree less node) | ${children.toFixed(2)} | | ${perMb(children)} |`,
    `| whole process tree (/usr/bin/time) | ${(user + system).toFixed(2)} | | ${perMb(user + system)} |`,
  ].join("\n");
}
