import { execFile } from "node:child_process";
import { createWriteStream } from "node:fs";
import { chmod, lchown, link, lutimes, mkdir, rm, symlink, utimes } from "node:fs/promises";
import { join, posix } from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { promisify } from "node:util";
import type tarStream from "tar-stream";
import { decompressor } from "../debian/deb.js";
import { layerCompression } from "../inventory/layer-entries.js";
import type { Descriptor } from "../oci/types.js";
import { isStrataError, StrataError } from "../util/errors.js";
import { lazyModule } from "../util/lazy.js";
import { verifyingStream } from "../util/verify.js";

/**
 * Unpacks one layer into a directory the way overlayfs reads a lower layer: the uncompressed stream
 * is hashed on the way and must equal the diff_id, owners and modes are kept (as root), OCI
 * whiteouts become overlay whiteouts (a 0/0 character device; `trusted.overlay.opaque` on an opaque
 * directory; as root only: without it they are only listed, for the copy that composes the layers). Entries that would leave the directory are refused: absolute names, `..`, a path
 * through a symlink of the layer, a hardlink to anything but an earlier entry of the layer.
 */

const tarStreams = lazyModule<typeof tarStream>("tar-stream");
const run = promisify(execFile);

export interface UnpackedLayer {
  /** Paths (relative) that this layer deletes from the layers below, and directories it makes opaque. */
  whiteouts: string[];
  opaque: string[];
  /** Device nodes and fifos, which are not unpacked (runc gives the container its own /dev). */
  skipped: number;
  /** Whether the whiteouts were made as overlayfs reads them (as root), not only listed. */
  overlayWhiteouts: boolean;
}

const OPAQUE = ".wh..wh..opq";
const WHITEOUT = ".wh.";

function unsafe(where: string, name: string, why: string): StrataError {
  return new StrataError("UNSAFE_PATH", `${where}: layer entry "${name.slice(0, 200)}" ${why}`, {
    hint: "the image is malformed or hostile; it is not run",
  });
}

