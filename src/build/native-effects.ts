import { ContentStore } from "../util/cas.js";
import { compareText } from "../util/order.js";
import { dropDanglingLinks } from "./effects/dangling.js";
import { generatedFiles, readCaBundle } from "./effects/generated.js";
import { type LayerEntry, mergedUsrPath, type PackageFacts } from "./layer.js";

/**
 * strata never runs maintainer scripts. The effects of theirs that an image needs to work are made
 * here, natively and deterministically, for the files layer, from facts recorded when each
 * package's layer was built (so a warm build reads no .deb):
 *
 * - ca-certificates: /etc/ssl/certs/ca-certificates.crt, the bundle update-ca-certificates writes
 *   with every packaged certificate enabled (its default);
 * - update-alternatives: each literal `--install LINK NAME PATH PRIORITY` becomes
 *   LINK -> /etc/alternatives/NAME -> PATH (with its --slave links), the highest priority winning
 *   per NAME (ties: the first package by name), as update-alternatives' automatic mode does;
 * - files generated from other packages' data (src/build/effects/generated.ts);
 * - no link whose target is not in the image (src/build/effects/dangling.ts).
 */
export interface NativeEffects {
  entries: LayerEntry[];
  notes: string[];
}

const CA_BUNDLE = "etc/ssl/certs/ca-certificates.crt";

export async function nativeEffects(
  members: PackageFacts[],
  storeRoot: string,
  image: { epoch: number; files: string[] },
): Promise<NativeEffects> {
  const entries: LayerEntry[] = [];
  const notes: string[] = [];
  const store = new ContentStore(storeRoot);
  const sorted = [...members].sort((a, b) => compareText(a.package, b.package));
  for (const facts of sorted) {
    if (!facts.caBundle) continue;
    const body = await readCaBundle(facts, store);
    entries.push({ path: CA_BUNDLE, type: "file", mode: 0o644, uid: 0, gid: 0, body });
    notes.push(`made /${CA_BUNDLE} from ${facts.caBundle.certificates} certificates of ${facts.package}`);
  }

  const chosen = new Map<string, { pkg: string; alt: PackageFacts["alternatives"][number] }>();
  for (const facts of sorted) {
    for (const alt of facts.alternatives) {
      const current = chosen.get(alt.name);
      if (!current || alt.priority > current.alt.priority) chosen.set(alt.name, { pkg: facts.package, alt });
    }
  }
  const linked = new Set<string>(entries.map((e) => e.path));
  const symlink = (path: string, target: string) => {
    if (linked.has(path)) return;
    linked.add(path);
    entries.push({ path, type: "symlink", mode: 0o777, uid: 0, gid: 0, linkname: target });
  };
  for (const [name, { pkg, alt }] of [...chosen].sort(([a], [b]) => compareText(a, b))) {
    for (const link of [alt, ...alt.slaves]) {
      symlink(`etc/alternatives/${link.name}`, link.path);
      symlink(mergedUsrPath(link.link.replace(/^\//, "")), `/etc/alternatives/${link.name}`);
    }
    notes.push(`alternative ${name} -> ${alt.path} (from ${pkg})`);
  }
  const generated = await generatedFiles(sorted, store, image.epoch);
  const made = dropDanglingLinks([...entries, ...generated.entries], image.files);
  return { entries: made.entries, notes: [...notes, ...generated.notes, ...made.notes] };
}
