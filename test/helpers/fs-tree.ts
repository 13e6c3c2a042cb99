import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGunzip } from "node:zlib";
import tarStream from "tar-stream";
import { blobPath, layoutImages } from "../../bench/oci.js";

/**
 * A file tree read from tar archives (an mmdebstrap tarball, or an image's layers in order), with
 * the lookups a comparison needs: what is at a path (parents followed through symlinks, as the
 * kernel does) and where a path finally leads. Paths have no leading "/".
 */
export interface TreeNode {
  type: "file" | "dir" | "symlink" | "other";
  linkname?: string;
  /** sha256 of a regular file's bytes. */
  sha256?: string;
  /** Permission bits (07777), numeric owner and group, as the tar header says. */
  mode?: number;
  uid?: number;
  gid?: number;
}

const MAX_LINKS = 40;

export class FsTree {
  readonly nodes = new Map<string, TreeNode>();
  /** Bodies of the files the reader was asked to keep. */
  readonly bodies = new Map<string, Buffer>();

  /** The node at `path` without following its last component, and its canonical path. */
  lstat(path: string): { path: string; node: TreeNode } | undefined {
    const parts = split(path);
    const name = parts.pop();
    if (name === undefined) return { path: "", node: { type: "dir" } };
    const parent = this.resolve(parts.join("/"), true, 0);
    if (parent === undefined) return undefined;
    const at = parent === "" ? name : `${parent}/${name}`;
    const node = this.nodes.get(at);
    return node ? { path: at, node } : undefined;
  }

  /** Where `path` leads after every symlink, or undefined for a loop; the end need not exist. */
  realpath(path: string): string | undefined {
    return this.resolve(path, true, 0);
  }

  private resolve(path: string, followLast: boolean, depth: number): string | undefined {
    if (depth > MAX_LINKS) return undefined;
    const parts = split(path);
    let at: string[] = [];
    for (const [i, part] of parts.entries()) {
      if (part === "..") {
        at.pop();
        continue;
      }
      const candidate = [...at, part].join("/");
      const node = this.nodes.get(candidate);
      if (node?.type === "symlink" && (followLast || i < parts.length - 1)) {
        const target = node.linkname ?? "";
        const from = target.startsWith("/") ? "" : at.join("/");
        const resolved = this.resolve(`${from}/${target}`, true, depth + 1);
        if (resolved === undefined) return undefined;
        at = split(resolved);
      } else at.push(part);
    }
    return at.join("/");
  }

  /** Adds a tar's entries (a later entry replaces an earlier one; OCI whiteouts remove). */
  async readTar(source: Readable, keepBody: (path: string) => boolean): Promise<void> {
    const extract = tarStream.extract();
    const reading = (async () => {
      for await (const entry of extract) {
        const path = split(entry.header.name).join("/");
        const base = path.slice(path.lastIndexOf("/") + 1);
        if (base.startsWith(".wh.")) {
          this.whiteout(path, base);
          entry.resume();
          continue;
        }
        const hash = createHash("sha256");
        const chunks: Buffer[] = [];
        const keep = keepBody(path);
        for await (const chunk of entry) {
          hash.update(chunk as Buffer);
          if (keep) chunks.push(chunk as Buffer);
        }
        if (path === "") continue;
        this.add(path, entry.header, hash.digest("hex"));
        if (keep) this.bodies.set(path, Buffer.concat(chunks));
      }
    })();
    await Promise.all([pipeline(source, extract), reading]);
  }

  private add(path: string, header: tarStream.Header, sha256: string): void {
    const linkname = header.linkname ?? undefined;
    if (header.type === "link") {
      // A hardlink is the file it names.
      const target = this.nodes.get(split(linkname ?? "").join("/"));
      this.nodes.set(path, target ? { ...target } : { type: "other" });
      const body = this.bodies.get(split(linkname ?? "").join("/"));
      if (body) this.bodies.set(path, body);
      return;
    }
    const type = header.type === "file" || header.type === "contiguous-file" ? "file" : header.type;
    const owner = { mode: (header.mode ?? 0) & 0o7777, uid: header.uid ?? 0, gid: header.gid ?? 0 };
    if (type === "file") this.nodes.set(path, { type, sha256, ...owner });
    else if (type === "directory") this.nodes.set(path, { type: "dir", ...owner });
    else if (type === "symlink") this.nodes.set(path, { type, linkname: linkname ?? "", ...owner });
    else this.nodes.set(path, { type: "other", ...owner });
  }

  private whiteout(path: string, base: string): void {
    const dir = path.slice(0, path.length - base.length).replace(/\/$/, "");
    const victims =
      base === ".wh..wh..opq"
        ? [...this.nodes.keys()].filter((p) => p.startsWith(`${dir}/`))
        : [`${dir ? `${dir}/` : ""}${base.slice(4)}`];
    for (const victim of victims) {
      for (const p of [...this.nodes.keys()])
        if (p === victim || p.startsWith(`${victim}/`)) this.nodes.delete(p);
    }
  }
}

function split(path: string): string[] {
  return path.split("/").filter((p) => p !== "" && p !== ".");
}

/** An mmdebstrap (or any plain) tarball as a tree. */
export async function tarballTree(file: string, keepBody: (path: string) => boolean): Promise<FsTree> {
  const tree = new FsTree();
  await tree.readTar(createReadStream(file), keepBody);
  return tree;
}

/** The filesystem of the (single-platform) image of an OCI layout, its layers applied in order. */
export async function imageTree(layout: string, keepBody: (path: string) => boolean): Promise<FsTree> {
  const { images } = await layoutImages(layout);
  if (images.length !== 1) throw new Error(`${layout}: expected one image, found ${images.length}`);
  const tree = new FsTree();
  for (const layer of images[0].layers) {
    const file = createReadStream(blobPath(layout, layer.digest));
    if (layer.mediaType?.endsWith("+zstd")) throw new Error(`${layout}: zstd layers are not read here`);
    await tree.readTar(layer.mediaType?.endsWith("+gzip") ? file.pipe(createGunzip()) : file, keepBody);
  }
  return tree;
}
