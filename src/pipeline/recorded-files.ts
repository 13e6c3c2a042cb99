import { visitLayer } from "../inventory/layer-entries.js";
import type { Image } from "../oci/image.js";
import type { LayerEntry } from "../oci/layer-entry.js";
import type { BuildRecord } from "../record/build-record.js";
import { StrataError } from "../util/errors.js";
import { sha256Hex } from "../util/hash.js";

/**
 * The spec's files as an image holds them, for a rebuild without the spec: read from its files layer
 * (streamed, only the recorded paths' bodies kept), each checked against the record's sha256.
 */
export async function recordedFiles(image: Image, record: BuildRecord, where: string): Promise<LayerEntry[]> {
  // Recorded as the spec's entries name them ("/etc/x"); the layer's paths are relative.
  const wanted = new Map(record.files.map((f) => [f.path.replace(/^\/+/, ""), f]));
  const found = new Map<string, Buffer>();
  const filesLayer = image.manifest.layers.at(-1);
  if (wanted.size > 0 && filesLayer) {
    await visitLayer(image, filesLayer, where, async (e) => {
      const f = wanted.get(e.path);
      if (f && e.type === "file") found.set(e.path, await e.body(f.size));
    });
  }
  return record.files.map((f) => {
    const body = found.get(f.path.replace(/^\/+/, ""));
    if (body === undefined || sha256Hex(body) !== f.sha256) {
      throw new StrataError(
        "IMAGE_NOT_REBUILDABLE",
        `${where}: the build record names /${f.path}, which its files layer does not hold with that sha256`,
        { hint: "the image's record and its files layer disagree; rebuild the image" },
      );
    }
    return { path: f.path, type: "file", mode: f.mode, uid: f.uid, gid: f.gid, body };
  });
}
