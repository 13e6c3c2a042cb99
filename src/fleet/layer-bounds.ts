import { pipeline, Transform } from "node:stream";
import { decompressor, type TarCompression } from "../debian/deb.js";
import type { Image } from "../oci/image.js";
import type { Descriptor } from "../oci/types.js";
import { StrataError } from "../util/errors.js";
import { verifyingStream } from "../util/verify.js";

/**
 * How far indexing unpacks a layer to find its dpkg records: a small gzip can hold gigabytes of
 * zeros, and every byte must be inflated to reach the records behind it. A layer may expand to
 * `ratio` times its compressed size (at least `ratioFloor`, at most `unpackedBytes`); past that its
 * add fails and the index is left as it was. Mutable only for tests.
 */
export const LAYER_LIMITS = {
  unpackedBytes: 8 * 2 ** 30,
  ratio: 100,
  ratioFloor: 512 * 2 ** 20,
};

function compressionOf(layer: Descriptor): TarCompression | undefined {
  if (/[.+]gzip$/.test(layer.mediaType)) return "gz";
  if (/\+zstd$/.test(layer.mediaType)) return "zst";
  if (/[./]tar$/.test(layer.mediaType)) return "none";
  return undefined; // refused by the reader with its own error
}

/** The most bytes a layer of `size` compressed bytes may unpack to. */
export function unpackCap(size: number): number {
  const { unpackedBytes, ratio, ratioFloor } = LAYER_LIMITS;
  return Math.min(unpackedBytes, Math.max(ratioFloor, ratio * size));
}

/** Passes bytes through until more than `cap` have come, then fails with one line. */
function capped(layer: Descriptor, where: string): Transform {
  const cap = unpackCap(layer.size);
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      seen += chunk.length;
      if (seen <= cap) return done(null, chunk);
      done(
        new StrataError(
          "IO",
          `${where}: layer ${layer.digest} unpacks to more than ${cap} bytes (${layer.size} compressed); not indexed`,
          {
            hint: "a layer may unpack to 100x its size (at least 512 MiB, at most 8 GiB); rebuild the image",
          },
        ),
      );
    },
  });
}

/** `image` with each layer unpacked (and bounded) as it is opened, so readers see plain tar. */
export function boundedLayers(image: Image, where: string): Image {
  const bySha = new Map(image.manifest.layers.map((l) => [l.digest, l]));
  const plain = (l: Descriptor): Descriptor =>
    compressionOf(l) === undefined ? l : { ...l, mediaType: "application/vnd.oci.image.layer.v1.tar" };
  return {
    ...image,
    manifest: { ...image.manifest, layers: image.manifest.layers.map(plain) },
    blobs: {
      open: async (digest, limit) => {
        const layer = bySha.get(digest);
        const compression = layer && compressionOf(layer);
        const source = await image.blobs.open(digest, limit);
        if (layer === undefined || compression === undefined) return source;
        const out = capped(layer, where);
        // Checked here whatever the image's location does: the size read is what the index keeps.
        const check = verifyingStream(digest.slice("sha256:".length), {
          size: layer.size,
          what: `${where}: layer ${digest}`,
        });
        pipeline(source, check, decompressor(compression), out, (err) => err && out.destroy(err));
        return out;
      },
    },
  };
}
