import type { KeyObject } from "node:crypto";
import { dirname, resolve } from "node:path";
import { LineCounter, parseDocument } from "yaml";
import { CVE_ID } from "../advisories/advisory.js";
import { SEVERITIES, type Severity } from "../advisories/severity.js";
import type { VersionOp } from "../debian/version.js";
import { keyFingerprint, loadPublicKeySync } from "../sign/keys.js";
import { StrataError } from "../util/errors.js";
import { readNamedFile } from "../util/fs.js";
import { z } from "../util/zod.js";

/**
 * The admission and CI policy (README "Policy file"): which findings and packages deny an image,
 * what an image must have, and exemptions that expire.
 */
const severity = z.enum(SEVERITIES);
const day = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}$/, "must be a date, YYYY-MM-DD")
  .refine((s) => {
    const date = new Date(`${s}T00:00:00Z`);
    return !Number.isNaN(date.getTime()) && date.toISOString().startsWith(s);
  }, "is not a calendar date");

const policySchema = z.strictObject({
  deny: z
    .strictObject({
      fixable: z
        .strictObject({
          severity: severity.default("medium"),
          "after-days": z.number().int().min(0).default(0),
        })
        .optional(),
      unfixed: z.strictObject({ severity: severity.default("critical") }).optional(),
      packages: z.array(z.string().max(300)).max(10_000).default([]),
    })
    .default({ packages: [] }),
  require: z
    .strictObject({
      "built-by-strata": z.boolean().default(false),
      sbom: z.boolean().default(false),
      digest: z.boolean().default(false),
      "signed-by": z.array(z.string().min(1).max(4096)).max(32).default([]),
      provenance: z.boolean().default(false),
      coverage: z.boolean().default(false),
    })
    .default({
      "built-by-strata": false,
      sbom: false,
      digest: false,
      "signed-by": [],
      provenance: false,
      coverage: false,
    }),
  exemptions: z
    .array(
      z
        .strictObject({
          cve: z.string().regex(CVE_ID, "must be a CVE id, CVE-YYYY-NNNN").optional(),
          image: z.string().min(1).max(512).optional(),
          package: z
            .string()
            .regex(/^[a-z0-9][a-z0-9+.-]*$/, "must be a Debian package name")
            .optional(),
          reason: z.string().min(1, "must say why").max(1000),
          expires: day,
        })
        .refine((e) => e.cve !== undefined || e.package !== undefined, "needs a cve or a package to exempt"),
    )
    .max(10_000)
    .default([]),
});

export type PolicyInput = z.infer<typeof policySchema>;

/** A package a policy denies outright, with an optional dpkg version relation. */
export interface PackageRule {
  text: string;
  name: string;
  op?: VersionOp;
  version?: string;
}

export interface Exemption {
  cve?: string;
  image?: string;
  package?: string;
  reason: string;
  expires: string;
  /** The first instant the exemption no longer applies: the day after `expires`, 00:00 UTC. */
  expiresAt: Date;
}

export interface Policy {
  path: string;
  fixable?: { severity: Severity; afterDays: number };
  unfixed?: { severity: Severity };
  packages: PackageRule[];
  require: {
    builtByStrata: boolean;
    sbom: boolean;
    digest: boolean;
    /** Public keys of which one must have signed the image (cosign's format); none: no requirement. */
    signedBy: TrustedKey[];
    /** A signed SLSA provenance must be attached, by a `signedBy` key. */
    provenance: boolean;
    /** Advisories must cover the image's release: "no data" denies instead of passing as clean. */
    coverage: boolean;
  };
  exemptions: Exemption[];
}

export interface TrustedKey {
  file: string;
  key: KeyObject;
  fingerprint: string;
}

/** The keys `signed-by` names, relative to the policy file's directory; a bad one is a policy error at its line. */
function trustedKeys(
  files: string[],
  path: string,
  fail: (i: number, message: string) => never,
): TrustedKey[] {
  return files.map((name, i) => {
    const file = resolve(dirname(path), name);
    try {
      const key = loadPublicKeySync(file);
      return { file, key, fingerprint: keyFingerprint(key) };
    } catch (err) {
      if (!(err instanceof StrataError)) throw err;
      return fail(i, err.message);
    }
  });
}

