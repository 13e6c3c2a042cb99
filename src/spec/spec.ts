import { readFile, stat } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import {
  type Document,
  isMap,
  isScalar,
  isSeq,
  LineCounter,
  parseDocument,
  type Node as YamlNode,
} from "yaml";
import {
  DEFAULT_KEYRING,
  hostAptSources,
  hostDebianArch,
  type RepositorySource,
  relocateUrl,
} from "../debian/sources.js";
import { closeNames } from "../debian/suggest.js";
import { StrataError } from "../util/errors.js";
import { z } from "../util/zod.js";
import { checkFileSources } from "./spec-files.js";

/**
 * Packages that exist only to run maintainer scripts and manage packages — which strata never
 * does — so they stay out of images unless `exclude:` says otherwise (`exclude: []` turns it off).
 * A dependency on one of them counts as met, and the lock records who wanted it.
 */
export const DEFAULT_EXCLUDES = [
  "adduser",
  "apt",
  "cdebconf",
  "debconf",
  "debconf-2.0",
  "dpkg",
  "init-system-helpers",
  "install-info",
  "ucf",
  "usr-is-merged",
  "usrmerge",
];

const name = z.string().regex(/^[a-z0-9][a-z0-9+.-]+$/, "a Debian package name (lower case, digits, + - .)");
const packageRequest = z
  .string()
  .regex(/^[a-z0-9][a-z0-9+.-]+(=[A-Za-z0-9.+~:-]+)?$/, "a package name, or name=version");
const absolutePath = z.string().regex(/^\//, "must be an absolute path");
/** What Debian's account tools accept as a name (exim's `Debian-exim` included). */
const ACCOUNT_NAME = /^[A-Za-z_][A-Za-z0-9_.-]{0,31}\$?$/;

/** A spec larger than this is refused unread: specs are a few kilobytes. */
export const MAX_SPEC_BYTES = 1024 * 1024;
/** YAML aliases the spec may expand; a "billion laughs" bomb needs far more. */
const MAX_ALIAS_COUNT = 100;
/** The largest epoch a ustar header holds (11 octal digits), so every layer keeps plain headers. */
export const MAX_EPOCH = 8 ** 11 - 1;
/** mtime of every entry and `created` of every image when neither SOURCE_DATE_EPOCH nor the spec sets one. */
export const DEFAULT_EPOCH = 0;

const repository = z.strictObject({
  url: z
    .string()
    .regex(/^(https?|file):\/\/\S+$/, "an http(s):// or file:// URL")
    .transform((url) => url.replace(/\/+$/, "")),
  suites: z.array(z.string().min(1)).min(1),
  components: z.array(z.string().min(1)).min(1).default(["main"]),
  keyring: absolutePath.default(DEFAULT_KEYRING),
  "check-valid-until": z.boolean().optional(),
});

const user = z.strictObject({
  name: z.string().regex(/^[a-z_][a-z0-9_-]*$/, "a user name"),
  uid: z.number().int().min(0),
  gid: z.number().int().min(0).optional(),
  home: absolutePath.optional(),
  shell: absolutePath.default("/sbin/nologin"),
  gecos: z.string().optional(),
});

const group = z.strictObject({
  name: z.string().regex(/^[a-z_][a-z0-9_-]*$/, "a group name"),
  gid: z.number().int().min(0),
  members: z.array(z.string()).default([]),
});

const file = z
  .strictObject({
    path: absolutePath,
    content: z.string().optional(),
    source: z.string().optional(),
    // An octal string; loadSpec turns an unquoted YAML octal into one (see quoteOctalModes).
    mode: z
      .string()
      .regex(/^0?[0-7]{1,4}$/, 'an octal mode as a quoted string, e.g. "0644"')
      .optional(),
    /** Setuid and setgid bits are honoured only when the entry asks for them by name. */
    setuid: z.boolean().default(false),
    setgid: z.boolean().default(false),
    uid: z.number().int().min(0).max(0xfffffffe).default(0),
    gid: z.number().int().min(0).max(0xfffffffe).default(0),
  })
  .refine((f) => (f.content === undefined) !== (f.source === undefined), {
    message: "give exactly one of content or source",
  });

const stringList = z.union([z.string().transform((s) => [s]), z.array(z.string())]);

export const specSchema = z.strictObject({
  repositories: z.array(repository).min(1).optional(),
  archs: z
    .array(z.string().regex(/^[a-z0-9]+$/, "a Debian architecture such as amd64 or arm64"))
    .min(1)
    .optional(),
  packages: z.array(packageRequest).min(1),
  exclude: z.array(name).optional(),
  /** Debian's Essential set too (a shell, coreutils...: what every package may assume is there). */
  essential: z.boolean().default(false),
  docs: z.boolean().default(false),
  epoch: z.number().int().min(0).max(MAX_EPOCH).optional(),
  entrypoint: stringList.optional(),
  cmd: stringList.optional(),
  env: z
    .record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "an environment variable name"), z.string())
    .optional(),
  user: z.string().optional(),
  workdir: absolutePath.optional(),
  labels: z.record(z.string(), z.string()).optional(),
  accounts: z
    .strictObject({
      users: z.array(user).default([]),
      groups: z.array(group).default([]),
    })
    .optional(),
  files: z.array(file).default([]),
  layers: z
    .strictObject({
      max: z.number().int().min(3).max(127).default(100),
      compression: z.enum(["gzip", "zstd"]).default("gzip"),
    })
    .default({ max: 100, compression: "gzip" }),
});

