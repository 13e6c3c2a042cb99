import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { cvssScore } from "../../src/advisories/cvss.js";
import { osvAdvisories } from "../../src/advisories/osv.js";
import { severityFromScore } from "../../src/advisories/severity.js";

/** FIRST's CVSS v3.1 examples (https://www.first.org/cvss/v3.1/examples): vector and published base score. */
const V31_EXAMPLES: [string, number][] = [
  ["CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:C/C:L/I:L/A:N", 6.4], // CVE-2013-0375
  ["CVSS:3.1/AV:N/AC:H/PR:N/UI:R/S:U/C:L/I:N/A:N", 3.1], // CVE-2014-3566
  ["CVSS:3.1/AV:L/AC:L/PR:H/UI:N/S:U/C:L/I:L/A:L", 4.2], // CVE-2009-0783
  ["CVSS:3.1/AV:N/AC:L/PR:H/UI:N/S:U/C:H/I:H/A:H", 7.2], // CVE-2012-0384
  ["CVSS:3.1/AV:L/AC:L/PR:N/UI:R/S:U/C:H/I:H/A:H", 7.8], // CVE-2015-1098
  ["CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N", 7.5], // CVE-2014-0160
  ["CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:C/C:N/I:H/A:N", 6.8], // CVE-2008-1447
  ["CVSS:3.1/AV:P/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 6.8], // CVE-2014-2005
  ["CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:L/I:N/A:N", 5.8], // CVE-2010-0467
  ["CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:N/I:L/A:N", 5.8], // CVE-2012-1342
  ["CVSS:3.1/AV:A/AC:L/PR:N/UI:N/S:C/C:H/I:N/A:H", 9.3], // CVE-2013-6014
  ["CVSS:3.1/AV:A/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 8.8], // CVE-2011-1265
  ["CVSS:3.1/AV:P/AC:L/PR:N/UI:N/S:U/C:N/I:H/A:N", 4.6], // CVE-2014-2019
  ["CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:U/C:H/I:H/A:H", 8.8], // CVE-2015-0970
  ["CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:H/A:N", 7.4], // CVE-2014-0224
  ["CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:H/I:H/A:H", 9.6], // CVE-2012-5376
  ["CVSS:3.1/AV:N/AC:H/PR:N/UI:R/S:U/C:H/I:H/A:N", 6.8], // CVE-2016-0128
  ["CVSS:3.1/AV:N/AC:H/PR:N/UI:R/S:U/C:H/I:H/A:H", 7.5], // CVE-2016-2118
  ["CVSS:3.1/AV:N/AC:L/PR:L/UI:R/S:C/C:H/I:H/A:H", 9.0], // CVE-2019-7551
  ["CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N", 6.1], // CVE-2017-5942
  ["CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:L/A:L", 8.6], // CVE-2016-5558
  ["CVSS:3.1/AV:L/AC:L/PR:H/UI:N/S:C/C:H/I:H/A:H", 8.2], // CVE-2016-5729
  ["CVSS:3.1/AV:L/AC:L/PR:H/UI:N/S:U/C:N/I:H/A:H", 6.0], // CVE-2015-2890
  ["CVSS:3.1/AV:P/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H", 7.6], // CVE-2018-3652
];

/** FIRST's CVSS v3.0 examples (https://www.first.org/cvss/v3.0/examples) that v3.1 re-scored or dropped. */
const V30_EXAMPLES: [string, number][] = [
  ["CVSS:3.0/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N", 6.1], // CVE-2013-1937
  ["CVSS:3.0/AV:N/AC:L/PR:L/UI:R/S:C/C:L/I:L/A:N", 5.4], // CVE-2014-9253
  ["CVSS:3.0/AV:N/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H", 8.8], // CVE-2012-0384
];

/** FIRST's CVSS v4.0 examples (https://www.first.org/cvss/v4.0/examples): vector and published score. */
const V40_EXAMPLES: [string, number][] = [
  ["CVSS:4.0/AV:L/AC:L/AT:P/PR:L/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N", 7.3],
  ["CVSS:4.0/AV:N/AC:L/AT:P/PR:N/UI:P/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N", 7.7],
  ["CVSS:4.0/AV:N/AC:L/AT:P/PR:N/UI:P/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N/E:U", 5.2],
  ["CVSS:4.0/AV:N/AC:L/AT:P/PR:N/UI:N/VC:H/VI:L/VA:L/SC:N/SI:N/SA:N", 8.3],
  [
    "CVSS:4.0/AV:N/AC:L/AT:P/PR:N/UI:N/VC:H/VI:L/VA:L/SC:N/SI:N/SA:N/CR:H/IR:L/AR:L/MAV:N/MAC:H/MVC:H/MVI:L/MVA:L",
    8.1,
  ],
  ["CVSS:4.0/AV:L/AC:L/AT:N/PR:N/UI:A/VC:L/VI:N/VA:N/SC:N/SI:N/SA:N", 4.6],
  ["CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:A/VC:N/VI:N/VA:N/SC:L/SI:L/SA:N", 5.1],
  ["CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:N/SC:L/SI:L/SA:N", 6.9],
  ["CVSS:4.0/AV:L/AC:L/AT:N/PR:H/UI:N/VC:N/VI:N/VA:N/SC:H/SI:N/SA:N", 5.9],
  ["CVSS:4.0/AV:L/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:H/SI:H/SA:H", 9.4],
  ["CVSS:4.0/AV:P/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:H/SA:N/S:P/V:D", 8.3],
  ["CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:N/VA:N/SC:N/SI:N/SA:N/E:A", 8.7],
  ["CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:H/SI:H/SA:H/E:A", 10],
  ["CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N/E:A", 9.3],
  ["CVSS:4.0/AV:A/AC:L/AT:N/PR:N/UI:N/VC:N/VI:L/VA:N/SC:H/SI:N/SA:H", 6.4],
  ["CVSS:4.0/AV:L/AC:L/AT:N/PR:H/UI:N/VC:H/VI:H/VA:H/SC:H/SI:H/SA:H/R:I", 9.3],
  ["CVSS:4.0/AV:L/AC:L/AT:P/PR:H/UI:N/VC:H/VI:H/VA:H/SC:H/SI:H/SA:H/R:I", 8.7],
  ["CVSS:4.0/AV:P/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:H/SI:H/SA:H", 8.6],
  ["CVSS:4.0/AV:N/AC:L/AT:N/PR:L/UI:N/VC:H/VI:N/VA:N/SC:N/SI:N/SA:N", 7.1],
  ["CVSS:4.0/AV:N/AC:L/AT:P/PR:N/UI:N/VC:H/VI:N/VA:N/SC:N/SI:N/SA:N", 8.2],
  ["CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:H/SC:N/SI:N/SA:L", 8.7],
  ["CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:H/SC:N/SI:N/SA:L/E:U", 6.6],
  ["CVSS:4.0/AV:N/AC:L/AT:N/PR:L/UI:P/VC:N/VI:N/VA:N/SC:L/SI:L/SA:N", 5.1],
  ["CVSS:4.0/AV:N/AC:L/AT:P/PR:L/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N", 7.7],
  ["CVSS:4.0/AV:L/AC:L/AT:N/PR:H/UI:N/VC:H/VI:H/VA:N/SC:N/SI:N/SA:N", 8.3],
  ["CVSS:4.0/AV:L/AC:L/AT:N/PR:H/UI:N/VC:H/VI:H/VA:N/SC:N/SI:N/SA:N/E:U", 5.6],
  ["CVSS:4.0/AV:L/AC:L/AT:N/PR:N/UI:P/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N", 8.5],
  ["CVSS:4.0/AV:N/AC:L/AT:P/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N/E:A", 9.2],
  ["CVSS:4.0/AV:P/AC:L/AT:P/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N", 5.4],
  ["CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:N/VA:N/SC:N/SI:N/SA:N", 8.7],
  ["CVSS:4.0/AV:N/AC:L/AT:N/PR:H/UI:N/VC:H/VI:N/VA:N/SC:N/SI:N/SA:N", 6.9],
  ["CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N", 9.3],
  ["CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:N/SC:N/SI:L/SA:N", 6.9],
  ["CVSS:4.0/AV:L/AC:L/AT:N/PR:N/UI:P/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N/S:P", 8.5],
  ["CVSS:4.0/AV:N/AC:L/AT:N/PR:L/UI:N/VC:H/VI:H/VA:H/SC:H/SI:H/SA:H/S:P/AU:Y/V:C/RE:L", 9.4],
  [
    "CVSS:4.0/AV:N/AC:L/AT:N/PR:L/UI:N/VC:H/VI:H/VA:H/SC:H/SI:H/SA:H/E:P/CR:L/IR:H/AR:L/MAV:L/MAC:H/MAT:N/MPR:N/MUI:N/MVC:N/MVI:H/MVA:L/MSC:N/MSI:S/MSA:L",
    7.0,
  ],
  [
    "CVSS:4.0/AV:N/AC:L/AT:N/PR:L/UI:N/VC:H/VI:H/VA:H/SC:H/SI:H/SA:H/MAV:A/MAC:H/MAT:N/MPR:L/MUI:N/MVC:L/MVI:H/MVA:H/MSC:L/MSI:S/MSA:S/CR:L/IR:H/AR:H/E:P",
    7.4,
  ],
  [
    "CVSS:4.0/AV:N/AC:L/AT:N/PR:L/UI:N/VC:H/VI:H/VA:H/SC:H/SI:H/SA:H/MAV:N/MAC:H/MAT:N/MPR:L/MUI:N/MVC:H/MVI:H/MVA:H/MSC:H/MSI:S/MSA:H/CR:M/IR:H/AR:M/E:P",
    8.7,
  ],
  ["CVSS:4.0/AV:A/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:N/SC:N/SI:N/SA:N/S:P", 8.6],
  ["CVSS:4.0/AV:A/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:N/SC:N/SI:N/SA:N/MSI:S/S:P", 9.7],
  ["CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:H/SC:N/SI:N/SA:N/V:C", 8.7],
];

/** One OSV record for openssl in Debian 12 carrying `severity`. */
function osvRecord(severity: unknown[]): unknown {
  return {
    id: "CVE-2026-0001",
    severity,
    affected: [
      {
        package: { ecosystem: "Debian:12", name: "openssl" },
        ranges: [{ type: "ECOSYSTEM", events: [{ introduced: "0" }, { fixed: "3.0.18-1~deb12u1" }] }],
      },
    ],
  };
}

const severityOf = (severity: unknown[]) => [...osvAdvisories(osvRecord(severity), "test.json")][0].severity;

describe("CVSS scores from vectors", { timeout: 60_000 }, () => {
  it("gives the base score FIRST publishes for each CVSS v3.1 and v3.0 example", () => {
    for (const [vector, score] of [...V31_EXAMPLES, ...V30_EXAMPLES])
      assert.equal(cvssScore(vector), score, vector);
  });

  it("gives the score FIRST publishes for each CVSS v4.0 example, threat and environmental metrics included", () => {
    for (const [vector, score] of V40_EXAMPLES) assert.equal(cvssScore(vector), score, vector);
  });

  it("keeps the v3.x base score when temporal and environmental metrics are present", () => {
    assert.equal(cvssScore("CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N/E:P/RL:O/RC:C/CR:H/MAV:L"), 6.1);
  });

  it("refuses malformed vectors instead of scoring them 0 or throwing", () => {
    const malformed = [
      "",
      "CVSS:3.1",
      "CVSS:3.1/AV:N", // base metrics missing: the library would score it 0
      "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N", // SA missing
      "CVSS:3.1/AV:X/garbage",
      "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/AV:L", // a metric twice
      "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:Q", // a value the metric does not take
      "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/ZZ:1", // an unknown metric
      "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/", // an empty part
      "CVSS:3.1/AV:N:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
      "CVSS:3.1/__proto__:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
      "CVSS:3.1/constructor:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
      "CVSS:3.2/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
      "AV:N/AC:L/Au:N/C:P/I:P/A:P", // CVSS v2: not read
      "cvss:3.1/av:n/ac:l/pr:n/ui:n/s:u/c:h/i:h/a:h",
      `CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H${"/E:X".repeat(200)}`,
    ];
    for (const vector of malformed) assert.equal(cvssScore(vector), undefined, vector);
  });
});

describe("OSV severities", { timeout: 60_000 }, () => {
  it("maps scores to FIRST's qualitative ratings, 0.0 as negligible", () => {
    const cases: [number, string][] = [
      [0, "negligible"],
      [0.1, "low"],
      [3.9, "low"],
      [4, "medium"],
      [6.9, "medium"],
      [7, "high"],
      [8.9, "high"],
      [9, "critical"],
      [10, "critical"],
      [10.1, "unknown"],
      [-1, "unknown"],
      [Number.NaN, "unknown"],
    ];
    for (const [score, severity] of cases) assert.equal(severityFromScore(score), severity, String(score));
  });

  it("reads CVSS v3.1 and v4.0 vectors in severity[] (the issue's 9.8 is critical)", () => {
    const v31 = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H";
    assert.equal(severityOf([{ type: "CVSS_V3", score: v31 }]), "critical");
    const v40 = "CVSS:4.0/AV:N/AC:L/AT:N/PR:H/UI:N/VC:H/VI:N/VA:N/SC:N/SI:N/SA:N"; // 6.9
    assert.equal(severityOf([{ type: "CVSS_V4", score: v40 }]), "medium");
    const v30 = "CVSS:3.0/AV:N/AC:H/PR:N/UI:R/S:U/C:L/I:N/A:N"; // 3.1
    assert.equal(severityOf([{ type: "CVSS_V3", score: v30 }]), "low");
  });

  it("prefers the newest CVSS version a record lists, whatever its order", () => {
    const v31High = { type: "CVSS_V3", score: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N" }; // 7.5
    const v40Medium = {
      type: "CVSS_V4",
      score: "CVSS:4.0/AV:N/AC:L/AT:N/PR:H/UI:N/VC:H/VI:N/VA:N/SC:N/SI:N/SA:N",
    };
    assert.equal(severityOf([v31High, v40Medium]), "medium");
    assert.equal(severityOf([v40Medium, v31High]), "medium");
  });

  it("still reads numeric scores, and Debian's urgency before any score", () => {
    assert.equal(severityOf([{ type: "CVSS_V3", score: "7.5" }]), "high");
    assert.equal(severityOf([{ type: "CVSS_V3", score: "0.0" }]), "negligible");
    const record = osvRecord([
      { type: "CVSS_V3", score: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H" },
    ]) as {
      affected: Record<string, unknown>[];
    };
    record.affected[0].ecosystem_specific = { urgency: "low" };
    assert.equal([...osvAdvisories(record, "test.json")][0].severity, "low");
  });

  it("counts a malformed vector, an empty score and a non-string as unknown, without failing the feed", () => {
    for (const score of ["CVSS:3.1/AV:N", "", " ", "high", "1e1", "11", "NaN", 9.8, null, { score: "9.8" }])
      assert.equal(severityOf([{ type: "CVSS_V3", score }]), "unknown", JSON.stringify(score));
    assert.equal(severityOf(["CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", null, 7]), "unknown");
  });

  it("takes a well-formed vector after a malformed one", () => {
    const good = { type: "CVSS_V3", score: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H" };
    assert.equal(severityOf([{ type: "CVSS_V3", score: "CVSS:3.1/AV:N/garbage" }, good]), "critical");
  });
});
