import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parseStanzas } from "./deb822.js";

export const DEFAULT_KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg";

/** One Debian repository strata reads: a base URL, suites in it, components, and the keyring that signs it. */
export interface RepositorySource {
  url: string;
  suites: string[];
  components: string[];
  keyring: string;
  /** false: an expired Valid-Until is accepted with a warning (snapshots, internal mirrors). */
  checkValidUntil?: boolean;
}

/**
 * A repository URL moved to `mirror`: given as scheme://host[:port] only, the mirror takes the
 * host and the path is kept (so /debian and /debian-security both follow); with a path, it replaces
 * the URL whole.
 */
export function relocateUrl(url: string, mirror: string | undefined): string {
  if (!mirror) return url;
  const base = mirror.replace(/\/+$/, "");
  return /^[a-z]+:\/\/[^/]+$/.test(base) ? base + url.replace(/^[a-z]+:\/\/[^/]+/, "") : base;
}

/**
 * Reads the host's apt sources: deb822 `*.sources` files in sources.list.d and one-line
 * `sources.list` / `*.list` entries. Only `deb` (binary) entries count; disabled ones are skipped.
 */
export function hostAptSources(root = "/etc/apt"): RepositorySource[] {
  const out: RepositorySource[] = [];
  const listFiles: string[] = [join(root, "sources.list")];
  let dirEntries: string[] = [];
  try {
    dirEntries = readdirSync(join(root, "sources.list.d")).sort();
  } catch {
    // no sources.list.d: fine
  }
  for (const name of dirEntries) {
    const path = join(root, "sources.list.d", name);
    if (name.endsWith(".sources")) out.push(...parseDeb822Sources(readText(path)));
    else if (name.endsWith(".list")) listFiles.push(path);
  }
  for (const path of listFiles) out.push(...parseOneLineSources(readText(path)));
  return mergeSources(out);
}

function readText(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return "";
  }
}

export function parseDeb822Sources(text: string): RepositorySource[] {
  const out: RepositorySource[] = [];
  for (const stanza of parseStanzas(text)) {
    const get = (k: string) => stanza.get(k) ?? "";
    if (!get("Types").split(/\s+/).includes("deb")) continue;
    if (/^(no|false)$/i.test(get("Enabled"))) continue;
    const keyring = get("Signed-By").trim();
    for (const url of get("URIs").split(/\s+/).filter(Boolean)) {
      out.push({
        url: url.replace(/\/+$/, ""),
        suites: get("Suites").split(/\s+/).filter(Boolean),
        components: get("Components").split(/\s+/).filter(Boolean),
        // An inline armored key block cannot be a path; fall back to the archive keyring then.
        keyring: keyring.startsWith("/") && !keyring.includes("\n") ? keyring : DEFAULT_KEYRING,
        ...checkValidUntilOption(get("Check-Valid-Until")),
      });
    }
  }
  return out;
}

export function parseOneLineSources(text: string): RepositorySource[] {
  const out: RepositorySource[] = [];
  for (const raw of text.split("\n")) {
    const line = raw.replace(/#.*/, "").trim();
    if (!line.startsWith("deb ") && !line.startsWith("deb\t")) continue;
    let rest = line.slice(4).trim();
    let keyring = DEFAULT_KEYRING;
    let options = "";
    if (rest.startsWith("[")) {
      const close = rest.indexOf("]");
      options = rest.slice(1, close);
      const signedBy = /signed-by=(\S+)/.exec(options);
      if (signedBy) keyring = signedBy[1];
      rest = rest.slice(close + 1).trim();
    }
    const [url, suite, ...components] = rest.split(/\s+/);
    if (!url || !suite) continue;
    const checkValidUntil = checkValidUntilOption(/check-valid-until=(\S+)/.exec(options)?.[1] ?? "");
    out.push({ url: url.replace(/\/+$/, ""), suites: [suite], components, keyring, ...checkValidUntil });
  }
  return out;
}

/** apt's Check-Valid-Until (`check-valid-until=no` in one-line form), which snapshot sources set. */
function checkValidUntilOption(value: string): { checkValidUntil?: false } {
  return /^(no|false)$/i.test(value.trim()) ? { checkValidUntil: false } : {};
}

/** Joins entries for the same URL, keyring and components so each repository is fetched once. */
function mergeSources(sources: RepositorySource[]): RepositorySource[] {
  const byKey = new Map<string, RepositorySource>();
  for (const s of sources) {
    const key = `${s.url}\0${s.keyring}\0${s.components.join(" ")}\0${s.checkValidUntil}`;
    const seen = byKey.get(key);
    if (seen) {
      for (const suite of s.suites) if (!seen.suites.includes(suite)) seen.suites.push(suite);
    } else byKey.set(key, { ...s, suites: [...s.suites], components: [...s.components] });
  }
  return [...byKey.values()];
}

/** The host's Debian architecture name for Node's process.arch. */
export function hostDebianArch(): string {
  const map: Record<string, string> = {
    x64: "amd64",
    arm64: "arm64",
    arm: "armhf",
    ia32: "i386",
    ppc64: "ppc64el",
    s390x: "s390x",
    riscv64: "riscv64",
  };
  return map[process.arch] ?? process.arch;
}
