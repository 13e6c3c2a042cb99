import { type ChildProcess, execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { DEFAULT_CAPABILITIES } from "../../src/run/runtime-config.js";

const execFileAsync = promisify(execFile);

export interface RunOptions {
  /** Replaces the image's entrypoint and cmd. */
  args?: string[];
  /** Share the host's network namespace (to reach a server on loopback). */
  hostNetwork?: boolean;
  timeoutMs?: number;
}

export interface Bundle {
  dir: string;
  id: string;
  remove(): Promise<void>;
}

/** Unpacks `layout:tag` with umoci into an OCI runtime bundle and adjusts its config.json. */
export async function unpackBundle(layout: string, tag: string, opts: RunOptions = {}): Promise<Bundle> {
  const dir = await mkdtemp(join(tmpdir(), "strata-bundle-"));
  await execFileAsync("umoci", ["unpack", "--image", `${layout}:${tag}`, join(dir, "bundle")]);
  const configPath = join(dir, "bundle", "config.json");
  const config = JSON.parse(await readFile(configPath, "utf8"));
  if (opts.args) config.process.args = opts.args;
  config.process.terminal = false;
  // umoci writes runc's minimal capability set; give the container what Docker and podman give.
  const caps = DEFAULT_CAPABILITIES;
  config.process.capabilities = { bounding: caps, effective: caps, permitted: caps };
  if (opts.hostNetwork) {
    config.linux.namespaces = config.linux.namespaces.filter((ns: { type: string }) => ns.type !== "network");
  }
  await writeFile(configPath, JSON.stringify(config));
  const id = `strata-test-${randomBytes(4).toString("hex")}`;
  return {
    dir: join(dir, "bundle"),
    id,
    remove: async () => {
      await execFileAsync("runc", ["delete", "--force", id]).catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Runs a container to completion under runc and returns its exit code and output. */
export async function runImage(
  layout: string,
  tag: string,
  opts: RunOptions = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const bundle = await unpackBundle(layout, tag, opts);
  try {
    const child = spawn("runc", ["run", "-b", bundle.dir, bundle.id], { stdio: ["ignore", "pipe", "pipe"] });
    return await collect(child, opts.timeoutMs ?? 60_000);
  } finally {
    await bundle.remove();
  }
}

/** Starts a long-running container; `stop()` kills and removes it. */
export async function startImage(layout: string, tag: string, opts: RunOptions = {}) {
  const bundle = await unpackBundle(layout, tag, opts);
  const child = spawn("runc", ["run", "-b", bundle.dir, bundle.id], { stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout?.on("data", (d) => {
    output += d;
  });
  child.stderr?.on("data", (d) => {
    output += d;
  });
  return {
    output: () => output,
    stop: async () => {
      await execFileAsync("runc", ["kill", bundle.id, "KILL"]).catch(() => undefined);
      await new Promise((resolve) => {
        if (child.exitCode !== null) resolve(undefined);
        else child.on("close", resolve);
      });
      await bundle.remove();
    },
  };
}

function collect(
  child: ChildProcess,
  timeoutMs: number,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    let stdout = "";
    let stderr = "";
    child.stdout?.on("data", (d) => {
      stdout += d;
    });
    child.stderr?.on("data", (d) => {
      stderr += d;
    });
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`container did not finish in ${timeoutMs} ms: ${stdout}${stderr}`));
    }, timeoutMs);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
  });
}
