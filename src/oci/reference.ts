import { StrataError } from "../util/errors.js";
import { SHA256_DIGEST } from "../util/verify.js";

/**
 * An image reference split into where it lives and which artifact it names, normalised the way
 * Docker and podman do it: no registry means Docker Hub, and a one-part Hub name gains `library/`.
 */
export interface ImageReference {
  /** The registry as written (or "docker.io"), with port: "127.0.0.1:5000", "docker.io". */
  registry: string;
  /** The repository path inside the registry: "team/app", "library/debian". */
  repository: string;
  tag?: string;
  /** "sha256:<hex>"; when present it names the artifact and the tag is informational. */
  digest?: string;
}

export const DOCKER_HUB = "docker.io";
/** Docker Hub's API lives on a different host from the name people write. */
const DOCKER_HUB_API = "registry-1.docker.io";
const DEFAULT_TAG = "latest";

// From the distribution reference grammar (distribution/reference/regexp.go).
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const HOST =
  /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?$/;

function invalid(text: string, why: string): StrataError {
  return new StrataError("USAGE", `invalid image reference "${text}": ${why}`, {
    hint: "write it as [registry[:port]/]repository[:tag][@sha256:digest], e.g. 127.0.0.1:5000/team/app:1.0",
  });
}

/** Whether the first path part of a name is a registry host rather than a repository part. */
function looksLikeHost(part: string): boolean {
  return part.includes(".") || part.includes(":") || part === "localhost" || part.startsWith("[");
}

export function parseReference(text: string): ImageReference {
  if (text.length === 0) throw invalid(text, "it is empty");
  if (text.length > 255 + 300) throw invalid(text, "it is too long");

  let rest = text;
  let digest: string | undefined;
  const at = rest.indexOf("@");
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!SHA256_DIGEST.test(digest))
      throw invalid(text, `"${digest}" is not a sha256 digest (sha256:<64 hex digits>)`);
  }

  // A tag is after the last ":" that comes after the last "/" (a ":" before it is a registry port).
  let tag: string | undefined;
  const colon = rest.lastIndexOf(":");
  if (colon > rest.lastIndexOf("/")) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw invalid(text, `"${tag}" is not a valid tag`);
  }

  const parts = rest.split("/");
  let registry = DOCKER_HUB;
  if (parts.length > 1 && looksLikeHost(parts[0])) {
    registry = parts.shift()!;
    if (!HOST.test(registry)) throw invalid(text, `"${registry}" is not a valid registry host`);
  }
  if (parts.length === 0 || parts.some((p) => p.length === 0)) throw invalid(text, "the repository is empty");
  for (const part of parts) {
    if (!PATH_COMPONENT.test(part)) {
      throw invalid(
        text,
        part.toLowerCase() !== part
          ? `repository part "${part}" must be lowercase`
          : `repository part "${part}" may hold only a-z, 0-9 and single . _ __ - separators`,
      );
    }
  }
  if (registry === "index.docker.io" || registry === DOCKER_HUB_API) registry = DOCKER_HUB;
  if (registry === DOCKER_HUB && parts.length === 1) parts.unshift("library");
  const repository = parts.join("/");
  if (registry.length + 1 + repository.length > 255)
    throw invalid(text, "the name is longer than 255 characters");

  const ref: ImageReference = { registry, repository };
  if (tag !== undefined) ref.tag = tag;
  if (digest !== undefined) ref.digest = digest;
  if (tag === undefined && digest === undefined) ref.tag = DEFAULT_TAG;
  return ref;
}

/** The reference in its full, normalised form: "docker.io/library/debian:bookworm". */
export function formatReference(ref: ImageReference): string {
  let out = `${ref.registry}/${ref.repository}`;
  if (ref.tag !== undefined) out += `:${ref.tag}`;
  if (ref.digest !== undefined) out += `@${ref.digest}`;
  return out;
}

/** What to ask the registry's manifest endpoint for: the digest when there is one, else the tag. */
export function manifestSelector(ref: ImageReference): string {
  return ref.digest ?? ref.tag ?? DEFAULT_TAG;
}

/** The host:port that serves the registry API for this reference. */
export function registryApiHost(registry: string): string {
  return registry === DOCKER_HUB ? DOCKER_HUB_API : registry;
}

/** True for hosts that never leave the machine: 127.0.0.0/8, localhost, [::1] (any port). */
export function isLoopbackHost(registry: string): boolean {
  const host = registry.startsWith("[")
    ? registry.slice(1, registry.indexOf("]"))
    : registry.replace(/:[0-9]+$/, "");
  return host === "localhost" || host === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/** What `--tag` names in a local image location: "v1" is a tag alone; "myapp:v1" or "host:5000/team/app:v1" a name too. */
export interface LocalName {
  name?: string;
  tag: string;
}

export function parseLocalName(text: string): LocalName {
  if (!text.includes(":") && !text.includes("/")) {
    if (!TAG.test(text)) throw invalid(text, `"${text}" is not a valid tag`);
    return { tag: text };
  }
  const ref = parseReference(text);
  if (ref.digest !== undefined) throw invalid(text, "a name for a local image cannot carry a digest");
  const colon = text.lastIndexOf(":");
  const hasTag = colon > text.lastIndexOf("/");
  return { name: hasTag ? text.slice(0, colon) : text, tag: ref.tag ?? DEFAULT_TAG };
}
