import assert from "node:assert/strict";
import { readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { gzipSync } from "node:zlib";
import fc from "fast-check";
import { parsePodList } from "../../src/admission/pods.js";
import { parseReview, podImages } from "../../src/admission/review.js";
import { parseChangelog } from "../../src/advisories/changelog.js";
import { readFeed } from "../../src/advisories/feed.js";
import { readArMembers } from "../../src/debian/ar.js";
import { openDeb } from "../../src/debian/deb.js";
import { parseStanzas } from "../../src/debian/deb822.js";
import { parseRelation } from "../../src/debian/relations.js";
import { parseRelease } from "../../src/debian/release.js";
import { parseVersion } from "../../src/debian/version.js";
import { readInventory } from "../../src/inventory/inventory.js";
import { assertLockCovers, readLock } from "../../src/lock/lock.js";
import { descriptorOf } from "../../src/oci/image.js";
import { readDockerArchive } from "../../src/oci/locations/docker-archive.js";
import { parseLocationName } from "../../src/oci/locations/name.js";
import { parseImageConfig, parseIndex, parseManifest } from "../../src/oci/parse.js";
import { MediaType } from "../../src/oci/types.js";
import { parsePolicy } from "../../src/policy/policy.js";
import { canonicalJson } from "../../src/record/layer-facts.js";
import { checkRebuildable } from "../../src/record/rebuildable.js";
import { readImageRecord } from "../../src/record/record.js";
import { LayerStore } from "../../src/run/layer-store.js";
import { parseSpec } from "../../src/spec/spec.js";
import { isStrataError } from "../../src/util/errors.js";
import { sha256Hex } from "../../src/util/hash.js";
import { arArchive, looseTar, tempDir } from "../helpers/debs.js";
import { dpkgStanza, layerOf, tarBytes } from "../helpers/layer-tar.js";
import { recordOf, withRecord } from "../helpers/record.js";
import { syntheticImage } from "../helpers/synthetic-image.js";

/**
 * Every parser that takes bytes from outside (a mirror, a registry, a .deb, a spec, a lock) is fed
 * random and mutated inputs. The only failure allowed is strata's own clean error (a StrataError,
 * which the CLI prints as one line); anything else (a TypeError, a RangeError, a hang) is a defect.
 * The seed is fixed so that CI runs the same inputs every time; each property is bounded in runs.
 */
const SEED = 20261125;
const RUNS = 300;

async function cleanOutcome(parse: () => unknown): Promise<void> {
  try {
    await parse();
  } catch (err) {
    if (isStrataError(err)) return;
    throw err;
  }
}

/** A valid sample with a random slice replaced: mostly-right input finds more than noise does. */
function mutated(sample: string): fc.Arbitrary<string> {
  return fc
    .tuple(fc.nat(sample.length), fc.nat(40), fc.string({ unit: "binary", maxLength: 40 }))
    .map(([at, cut, insert]) => sample.slice(0, at) + insert + sample.slice(at + cut));
}

const textOrMutation = (sample: string) =>
  fc.oneof(fc.string({ unit: "binary", maxLength: 400 }), mutated(sample), mutated(sample));

/** A JSON sample with one value somewhere inside replaced by any JSON value: type confusion. */
function jsonMutated(sample: unknown): fc.Arbitrary<string> {
  const paths: (string | number)[][] = [];
  const walk = (value: unknown, path: (string | number)[]) => {
    paths.push(path);
    if (value !== null && typeof value === "object")
      for (const [k, v] of Object.entries(value)) walk(v, [...path, Array.isArray(value) ? Number(k) : k]);
  };
  walk(sample, []);
  return fc.tuple(fc.constantFrom(...paths), fc.jsonValue({ maxDepth: 2 })).map(([path, replacement]) => {
    if (path.length === 0) return JSON.stringify(replacement);
    const copy = structuredClone(sample) as Record<string | number, unknown>;
    let at = copy;
    for (const key of path.slice(0, -1)) at = at[key] as Record<string | number, unknown>;
    at[path[path.length - 1]] = replacement;
    return JSON.stringify(copy);
  });
}

const jsonOrMutation = (sample: string) =>
  fc.oneof(textOrMutation(sample), jsonMutated(JSON.parse(sample)), jsonMutated(JSON.parse(sample)));

async function property<T>(arb: fc.Arbitrary<T>, check: (value: T) => Promise<void>, runs = RUNS) {
  await fc.assert(fc.asyncProperty(arb, check), { seed: SEED, numRuns: runs });
}

const STANZA =
  "Package: hello\nVersion: 1:2.10-3~deb12u1\nDepends: libc6 (>= 2.34), a | b:any\n  continued\n\n";
const RELEASE = `Origin: Debian\nSuite: stable\nDate: Sat, 10 May 2025 08:00:00 UTC\nValid-Until: Sat, 17 May 2025 08:00:00 UTC\nAcquire-By-Hash: yes\nSHA256:\n ${"a".repeat(64)} 1234 main/binary-amd64/Packages.gz\n`;
const SPEC = `archs: [amd64]\npackages: [python3, "tzdata=2025b-0+deb12u1"]\nexclude: []\nentrypoint: [/usr/bin/python3]\nenv: { LANG: C.UTF-8 }\nfiles:\n  - { path: /etc/app.conf, content: "x", mode: "0644" }\nlayers: { max: 10 }\n`;
const DIGEST = `sha256:${"b".repeat(64)}`;
const MANIFEST = JSON.stringify({
  schemaVersion: 2,
  mediaType: "application/vnd.oci.image.manifest.v1+json",
  config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: DIGEST, size: 10 },
  layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: DIGEST, size: 3 }],
});
const INDEX = JSON.stringify({
  schemaVersion: 2,
  manifests: [
    {
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      digest: DIGEST,
      size: 5,
      platform: { architecture: "amd64", os: "linux" },
    },
  ],
});
const CONFIG = JSON.stringify({
  architecture: "amd64",
  os: "linux",
  rootfs: { type: "layers", diff_ids: [DIGEST] },
});

