import calculator from "ae-cvss-calculator";

/**
 * CVSS v3.0, v3.1 and v4.0 vectors as scores. The scoring is FIRST's arithmetic as the
 * ae-cvss-calculator library implements it; what this module adds is the refusal of anything that
 * is not a well-formed vector, because that library scores a vector missing its base metrics as 0
 * (and throws on some garbage), and a feed is hostile input.
 */

/** Longer than any real vector (v4.0 with every metric is about 250 characters). */
const MAX_VECTOR_LENGTH = 512;

type MetricTable = Readonly<Record<string, readonly string[]>>;

const IMPACT = ["H", "L", "N"];
const REQUIREMENT = ["X", "L", "M", "H"];

const V3_BASE: MetricTable = {
  AV: ["N", "A", "L", "P"],
  AC: ["L", "H"],
  PR: ["N", "L", "H"],
  UI: ["N", "R"],
  S: ["U", "C"],
  C: IMPACT,
  I: IMPACT,
  A: IMPACT,
};

/** The environmental metrics v3.x and v4.0 spell alike. */
const SHARED_ENVIRONMENTAL: MetricTable = {
  CR: REQUIREMENT,
  IR: REQUIREMENT,
  AR: REQUIREMENT,
  MAV: ["X", "N", "A", "L", "P"],
  MAC: ["X", "L", "H"],
  MPR: ["X", "N", "L", "H"],
};

const V3_OPTIONAL: MetricTable = {
  E: ["X", "U", "P", "F", "H"],
  RL: ["X", "O", "T", "W", "U"],
  RC: ["X", "U", "R", "C"],
  ...SHARED_ENVIRONMENTAL,
  MUI: ["X", "N", "R"],
  MS: ["X", "U", "C"],
  MC: ["X", ...IMPACT],
  MI: ["X", ...IMPACT],
  MA: ["X", ...IMPACT],
};

const V4_BASE: MetricTable = {
  AV: ["N", "A", "L", "P"],
  AC: ["L", "H"],
  AT: ["N", "P"],
  PR: ["N", "L", "H"],
  UI: ["N", "P", "A"],
  VC: IMPACT,
  VI: IMPACT,
  VA: IMPACT,
  SC: IMPACT,
  SI: IMPACT,
  SA: IMPACT,
};

const V4_OPTIONAL: MetricTable = {
  E: ["X", "A", "P", "U"],
  ...SHARED_ENVIRONMENTAL,
  MAT: ["X", "N", "P"],
  MUI: ["X", "N", "P", "A"],
  MVC: ["X", ...IMPACT],
  MVI: ["X", ...IMPACT],
  MVA: ["X", ...IMPACT],
  MSC: ["X", ...IMPACT],
  MSI: ["X", "S", ...IMPACT],
  MSA: ["X", "S", ...IMPACT],
  S: ["X", "N", "P"],
  AU: ["X", "N", "Y"],
  R: ["X", "A", "U", "I"],
  V: ["X", "D", "C"],
  RE: ["X", "L", "M", "H"],
  U: ["X", "Clear", "Green", "Amber", "Red"],
};

/** Every base metric once, every other metric known and at most once, every value allowed. */
function wellFormed(metrics: string, base: MetricTable, optional: MetricTable): boolean {
  const seen = new Set<string>();
  for (const part of metrics.split("/")) {
    const [name, value, extra] = part.split(":");
    if (extra !== undefined || value === undefined || seen.has(name)) return false;
    const allowed = Object.hasOwn(base, name)
      ? base[name]
      : Object.hasOwn(optional, name)
        ? optional[name]
        : [];
    if (!allowed.includes(value)) return false;
    seen.add(name);
  }
  return Object.keys(base).every((name) => seen.has(name));
}

/**
 * The score of a CVSS vector, or undefined for anything else. v3.x gives its base score (temporal
 * and environmental metrics do not move it); v4.0 gives the score of the vector as written, which
 * is the base score (CVSS-B) unless the feed added threat or environmental metrics, as FIRST's
 * examples do.
 */
export function cvssScore(vector: string): number | undefined {
  if (vector.length > MAX_VECTOR_LENGTH) return undefined;
  const version = /^CVSS:(3\.0|3\.1|4\.0)\/(.*)$/s.exec(vector);
  if (!version) return undefined;
  const [, which, metrics] = version;
  const v4 = which === "4.0";
  if (!wellFormed(metrics, v4 ? V4_BASE : V3_BASE, v4 ? V4_OPTIONAL : V3_OPTIONAL)) return undefined;
  const scores = v4
    ? new calculator.Cvss4P0(vector).calculateScores()
    : new (which === "3.0" ? calculator.Cvss3P0 : calculator.Cvss3P1)(vector).calculateScores();
  const score = v4 ? scores.overall : scores.base;
  return typeof score === "number" && score >= 0 && score <= 10 ? score : undefined;
}
