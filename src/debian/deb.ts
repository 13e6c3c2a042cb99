import { type Duplex, PassThrough, Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGunzip } from "node:zlib";
import type tarStream from "tar-stream";
import { isStrataError, StrataError } from "../util/errors.js";
import { lazyModule } from "../util/lazy.js";
import { xzDecompressor } from "../util/xz.js";
import { type ArMember, openArMember, readArMember, readArMembers } from "./ar.js";
import { openSharedXz, type SharedXz } from "./shared-xz.js";

/**
 * Reads a .deb (deb(5)): the ar members `debian-binary`, `control.tar[.gz|.xz|.zst]` and
 * `data.tar[.gz|.xz|.zst]`, in that order; members whose names start with "_" are ignored, as dpkg
 * does. Every defect of the file is a DEB_INVALID error naming the file and what is wrong.
 */
export type TarCompression = "xz" | "gz" | "zst" | "none";

export interface DebControl {
  /** The format version line, e.g. "2.0". */
  formatVersion: string;
  /** The `control` file: the package's stanza, as shipped. */
  control: string;
  /** The `md5sums` file, when the package has one. */
  md5sums?: string;
  /** The debconf `templates` file, when the package has one (its questions and their defaults). */
  templates?: string;
  /** Paths listed in `conffiles` (absolute, as dpkg writes them). */
  conffiles: string[];
  /** Maintainer scripts the package ships (strata never runs them; callers report or emulate them). */
  scripts: Partial<Record<MaintainerScript, string>>;
}

export type MaintainerScript = (typeof MAINTAINER_SCRIPTS)[number];
const MAINTAINER_SCRIPTS = ["preinst", "postinst", "prerm", "postrm", "config"] as const;
const CONTROL_FILES = new Set<string>([
  "control",
  "md5sums",
  "conffiles",
  "templates",
  ...MAINTAINER_SCRIPTS,
]);

/**
 * One entry of a member tar: tar-stream's header and its body as a stream of chunks. Read the body
 * before asking for the next entry (or leave it: the reader skips what is left). A corrupt stream or
 * a broken limit surfaces as DEB_INVALID from either.
 */
export interface DebTarEntry {
  header: tarStream.Header;
  body: AsyncIterable<Buffer>;
}

/**
 * What a .deb may expand to. A member's tar may not exceed `ratio` times its compressed size (once
 * past `ratioFloor`, as tiny members compress unpredictably), nor `dataBytes` (data.tar) or
 * `controlBytes` (control.tar) in all; data.tar may hold at most `entries` entries and `nameBytes`
 * of paths and link targets, which bounds what a reader keeps per entry. A decompression bomb meets
 * one of them early (an entry whose header alone declares too much is refused before its body).
 *
 * Measured on 1,746 real bookworm .debs (this machine's apt cache and the python3 example): the
 * highest ratio is 178 (libjs-moment-timezone, 1.25 MB to 223 MB; the next is 43), the biggest
 * data.tar 795 MB (ghc), the most entries 15,518 (libboost1.74-dev); so each limit leaves a margin
 * of 2.8x or (far) more.
 */
export const DEB_LIMITS = {
  dataBytes: 8 * 2 ** 30,
  controlBytes: 32 * 2 ** 20,
  ratio: 500,
  ratioFloor: 64 * 2 ** 20,
  // Every entry is kept as a record (layer files, overlap checks, script facts) until the image is
  // put together, so these two bound a build's memory most: 6x the most entries seen.
  entries: 100_000,
  nameBytes: 16 * 2 ** 20,
} as const;

/** debian-binary is a version line; anything longer is not a .deb. */
const DEBIAN_BINARY_MAX_BYTES = 64;

export interface DebFile {
  path: string;
  control: DebControl;
  dataCompression: TarCompression;
  /**
   * Streams data.tar's entries; each call reads the member again from the start (opened with
   * `readOnce`, the first call takes what the decoder of control.tar decoded after it).
   */
  dataEntries(): AsyncGenerator<DebTarEntry>;
  /** Ends a decoder still holding data.tar for a first dataEntries() that never came. */
  close(): void;
}