test("fuzz: deb822 stanzas, relations and versions never crash", async () => {
  await property(textOrMutation(STANZA), async (text) => {
    await cleanOutcome(() => {
      for (const stanza of parseStanzas(text)) {
        parseRelation(stanza.get("Depends"));
        const version = stanza.get("Version");
        if (version !== undefined) parseVersion(version);
      }
    });
  });
});

test("fuzz: the InRelease text parser never crashes", async () => {
  const source = { url: "http://127.0.0.1/debian", suites: ["stable"], components: ["main"], keyring: "" };
  await property(textOrMutation(RELEASE), async (text) => {
    await cleanOutcome(() => parseRelease(text, source as never, "stable", "c".repeat(64)));
  });
});

test("fuzz: the spec parser never crashes", async () => {
  await property(textOrMutation(SPEC), async (text) => {
    await cleanOutcome(() => parseSpec(text, "/nonexistent/strata.yaml"));
  });
});

test("fuzz: OCI manifests, indexes and configs are validated, never trusted", async () => {
  const cases = [
    [MANIFEST, (b: Buffer) => parseManifest(b, "fuzz")],
    [INDEX, (b: Buffer) => parseIndex(b, "fuzz")],
    [CONFIG, (b: Buffer) => parseImageConfig(b, "fuzz")],
  ] as const;
  for (const [sample, parse] of cases) {
    await property(jsonOrMutation(sample), async (text) => {
      await cleanOutcome(() => {
        const parsed = parse(Buffer.from(text, "latin1"));
        // Whatever passes must be safe to use as a path component.
        for (const d of JSON.stringify(parsed).matchAll(/"digest":"([^"]*)"/g))
          assert.match(d[1], /^sha256:[a-f0-9]{64}$/);
      });
    });
  }
});

test("fuzz: the lock reader never crashes", async () => {
  const dir = await tempDir("fuzz-lock");
  const file = join(dir, "strata.lock");
  const sample = JSON.stringify({
    version: 1,
    inputs: { archs: ["amd64"], packages: ["hello"], exclude: [], repositories: [] },
    releases: [],
    packages: [
      {
        name: "hello",
        version: "1.0",
        arch: "amd64",
        architecture: "amd64",
        sha256: "d".repeat(64),
        size: 10,
        filename: "pool/main/h/hello/hello_1.0_amd64.deb",
      },
    ],
    exclusions: [],
  });
  const spec = parseSpec("archs: [amd64]\npackages: [hello]\n", join(dir, "strata.yaml"));
  await property(jsonOrMutation(sample), async (text) => {
    await writeFile(file, text, "latin1");
    await cleanOutcome(async () =>
      assertLockCovers(await readLock(file, spec, { cacheRoot: dir }), spec, file),
    );
  });
});

