import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { before, describe, test } from "node:test";
import { FleetIndex } from "../../src/fleet/fleet-index.js";
import type { RunningContainer } from "../../src/ps/container.js";
import { joinContainers } from "../../src/ps/join.js";
import { podListContainers } from "../../src/ps/kubernetes.js";
import { Vulnerabilities } from "../../src/serve/vulnerabilities.js";
import { isStrataError } from "../../src/util/errors.js";
import { runStrata } from "../helpers/cli.js";
import { tempDir } from "../helpers/debs.js";
import { openIndexWithDb } from "../helpers/index-backends.js";
import { digestOf, type FleetImageSpec, indexPageFleet } from "../helpers/page-fleet.js";

/** `strata ps --pods`: a kubectl pod list joined with a real SQLite index, through the compiled CLI. */
let dir: string;
let db: string;
let fleet: Map<string, FleetImageSpec>;

before(async () => {
  dir = await tempDir("ps");
  db = join(dir, "index.db");
  fleet = await indexPageFleet(db);
});

const running = { running: { startedAt: "2026-12-01T10:00:00Z" } };

function podList(): unknown {
  const api = fleet.get("team/api:1.0")!;
  const web = fleet.get("team/web:2")!;
  const status = (name: string, image: string, imageID: string, state: object = running) => ({
    name,
    image,
    imageID,
    state,
    ready: true,
  });
  return {
    apiVersion: "v1",
    kind: "List",
    items: [
      {
        metadata: { name: "api-7d9f", namespace: "shop" },
        status: {
          containerStatuses: [
            status(
              "api",
              "registry.test/team/api:1.0",
              `docker-pullable://registry.test/team/api@${digestOf(api)}`,
            ),
          ],
          initContainerStatuses: [
            status("migrate", "registry.test/team/api:1.0", digestOf(api), { terminated: { exitCode: 0 } }),
          ],
        },
      },
      {
        metadata: { name: "web-1", namespace: "shop" },
        status: {
          containerStatuses: [
            status("web", "registry.test/team/web:2", web.image.image.manifest.config.digest),
            status("sidecar", "elsewhere/proxy:1", `sha256:${"e".repeat(64)}`),
          ],
        },
      },
    ],
  };
}

describe("joining containers with the index", () => {
  test("an image is found by its layers' diff_ids when the runtime reports no digest the index knows", async () => {
    const index = await FleetIndex.open(db);
    try {
      const api = fleet.get("team/api:1.0")!.image.image;
      const container = (diffIds: string[]): RunningContainer => ({
        runtime: "podman",
        id: "c1",
        name: "c1",
        image: "localhost/api:1.0",
        imageDigests: [`sha256:${"a".repeat(64)}`],
        diffIds,
      });
      const diffIds = api.config.rootfs.diff_ids;
      const [whole, partial] = await joinContainers(index, new Vulnerabilities(index), [
        container(diffIds),
        container(diffIds.slice(0, -1)),
      ]);
      assert.equal(whole.match?.by, "diff_ids");
      assert.equal(whole.match?.image.digest, digestOf(fleet.get("team/api:1.0")!));
      assert.equal(whole.packages.length, 5);
      assert.ok(whole.findings.some((f) => f.id === "CVE-2023-45853"));
      assert.equal(partial.match, undefined, "a prefix of the layers is another image");
    } finally {
      await index.close();
    }
  });
});

describe("looking up running containers", () => {
  test("200 containers are looked up in as many statements as 4, each found by what its runtime reports", async () => {
    const { index, db: database } = await openIndexWithDb(db);
    try {
      const api = fleet.get("team/api:1.0")!.image.image;
      const web = fleet.get("team/web:2")!.image.image;
      const unknown = `sha256:${"e".repeat(64)}`;
      const kinds = [
        { digests: [unknown, digestOf(fleet.get("team/api:1.0")!)], diffIds: [] },
        { digests: [web.manifest.config.digest], diffIds: [] },
        { digests: [unknown], diffIds: api.config.rootfs.diff_ids },
        { digests: [unknown], diffIds: api.config.rootfs.diff_ids.slice(0, -1) },
      ];
      let statements = 0;
      // Every statement goes through all() or get(): counted on the way.
      const all = database.all.bind(database);
      const get = database.get.bind(database);
      const counted =
        <A extends unknown[], R>(f: (...args: A) => R) =>
        (...args: A): R => {
          statements++;
          return f(...args);
        };
      Object.assign(database, { all: counted(all), get: counted(get) });
      const few = await index.running(kinds);
      const fewStatements = statements;
      statements = 0;
      const many = await index.running(Array.from({ length: 200 }, (_, i) => kinds[i % 4]));
      assert.equal(statements, fewStatements, "the statements do not grow with the containers");
      const expected = [
        ["manifest", digestOf(fleet.get("team/api:1.0")!)],
        ["config", digestOf(fleet.get("team/web:2")!)],
        ["diff_ids", digestOf(fleet.get("team/api:1.0")!)],
        undefined,
      ];
      const seen = (list: typeof few) => list.map((r) => r && [r.by, r.image.digest]);
      assert.deepEqual(seen(few), expected);
      assert.deepEqual(
        seen(many),
        Array.from({ length: 200 }, (_, i) => expected[i % 4]),
      );
      assert.equal(many[2]?.packages.length, 5);
      // Joined with their vulnerabilities too: still as many statements for 200 containers as for 4.
      const containers = (list: typeof kinds): RunningContainer[] =>
        list.map((k, i) => ({
          runtime: "kubernetes",
          id: `shop/pod-${i}/app`,
          name: `app-${i}`,
          image: "registry.test/team/api:1.0",
          imageDigests: k.digests,
          diffIds: k.diffIds,
        }));
      const vulnerabilities = new Vulnerabilities(index);
      statements = 0;
      const joinedFew = await joinContainers(index, vulnerabilities, containers(kinds));
      const joinFew = statements;
      statements = 0;
      const joinedMany = await joinContainers(
        index,
        vulnerabilities,
        containers(Array.from({ length: 200 }, (_, i) => kinds[i % 4])),
      );
      assert.equal(statements, joinFew);
      assert.ok(joinedMany[0].findings.some((f) => f.id === "CVE-2023-45853"));
      assert.deepEqual(joinedMany[4].findings, joinedFew[0].findings);
    } finally {
      await index.close();
    }
  });
});