export type SpecInput = z.infer<typeof specSchema>;

export type SpecFile = Omit<SpecInput["files"][number], "mode"> & { mode: number };

/** A validated spec with every default filled in. */
export interface Spec extends Omit<SpecInput, "repositories" | "archs" | "exclude" | "files"> {
  /** Absolute path of the spec file. */
  path: string;
  repositories: RepositorySource[];
  archs: string[];
  exclude: string[];
  /** Whether the repositories came from the host's apt sources rather than the spec. */
  repositoriesFromHost: boolean;
  /** Whether `exclude` was written in the spec (else strata's default list applies). */
  excludeFromSpec: boolean;
  files: SpecFile[];
  /** The directory `files: source:` must stay inside (the spec's own, unless --files-root widens it). */
  filesRoot: string;
  /** What the user should know about the spec (printed by lock and build). */
  warnings: string[];
}

export interface SpecOverrides {
  /**
   * A `--mirror` flag. Given as scheme://host[:port] only, it moves every repository to that host
   * and keeps their paths (so /debian and /debian-security both follow); with a path, it replaces
   * every repository's URL whole.
   */
  mirror?: string;
  /** A `--files-root` flag: the directory `files: source:` may read from instead of the spec's. */
  filesRoot?: string;
}

export async function loadSpec(path: string, overrides: SpecOverrides = {}): Promise<Spec> {
  const abs = resolve(path);
  const info = await stat(abs).catch(() => undefined);
  if (!info) {
    throw new StrataError("SPEC_NOT_FOUND", `${path}: no such file`, {
      hint: "create a strata.yaml (see README) or name the spec: strata lock path/to/strata.yaml",
    });
  }
  if (!info.isFile() || info.size > MAX_SPEC_BYTES) {
    throw new StrataError("SPEC_INVALID", `${path}: not a regular file of at most ${MAX_SPEC_BYTES} bytes`, {
      hint: "name the spec file itself (a YAML file of a few kilobytes)",
    });
  }
  const { spec, errorAt } = parseSpecDocument(await readFile(abs, "utf8"), abs, overrides);
  await checkFileSources(spec, errorAt);
  return spec;
}

/** An error about the node at `nodePath` of the spec, as one line starting file:line:col. */
export type SpecErrorAt = (nodePath: PropertyKey[], message: string, hint?: string) => StrataError;

export function parseSpec(text: string, path: string, overrides: SpecOverrides = {}): Spec {
  return parseSpecDocument(text, path, overrides).spec;
}

