import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { isMap, isScalar, LineCounter, parseDocument, type Node as YamlNode } from "yaml";
import { z } from "zod";
import {
  DEFAULT_KEYRING,
  hostAptSources,
  hostDebianArch,
  type RepositorySource,
  relocateUrl,
} from "../debian/sources.js";
import { closeNames } from "../debian/suggest.js";
import { StrataError } from "../util/errors.js";

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
const absolutePath = z.string().regex(/^\//, "an absolute path");

const repository = z.strictObject({
  url: z.string().regex(/^(https?|file):\/\/\S+$/, "an http(s):// or file:// URL"),
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
    mode: z.union([z.number().int(), z.string().regex(/^0?[0-7]{3,4}$/)]).optional(),
    uid: z.number().int().min(0).default(0),
    gid: z.number().int().min(0).default(0),
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
  docs: z.boolean().default(false),
  epoch: z.number().int().min(0).optional(),
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

/** A validated spec with every default filled in. */
export interface Spec extends Omit<SpecInput, "repositories" | "archs" | "exclude"> {
  /** Absolute path of the spec file. */
  path: string;
  repositories: RepositorySource[];
  archs: string[];
  exclude: string[];
  /** Whether the repositories came from the host's apt sources rather than the spec. */
  repositoriesFromHost: boolean;
  /** Whether `exclude` was written in the spec (else strata's default list applies). */
  excludeFromSpec: boolean;
}

export interface SpecOverrides {
  /**
   * A `--mirror` flag. Given as scheme://host[:port] only, it moves every repository to that host
   * and keeps their paths (so /debian and /debian-security both follow); with a path, it replaces
   * every repository's URL whole.
   */
  mirror?: string;
}

export async function loadSpec(path: string, overrides: SpecOverrides = {}): Promise<Spec> {
  const abs = resolve(path);
  let text: string;
  try {
    text = await readFile(abs, "utf8");
  } catch {
    throw new StrataError("SPEC_NOT_FOUND", `${path}: no such file`, {
      hint: "create a strata.yaml (see README) or name the spec: strata lock path/to/strata.yaml",
    });
  }
  return parseSpec(text, abs, overrides);
}

export function parseSpec(text: string, path: string, overrides: SpecOverrides = {}): Spec {
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
  const result = specSchema.safeParse(doc.toJS() ?? {});
  if (!result.success) {
    const issue = result.error.issues[0];
    let nodePath: PropertyKey[] = issue.path;
    let message = issue.message;
    if (issue.code === "unrecognized_keys") {
      const key = issue.keys[0];
      nodePath = [...issue.path, key];
      message = `unknown key "${key}"${suggestKey(key, issue.path)}`;
    }
    const offset = offsetOf(doc.contents as YamlNode | null, nodePath, issue.code === "unrecognized_keys");
    const label = nodePath.length > 0 ? `${nodePath.join(".")}: ` : "";
    throw new StrataError("SPEC_INVALID", `${where(offset)}: ${label}${message}`);
  }
  const input = result.data;
  let repositories: RepositorySource[] =
    input.repositories?.map(({ "check-valid-until": checkValidUntil, ...r }) => ({
      ...r,
      checkValidUntil,
    })) ?? hostAptSources();
  if (repositories.length === 0) {
    throw new StrataError(
      "SPEC_INVALID",
      `${path}: no repositories in the spec and none in the host's apt sources`,
      {
        hint: "add repositories: to strata.yaml",
      },
    );
  }
  repositories = repositories.map((r) => ({ ...r, url: relocateUrl(r.url, overrides.mirror) }));
  return {
    ...input,
    path,
    repositories,
    repositoriesFromHost: input.repositories === undefined,
    archs: input.archs ?? [hostDebianArch()],
    exclude: input.exclude ?? DEFAULT_EXCLUDES,
    excludeFromSpec: input.exclude !== undefined,
  };
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
