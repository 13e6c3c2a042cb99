import assert from "node:assert/strict";
import { mkdir, readdir, readlink, symlink, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { describe, test } from "node:test";
import { baseLayerEntries } from "../../src/debian/base-root.js";
import { dropDanglingLinks } from "../../src/effects/dangling.js";
import { nativeEffects } from "../../src/effects/native-effects.js";
import type { PackageFacts } from "../../src/effects/package-facts.js";
import { buildPackageLayer, LAYER_FORMAT_VERSION } from "../../src/layers/layer.js";
import { LayerCache } from "../../src/layers/layer-cache.js";
import { compressionIdentity, resolveCompression } from "../../src/oci/compress.js";
import type { LayerEntry } from "../../src/oci/layer-entry.js";
import { DEFAULT_ACCOUNTS } from "../../src/spec/accounts.js";
import { isStrataError } from "../../src/util/errors.js";
import { sha256Hex } from "../../src/util/hash.js";
import { selfSigned } from "../helpers/certificates.js";
import { craftDeb, run, tempDir } from "../helpers/debs.js";

const EPOCH = 1700000000;

/** Certificates as a crafted ca-certificates ships them, exercising every rule of the links. */
async function craftedCertificates(): Promise<Record<string, string>> {
  const same1 = await selfSigned("/CN=Same Name/O=Example");
  const same2 = await selfSigned("/CN=Same Name/O=Example"); // another key: a hash collision
  const other = await selfSigned("/CN=Other Root G2/O=Example");
  return {
    "mozilla/Same_1.crt": same1,
    "mozilla/Same_2.crt": same2,
    "mozilla/Other (Root), G2.crt": other,
    "extra/Copy_of_Same_1.crt": same1, // the same DER again: one hash link only
    "extra/Two_in_one.crt": same2 + other, // not exactly one certificate: no hash link
  };
}

/** The files-layer effects of these members, over an image of nothing else. */
function effectsOf(members: PackageFacts[], storeRoot: string, files: string[], epoch = 0) {
  const base = {
    architecture: "amd64",
    baseEntries: baseLayerEntries("amd64", DEFAULT_ACCOUNTS),
    accounts: DEFAULT_ACCOUNTS,
  };
  return nativeEffects({ ...base, members, storeRoot, files, epoch });
}

async function generatedOf(certs: Record<string, string>, withJava: boolean) {
  const dir = await tempDir("gen");
  const store = join(dir, "store");
  const input = { store, epoch: EPOCH, compression: resolveCompression("gzip"), keepDocs: false };
  const ca = await craftDeb(
    dir,
    "ca-certificates",
    Object.entries(certs).map(([path, body]) => ({ name: `./usr/share/ca-certificates/${path}`, body })),
  );
  const records = [
    await buildPackageLayer({ ...input, debPath: ca.path, debSha256: ca.sha256, locked: ca.locked }),
  ];
  if (withJava) {
    const java = await craftDeb(dir, "ca-certificates-java", [{ name: "./etc/default/cacerts", body: "" }]);
    records.push(
      await buildPackageLayer({ ...input, debPath: java.path, debSha256: java.sha256, locked: java.locked }),
    );
  }
  // As a warm build sees them: the records come back from JSON.
  const members = JSON.parse(JSON.stringify(records.flatMap((r) => r.members))) as PackageFacts[];
  const effects = await effectsOf(
    members,
    store,
    records.flatMap((r) => r.files),
    EPOCH,
  );
  return { dir, effects, byPath: new Map(effects.entries.map((e) => [e.path, e])) };
}

/** update-ca-certificates' .pem links and `openssl rehash` run for real on the same files. */
async function realRehash(dir: string, certs: Record<string, string>, pems: Record<string, string>) {
  const root = join(dir, "reference");
  for (const [path, body] of Object.entries(certs)) {
    await mkdir(dirname(join(root, path)), { recursive: true });
    await writeFile(join(root, path), body);
  }
  const etc = join(root, "etc-ssl-certs");
  await mkdir(etc);
  for (const [pem, path] of Object.entries(pems)) await symlink(join(root, path), join(etc, pem));
  await run("openssl", ["rehash", etc]);
  const links: Record<string, string> = {};
  for (const name of (await readdir(etc)).filter((n) => /^[0-9a-f]{8}\.\d+$/.test(n))) {
    links[name] = await readlink(join(etc, name));
  }
  return links;
}

const linksIn = (entries: LayerEntry[], pattern: RegExp) =>
  Object.fromEntries(
    entries
      .filter((e) => e.type === "symlink" && pattern.test(e.path))
      .map((e) => [e.path.slice("etc/ssl/certs/".length), e.linkname]),
  );

describe("files generated from ca-certificates' data", () => {
  test("the .pem and subject-hash links are the ones update-ca-certificates and openssl rehash make: collisions numbered, a repeated certificate linked once", async () => {
    const certs = await craftedCertificates();
    const { dir, effects } = await generatedOf(certs, false);
    const pems = linksIn(effects.entries, /^etc\/ssl\/certs\/[^/]+\.pem$/);
    assert.deepEqual(pems, {
      "Copy_of_Same_1.pem": "/usr/share/ca-certificates/extra/Copy_of_Same_1.crt",
      "Other_=Root=__G2.pem": "/usr/share/ca-certificates/mozilla/Other (Root), G2.crt",
      "Same_1.pem": "/usr/share/ca-certificates/mozilla/Same_1.crt",
      "Same_2.pem": "/usr/share/ca-certificates/mozilla/Same_2.crt",
      "Two_in_one.pem": "/usr/share/ca-certificates/extra/Two_in_one.crt",
    });
    const relative = Object.fromEntries(
      Object.entries(pems).map(([pem, target]) => [pem, target!.slice("/usr/share/ca-certificates/".length)]),
    );
    const expected = await realRehash(dir, certs, relative);
    const made = linksIn(effects.entries, /^etc\/ssl\/certs\/[0-9a-f]{8}\.\d+$/);
    assert.equal(Object.keys(made).length, 3, JSON.stringify(made));
    assert.deepEqual(made, expected);
  });

  test("/etc/ca-certificates.conf is the fresh-install file (the postinst's header, then every packaged certificate enabled, bytewise sorted) and /usr/local/share/ca-certificates is there", async () => {
    const { byPath } = await generatedOf(await craftedCertificates(), false);
    const conf = Buffer.from(byPath.get("etc/ca-certificates.conf")?.body ?? []).toString();
    assert.match(conf, /^# This file lists certificates that you wish to use or to ignore to be\n/);
    assert.deepEqual(
      conf.split("\n").filter((l) => l !== "" && !l.startsWith("#")),
      [
        "extra/Copy_of_Same_1.crt",
        "extra/Two_in_one.crt",
        "mozilla/Other (Root), G2.crt",
        "mozilla/Same_1.crt",
        "mozilla/Same_2.crt",
      ],
    );
    assert.equal(byPath.get("etc/ca-certificates.conf")?.mode, 0o644);
    assert.equal(byPath.get("usr/local/share/ca-certificates")?.type, "dir");
  });

  test("the Java trust store and the JVM's system preferences are made only with ca-certificates-java, the store from every .pem that holds one certificate", async () => {
    const certs = await craftedCertificates();
    const without = await generatedOf(certs, false);
    assert.equal(without.byPath.has("etc/ssl/certs/java/cacerts"), false);
    assert.equal(without.byPath.has("etc/.java/.systemPrefs"), false);
    const { dir, byPath } = await generatedOf(certs, true);
    assert.equal(byPath.get("etc/.java/.systemPrefs")?.type, "dir");
    assert.equal(byPath.get("etc/.java/.systemPrefs/.systemRootModFile")?.type, "file");
    const store = byPath.get("etc/ssl/certs/java/cacerts");
    assert.equal(store?.type, "file");
    const file = join(dir, "cacerts");
    await writeFile(file, store.body!);
    const { stdout } = await run("keytool", ["-list", "-keystore", file, "-storepass", "changeit"], {
      env: { ...process.env, LC_ALL: "C" },
    });
    const aliases = [...stdout.matchAll(/^(debian:[^,]+),/gm)].map((m) => m[1]);
    assert.deepEqual(aliases.sort(), [
      "debian:copy_of_same_1.pem",
      "debian:other_=root=__g2.pem",
      "debian:same_1.pem",
      "debian:same_2.pem",
    ]);
  });

  test("a layer record cached before certificate facts were recorded is a miss, so a warm build never lacks the links", async () => {
    const dir = await tempDir("gen-cache");
    const store = join(dir, "blobs");
    const compression = resolveCompression("gzip");
    const ca = await craftDeb(dir, "ca-certificates", [
      { name: "./usr/share/ca-certificates/mozilla/One.crt", body: await selfSigned("/CN=One") },
    ]);
    const record = await buildPackageLayer({
      debPath: ca.path,
      debSha256: ca.sha256,
      locked: ca.locked,
      store,
      epoch: 0,
      compression,
      keepDocs: false,
    });
    const key = { debSha256: ca.sha256, epoch: 0, keepDocs: false, compression };
    // The key text and record of the strata before FACTS_VERSION: no facts field, no caCertificates.
    const oldKey = JSON.stringify({
      format: LAYER_FORMAT_VERSION,
      deb: key.debSha256,
      epoch: key.epoch,
      keepDocs: key.keepDocs,
      compression: compressionIdentity(compression),
    });
    const oldRecord = { ...record, members: record.members.map(({ caCertificates: _, ...m }) => m) };
    await mkdir(join(dir, "layers"));
    await writeFile(
      join(dir, "layers", `${sha256Hex(oldKey)}.json`),
      JSON.stringify({ key: oldKey, record: oldRecord }),
    );
    assert.equal(await new LayerCache(dir, store).get(key), undefined);
  });

  test("a layer record whose certificate entry climbs out or would add a line to the conf is refused before any link is made", async () => {
    for (const path of ["../../etc/shadow.crt", "mozilla/x\n!mozilla/Other.crt"]) {
      const facts: PackageFacts = {
        package: "ca-certificates",
        version: "1",
        architecture: "all",
        scripts: [],
        replaces: [],
        maintainerScripts: {},
        paths: [],
        bodies: {},
        caCertificates: [{ path }],
      };
      await assert.rejects(effectsOf([facts], await tempDir("gen-store"), []), (err) =>
        isStrataError(err, "IO"),
      );
    }
  });

  test("a package whose certificate file name holds a newline is refused when its layer is built", async () => {
    const dir = await tempDir("gen-newline");
    const deb = await craftDeb(dir, "ca-certificates", [
      { name: "./usr/share/ca-certificates/mozilla/x\n!mozilla/Other.crt", body: await selfSigned("/CN=x") },
    ]);
    const input = {
      store: join(dir, "store"),
      epoch: 0,
      compression: resolveCompression("gzip"),
      keepDocs: false,
    };
    await assert.rejects(
      buildPackageLayer({ ...input, debPath: deb.path, debSha256: deb.sha256, locked: deb.locked }),
      // The layer writer refuses control characters in any path before the certificate facts see it.
      (err) => isStrataError(err, "UNSAFE_PATH"),
    );
  });
});

describe("effect links whose target is not in the image", () => {
  const facts: PackageFacts = {
    package: "pager-pkg",
    version: "1",
    architecture: "amd64",
    scripts: ["postinst"],
    replaces: [],
    maintainerScripts: {
      postinst:
        "update-alternatives --install /usr/bin/pager pager /bin/more 50 --slave /usr/share/man/man1/pager.1.gz pager.1.gz /usr/share/man/man1/more.1.gz\n",
    },
    paths: [
      ["usr", "d", 0o755, 0, 0],
      ["usr/bin", "d", 0o755, 0, 0],
      ["usr/bin/more", "f", 0o755, 0, 0],
    ],
    bodies: {},
  };

  test("an alternative's --slave link to a man page that docs: false dropped is not made, and the build says so", async () => {
    const { entries, notes, skipped } = await effectsOf([facts], await tempDir("gen-store"), [
      "usr/bin/more",
    ]);
    assert.deepEqual(
      entries
        .filter((e) => e.type === "symlink")
        .map((e) => `${e.path} -> ${e.linkname}`)
        .sort(),
      ["etc/alternatives/pager -> /bin/more", "usr/bin/pager -> /etc/alternatives/pager"],
    );
    // Documentation is dropped on purpose: the build says so in one counted line.
    assert.ok(
      notes.includes("1 alternative link to documentation not made (not in the image): pager-pkg pager.1.gz"),
      [...notes, ...skipped.map((e) => e.reason)].join("\n"),
    );
  });

  test("links that cannot be judged or do lead somewhere are kept: through a package's own symlink, into /proc, to a directory of the image or of the effects, through merged-/usr", () => {
    const link = (path: string, linkname: string): LayerEntry => ({
      path,
      type: "symlink",
      mode: 0o777,
      uid: 0,
      gid: 0,
      linkname,
    });
    const effects = [
      link("usr/bin/java", "/usr/lib/jvm/default-java/bin/java"),
      link("etc/mtab", "/proc/self/mounts"),
      link("etc/alternatives/jvm", "../../usr/lib/jvm/java-17"),
      link("usr/bin/sh-link", "/bin/dash"),
      link("usr/bin/gone", "/usr/bin/nothing-here"),
    ];
    const localCerts: LayerEntry = {
      path: "usr/local/share/certs",
      type: "dir",
      mode: 0o755,
      uid: 0,
      gid: 0,
    };
    effects.push(localCerts, link("etc/certs-link", "/usr/local/share/certs"));
    const files = ["usr/lib/jvm/default-java", "usr/lib/jvm/java-17/bin/java", "usr/bin/dash"];
    const { entries } = dropDanglingLinks(effects, files);
    assert.deepEqual(
      entries.map((e) => e.path),
      [
        "usr/bin/java",
        "etc/mtab",
        "etc/alternatives/jvm",
        "usr/bin/sh-link",
        localCerts.path,
        "etc/certs-link",
      ],
    );
  });
});
