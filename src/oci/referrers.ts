import { join } from "node:path";
import { ContentStore } from "../util/cas.js";
import { StrataError } from "../util/errors.js";
import { writeFileAtomic } from "../util/fs.js";
import { descriptorOf, EMPTY_DESCRIPTOR, EMPTY_JSON, type Referrer } from "./image.js";
import { checkBytes, LayoutBlobSource, layoutIndexBytes, listLayout } from "./layout.js";
import { composeManifest } from "./mutate.js";
import { parseManifest } from "./parse.js";
import { Annotation, type Descriptor, digestHex, type Manifest, MediaType } from "./types.js";

/**
 * OCI 1.1 artifacts attached to an image (image-spec manifest.md, "Guidelines for Artifact
 * Usage"): a manifest with an `artifactType`, the empty config, one layer holding the payload and a
 * `subject` naming the image manifest. In an OCI layout they are entries of index.json carrying
 * their artifactType (found by reading their manifests' subject); registries are in
 * registry/referrers.ts.
 */

/**
 * An artifact of `artifactType` holding `payload`, attached to `subject`; `annotations` go on its
 * manifest. The payload's layer has the artifactType as media type unless it names its own (a
 * cosign signature's layer is a simple-signing payload with the signature in its annotations).
 */
export function referrerOf(
  subject: Descriptor,
  artifactType: string,
  payload: { bytes: Buffer; title: string; mediaType?: string; annotations?: Record<string, string> },
  annotations: Record<string, string>,
): Referrer {
  const layer = descriptorOf(payload.mediaType ?? artifactType, payload.bytes, {
    annotations: { [Annotation.title]: payload.title, ...payload.annotations },
  });
  const { manifest, manifestBytes } = composeManifest(EMPTY_DESCRIPTOR, [layer], {
    artifactType,
    subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size },
    annotations,
  });
  const descriptor = descriptorOf(MediaType.ociManifest, manifestBytes, { artifactType, annotations });
  return { manifest, manifestBytes, descriptor, payload: { descriptor: layer, bytes: payload.bytes } };
}

/** Checks what a referrer's manifest claims before its payload is read: its subject, type and one layer. */
export function checkReferrer(
  manifest: Manifest,
  subject: string,
  artifactType: string,
  where: string,
): Descriptor {
  const bad = (why: string) =>
    new StrataError("IO", `${where}: the attached artifact ${why}`, {
      hint: "the artifact was damaged or crafted; attach it again (strata sbom --attach)",
    });
  if (manifest.subject?.digest !== subject)
    throw bad(`names subject ${manifest.subject?.digest}, not ${subject}`);
  if ((manifest.artifactType ?? manifest.config.mediaType) !== artifactType)
    throw bad(`is of type ${manifest.artifactType}, not ${artifactType}`);
  if (manifest.layers.length !== 1) throw bad(`has ${manifest.layers.length} layers, not one`);
  return manifest.layers[0];
}

/**
 * The most attached artifacts (distinct manifests) a layout's index.json may list, and the most
 * bytes one's manifest may have: strata replaces a kind's earlier ones as it attaches, so a real
 * layout lists a few per image, each manifest a few hundred bytes.
 */
const MAX_LAYOUT_REFERRERS = 1000;
const MAX_REFERRER_MANIFEST_BYTES = 64 << 10;

/** The referrers of `subject` in the layout at `dir` (of `artifactType` if given), each manifest read and parsed. */
export async function layoutReferrers(
  dir: string,
  subject: string,
  artifactType?: string,
): Promise<{ descriptor: Descriptor; manifest: Manifest }[]> {
  const blobs = new LayoutBlobSource(dir);
  const out: { descriptor: Descriptor; manifest: Manifest }[] = [];
  for (const entry of await referrerEntries(dir, artifactType)) {
    // Checked like a registry's referrer: bytes that are not the digest index.json names are refused.
    const bytes = await blobs.readSmall(entry);
    checkBytes(entry, bytes, dir);
    const manifest = parseManifest(bytes, `${dir}: ${entry.digest}`);
    if (manifest.subject?.digest === subject) out.push({ descriptor: entry, manifest });
  }
  return out;
}

/**
 * The layout's entries of attached artifacts (of `artifactType` if given), each manifest once (a
 * crafted index.json may name one thousands of times), refused before any is read when there are
 * more, or bigger, than a real layout holds.
 */
async function referrerEntries(dir: string, artifactType: string | undefined): Promise<Descriptor[]> {
  const byDigest = new Map<string, Descriptor>();
  for (const entry of await listLayout(dir)) {
    if (entry.artifactType === undefined || entry.mediaType !== MediaType.ociManifest) continue;
    if (artifactType === undefined || entry.artifactType === artifactType) byDigest.set(entry.digest, entry);
  }
  const tooMany = byDigest.size > MAX_LAYOUT_REFERRERS;
  const big = [...byDigest.values()].find((e) => e.size > MAX_REFERRER_MANIFEST_BYTES);
  if (tooMany || big) {
    const what = tooMany
      ? `more than ${MAX_LAYOUT_REFERRERS} attached artifacts`
      : `an attached artifact's manifest of ${big!.size} bytes`;
    throw new StrataError("IO", `${dir}: index.json lists ${what}, more than strata reads`, {
      hint: "the layout was crafted or damaged; write the image again (strata pull, strata build -o)",
    });
  }
  return [...byDigest.values()];
}

/** Reads a referrer's payload from a layout, bounded by `max` and checked against its descriptor. */
export async function layoutPayload(dir: string, layer: Descriptor, max: number): Promise<Buffer> {
  if (layer.size > max)
    throw new StrataError(
      "IO",
      `${dir}: attached artifact ${layer.digest} is ${layer.size} bytes, more than ${max}`,
    );
  const bytes = await new LayoutBlobSource(dir).readSmall(layer);
  checkBytes(layer, bytes, dir);
  return bytes;
}

/**
 * Adds `referrer` to the layout at `dir`: its blobs, then index.json (written last, atomically)
 * with its entry in place of any earlier referrer of the same subject and artifactType that
 * `sameKind` picks (by default, all of them).
 */
export async function attachToLayout(
  dir: string,
  referrer: Referrer,
  sameKind: (d: Descriptor) => boolean = () => true,
): Promise<void> {
  const entries = await listLayout(dir);
  const store = new ContentStore(join(dir, "blobs"));
  const blobs: [Descriptor, Buffer][] = [
    [EMPTY_DESCRIPTOR, EMPTY_JSON],
    [referrer.payload.descriptor, referrer.payload.bytes],
    [referrer.descriptor, referrer.manifestBytes],
  ];
  for (const [descriptor, bytes] of blobs) {
    const hex = digestHex(descriptor.digest);
    if (!(await store.has(hex, { verify: true, size: descriptor.size })))
      await writeFileAtomic(store.path(hex), bytes);
  }
  const subject = referrer.manifest.subject!.digest;
  const replaced = new Set(
    (await layoutReferrers(dir, subject, referrer.descriptor.artifactType))
      .filter((r) => sameKind(r.descriptor))
      .map((r) => r.descriptor.digest),
  );
  const kept = entries.filter((d) => !replaced.has(d.digest) && d.digest !== referrer.descriptor.digest);
  await writeFileAtomic(join(dir, "index.json"), layoutIndexBytes([...kept, referrer.descriptor]));
}
