import { type Image, memoryBlobs } from "../../src/oci/image.js";
import { composeImage, imageParts } from "../../src/oci/mutate.js";
import { StrataAnnotation } from "../../src/record/keys.js";
import { canonicalJson } from "../../src/record/layer-facts.js";
import { type ImageRecord, readImageRecord } from "../../src/record/record.js";
import { recordReferrer } from "../../src/record/travel.js";
import { sha256Hex } from "../../src/util/hash.js";

/** The record an image built in a test names. */
export function recordOf(image: Image): Promise<ImageRecord> {
  return readImageRecord(image, "test");
}

/**
 * `image` naming another record: `record` as JSON (canonical), or bytes as they are; the blob is
 * served by the image's blob source as an image location would, and attached as a build attaches it.
 */
export function withRecord(image: Image, record: unknown): Image {
  const bytes = Buffer.isBuffer(record) ? record : Buffer.from(canonicalJson(record));
  const parts = imageParts(image);
  const recorded = composeImage({
    ...parts,
    annotations: { ...parts.annotations, [StrataAnnotation.record]: `sha256:${sha256Hex(bytes)}` },
    others: memoryBlobs([bytes]),
  });
  // It travels with the image wherever a test writes it, as a built image's does.
  return { ...recorded, attached: [recordReferrer(recorded, bytes)] };
}

/** `image` with each of its record's layers changed by `change`. */
export async function withRecordedLayer(
  image: Image,
  index: number,
  change: (layer: ImageRecord["layers"][number]) => unknown,
): Promise<Image> {
  const record = await recordOf(image);
  return withRecord(image, { ...record, layers: record.layers.map((l, i) => (i === index ? change(l) : l)) });
}

/** A package as a synthetic image's record names it: the rest of its lock entry is made up. */
export interface RecordedTestPackage {
  name: string;
  version: string;
  arch?: string;
  source?: string;
  sourceVersion?: string;
}

function testLockEntry(p: RecordedTestPackage) {
  const architecture = p.arch ?? "amd64";
  return {
    name: p.name,
    version: p.version,
    architecture,
    source: p.source ?? p.name,
    sourceVersion: p.sourceVersion ?? p.version,
    priority: "optional",
    sha256: sha256Hex(`${p.name}=${p.version}`),
    size: 1,
    filename: `pool/main/${p.name}_${p.version}_${architecture}.deb`,
    repository: "http://deb.example.org/debian",
    suite: "bookworm",
    component: "main",
    reason: "requested" as const,
    requiredBy: [],
  };
}

/**
 * `image` (a synthetic one) with a record whose layer `i` holds `packages[i]`: enough for the
 * inventory and the fleet index, which read only the packages; not an image strata can rebuild from.
 */
export function withTestRecord(image: Image, packages: (RecordedTestPackage[] | undefined)[]): Image {
  const inputs = `sha256:${"0".repeat(64)}`;
  const layers = image.manifest.layers.map((d, i) => {
    const kind = d.annotations?.[StrataAnnotation.layerKind] ?? "files";
    const own = packages[i];
    return {
      digest: d.digest,
      diffId: image.config.rootfs.diff_ids[i],
      kind,
      options: { compression: "gzip", docs: false, epoch: 0 },
      ...(own ? { packages: own.map(testLockEntry) } : { inputs }),
    };
  });
  const build = {
    version: 1,
    arch: image.config.architecture,
    lock: {
      inputs: { archs: [image.config.architecture], packages: [], exclude: [], repositories: [] },
      releases: [],
      excluded: [],
    },
    layers: { max: 100, compression: "gzip" },
    docs: false,
    epoch: 0,
    files: [],
  };
  return withRecord(image, { version: 1, build, layers });
}
