import { execFile } from "node:child_process";
import { StrataError } from "../util/errors.js";
import { isJsonObject } from "../util/json.js";
import { digestIn, type RunningContainer, textField } from "./container.js";

/**
 * The running containers podman knows, as podman is configured on this machine (its config files
 * and CONTAINERS_* environment; strata adds no storage flag): `podman ps` for the containers and
 * `podman image inspect` for each image's manifest digest and layers' diff_ids.
 */

const PODMAN_TIMEOUT_MS = 30_000;
const MAX_OUTPUT_BYTES = 64 * 2 ** 20;

function podman(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      "podman",
      args,
      { timeout: PODMAN_TIMEOUT_MS, maxBuffer: MAX_OUTPUT_BYTES },
      (err, stdout, stderr) => {
        if (err === null) return resolve(stdout);
        const why =
          (err as NodeJS.ErrnoException).code === "ENOENT"
            ? "podman is not installed"
            : stderr.trim().split("\n").pop();
        reject(
          new StrataError("IO", `podman ${args[0]}: ${why || err.message}`, {
            hint: "check that podman ps works for this user (its storage is configured in containers-storage.conf)",
          }),
        );
      },
    );
  });
}

function jsonArray(text: string, what: string): unknown[] {
  try {
    const json = JSON.parse(text.trim() === "" ? "[]" : text);
    if (Array.isArray(json)) return json;
  } catch {}
  throw new StrataError("IO", `podman ${what}: its output is not a JSON array`, {
    hint: "strata reads podman 4's --format json",
  });
}

interface ImageFacts {
  digests: string[];
  diffIds: string[];
}

/** Each image's manifest digests and diff_ids, by image ID (its config digest). */
async function imageFacts(ids: string[]): Promise<Map<string, ImageFacts>> {
  const out = new Map<string, ImageFacts>();
  if (ids.length === 0) return out;
  for (const image of jsonArray(await podman(["image", "inspect", ...ids]), "image inspect")) {
    if (!isJsonObject(image)) continue;
    const id = digestIn(image.Id);
    if (id === undefined) continue;
    const listed = Array.isArray(image.RepoDigests) ? image.RepoDigests : [];
    const digests = [image.Digest, ...listed].map(digestIn).filter((d): d is string => d !== undefined);
    const rootfs =
      isJsonObject(image.RootFS) && Array.isArray(image.RootFS.Layers) ? image.RootFS.Layers : [];
    const diffIds = rootfs.map(digestIn).filter((d): d is string => d !== undefined);
    out.set(id, { digests: [...new Set(digests)], diffIds: diffIds.length === rootfs.length ? diffIds : [] });
  }
  return out;
}

/** The containers podman runs now. */
export async function podmanContainers(): Promise<RunningContainer[]> {
  const listed = jsonArray(await podman(["ps", "--format", "json", "--no-trunc"]), "ps").filter(isJsonObject);
  const running = listed.filter((c) => c.State === undefined || c.State === "running");
  const imageIds = [...new Set(running.map((c) => digestIn(c.ImageID)).filter((d) => d !== undefined))];
  const facts = await imageFacts(imageIds);
  return running.flatMap((c) => {
    const id = textField(c.Id, 128);
    const imageId = digestIn(c.ImageID);
    if (id === undefined || imageId === undefined) return [];
    const names = Array.isArray(c.Names) ? c.Names.map((n) => textField(n, 253)).filter(Boolean) : [];
    const fact = facts.get(imageId);
    return [
      {
        runtime: "podman" as const,
        id,
        name: names[0] ?? id.slice(0, 12),
        image: textField(c.Image) ?? "",
        imageDigests: [...(fact?.digests ?? []), imageId],
        diffIds: fact?.diffIds ?? [],
      },
    ];
  });
}