test("fuzz: ar archives and the tar members of a .deb never crash the reader", async () => {
  const dir = await tempDir("fuzz-deb");
  const controlTar = await looseTar([
    { name: "./control", body: "Package: x\nVersion: 1\nArchitecture: all\n" },
  ]);
  const dataTar = await looseTar([
    { name: "./usr/", type: "directory" },
    { name: "./usr/bin/x", body: "hello" },
    { name: "./usr/bin/y", type: "symlink", linkname: "x" },
  ]);
  const file = join(dir, "x.deb");
  const member = fc.oneof(
    fc.uint8Array({ maxLength: 2048 }).map((b) => Buffer.from(b)),
    fc
      .tuple(fc.nat(dataTar.length - 1), fc.uint8Array({ minLength: 1, maxLength: 16 }))
      .map(([at, bytes]) => {
        const copy = Buffer.from(dataTar);
        copy.set(bytes.subarray(0, copy.length - at), at);
        return copy;
      }),
  );
  await property(
    fc.tuple(member, fc.boolean()),
    async ([data, gzip]) => {
      const deb = arArchive([
        { name: "debian-binary", body: Buffer.from("2.0\n") },
        { name: "control.tar.gz", body: gzipSync(controlTar) },
        { name: gzip ? "data.tar.gz" : "data.tar", body: gzip ? gzipSync(data) : data },
      ]);
      await writeFile(file, deb);
      await cleanOutcome(async () => {
        const opened = await openDeb(file);
        for await (const _ of opened.dataEntries());
      });
    },
    150,
  );
  // A truncated or corrupted ar directory.
  const whole = arArchive([{ name: "debian-binary", body: Buffer.from("2.0\n") }]);
  await property(mutated(whole.toString("latin1")), async (text) => {
    await writeFile(file, Buffer.from(text, "latin1"));
    await cleanOutcome(() => readArMembers(file));
  });
});

test("fuzz: image locations parse or are a clean usage error", async () => {
  const names = ["oci:/tmp/x:v1", "docker-archive:/a.tar:app:v1", `docker://127.0.0.1:5000/a/b@${DIGEST}`];
  await property(fc.oneof(...names.map(textOrMutation)), async (text) => {
    try {
      parseLocationName(text);
    } catch (err) {
      assert.ok(isStrataError(err, "USAGE"), String(err));
    }
  });
});

test("fuzz: a docker-archive's manifest.json is validated, never trusted", async () => {
  const dir = await tempDir("fuzz-docker-archive");
  const file = join(dir, "image.tar");
  const layer = await tarBytes([{ path: "etc/x", body: "x" }]);
  const config = JSON.stringify({
    architecture: "amd64",
    os: "linux",
    rootfs: { type: "layers", diff_ids: [] },
  });
  const manifest = JSON.stringify([{ Config: "c.json", RepoTags: ["app:1"], Layers: ["l.tar"] }]);
  await property(jsonOrMutation(manifest), async (text) => {
    const members = [
      { path: "c.json", body: config },
      { path: "l.tar", body: layer },
      { path: "manifest.json", body: text },
    ];
    await writeFile(file, await tarBytes(members));
    await cleanOutcome(() => readDockerArchive(file));
  });
});

test("fuzz: dpkg records read from a layer (status.d and status) never crash the inventory", async () => {
  const record = dpkgStanza({ name: "libssl3", version: "3.0.15-1~deb12u1", source: "openssl (3.0.15-1)" });
  await property(fc.tuple(textOrMutation(record), fc.boolean()), async ([text, inStatus]) => {
    const path = inStatus ? "var/lib/dpkg/status" : "var/lib/dpkg/status.d/x";
    const image = syntheticImage([await layerOf([{ path, body: text }], { compression: "none" })]);
    await cleanOutcome(() => readInventory(image, "fuzz"));
  });
});

const TRACKER = JSON.stringify({
  openssl: {
    "CVE-2024-5535": {
      releases: {
        bookworm: {
          status: "resolved",
          repositories: { bookworm: "3.0.15-1~deb12u1" },
          fixed_version: "3.0.15-1~deb12u1",
          urgency: "low**",
          nodsa: "Minor issue",
        },
      },
    },
  },
});
const OSV = JSON.stringify([
  {
    id: "DSA-5764-1",
    modified: "2025-01-31T12:00:00Z",
    upstream: ["CVE-2024-6119"],
    affected: [
      {
        package: { ecosystem: "Debian:12", name: "openssl" },
        ranges: [{ type: "ECOSYSTEM", events: [{ introduced: "0" }, { fixed: "3.0.14-1~deb12u2" }] }],
        ecosystem_specific: { urgency: "high" },
      },
    ],
  },
]);

test("fuzz: advisory feeds (tracker JSON, OSV) are refused cleanly or read", async () => {
  const dir = await tempDir("fuzz-feeds");
  let n = 0;
  await property(fc.oneof(jsonOrMutation(TRACKER), jsonOrMutation(OSV)), async (text) => {
    const file = join(dir, `feed-${n++}.json`);
    await writeFile(file, text);
    await cleanOutcome(() => readFeed(file));
  });
});

