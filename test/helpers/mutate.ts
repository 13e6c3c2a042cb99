import type { Image } from "../../src/oci/image.js";
import { composeImage, type ImageParts, imageParts, type Layer } from "../../src/oci/mutate.js";
import type { HistoryEntry, ImageConfig } from "../../src/oci/types.js";

/**
 * Images changed in one place, for tests that craft what a registry or an attacker could hold:
 * strata itself never edits an image (an update is a rebuild that reuses layers).
 */

/** `image` with the layer at `at` replaced by `layer` (its history entries kept unless given). */
export function replaceLayer(image: Image, at: number, layer: Layer, history?: HistoryEntry[]): Image {
  const parts = imageParts(image);
  checkPosition(parts, at, false);
  const old = parts.layers[at];
  parts.layers[at] = { layer, history: history ?? old.history };
  return composeImage(parts);
}

/** `image` with `layer` inserted before position `at` (at = the layer count appends). */
export function insertLayer(image: Image, at: number, layer: Layer, history: HistoryEntry[]): Image {
  const parts = imageParts(image);
  checkPosition(parts, at, true);
  parts.layers.splice(at, 0, { layer, history });
  return composeImage(parts);
}

/** `image` without the layer at `at` (and its history entries). */
export function removeLayer(image: Image, at: number): Image {
  const parts = imageParts(image);
  checkPosition(parts, at, false);
  parts.layers.splice(at, 1);
  return composeImage(parts);
}

/** `image` with config fields set (`undefined` removes one), e.g. { created }, { config: {...} }. */
export function setConfig(image: Image, fields: Partial<Omit<ImageConfig, "rootfs" | "history">>): Image {
  const parts = imageParts(image);
  const config: Record<string, unknown> = { ...parts.config, ...fields };
  for (const [key, value] of Object.entries(config)) if (value === undefined) delete config[key];
  return composeImage({ ...parts, config: config as ImageParts["config"] });
}

/** `image` with manifest annotations set (`undefined` removes one). */
export function setAnnotations(image: Image, annotations: Record<string, string | undefined>): Image {
  const parts = imageParts(image);
  const merged: Record<string, string | undefined> = { ...parts.annotations, ...annotations };
  const kept = Object.fromEntries(Object.entries(merged).filter(([, v]) => v !== undefined)) as Record<
    string,
    string
  >;
  return composeImage({ ...parts, annotations: Object.keys(kept).length > 0 ? kept : undefined });
}

function checkPosition(parts: ImageParts, at: number, insert: boolean): void {
  const last = parts.layers.length - (insert ? 0 : 1);
  if (!Number.isInteger(at) || at < 0 || at > last) {
    throw new RangeError(`layer position ${at} is outside 0..${last}`);
  }
}