function parseSpecDocument(
  text: string,
  path: string,
  overrides: SpecOverrides,
): { spec: Spec; errorAt: SpecErrorAt } {
  if (text.length > MAX_SPEC_BYTES) {
    throw new StrataError("SPEC_INVALID", `${path}: larger than ${MAX_SPEC_BYTES} bytes`);
  }
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const where = (offset: number) => {
    const { line, col } = lineCounter.linePos(offset);
    return `${path}:${line}:${col}`;
  };
  if (doc.errors.length > 0) {
    const err = doc.errors[0];
    throw new StrataError("SPEC_INVALID", `${where(err.pos[0])}: ${firstLine(err.message)}`);
  }
  const errorAt: SpecErrorAt = (nodePath, message, hint) => {
    const offset = offsetOf(doc.contents as YamlNode | null, nodePath, false);
    const label = nodePath.length > 0 ? `${nodePath.join(".")}: ` : "";
    return new StrataError("SPEC_INVALID", `${where(offset)}: ${label}${message}`, { hint });
  };
  const fail = (nodePath: PropertyKey[], message: string, hint?: string): never => {
    throw errorAt(nodePath, message, hint);
  };
  const input = validate(doc, where);
  const files = input.files.map((f, i) => ({ ...f, mode: fileMode(f, i, fail) }));
  checkDefaultExcludes(input, fail);
  const spec: Spec = {
    ...input,
    path,
    files,
    repositories: withMirror(
      input.repositories?.map(({ "check-valid-until": checkValidUntil, ...r }) => ({
        ...r,
        checkValidUntil,
      })) ?? hostAptSources(),
      overrides.mirror,
      path,
    ),
    repositoriesFromHost: input.repositories === undefined,
    archs: input.archs ?? [hostDebianArch()],
    exclude: input.exclude ?? DEFAULT_EXCLUDES,
    excludeFromSpec: input.exclude !== undefined,
    filesRoot: resolve(overrides.filesRoot ?? dirname(path)),
    warnings: input.exclude?.includes("base-files")
      ? [
          "base-files is excluded: the image has no /etc/os-release, so scanners will not recognise its distribution",
        ]
      : [],
  };
  checkUser(spec, fail);
  return { spec, errorAt };
}

/** The document as a spec input, or the first problem as one line with file:line:col. */
function validate(doc: Document, where: (offset: number) => string): SpecInput {
  quoteOctalModes(doc);
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT }) ?? {};
  } catch (err) {
    throw new StrataError("SPEC_INVALID", `${where(0)}: cannot expand the YAML (${(err as Error).message})`, {
      hint: `a spec may use at most ${MAX_ALIAS_COUNT} aliases`,
    });
  }
  const result = specSchema.safeParse(value);
  if (result.success) return result.data;
  // A misspelt key explains the "missing" key after it, so it is reported first.
  const issue = result.error.issues.find((i) => i.code === "unrecognized_keys") ?? result.error.issues[0];
  let nodePath: PropertyKey[] = issue.path;
  let message = issue.message;
  if (issue.code === "unrecognized_keys") {
    const key = issue.keys[0];
    nodePath = [...issue.path, key];
    message = `unknown key "${key}"${suggestKey(key, issue.path)}`;
  } else if (issue.code === "invalid_type") {
    const value = doc.getIn(issue.path as unknown[]);
    message =
      issue.path.at(-1) === "mode" && typeof value === "number"
        ? `${value} is not an octal mode; write it as a quoted octal string, e.g. mode: "0644"`
        : plainTypeError(issue.expected, value);
  }
  const offset = offsetOf(doc.contents as YamlNode | null, nodePath, issue.code === "unrecognized_keys");
  const label = nodePath.length > 0 ? `${nodePath.join(".")}: ` : "";
  throw new StrataError("SPEC_INVALID", `${where(offset)}: ${label}${message}`);
}

/** A type error in plain words: "is required (an array)", "must be a string; quote it: "8080"". */
export function plainTypeError(expected: string, value: unknown): string {
  const wanted = `a${/^[aeiou]/.test(expected) ? "n" : ""} ${expected}`;
  if (value === undefined) return `is required (${wanted})`;
  if (expected === "string" && (typeof value === "number" || typeof value === "boolean")) {
    return `must be a string; quote it: "${value}"`;
  }
  const got = Array.isArray(value) ? "a list" : value === null ? "empty" : `a ${typeof value}`;
  return `must be ${wanted}, not ${got}`;
}

/**
 * `mode: 0644` unquoted is the decimal 644 in YAML 1.2; the user meant octal. A mode written with
 * only octal digits (or as 0o644) becomes the octal string it was meant as; any other number stays
 * a number, which the schema refuses with a hint to quote it.
 */
function quoteOctalModes(doc: Document): void {
  const files = doc.get("files", true);
  if (!isSeq(files)) return;
  for (const item of files.items) {
    if (!isMap(item)) continue;
    const mode = item.get("mode", true);
    if (!isScalar(mode) || typeof mode.value !== "number") continue;
    if (mode.format === "OCT") mode.value = `0${mode.value.toString(8)}`;
    else if (/^[0-7]{1,5}$/.test(mode.source ?? "")) mode.value = mode.source;
  }
}

type Fail = (nodePath: PropertyKey[], message: string, hint?: string) => never;

