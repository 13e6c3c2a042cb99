import { gzipSync } from "node:zlib";
import tar from "tar-stream";
import { compress as zstdCompress } from "zstd-napi";
import { descriptorOf } from "../../src/oci/image.js";
import { MediaType } from "../../src/oci/types.js";
import { sha256Hex } from "../../src/util/hash.js";
import type { SyntheticLayer } from "./synthetic-image.js";

/**
 * Layers with chosen entries, for tests of what is read from inside images: dpkg records,
 * whiteouts (`.wh.NAME`, `.wh..wh..opq`), in gzip, zstd or a plain tar.
 */

export interface TestEntry {
  path: string;
  /** A file's contents; absent for a directory. */
  body?: string | Buffer;
  type?: "file" | "directory" | "symlink" | "link";
  linkname?: string;
}

export type TestCompression = "gzip" | "zstd" | "none";

export async function tarBytes(entries: TestEntry[]): Promise<Buffer> {
  const pack = tar.pack();
  for (const e of entries) {
    const type = e.type ?? (e.body === undefined ? "directory" : "file");
    const header = {
      name: e.path,
      type,
      mode: type === "directory" ? 0o755 : 0o644,
      mtime: new Date(0),
      linkname: e.linkname,
    };
    if (e.body === undefined) pack.entry(header);
    else pack.entry(header, Buffer.from(e.body));
  }
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of pack) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

const MEDIA_TYPES: Record<TestCompression, string> = {
  gzip: MediaType.ociLayerGzip,
  zstd: MediaType.ociLayerZstd,
  none: MediaType.ociLayerTar,
};

/** A layer of `entries`, compressed as asked, its descriptor carrying `annotations`. */
export async function layerOf(
  entries: TestEntry[],
  opts: { compression?: TestCompression; annotations?: Record<string, string>; diffId?: string } = {},
): Promise<SyntheticLayer> {
  const plain = await tarBytes(entries);
  const compression = opts.compression ?? "gzip";
  const bytes =
    compression === "gzip" ? gzipSync(plain) : compression === "zstd" ? zstdCompress(plain) : plain;
  const extra = opts.annotations ? { annotations: opts.annotations } : {};
  return {
    descriptor: descriptorOf(MEDIA_TYPES[compression], bytes, extra),
    diffId: opts.diffId ?? `sha256:${sha256Hex(plain)}`,
    bytes,
  };
}

/** A dpkg record (a status.d file, or one stanza of the status database). */
export function dpkgStanza(p: {
  name: string;
  version: string;
  arch?: string;
  source?: string;
  status?: string;
}): string {
  const lines = [
    `Package: ${p.name}`,
    `Status: ${p.status ?? "install ok installed"}`,
    `Architecture: ${p.arch ?? "amd64"}`,
  ];
  if (p.source) lines.push(`Source: ${p.source}`);
  lines.push(`Version: ${p.version}`, "Description: a test package", " with a second line");
  return `${lines.join("\n")}\n`;
}
