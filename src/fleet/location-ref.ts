import { resolve } from "node:path";
import type { ImageLocation } from "../oci/locations/name.js";
import type { ImageRef } from "./store.js";

/** The name an image read from `location` is indexed under. */
export function refOf(location: ImageLocation, topDigest: string): ImageRef {
  if (location.transport === "docker") {
    const { registry, repository, tag = "" } = location.ref;
    return { registry, repository, tag: location.ref.digest ? "" : tag, topDigest };
  }
  const tag = (location.transport === "docker-archive" ? location.name : location.tag) ?? "";
  return { registry: "", repository: `${location.transport}:${resolve(location.path)}`, tag, topDigest };
}