export interface OpenDebOptions {
  /**
   * The caller reads data.tar once, right after the control, and calls close() when done: when both
   * members are .xz, one xz child then decodes both (a child costs ~10 ms of fork in a big process).
   */
  readOnce?: boolean;
}

/** Opens a .deb: reads its ar directory and control member; data.tar is read on demand. */
export async function openDeb(path: string, opts: OpenDebOptions = {}): Promise<DebFile> {
  const members = (await readArMembers(path)).filter((m) => !m.name.startsWith("_"));
  const [binary, controlMember, dataMember] = members;
  if (binary?.name !== "debian-binary") throw invalid(path, "first member is not debian-binary");
  const controlCompression = memberCompression(path, controlMember, "control.tar");
  const dataCompression = memberCompression(path, dataMember, "data.tar");
  if (members.length > 3) throw invalid(path, `unexpected member "${members[3].name}" after data.tar`);

  if (binary.size > DEBIAN_BINARY_MAX_BYTES) throw invalid(path, `debian-binary is ${binary.size} bytes`);
  const formatVersion = (await readArMember(path, binary)).toString("latin1").trim();
  if (!/^2\.\d+$/.test(formatVersion)) throw invalid(path, `unsupported format version "${formatVersion}"`);

  const shared =
    opts.readOnce && controlCompression === "xz" && dataCompression === "xz"
      ? await openSharedXz(path, controlMember, dataMember, expansionCap(controlMember, "control"))
      : undefined;
  try {
    const deb = { formatVersion, controlMember, controlCompression, dataMember, dataCompression };
    return await readControl(path, deb, shared);
  } catch (err) {
    shared?.close();
    throw err;
  }
}

interface DebMembers {
  formatVersion: string;
  controlMember: ArMember;
  controlCompression: TarCompression;
  dataMember: ArMember;
  dataCompression: TarCompression;
}

async function readControl(path: string, deb: DebMembers, shared: SharedXz | undefined): Promise<DebFile> {
  const { controlMember, dataMember, dataCompression } = deb;
  const controlTar = shared
    ? [Readable.from([shared.controlTar])]
    : decoded(path, controlMember, deb.controlCompression);
  const files = new Map<string, string>();
  for await (const { header, body } of tarEntries(path, controlMember, "control", controlTar)) {
    const name = header.name.replace(/^\.\//, "");
    if (header.type === "file" && CONTROL_FILES.has(name)) files.set(name, await readText(body));
  }
  const control = files.get("control");
  if (control === undefined) throw invalid(path, `${controlMember.name} has no control file`);
  const conffiles = (files.get("conffiles") ?? "")
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line.length > 0);

  const scripts: DebControl["scripts"] = {};
  for (const script of MAINTAINER_SCRIPTS) {
    const text = files.get(script);
    if (text !== undefined) scripts[script] = text;
  }

  let dataTar = shared?.dataTar;
  return {
    path,
    control: {
      formatVersion: deb.formatVersion,
      control,
      md5sums: files.get("md5sums"),
      templates: files.get("templates"),
      conffiles,
      scripts,
    },
    dataCompression,
    dataEntries: () => {
      const source = dataTar ? [dataTar] : decoded(path, dataMember, dataCompression);
      dataTar = undefined;
      return tarEntries(path, dataMember, "data", source);
    },
    close: () => shared?.close(),
  };
}

const SUFFIX_COMPRESSION: Record<string, TarCompression> = {
  "": "none",
  ".gz": "gz",
  ".xz": "xz",
  ".zst": "zst",
};

function memberCompression(path: string, member: ArMember | undefined, stem: string): TarCompression {
  if (!member?.name.startsWith(stem)) throw invalid(path, `missing ${stem} member`);
  const compression = SUFFIX_COMPRESSION[member.name.slice(stem.length)];
  if (compression === undefined) throw invalid(path, `${member.name}: unknown compression`);
  return compression;
}

const zstdStreams = lazyModule<typeof import("zstd-napi")>("zstd-napi");
const tarStreams = lazyModule<typeof tarStream>("tar-stream");

export function decompressor(compression: TarCompression): Duplex {
  switch (compression) {
    case "xz":
      return xzDecompressor();
    case "gz":
      return createGunzip();
    case "zst":
      return new (zstdStreams().DecompressStream)();
    case "none":
      return new PassThrough();
  }
}

