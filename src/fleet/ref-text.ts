import type { IndexedRef } from "./lookups.js";

/** How people read a ref: "127.0.0.1:5000/app:1", "oci:/srv/app:1", or "…@digest". */
export function refText(ref: IndexedRef): string {
  const name = ref.registry === "" ? ref.repository : `${ref.registry}/${ref.repository}`;
  return ref.tag === "" ? name : `${name}:${ref.tag}`;
}
