import { existsSync } from "node:fs";
import { stat } from "node:fs/promises";
import { StrataError } from "../../util/errors.js";
import { type ImageReference, parseLocalName, parseReference } from "../reference.js";

/**
 * Where an image lives, named as skopeo names it (one place for every command):
 *
 *   oci:DIR[:TAG]                      an OCI image layout directory
 *   oci-archive:FILE[:TAG]             a tar of one
 *   docker-archive:FILE[:NAME:TAG]     `docker save` / `podman save` output
 *   docker://REGISTRY/REPO[:TAG|@DIGEST]   a registry (a bare REGISTRY/REPO:TAG too, where a
 *                                      reference is expected or the path does not exist)
 *
 * As in skopeo, the path ends at the first ":" after the transport.
 */
export type ImageLocation =
  | { transport: "oci"; path: string; tag?: string }
  | { transport: "oci-archive"; path: string; tag?: string }
  | { transport: "docker-archive"; path: string; name?: string }
  | { transport: "docker"; ref: ImageReference; text: string };

export const LOCAL_TRANSPORTS = ["oci", "oci-archive", "docker-archive"] as const;
export type LocalTransport = (typeof LOCAL_TRANSPORTS)[number];

const HINT =
  "name it as oci:DIR[:TAG], oci-archive:FILE[:TAG], docker-archive:FILE[:NAME:TAG] or docker://REGISTRY/REPO[:TAG]";

// An OCI ref.name (image-layout.md), or a digest that selects an entry.
const REF_COMPONENT = "[A-Za-z0-9]+(?:(?:[-._:@+]|--)[A-Za-z0-9]+)*";
const REF_NAME = new RegExp(`^${REF_COMPONENT}(?:/${REF_COMPONENT})*$`);

function badLocation(text: string, why: string): StrataError {
  return new StrataError("USAGE", `image location "${text.slice(0, 200)}": ${why}`, { hint: HINT });
}

/** A transport-prefixed name, or undefined when `text` names none (a bare path or reference). */
export function parseLocationName(text: string): ImageLocation | undefined {
  if (text.startsWith("docker://")) {
    const rest = text.slice("docker://".length);
    if (rest.length === 0) throw badLocation(text, "no registry reference after docker://");
    return { transport: "docker", ref: parseReference(rest), text: rest };
  }
  const colon = text.indexOf(":");
  const transport = text.slice(0, colon);
  if (colon < 0 || !/^[a-z][a-z0-9-]*$/.test(transport)) return undefined;
  if (!(LOCAL_TRANSPORTS as readonly string[]).includes(transport)) {
    if (isReference(text)) return undefined; // host:port/repo or name:tag: a registry's, not a transport
    throw badLocation(text, `"${transport}:" is not a transport strata knows`);
  }
  const rest = text.slice(colon + 1);
  const cut = rest.indexOf(":");
  const path = cut < 0 ? rest : rest.slice(0, cut);
  const selector = cut < 0 ? undefined : rest.slice(cut + 1);
  if (path.length === 0) throw badLocation(text, `no path after ${transport}:`);
  if (selector !== undefined) checkSelector(text, transport as LocalTransport, selector);
  if (transport === "docker-archive") return { transport, path, name: selector };
  return { transport: transport as "oci" | "oci-archive", path, tag: selector };
}

function isReference(text: string): boolean {
  try {
    parseReference(text);
    return true;
  } catch {
    return false;
  }
}

function checkSelector(text: string, transport: LocalTransport, selector: string): void {
  if (transport === "docker-archive") {
    const { name } = parseLocalName(selector);
    if (name === undefined || !selector.slice(name.length).startsWith(":")) {
      throw badLocation(text, `"${selector}" is not NAME:TAG`);
    }
    return;
  }
  if (selector.length > 255 || !REF_NAME.test(selector)) {
    throw badLocation(text, `"${selector.slice(0, 80)}" is not a valid tag`);
  }
}

/** A name where a reference is expected (pull's source, push's destination): bare text is a registry. */
export function referenceLocation(text: string): ImageLocation {
  const named = parseLocationName(text);
  if (named) return named;
  // `pull out.oar -o x`: bare text is a registry here, but what the user meant is on disk.
  if (existsSync(text)) {
    throw new StrataError(
      "USAGE",
      `${text} is a local file or directory, but bare text here is a registry reference`,
      {
        hint: `name it with its transport: oci:${text}, oci-archive:${text} or docker-archive:${text}`,
      },
    );
  }
  return { transport: "docker", ref: parseReference(text), text };
}

/** A name where a local path is expected (-o): bare text is a path in `format` (default oci). */
export function outputLocation(text: string, format?: LocalTransport): ImageLocation {
  const named = parseLocationName(text);
  if (named === undefined) return localLocation(format ?? "oci", text);
  if (format !== undefined && named.transport !== format) {
    throw badLocation(text, `--format ${format} contradicts the ${named.transport}: in the name`);
  }
  return named;
}

function localLocation(transport: LocalTransport, path: string): ImageLocation {
  return { transport, path };
}

/**
 * A name where an existing image is read (push's source, diff): a transport name; else an existing
 * directory (a layout) or file (an oci-archive or docker-archive, told apart by what it holds);
 * else a registry reference that names its registry.
 */
export async function sourceLocation(
  text: string,
  sniff: (file: string) => Promise<LocalTransport>,
): Promise<ImageLocation> {
  const named = parseLocationName(text);
  if (named !== undefined) return named;
  const info = await stat(text).catch(() => undefined);
  if (info?.isDirectory()) return { transport: "oci", path: text };
  if (info?.isFile()) return localLocation(await sniff(text), text);
  const firstPart = text.split("/")[0];
  if (text.includes("/") && /[.:]|^localhost$/.test(firstPart)) {
    return { transport: "docker", ref: parseReference(text), text };
  }
  throw badLocation(text, "no such layout or archive, and not a registry reference");
}

/** How an image location is shown to people: its transport name. */
export function locationText(location: ImageLocation): string {
  if (location.transport === "docker") return `docker://${location.text}`;
  const selector = location.transport === "docker-archive" ? location.name : location.tag;
  return `${location.transport}:${location.path}${selector === undefined ? "" : `:${selector}`}`;
}
