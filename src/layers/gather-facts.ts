import { parseGzippedChangelog, storeDebChangelog } from "../advisories/deb-changelog.js";
import { parseRelation } from "../debian/relations.js";
import { caCertificateFacts, packagedCertificates } from "../effects/ca-certificates.js";
import type { PackageFacts } from "../effects/package-facts.js";
import { recordScriptFacts } from "../effects/script-facts.js";
import { bodyChunks, entryBytes, type LayerEntry } from "../oci/layer-entry.js";
import { cacheStore } from "../util/cas.js";
import { isStrataError } from "../util/errors.js";
import type { DebEntries, DebToRead } from "./deb-entries.js";

/** Where the facts' bodies and the kept changelog go. */
export interface FactsInput extends Pick<DebToRead, "debPath" | "debSha256" | "locked"> {
  /** ContentStore root: the bodies scripts read, the CA bundle. */
  store: string;
  /** The cache root where the .deb's changelog entries (for VEX) are kept; none: not kept. */
  cacheRoot?: string;
}

/**
 * Everything strata knows of a package besides its layer's bytes, gathered in this one step as the
 * layer is made (its scripts and paths, its CA certificates; its changelog kept for VEX): effects/
 * consumes these facts, so a warm build reads no .deb.
 */
export async function gatherPackageFacts(input: FactsInput, deb: DebEntries): Promise<PackageFacts> {
  await keepChangelog(deb.changelog, input);
  const { name, version, architecture } = input.locked;
  const scripts = Object.keys(deb.control.scripts).sort();
  const replaces = parseRelation(deb.stanza.get("Replaces"))
    .flat()
    .map((alt) => alt.name);
  const pkg = { name, version, architecture };
  const controlTexts = { ...deb.control.scripts, templates: deb.control.templates };
  const scriptFacts = await recordScriptFacts(pkg, controlTexts, deb.entries, {
    storeRoot: input.store,
    readBody: entryBytes,
  });
  const facts: PackageFacts = { package: name, version, architecture, scripts, replaces, ...scriptFacts };
  const caBundle = await storeCaBundle(deb.entries, input.store);
  if (caBundle) facts.caBundle = caBundle;
  const caCertificates = caCertificateFacts(
    await Promise.all(
      packagedCertificates(deb.entries).map(async (e) => ({ path: e.path, body: await entryBytes(e) })),
    ),
  );
  if (caCertificates.length > 0) facts.caCertificates = caCertificates;
  return facts;
}

/**
 * The .deb's changelog entries, kept in the cache as the layer is made (the docs themselves are
 * dropped): VEX at build then reads no .deb. A changelog that does not parse is not kept; what
 * reads it later meets the error itself.
 */
async function keepChangelog(entry: LayerEntry | undefined, input: FactsInput): Promise<void> {
  if (input.cacheRoot === undefined) return;
  try {
    const body = entry && (await entryBytes(entry));
    const chunks = async function* () {
      if (body) yield body;
    };
    const parsed = body && (await parseGzippedChangelog(chunks(), input.debPath));
    await storeDebChangelog(input.debSha256, parsed || undefined, input.cacheRoot);
  } catch (err) {
    if (!isStrataError(err)) throw err;
  }
}

/** Concatenates the packaged CA certificates (path order) into a bundle blob, if there are any. */
async function storeCaBundle(entries: LayerEntry[], storeRoot: string): Promise<PackageFacts["caBundle"]> {
  const certs = packagedCertificates(entries);
  if (certs.length === 0) return undefined;
  async function* bundle(): AsyncGenerator<Uint8Array> {
    for (const cert of certs) {
      let last: number | undefined;
      for await (const chunk of bodyChunks(cert)) {
        last = chunk.at(-1) ?? last;
        yield chunk;
      }
      if (last !== 0x0a) yield Buffer.from("\n");
    }
  }
  const { hex } = await cacheStore(storeRoot).put(bundle());
  return { sha256: hex, certificates: certs.length };
}