/** The entry's path relative to the layer root, or a refusal. */
export function entryPath(name: string, where: string): string {
  if (name.startsWith("/")) throw unsafe(where, name, "is an absolute path");
  if (name.includes("\0")) throw unsafe(where, name, "holds a NUL byte");
  if (name.split("/").includes("..")) throw unsafe(where, name, "climbs out with ..");
  const path = posix.normalize(name).replace(/\/+$/, "");
  return path === "." ? "" : path.replace(/^\.\//, "");
}

class LayerWriter {
  readonly result: UnpackedLayer;
  private readonly links = new Set<string>();
  private readonly dirs: { path: string; mode: number; mtime: Date }[] = [];

  constructor(
    private readonly root: string,
    private readonly where: string,
    /** Root: owners kept and overlay whiteouts made. */
    private readonly privileged: boolean,
  ) {
    this.result = { whiteouts: [], opaque: [], skipped: 0, overlayWhiteouts: privileged };
  }

  /** Refuses a path whose parent is a symlink this layer made (writing through it could leave the root). */
  private checkParents(path: string, name: string): void {
    const parts = path.split("/");
    for (let i = 1; i < parts.length; i++) {
      if (this.links.has(parts.slice(0, i).join("/")))
        throw unsafe(this.where, name, "goes through a symlink");
    }
  }

  async entry(header: tarStream.Header, body: Readable): Promise<void> {
    const path = entryPath(header.name, this.where);
    if (path === "") return void body.resume();
    this.checkParents(path, header.name);
    const base = posix.basename(path);
    const dir = posix.dirname(path) === "." ? "" : posix.dirname(path);
    if (base === OPAQUE) return this.opaqueDir(dir, body);
    if (base.startsWith(WHITEOUT)) return this.whiteout(posix.join(dir, base.slice(WHITEOUT.length)), body);
    const target = join(this.root, path);
    await mkdir(join(this.root, dir), { recursive: true });
    if (header.type !== "directory") await rm(target, { recursive: true, force: true });
    switch (header.type) {
      case "file":
      case "contiguous-file":
        await pipeline(body, createWriteStream(target, { mode: 0o600 }));
        break;
      case "directory":
        body.resume();
        await mkdir(target, { recursive: true });
        this.dirs.push({ path: target, mode: header.mode ?? 0o755, mtime: header.mtime ?? new Date(0) });
        break;
      case "symlink":
        body.resume();
        await symlink(header.linkname ?? "", target);
        this.links.add(path);
        break;
      case "link":
        body.resume();
        await link(join(this.root, this.linkTarget(header)), target);
        return; // a hardlink shares its target's owner, mode and times
      default:
        body.resume();
        this.result.skipped++;
        return;
    }
    await this.attributes(target, header);
  }

  private linkTarget(header: tarStream.Header): string {
    const target = entryPath(header.linkname ?? "", this.where);
    this.checkParents(target, header.linkname ?? "");
    if (target === "") throw unsafe(this.where, header.name, "is a hardlink to the root");
    return target;
  }

  private async attributes(target: string, header: tarStream.Header): Promise<void> {
    if (this.privileged) await lchown(target, header.uid ?? 0, header.gid ?? 0);
    const mtime = header.mtime ?? new Date(0);
    if (header.type === "symlink") return lutimes(target, mtime, mtime);
    // After chown, which clears setuid bits.
    if (header.type !== "directory") await chmod(target, (header.mode ?? 0o644) & 0o7777);
    await utimes(target, mtime, mtime);
  }

  private async opaqueDir(dir: string, body: Readable): Promise<void> {
    body.resume();
    const target = join(this.root, dir);
    await mkdir(target, { recursive: true });
    if (this.privileged) await run("setfattr", ["-n", "trusted.overlay.opaque", "-v", "y", target]);
    this.result.opaque.push(dir);
  }

  private async whiteout(path: string, body: Readable): Promise<void> {
    body.resume();
    const target = join(this.root, path);
    await mkdir(join(this.root, posix.dirname(path)), { recursive: true });
    await rm(target, { recursive: true, force: true });
    if (this.privileged) await run("mknod", [target, "c", "0", "0"]);
    this.result.whiteouts.push(path);
  }

  /** Directory modes and times last: writing children would change the times, and a 0555 dir refuse them. */
  async finish(): Promise<void> {
    for (const d of this.dirs.reverse()) {
      await chmod(d.path, d.mode & 0o7777);
      await utimes(d.path, d.mtime, d.mtime);
    }
  }
}

/**
 * Unpacks `blob` (the layer's compressed bytes, already verified against its digest by its image location) into
 * `root`, which must exist and be empty. Fails with HASH_MISMATCH when the uncompressed bytes are not
 * `diffId`; the caller removes `root` on any failure.
 */
export async function unpackLayer(
  blob: Readable,
  layer: Descriptor,
  diffId: string,
  root: string,
  where: string,
): Promise<UnpackedLayer> {
  const writer = new LayerWriter(root, `${where}: layer ${layer.digest}`, process.getuid?.() === 0);
  const extract = tarStreams().extract();
  const what = `${where}: layer ${layer.digest} uncompressed (diff_id ${diffId})`;
  const feeding = pipeline(
    blob,
    decompressor(layerCompression(layer, where)),
    verifyingStream(diffId.slice("sha256:".length), { what }),
    extract,
  );
  let failure: unknown;
  feeding.catch((err) => {
    failure ??= err;
  });
  try {
    for await (const entry of extract) await writer.entry(entry.header, entry as unknown as Readable);
    await feeding;
    await writer.finish();
    return writer.result;
  } catch (err) {
    const cause = failure ?? err;
    if (isStrataError(cause)) throw cause;
    throw new StrataError("IO", `${where}: layer ${layer.digest}: ${(cause as Error).message}`, {
      hint: "the layer is not a readable tar, or the cache's disk is full",
    });
  } finally {
    extract.destroy();
  }
}