function fileMode(f: SpecInput["files"][number], i: number, fail: Fail): number {
  if (f.mode === undefined) return 0o644;
  const mode = Number.parseInt(f.mode, 8);
  for (const [bit, key] of [
    [0o4000, "setuid"],
    [0o2000, "setgid"],
  ] as const) {
    if (mode & bit && !f[key]) {
      fail(
        ["files", i, "mode"],
        `${f.mode} sets the ${key} bit`,
        `add \`${key}: true\` to the entry if it is meant`,
      );
    }
  }
  return mode;
}

function checkDefaultExcludes(input: SpecInput, fail: Fail): void {
  if (input.exclude !== undefined) return;
  input.packages.forEach((request, i) => {
    const name = request.split("=")[0];
    if (DEFAULT_EXCLUDES.includes(name)) {
      fail(
        ["packages", i],
        `${name} is on strata's default exclude list (${DEFAULT_EXCLUDES.join(" ")})`,
        "write `exclude: []` (or your own list without it) to turn the default off",
      );
    }
  });
}

/**
 * `user:` is numeric uid[:gid], or names that look like account names. Whether the image has them
 * is known only once its packages' scripts made their accounts: the build checks that
 * (effects/entrypoint.ts, checkImageUser).
 */
function checkUser(spec: Spec, fail: Fail): void {
  if (spec.user === undefined || /^\d+(:\d+)?$/.test(spec.user)) return;
  const [user, group] = spec.user.split(":", 2);
  for (const name of group === undefined ? [user] : [user, group]) {
    if (!ACCOUNT_NAME.test(name))
      fail(["user"], `"${name}" is not an account name`, "give a name such as app, or a numeric uid[:gid]");
  }
}

/** The repositories, moved by a `--mirror` flag (see SpecOverrides). */
function withMirror(repositories: RepositorySource[], mirrorFlag: string | undefined, path: string) {
  if (repositories.length === 0) {
    throw new StrataError(
      "SPEC_INVALID",
      `${path}: no repositories in the spec and none in the host's apt sources`,
      {
        hint: `add repositories: to ${path}`,
      },
    );
  }
  return repositories.map((r) => ({ ...r, url: relocateUrl(r.url, mirrorFlag) }));
}

/** The build's epoch: SOURCE_DATE_EPOCH, else the spec's, else DEFAULT_EPOCH; at most MAX_EPOCH. */
export function buildEpoch(spec: Spec, env: NodeJS.ProcessEnv = process.env): number {
  const fromEnv = env.SOURCE_DATE_EPOCH;
  if (fromEnv === undefined || fromEnv === "") return spec.epoch ?? DEFAULT_EPOCH;
  if (!/^\d{1,16}$/.test(fromEnv) || Number(fromEnv) > MAX_EPOCH) {
    throw new StrataError(
      "USAGE",
      `SOURCE_DATE_EPOCH must be a whole number from 0 to ${MAX_EPOCH}: ${fromEnv.slice(0, 40)}`,
      {
        hint: "set it to a Unix time in seconds, e.g. the last commit's: git log -1 --format=%ct",
      },
    );
  }
  return Number(fromEnv);
}

function firstLine(s: string): string {
  return s.split("\n")[0];
}

/** Offset of the node at `path` (or of its key, for unknown keys), else of the nearest parent. */
function offsetOf(root: YamlNode | null, path: PropertyKey[], wantKey: boolean): number {
  let node: YamlNode | null = root;
  let offset = root?.range?.[0] ?? 0;
  for (let i = 0; i < path.length && node; i++) {
    const seg = path[i];
    if (isMap(node)) {
      const pair = node.items.find((p) => isScalar(p.key) && p.key.value === seg);
      if (!pair) break;
      const isLast = i === path.length - 1;
      const keyNode = pair.key as YamlNode;
      if (isLast && wantKey) return keyNode.range?.[0] ?? offset;
      node = (pair.value as YamlNode | null) ?? null;
      offset = node?.range?.[0] ?? keyNode.range?.[0] ?? offset;
    } else if ("items" in node && Array.isArray((node as { items: unknown[] }).items)) {
      const item = (node as { items: YamlNode[] }).items[Number(seg)];
      if (!item) break;
      node = item;
      offset = item.range?.[0] ?? offset;
    } else break;
  }
  return offset;
}

function suggestKey(key: string, parent: PropertyKey[]): string {
  if (parent.length > 0) return "";
  const [close] = closeNames(key, Object.keys(specSchema.shape), 1);
  return close ? ` (did you mean "${close}"?)` : "";
}
