import { parseStanzas } from "./deb822.js";

/**
 * The answers a noninteractive install gives: every debconf question takes its template's
 * `Default` (empty when it has none). Read from a package's `templates` control file, so that a
 * postinst's `db_get` is followed with what dpkg under DEBIAN_FRONTEND=noninteractive would get.
 */
export function debconfDefaults(templates: string | undefined): Record<string, string> {
  const defaults: Record<string, string> = {};
  for (const stanza of parseStanzas(templates ?? "")) {
    const name = stanza.get("Template");
    if (name !== undefined && /^[a-z0-9][a-z0-9+.-]*\/[\w+.\-/]+$/i.test(name)) {
      defaults[name] = stanza.get("Default") ?? "";
    }
  }
  return defaults;
}
