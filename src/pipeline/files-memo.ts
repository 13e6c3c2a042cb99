import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { SkippedEffect } from "../debian/maintscripts.js";
import { canonicalJson } from "../record/layer-facts.js";
import { writeFileAtomic } from "../util/fs.js";
import { sha256Hex } from "../util/hash.js";
import { SHA256_DIGEST } from "../util/verify.js";
import { BUILD_ID } from "../util/version.js";

/**
 * What making the files layer found, kept per input so a warm build does not follow every
 * package's maintainer scripts again: the layer's entries digest (its blob is in the layer cache
 * under it), what was skipped and made, and the notes said. The files layer is a function of the
 * image's package layers (their .debs), its base layer, the spec, the layer options, the
 * architecture and strata's code (BUILD_ID: a rebuilt strata never reads an older one's results;
 * strata running from source keeps none).
 */
export interface FilesOutcome {
  /** The files layer's entries digest: its key in the layer cache. */
  inputs: string;
  skipped: SkippedEffect[];
  made: [string, number][];
  notes: string[];
}

export interface FilesInputs {
  arch: string;
  options: unknown;
  spec: unknown;
  /** The spec's files as entries: their digest. */
  specFiles: string;
  base: string;
  /** Each package layer: its digest and its packages as the record holds them (with their .debs' sha256). */
  layers: { digest: string; packages: unknown }[];
}

/** Outcomes larger than this are not ours: not read. */
const MAX_OUTCOME_BYTES = 16 << 20;

export class FilesMemo {
  constructor(private readonly cacheRoot: string) {}

  /** The outcome kept for `inputs`, if any and well-formed. */
  async get(inputs: FilesInputs): Promise<FilesOutcome | undefined> {
    const path = this.path(inputs);
    if (path === undefined) return undefined;
    const text = await readFile(path, "utf8").catch(() => undefined);
    if (text === undefined || text.length > MAX_OUTCOME_BYTES) return undefined;
    try {
      return asOutcome(JSON.parse(text));
    } catch {
      return undefined;
    }
  }

  async put(inputs: FilesInputs, outcome: FilesOutcome): Promise<void> {
    const path = this.path(inputs);
    if (path !== undefined) await writeFileAtomic(path, `${JSON.stringify(outcome)}\n`);
  }

  private path(inputs: FilesInputs): string | undefined {
    if (BUILD_ID === undefined) return undefined;
    const key = sha256Hex(canonicalJson({ build: BUILD_ID, ...inputs }));
    return join(this.cacheRoot, "files-layers", `${key}.json`);
  }
}

const isString = (v: unknown): v is string => typeof v === "string";

/** `value` as an outcome, or undefined when any part of it is not what put wrote. */
function asOutcome(value: unknown): FilesOutcome | undefined {
  const o = value as Partial<FilesOutcome> | null;
  if (typeof o !== "object" || o === null || !isString(o.inputs) || !SHA256_DIGEST.test(o.inputs))
    return undefined;
  const skippedOk =
    Array.isArray(o.skipped) &&
    o.skipped.every(
      (s) => isString(s?.package) && isString(s.script) && isString(s.command) && isString(s.reason),
    );
  const madeOk =
    Array.isArray(o.made) &&
    o.made.every((m) => Array.isArray(m) && isString(m[0]) && Number.isInteger(m[1]));
  const notesOk = Array.isArray(o.notes) && o.notes.every(isString);
  return skippedOk && madeOk && notesOk ? (o as FilesOutcome) : undefined;
}
