import { resolve } from "node:path";
import type { Home } from "../oci/homes/name.js";
import type { ImageRef } from "./store.js";

/** The name an image read from `home` is indexed under. */
export function refOf(home: Home, topDigest: string): ImageRef {
  if (home.transport === "docker") {
    const { registry, repository, tag = "" } = home.ref;
    return { registry, repository, tag: home.ref.digest ? "" : tag, topDigest };
  }
  const tag = (home.transport === "docker-archive" ? home.name : home.tag) ?? "";
  return { registry: "", repository: `${home.transport}:${resolve(home.path)}`, tag, topDigest };
}