async function readText(body: AsyncIterable<Buffer>): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(chunk);
  return Buffer.concat(chunks).toString("utf8");
}

/** The most bytes a member's tar may expand to (DEB_LIMITS). */
function expansionCap(member: ArMember, kind: "control" | "data"): number {
  const total = kind === "data" ? DEB_LIMITS.dataBytes : DEB_LIMITS.controlBytes;
  return Math.min(total, Math.max(DEB_LIMITS.ratioFloor, DEB_LIMITS.ratio * member.size));
}

/** Passes bytes through until more than `cap` have come, then fails with `tooBig`. */
function byteCap(cap: number, tooBig: () => StrataError): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      seen += chunk.length;
      done(seen > cap ? tooBig() : null, chunk);
    },
  });
}

/** A member's tar: its bytes through the decompressor its name says. */
function decoded(path: string, member: ArMember, compression: TarCompression): Readable[] {
  return [openArMember(path, member), decompressor(compression)];
}

async function* tarEntries(
  path: string,
  member: ArMember,
  kind: "control" | "data",
  tar: Readable[],
): AsyncGenerator<DebTarEntry> {
  const cap = expansionCap(member, kind);
  const tooBig = () =>
    invalid(
      path,
      `${member.name} expands beyond ${cap} bytes (${DEB_LIMITS.ratio}x its size, at most ${kind === "data" ? DEB_LIMITS.dataBytes : DEB_LIMITS.controlBytes}): a decompression bomb?`,
    );
  const extract = tarStreams().extract();
  const feeding = pipeline([...tar, byteCap(cap, tooBig), extract]);
  // A failure anywhere in the pipeline destroys `extract`, which the loop below reports.
  let failure: unknown;
  feeding.catch((err) => {
    failure ??= err;
  });
  const asDebInvalid = (err: unknown): StrataError => {
    const cause = failure ?? err;
    return isStrataError(cause) ? cause : invalid(path, `${member.name}: ${(cause as Error).message}`, cause);
  };
  const budget = { entries: 0, nameBytes: 0 };
  // A consumer that stops early (an unsafe entry, a full disk) ends the loop through return(): its
  // error reaches its caller as it is, and only the reader's own failures are made DEB_INVALID.
  try {
    for await (const entry of extract) {
      checkEntryHeader(path, member, entry.header, { cap, tooBig }, budget);
      yield { header: entry.header, body: guardedBody(entry, asDebInvalid) };
      entry.resume();
    }
    await feeding;
  } catch (err) {
    throw asDebInvalid(err);
  } finally {
    extract.destroy();
  }
}

/** An entry's body, with a failure while reading it reported as the reader's own. */
async function* guardedBody(
  entry: AsyncIterable<unknown>,
  asDebInvalid: (err: unknown) => StrataError,
): AsyncGenerator<Buffer> {
  try {
    for await (const chunk of entry) yield chunk as Buffer;
  } catch (err) {
    throw asDebInvalid(err);
  }
}

/** Refuses a header whose size no entry can have, and counts entries and name bytes. */
function checkEntryHeader(
  path: string,
  member: ArMember,
  header: tarStream.Header,
  limit: { cap: number; tooBig: () => StrataError },
  budget: { entries: number; nameBytes: number },
): void {
  const size = header.size ?? 0;
  if (!Number.isSafeInteger(size) || size < 0) {
    throw invalid(path, `${member.name}: ${header.name}: impossible size ${size}`);
  }
  if (size > limit.cap) throw limit.tooBig();
  budget.entries++;
  budget.nameBytes += Buffer.byteLength(header.name) + Buffer.byteLength(header.linkname ?? "");
  if (budget.entries > DEB_LIMITS.entries) {
    throw invalid(path, `${member.name} has more than ${DEB_LIMITS.entries} entries`);
  }
  if (budget.nameBytes > DEB_LIMITS.nameBytes) {
    throw invalid(path, `${member.name}: its paths add up to more than ${DEB_LIMITS.nameBytes} bytes`);
  }
}

function invalid(path: string, what: string, cause?: unknown): StrataError {
  return new StrataError("DEB_INVALID", `${path}: ${what}`, { cause });
}
