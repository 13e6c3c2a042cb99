import type { BlobSource, Image } from "../../src/oci/image.js";
import { StrataAnnotation } from "../../src/record/keys.js";
import { dpkgStanza, layerOf } from "./layer-tar.js";
import { MemoryBlobSource, type SyntheticLayer, syntheticImage } from "./synthetic-image.js";

/**
 * Images for fleet-index tests: strata-like images (one annotated layer per package, the same
 * package giving the same layer bytes, so images share layers as real ones do) and Debian-like
 * images whose packages are only in dpkg's status database. Every image counts the layers opened.
 */

export interface TestPackage {
  name: string;
  version: string;
  arch?: string;
  source?: string;
  sourceVersion?: string;
}

/**
 * A strata package layer: the status.d record and the annotations (name=version); "json" also has
 * an image of it record the package whole (architecture, source), as strata's record does.
 */
export async function strataPackageLayer(
  p: TestPackage,
  form: "json" | "plain" = "json",
): Promise<SyntheticLayer> {
  const source = p.source ?? p.name;
  const sourceVersion = p.sourceVersion ?? p.version;
  const sourceField =
    p.source === undefined ? undefined : p.sourceVersion ? `${source} (${sourceVersion})` : source;
  const layer = await layerOf(
    [{ path: `var/lib/dpkg/status.d/${p.name}`, body: dpkgStanza({ ...p, source: sourceField }) }],
    {
      annotations: {
        [StrataAnnotation.layerKind]: "package",
        [StrataAnnotation.packages]: `${p.name}=${p.version}`,
      },
    },
  );
  return form === "json" ? { ...layer, recorded: [{ ...p, source, sourceVersion }] } : layer;
}

export function strataBaseLayer(label = "base"): Promise<SyntheticLayer> {
  return layerOf([{ path: "etc/hostname", body: `${label}\n` }], {
    annotations: { [StrataAnnotation.layerKind]: "base" },
  });
}

/** A Debian image's layer holding dpkg's status database with `packages`. */
export function statusLayer(packages: TestPackage[], extra: { path: string; body: string }[] = []) {
  const status = packages.map((p) => dpkgStanza({ ...p, source: p.source })).join("\n");
  return layerOf([...extra, { path: "var/lib/dpkg/status", body: status }]);
}

export interface CountedImage {
  image: Image;
  /** Digests of the layers opened so far. */
  opened: string[];
}

/** An image of `layers` whose blob source records each layer opened. */
export function countedImage(
  layers: SyntheticLayer[],
  opts: { label?: string; arch?: string } = {},
): CountedImage {
  const memory = new MemoryBlobSource();
  for (const l of layers) memory.add(l.descriptor.digest, l.bytes);
  const opened: string[] = [];
  const blobs: BlobSource = {
    open: (digest) => {
      opened.push(digest);
      return memory.open(digest);
    },
  };
  const platform = { os: "linux", architecture: opts.arch ?? "amd64" };
  return { image: syntheticImage(layers, { blobs, label: opts.label, platform }), opened };
}

/** A strata-like image: a base layer and one layer per package. */
export async function strataImage(
  packages: TestPackage[],
  opts: { label?: string; form?: "json" | "plain" } = {},
): Promise<CountedImage> {
  const layers = [
    await strataBaseLayer(),
    ...(await Promise.all(packages.map((p) => strataPackageLayer(p, opts.form)))),
  ];
  return countedImage(layers, { label: opts.label });
}

/**
 * A hostile strata image: it names `shared` (a layer of another image) by digest but annotates it
 * as holding only bash, and serves none of its bytes (it cannot serve others under that digest).
 */
export async function poisonedImage(shared: SyntheticLayer): Promise<Image> {
  const bash = [
    { name: "bash", version: "5.2-1", architecture: "amd64", source: "bash", sourceVersion: "5.2-1" },
  ];
  const annotations = { [StrataAnnotation.layerKind]: "package", [StrataAnnotation.packages]: "bash=5.2-1" };
  const base = await strataBaseLayer("evil");
  const memory = new MemoryBlobSource();
  memory.add(base.descriptor.digest, base.bytes);
  const lying = { ...shared, descriptor: { ...shared.descriptor, annotations }, recorded: bash };
  return syntheticImage([base, lying], { blobs: memory, label: "evil" });
}
