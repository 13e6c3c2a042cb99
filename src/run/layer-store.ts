import { mkdir, readFile, rename, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import type { Image } from "../oci/image.js";
import { sweepStaleSiblings } from "../oci/placement.js";
import { mapLimit } from "../util/concurrency.js";
import { StrataError } from "../util/errors.js";
import { tempPathFor, writeFileAtomic } from "../util/fs.js";
import { checkedDigestHex } from "../util/verify.js";
import { treeSeal } from "./tree-seal.js";
import { unpackLayer } from "./unpack-layer.js";

/**
 * Unpacked layers, one directory per diff_id under the cache (`layers/<hex>/root`), shared by every
 * image that holds the layer: a second run, or a run of another image with the same layer, unpacks
 * nothing. Each entry is unpacked into a temp sibling, sealed (tree-seal.ts) and renamed into place;
 * the seal is checked before every use, and an entry that fails it is dropped and unpacked again.
 */

const SEAL_FILE = "seal.json";
/** Seals of another format were written by another strata: that entry is unpacked again, quietly. */
const SEAL_FORMAT = 1;
const MAX_SEAL_BYTES = 64 << 20;
/** Layers unpacked at once: decompression is CPU-bound and a run should not take the machine. */
const UNPACK_CONCURRENCY = 2;

interface Seal {
  format: number;
  diffId: string;
  seal: string;
  whiteouts: string[];
  opaque: string[];
  /** False when unpacked without root: the whiteouts are listed but not made, so overlayfs cannot use it. */
  overlayWhiteouts: boolean;
}

export interface LayerUse {
  diffId: string;
  /** The directory overlayfs reads as a lower layer. */
  root: string;
  /** True when this run unpacked it (it was not in the store, or its seal no longer matched). */
  unpacked: boolean;
  /** What it deletes from the layers below (for the copy fallback; overlayfs reads the whiteouts). */
  whiteouts: string[];
  opaque: string[];
}

export type StoreEvent = { kind: "tampered"; diffId: string; dir: string };

export class LayerStore {
  constructor(
    readonly dir: string,
    private readonly onEvent: (e: StoreEvent) => void = () => {},
  ) {}

  private entry(diffId: string): string {
    return join(this.dir, checkedDigestHex(diffId, "diff_id"));
  }

  /** Every layer of `image`, bottom first, unpacked and verified. */
  async layersOf(image: Image, where: string): Promise<LayerUse[]> {
    const { layers } = image.manifest;
    const diffIds = image.config.rootfs?.diff_ids ?? [];
    if (diffIds.length !== layers.length) {
      throw new StrataError(
        "IMAGE_NOT_REBUILDABLE",
        `${where}: ${layers.length} layers but ${diffIds.length} diff_ids`,
        {
          hint: "the image's config does not describe its layers; rebuild or re-pull it",
        },
      );
    }
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    return mapLimit(layers, UNPACK_CONCURRENCY, async (layer, i) => {
      const diffId = diffIds[i];
      const dir = this.entry(diffId);
      const held = await this.sealHolds(dir, diffId);
      if (held) return { ...held, root: join(dir, "root"), unpacked: false };
      await sweepStaleSiblings(dir); // what a killed run left half unpacked
      const tmp = tempPathFor(dir);
      try {
        await mkdir(join(tmp, "root"), { recursive: true });
        const blob = await image.blobs.open(layer.digest);
        const unpacked = await unpackLayer(blob, layer, diffId, join(tmp, "root"), where);
        const { whiteouts, opaque, overlayWhiteouts } = unpacked;
        const tree = treeSeal(join(tmp, "root"));
        const seal: Seal = { format: SEAL_FORMAT, diffId, seal: tree, whiteouts, opaque, overlayWhiteouts };
        await writeFileAtomic(join(tmp, SEAL_FILE), JSON.stringify(seal));
        await this.place(tmp, dir, diffId);
        return { diffId, root: join(dir, "root"), unpacked: true, whiteouts, opaque };
      } finally {
        await rm(tmp, { recursive: true, force: true });
      }
    });
  }

  /** Renames the finished entry into place; another process that placed it first wins. */
  private async place(tmp: string, dir: string, diffId: string): Promise<void> {
    try {
      await rename(tmp, dir);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if ((code !== "ENOTEMPTY" && code !== "EEXIST") || (await this.sealHolds(dir, diffId)) === undefined) {
        throw err;
      }
    }
  }

  /** The seal of `dir` when it holds `diffId` unpacked and unchanged; an entry that does not is removed. */
  private async sealHolds(dir: string, diffId: string): Promise<Seal | undefined> {
    const sealPath = join(dir, SEAL_FILE);
    const info = await stat(sealPath).catch(() => undefined);
    if (info === undefined) {
      await rm(dir, { recursive: true, force: true }); // a dead run's half, or nothing
      return undefined;
    }
    const seal = await readSeal(sealPath, info.size);
    if (seal === "other-format") {
      await this.drop(dir);
      return undefined;
    }
    if (seal?.diffId === diffId && seal.seal === treeSealOrNone(join(dir, "root"))) {
      if (usableHere(seal)) return seal;
      await this.drop(dir); // unpacked without root: root unpacks it again, with its whiteouts made
      return undefined;
    }
    this.onEvent({ kind: "tampered", diffId, dir });
    await this.drop(dir);
    return undefined;
  }

  /** Moves an entry aside before removing it, so no run can pick up a half-removed tree. */
  private async drop(dir: string): Promise<void> {
    const aside = tempPathFor(dir);
    await rename(dir, aside).catch(() => undefined);
    await rm(aside, { recursive: true, force: true });
  }
}

function isStringList(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((v) => typeof v === "string" && !v.split("/").includes(".."));
}

/** The seal file; undefined when it is too large, unreadable or malformed (a changed seal is tampering too). */
async function readSeal(path: string, size: number): Promise<Seal | "other-format" | undefined> {
  if (size > MAX_SEAL_BYTES) return undefined;
  try {
    const seal = JSON.parse(await readFile(path, "utf8")) as Seal;
    if (typeof seal.format === "number" && seal.format !== SEAL_FORMAT) return "other-format";
    if (seal.format === undefined && typeof seal.seal === "string") return "other-format"; // before formats
    const ok =
      typeof seal.diffId === "string" &&
      typeof seal.seal === "string" &&
      typeof seal.overlayWhiteouts === "boolean";
    return ok && isStringList(seal.whiteouts) && isStringList(seal.opaque) ? seal : undefined;
  } catch {
    return undefined;
  }
}

function treeSealOrNone(root: string): string | undefined {
  try {
    return treeSeal(root);
  } catch {
    return undefined;
  }
}

/** Root composes with overlayfs, which needs the whiteouts made; a run without root only reads their list. */
function usableHere(seal: Seal): boolean {
  const hasWhiteouts = seal.whiteouts.length > 0 || seal.opaque.length > 0;
  return !hasWhiteouts || seal.overlayWhiteouts || process.getuid?.() !== 0;
}