describe("strata ps --pods", () => {
  test("names the vulnerable container, its image and its vulnerable packages with their fixes", async () => {
    const file = join(dir, "pods.json");
    await writeFile(file, JSON.stringify(podList()));
    const r = await runStrata(["ps", "--pods", file, "--index", db]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.split("\n");
    assert.match(lines[0], /^CONTAINER\s+IMAGE\s+INDEXED AS\s+PACKAGES\s+VULNERABLE$/);
    const api = lines.find((l) => l.startsWith("shop/api-7d9f/api "))!;
    assert.match(
      api,
      /registry\.test\/team\/api:1\.0\s+manifest [0-9a-f]{12}\s+5\s+6 \(1 critical, 1 high, 1 medium, 1 low\)/,
    );
    assert.match(lines.find((l) => l.startsWith("shop/web-1/web "))!, /config [0-9a-f]{12}\s+4\s+-$/);
    assert.match(lines.find((l) => l.startsWith("shop/web-1/sidecar "))!, /not indexed/);
    assert.ok(!r.stdout.includes("migrate"), "a finished init container is not running");
    assert.match(r.stdout, /shop\/api-7d9f\/api: vulnerable packages\n/);
    assert.match(
      r.stdout,
      / {2}zlib1g 1:1\.2\.13\.dfsg-1 {2}CVE-2023-45853 critical, fixed in 1:1\.2\.13\.dfsg-1\+deb12u1\n/,
    );
  });

  test("--json gives each container's indexed image, every package and the findings; - reads stdin", async () => {
    const file = join(dir, "pods.json");
    await writeFile(file, JSON.stringify(podList()));
    const r = await runStrata(["ps", "--pods", file, "--index", db, "--json"]);
    assert.equal(r.code, 0, r.stderr);
    const { containers } = JSON.parse(r.stdout);
    const api = containers.find((c: { name: string }) => c.name === "shop/api-7d9f/api");
    assert.equal(api.indexed.digest, digestOf(fleet.get("team/api:1.0")!));
    assert.equal(api.indexed.by, "manifest");
    assert.deepEqual(
      api.packages.map((p: { name: string }) => p.name),
      ["base-files", "libc6", "libcurl4", "libssl3", "zlib1g"],
    );
    assert.ok(api.vulnerable.some((f: { id: string }) => f.id === "CVE-2025-9230"));
    const sidecar = containers.find((c: { name: string }) => c.name === "shop/web-1/sidecar");
    assert.equal(sidecar.indexed, null);
  });

  test("a pod list that is not one is one error line, exit 2", async () => {
    for (const [body, why] of [
      ["{", /not JSON/],
      ['{"items": 3}', /not a list of pods/],
      ['{"items": [{"metadata": {"name": "a b\\u0000"}}]}', /a pod has no valid name/],
    ] as const) {
      assert.throws(
        () => podListContainers(body, "pods.json"),
        (err) => isStrataError(err, "USAGE") && why.test(err.message),
      );
    }
    const missing = await runStrata(["ps", "--pods", join(dir, "nope.json"), "--index", db]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /^strata: error: .*nope\.json: no such file\nstrata: hint: /);
  });
});

describe("strata ps: recent runs of images vulnerable now", () => {
  test("lists the last week's strata runs whose image is vulnerable today, not older runs or clean images", async () => {
    const index = await FleetIndex.open(db);
    const now = Date.now();
    const run = (id: string, spec: string, startedAt: number) => ({
      id,
      name: id,
      image: `docker://registry.test/${spec}`,
      digest: digestOf(fleet.get(spec)!),
      platform: "linux/amd64",
      args: ["/bin/job"],
      user: "65532:65532",
      runBy: "root (0)",
      startedAt,
      endedAt: startedAt + 1000,
      exitCode: 0,
      outcome: "exited" as const,
      peakMemoryBytes: 1 << 20,
    });
    try {
      await index.recordRun(run("nightly-api", "team/api:1.0", now - 3_600_000));
      await index.recordRun(run("old-api", "team/api:1.0", now - 8 * 24 * 3_600_000));
      await index.recordRun(run("nightly-web", "team/web:2", now - 3_600_000));
    } finally {
      await index.close();
    }
    const file = join(dir, "no-pods.json");
    await writeFile(file, JSON.stringify({ apiVersion: "v1", kind: "List", items: [] }));
    const r = await runStrata(["ps", "--pods", file, "--index", db]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stdout,
      /recent runs \(strata run, last 7 days\) of images vulnerable now:\n {2}\S+ {2}nightly-api {2}[0-9a-f]{12} {2}6 \(/,
    );
    assert.doesNotMatch(r.stdout, /old-api|nightly-web/);
    const json = JSON.parse((await runStrata(["ps", "--pods", file, "--index", db, "--json"])).stdout);
    assert.deepEqual(
      json.recentVulnerableRuns.map((x: { id: string }) => x.id),
      ["nightly-api"],
    );
  });
});