test("fuzz: policy files are refused cleanly or read", async () => {
  const policy =
    'deny:\n  fixable: { severity: medium, after-days: 3 }\n  packages: ["openssl << 3.0.15-1~deb12u1"]\nrequire: { digest: true }\nexemptions:\n  - { cve: CVE-2026-12345, reason: x, expires: 2027-01-31 }\n';
  await property(textOrMutation(policy), async (text) => {
    await cleanOutcome(() => parsePolicy(text, "fuzz.yaml"));
  });
});

test("fuzz: AdmissionReviews and pod lists are refused cleanly or read", async () => {
  const review = JSON.stringify({
    apiVersion: "admission.k8s.io/v1",
    kind: "AdmissionReview",
    request: {
      uid: "u",
      kind: { group: "apps", version: "v1", kind: "CronJob" },
      object: {
        spec: {
          jobTemplate: {
            spec: {
              template: {
                spec: { containers: [{ image: "a/b:1" }], initContainers: [{ image: "c@" + DIGEST }] },
              },
            },
          },
        },
      },
    },
  });
  await property(jsonOrMutation(review), async (text) => {
    await cleanOutcome(() => {
      const request = parseReview(JSON.parse(text));
      return podImages(request.kind.kind, request.object);
    }).catch((err) => {
      if (err instanceof SyntaxError) return; // not JSON: the server answers 400 before parsing
      throw err;
    });
  });
  const pods = JSON.stringify({
    items: [
      {
        metadata: { name: "p", namespace: "n" },
        spec: { containers: [{ name: "c", image: "a:1" }] },
        status: { containerStatuses: [{ name: "c", imageID: `a@${DIGEST}` }] },
      },
    ],
  });
  await property(jsonMutated(JSON.parse(pods)), async (text) => {
    await cleanOutcome(() => parsePodList(JSON.parse(text)));
  });
});

test("fuzz: changelogs never crash the parser", async () => {
  const changelog =
    "openssl (3.0.17-1~deb12u3) bookworm-security; urgency=medium\n\n  * CVE-2025-9230.\n\n -- A B <a@b.c>  Tue, 30 Sep 2025 22:05:48 +0200\n";
  await property(textOrMutation(changelog), async (text) => {
    parseChangelog(text);
  });
});

test("fuzz: layers strata run unpacks are refused cleanly or unpacked, and nothing lands outside the store", async () => {
  const sample = await tarBytes([
    { path: "etc/" },
    { path: "etc/app.conf", body: "key = value\n" },
    { path: "etc/link", type: "symlink", linkname: "/etc/app.conf" },
    { path: "etc/hard", type: "link", linkname: "etc/app.conf" },
    { path: "etc/.wh.gone", body: "" },
  ]);
  const dir = await tempDir("fuzz-run-layers");
  const mutation = fc.tuple(fc.nat(sample.length), fc.nat(64), fc.uint8Array({ maxLength: 64 }));
  await property(
    mutation,
    async ([at, cut, insert]) => {
      // The diff_id is the mutated tar's own, so the bytes reach the tar reader and the writer.
      const bytes = Buffer.concat([sample.subarray(0, at), Buffer.from(insert), sample.subarray(at + cut)]);
      const layer = {
        descriptor: descriptorOf(MediaType.ociLayerTar, bytes),
        diffId: `sha256:${sha256Hex(bytes)}`,
        bytes,
      };
      await cleanOutcome(() => new LayerStore(join(dir, "layers")).layersOf(syntheticImage([layer]), "fuzz"));
    },
    150,
  );
  assert.deepEqual(await readdir(dir), ["layers"]);
});

test("fuzz: an image record is validated, never trusted, by the rebuild check and the inventory", async () => {
  const annotations = { "dev.strata.layer.kind": "package", "dev.strata.packages": "app=1.0" };
  const layer = await layerOf([{ path: "etc/app", body: "x" }], { annotations });
  const image = syntheticImage([{ ...layer, recorded: [{ name: "app", version: "1.0" }] }]);
  const sample = canonicalJson(await recordOf(image));
  await property(jsonOrMutation(sample), async (text) => {
    const crafted = withRecord(image, Buffer.from(text, "latin1"));
    await cleanOutcome(() => readImageRecord(crafted, "fuzz"));
    await cleanOutcome(() => checkRebuildable(crafted, "fuzz"));
    await cleanOutcome(() => readInventory(crafted, "fuzz"));
  });
});