/** `provenance: true` is checked with the `signed-by` keys: without them nothing could verify it. */
function requireProvenance(
  require: { provenance: boolean; "signed-by": string[] },
  fail: (message: string) => never,
): boolean {
  if (require.provenance && require["signed-by"].length === 0)
    fail("needs signed-by: the provenance must be signed by one of its keys");
  return require.provenance;
}

const RELATION = /^([a-z0-9][a-z0-9+.-]*)(?:\s*(<<|<=|=|>=|>>|<|>)\s*((?:\d+:)?\d[A-Za-z0-9.+~:-]*))?$/;

function packageRule(text: string, fail: (message: string) => never): PackageRule {
  const m = RELATION.exec(text.trim());
  if (!m)
    fail(`"${text}" is not a package name with an optional relation, e.g. "openssl << 3.0.15-1~deb12u1"`);
  const rule: PackageRule = { text, name: m![1] };
  if (m![2]) {
    rule.op = m![2] === "<" ? "<<" : m![2] === ">" ? ">>" : (m![2] as VersionOp);
    rule.version = m![3];
  }
  return rule;
}

const MAX_POLICY_BYTES = 4 * 2 ** 20;

/** Parses a policy file's text; every problem is one POLICY_INVALID line with file:line:col. */
export function parsePolicy(text: string, path: string): Policy {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const at = (nodePath: PropertyKey[]) => {
    const node = doc.getIn(nodePath as unknown[], true) as { range?: [number] } | undefined;
    const { line, col } = lines.linePos(node?.range?.[0] ?? 0);
    return `${path}:${line}:${col}: ${nodePath.length > 0 ? `${nodePath.join(".")}: ` : ""}`;
  };
  const invalid = (where: string, message: string) =>
    new StrataError("POLICY_INVALID", `${where}${message}`, { hint: "see README: Policy file" });
  if (text.length > MAX_POLICY_BYTES) throw invalid(`${path}: `, `larger than ${MAX_POLICY_BYTES} bytes`);
  if (doc.errors.length > 0) throw invalid(`${path}: `, doc.errors[0].message.split("\n")[0]);
  const result = policySchema.safeParse(doc.toJS({ maxAliasCount: 100 }) ?? {});
  if (!result.success) {
    const issue = result.error.issues[0];
    if (issue.code === "unrecognized_keys")
      throw invalid(at([...issue.path, issue.keys[0]]), `unknown key "${issue.keys[0]}"`);
    throw invalid(at(issue.path), issue.message);
  }
  const input = result.data;
  const fail =
    (i: number) =>
    (message: string): never => {
      throw invalid(at(["deny", "packages", i]), message);
    };
  return {
    path,
    fixable: input.deny.fixable && {
      severity: input.deny.fixable.severity,
      afterDays: input.deny.fixable["after-days"],
    },
    unfixed: input.deny.unfixed,
    packages: input.deny.packages.map((text, i) => packageRule(text, fail(i))),
    require: {
      builtByStrata: input.require["built-by-strata"],
      sbom: input.require.sbom,
      digest: input.require.digest,
      signedBy: trustedKeys(input.require["signed-by"], path, (i, message) => {
        throw invalid(at(["require", "signed-by", i]), message);
      }),
      provenance: requireProvenance(input.require, (message) => {
        throw invalid(at(["require", "provenance"]), message);
      }),
      coverage: input.require.coverage,
    },
    exemptions: input.exemptions.map((e) => ({
      ...e,
      expiresAt: new Date(Date.parse(`${e.expires}T00:00:00Z`) + 86_400_000),
    })),
  };
}

export async function loadPolicy(path: string): Promise<Policy> {
  const fail = (why: string) =>
    new StrataError("USAGE", `${path}: ${why}`, {
      hint: "give --policy a policy YAML file (see README: Policy file)",
    });
  return parsePolicy((await readNamedFile(path, MAX_POLICY_BYTES, fail)).toString("utf8"), path);
}
