import { type Artifact, artifactImages, type Image, imageDescriptor } from "../oci/image.js";
import { readArtifact } from "../oci/locations/locations.js";
import { chooseImage, DEFAULT_VARIANT, platformText } from "../oci/platform.js";
import type { RegistryClientOptions } from "../oci/registry/client.js";
import { sha256Hex } from "../util/hash.js";
import { readInventory } from "./inventory.js";
import type { InventoryPackage } from "./package.js";
import { diffPackageLists } from "./package-diff.js";

/**
 * What changes between two images: their packages (added, removed, changed), their layers (shared
 * by digest or not), what a node holding A must pull to run B, and where their ChainIDs (the
 * unpacked snapshots a node keeps) stop agreeing.
 */

export interface PackageSide {
  name: string;
  architecture?: string;
  version: string;
  source?: string;
  sourceVersion?: string;
}

export interface VersionChange {
  name: string;
  architecture?: string;
  a: Omit<PackageSide, "name" | "architecture">;
  b: Omit<PackageSide, "name" | "architecture">;
}

export interface ImageDiff {
  platform: string;
  a: { digest: string; layers: number; packagesFrom: string };
  b: { digest: string; layers: number; packagesFrom: string };
  packages: { added: PackageSide[]; removed: PackageSide[]; changed: VersionChange[]; same: number };
  layers: { shared: number; onlyInA: number; onlyInB: number };
  /** The layers of B whose digests A lacks: what a node holding A pulls to run B (compressed sizes). */
  pull: { layers: number; bytes: number };
  /** The first layer position (counting from 1) whose ChainID differs, or null when the chains are equal. */
  chainIdsPartAt: number | null;
}

/** ChainID(L1) = DiffID(L1); ChainID(Ln) = sha256(ChainID(Ln-1) + " " + DiffID(Ln)) (image-spec config.md). */
export function chainIds(diffIds: string[]): string[] {
  const out: string[] = [];
  for (const diffId of diffIds) {
    out.push(out.length === 0 ? diffId : `sha256:${sha256Hex(`${out[out.length - 1]} ${diffId}`)}`);
  }
  return out;
}

function chainsPartAt(a: Image, b: Image): number | null {
  const [ca, cb] = [chainIds(a.config.rootfs.diff_ids), chainIds(b.config.rootfs.diff_ids)];
  for (let i = 0; i < Math.max(ca.length, cb.length); i++) if (ca[i] !== cb[i]) return i + 1;
  return null;
}

function side(p: InventoryPackage): PackageSide {
  const { name, architecture, version, source, sourceVersion } = p;
  return { name, ...(architecture ? { architecture } : {}), version, source, sourceVersion };
}

function versions(p: InventoryPackage): VersionChange["a"] {
  const { version, source, sourceVersion } = p;
  return { version, source, sourceVersion };
}

function packageChanges(a: InventoryPackage[], b: InventoryPackage[]): ImageDiff["packages"] {
  const diff = diffPackageLists(a, b);
  return {
    added: diff.added.map(side),
    removed: diff.removed.map(side),
    changed: diff.changed.map(({ a: pa, b: pb }) => {
      const arch = pb.architecture ?? pa.architecture;
      return { name: pb.name, ...(arch ? { architecture: arch } : {}), a: versions(pa), b: versions(pb) };
    }),
    same: diff.same,
  };
}

/** Diffs two images; `where` names them in errors. Only the layers one image lacks are ever read. */
export async function diffImages(a: Image, b: Image, where: { a: string; b: string }): Promise<ImageDiff> {
  const digestsA = new Set(a.manifest.layers.map((l) => l.digest));
  const digestsB = new Set(b.manifest.layers.map((l) => l.digest));
  const [inventoryA, inventoryB] = [
    await readInventory(a, where.a, { complete: (l) => !digestsB.has(l.digest) }),
    await readInventory(b, where.b, { complete: (l) => !digestsA.has(l.digest) }),
  ];
  const toPull = new Map(
    b.manifest.layers.filter((l) => !digestsA.has(l.digest)).map((l) => [l.digest, l.size]),
  );
  return {
    platform: platformText(b),
    a: { digest: imageDescriptor(a).digest, layers: a.manifest.layers.length, packagesFrom: inventoryA.from },
    b: { digest: imageDescriptor(b).digest, layers: b.manifest.layers.length, packagesFrom: inventoryB.from },
    packages: packageChanges(inventoryA.packages, inventoryB.packages),
    layers: {
      shared: [...digestsB].filter((d) => digestsA.has(d)).length,
      onlyInA: [...digestsA].filter((d) => !digestsB.has(d)).length,
      onlyInB: toPull.size,
    },
    pull: { layers: toPull.size, bytes: [...toPull.values()].reduce((n, s) => n + s, 0) },
    chainIdsPartAt: chainsPartAt(a, b),
  };
}

/** Which images pair across two artifacts: os/architecture/variant, OCI's default variant filled in (arm64 is v8). */
function platformKey(image: Image): string {
  const { os, architecture, variant } = image.config;
  return [os, architecture, variant ?? DEFAULT_VARIANT[architecture]].filter(Boolean).join("/");
}

export interface ArtifactDiff {
  images: ImageDiff[];
  /** Platforms only one side has (multi-platform artifacts are diffed per platform). */
  onlyInA: string[];
  onlyInB: string[];
}

/**
 * Diffs two artifacts per platform: with `platform`, that image of each; two single images with
 * each other; else the images of the platforms both have, the rest listed as only in one.
 */
export async function diffArtifacts(
  a: Artifact,
  b: Artifact,
  where: { a: string; b: string },
  platform?: string,
): Promise<ArtifactDiff> {
  const [imagesA, imagesB] = [artifactImages(a), artifactImages(b)];
  if (platform !== undefined || (imagesA.length === 1 && imagesB.length === 1)) {
    const pick = (images: Image[], w: string) => chooseImage(images, platform, `${w}: diff takes one image`);
    return {
      images: [await diffImages(pick(imagesA, where.a), pick(imagesB, where.b), where)],
      onlyInA: [],
      onlyInB: [],
    };
  }
  const byPlatform = new Map(imagesA.map((image) => [platformKey(image), image]));
  const keysB = new Set(imagesB.map(platformKey));
  const images: ImageDiff[] = [];
  for (const image of imagesB) {
    const match = byPlatform.get(platformKey(image));
    if (match !== undefined) images.push(await diffImages(match, image, where));
  }
  return {
    images,
    onlyInA: imagesA.filter((i) => !keysB.has(platformKey(i))).map(platformText),
    onlyInB: imagesB.filter((i) => !byPlatform.has(platformKey(i))).map(platformText),
  };
}

/** `strata diff`: the images at two locations (any image locations) compared, of one platform or all. */
export async function diffLocations(
  a: string,
  b: string,
  opts: { registry: RegistryClientOptions; platform?: string },
): Promise<ArtifactDiff> {
  const read = (location: string) => readArtifact(location, { registry: opts.registry });
  const [artifactA, artifactB] = [await read(a), await read(b)];
  return diffArtifacts(artifactA, artifactB, { a, b }, opts.platform);
}
