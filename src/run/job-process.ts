import { stat } from "node:fs/promises";
import { posix, resolve } from "node:path";
import { DEFAULT_PATH } from "../oci/default-path.js";
import type { ImageConfig } from "../oci/types.js";
import { StrataError } from "../util/errors.js";
import { resolveUser } from "./image-user.js";
import type { BindMount, JobProcess } from "./runtime-config.js";

/**
 * What a job runs, from the image's config with the flags on top, as `docker run` reads them: the
 * entrypoint followed by the arguments given (else the image's cmd), the image's environment with
 * `-e` overriding it, `--user` and `--workdir` over the image's.
 */

export interface ProcessFlags {
  args: string[];
  env: string[];
  user?: string;
  workdir?: string;
}

function usage(message: string, hint: string): StrataError {
  return new StrataError("USAGE", message, { hint });
}

/** `-e K=V` (or `-e K`, taking K from strata's own environment), checked. */
export function parseEnv(text: string): string {
  const eq = text.indexOf("=");
  const key = eq < 0 ? text : text.slice(0, eq);
  if (!/^[A-Za-z_][A-Za-z0-9_.-]*$/.test(key) || text.includes("\0")) {
    throw usage(`-e ${text.slice(0, 100)}: not a variable`, "write -e NAME=VALUE");
  }
  if (eq >= 0) return text;
  const value = process.env[key];
  if (value === undefined) throw usage(`-e ${key}: not set here`, "write -e NAME=VALUE");
  return `${key}=${value}`;
}

function mergedEnv(image: string[], flags: string[], home: string): string[] {
  const env = new Map<string, string>();
  for (const kv of [...image, ...flags]) env.set(kv.split("=", 1)[0], kv);
  if (!env.has("PATH")) env.set("PATH", `PATH=${DEFAULT_PATH}`);
  if (!env.has("HOME")) env.set("HOME", `HOME=${home}`);
  return [...env.values()];
}

export async function jobProcess(
  config: ImageConfig,
  rootfs: string,
  flags: ProcessFlags,
): Promise<JobProcess> {
  const c = config.config ?? {};
  const args = [...(c.Entrypoint ?? []), ...(flags.args.length > 0 ? flags.args : (c.Cmd ?? []))];
  if (args.length === 0) {
    throw usage(
      "the image has no entrypoint or cmd, and no command was given",
      "give one after --: strata run IMAGE -- /bin/sh -c 'echo hi'",
    );
  }
  const cwd = flags.workdir ?? (c.WorkingDir || "/");
  if (!posix.isAbsolute(cwd) || cwd.split("/").includes("..")) {
    throw usage(
      `--workdir ${cwd}: not an absolute path`,
      "write it as the container sees it: --workdir /srv",
    );
  }
  const user = await resolveUser(rootfs, flags.user ?? c.User ?? "");
  return { args, env: mergedEnv(c.Env ?? [], flags.env, user.home), user, cwd };
}

/** `--mount SRC:DST[:ro|rw]`: SRC must exist here, DST be absolute in the container and not `/`. */
export async function parseMount(text: string): Promise<BindMount> {
  const parts = text.split(":");
  const hint = "write --mount SRC:DST or SRC:DST:ro, SRC an existing path here, DST absolute (not /)";
  if (parts.length < 2 || parts.length > 3 || (parts.length === 3 && !["ro", "rw"].includes(parts[2]))) {
    throw usage(`--mount ${text}: not SRC:DST[:ro]`, hint);
  }
  const [source, destination] = parts;
  const dst = posix.normalize(destination);
  if (!posix.isAbsolute(destination) || destination.split("/").includes("..") || dst === "/") {
    throw usage(`--mount ${text}: ${destination} is not an absolute path below /`, hint);
  }
  const src = resolve(source);
  if ((await stat(src).catch(() => undefined)) === undefined) {
    throw usage(`--mount ${text}: ${src} does not exist`, hint);
  }
  return { source: src, destination: dst, readOnly: parts[2] === "ro" };
}
