import { SHA256_DIGEST } from "../util/verify.js";

/**
 * A running container as a runtime reports it, with every digest it gives for the image: runtimes
 * differ (podman: the config digest as image ID, the manifest digest, the layers' diff_ids;
 * Kubernetes: `imageID`, a manifest digest from a registry or an image ID from the node).
 */
export interface RunningContainer {
  runtime: "podman" | "kubernetes";
  /** The container's ID (podman), or namespace/pod/container (Kubernetes). */
  id: string;
  name: string;
  /** The image as the runtime names it ("registry/app:1"). */
  image: string;
  /** Manifest or config digests to look up, the likeliest first. */
  imageDigests: string[];
  /** The image's layers' diff_ids, bottom first, when the runtime reports them. */
  diffIds: string[];
}

const EMBEDDED_DIGEST = /sha256:[0-9a-f]{64}$/;

/** The sha256 digest a runtime's image reference ends with ("docker-pullable://app@sha256:…", "sha256:…", bare hex). */
export function digestIn(text: unknown): string | undefined {
  if (typeof text !== "string" || text.length > 1024) return undefined;
  if (/^[0-9a-f]{64}$/.test(text)) return `sha256:${text}`;
  const m = EMBEDDED_DIGEST.exec(text);
  return m && SHA256_DIGEST.test(m[0]) ? m[0] : undefined;
}

/** A short, printable text from untrusted JSON (names and IDs), or undefined. */
export function textField(value: unknown, max = 512): string | undefined {
  if (typeof value !== "string" || value.length === 0 || value.length > max) return undefined;
  return /^[\x21-\x7e]+$/.test(value) ? value : undefined;
}
