import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { readdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { gzipSync } from "node:zlib";
import { resolveSpec } from "../../src/lock/resolve.js";
import { readLayout } from "../../src/oci/layout.js";
import { type BuildResult, buildImages } from "../../src/pipeline/builder.js";
import type { BuildEvent } from "../../src/pipeline/make-layers.js";
import { loadSpec } from "../../src/spec/spec.js";
import { ContentStore } from "../../src/util/cas.js";
import { isStrataError } from "../../src/util/errors.js";
import { runStrata } from "../helpers/cli.js";
import { arArchive, type CraftedFile, looseTar, run, tempDir } from "../helpers/debs.js";
import { type FakeRepo, fakeRepoSpec, startFakeRepo } from "../helpers/fake-repo.js";

/**
 * Maintainer-script effects through the real build: hand-made .debs with postinsts, served by the
 * really-signed loopback repository, resolved, built, and the image's files layer read back.
 */
async function scriptedDeb(
  name: string,
  files: CraftedFile[],
  scripts: { postinst?: string; preinst?: string },
  fields = "",
): Promise<Buffer> {
  const control = `Package: ${name}\nVersion: 1.0\nArchitecture: all\nMaintainer: Test <t@example.invalid>\nDescription: test package with scripts\n${fields}`;
  const controlTar = await looseTar([
    { name: "./", type: "directory" },
    { name: "./control", body: control },
    ...Object.entries(scripts).map(([script, body]) => ({ name: `./${script}`, body, mode: 0o755 })),
  ]);
  return arArchive([
    { name: "debian-binary", body: Buffer.from("2.0\n") },
    { name: "control.tar.gz", body: gzipSync(controlTar) },
    { name: "data.tar.gz", body: gzipSync(await looseTar(files)) },
  ]);
}

const TOOLS_POSTINST = `#!/bin/sh
set -e
basedir=/usr/lib/tools-1
tools='alpha beta'
case "$1" in
configure)
    for t in $tools; do
        update-alternatives --install /usr/bin/$t $t $basedir/bin/$t 100
    done
    adduser --system --group --home /var/lib/tools --quiet toolsd
    if [ -z "$2" ] && [ ! -e /etc/tools/enabled ]; then
        ln -s /etc/tools/available /etc/tools/enabled
        cp /usr/share/tools/default.conf /etc/tools/site.conf
    fi
    invoke-rc.d tools start
    tools-config --print > /etc/tools/generated.conf
    ln -s /run/tools /var/lock/tools
    if [ ! -L /var/run ]; then rmdir /var/run; ln -s /run /var/run; fi
    chown root:toolsd /etc/tools/secret.conf
    chmod 440 /etc/tools/secret.conf
    ;;
esac
`;

const TOOLS_FILES: CraftedFile[] = [
  { name: "./usr/lib/tools-1/bin/alpha", mode: 0o755, body: "#!/bin/sh\necho alpha\n" },
  { name: "./usr/lib/tools-1/bin/beta", mode: 0o755, body: "#!/bin/sh\necho beta\n" },
  { name: "./usr/share/tools/default.conf", body: "greeting = hello\n" },
  { name: "./etc/tools/available", body: "on\n" },
  { name: "./etc/tools/readme", mode: 0o644, body: "not a program\n" },
  { name: "./usr/lib/tools-1/bin/private", mode: 0o750, body: "#!/bin/sh\n" },
  { name: "./var/lock/", type: "directory", mode: 0o1777 },
  { name: "./var/run/", type: "directory" },
  { name: "./etc/tools/secret.conf", mode: 0o644, body: "password = x\n" },
  { name: "./run/", type: "directory" },
];

let repo: FakeRepo;
let dir: string;

before(async () => {
  repo = await startFakeRepo({
    packages: [
      {
        name: "tools",
        version: "1.0",
        arch: "all",
        body: await scriptedDeb("tools", TOOLS_FILES, { postinst: TOOLS_POSTINST }),
      },
    ],
  });
  dir = await tempDir("effects");
});
after(async () => {
  await repo.close();
  await rm(dir, { recursive: true, force: true });
});

async function build(
  name: string,
  extra: string,
  cache = join(dir, `cache-${name}`),
  onEvent?: (e: BuildEvent) => void,
): Promise<BuildResult> {
  const specPath = join(dir, `${name}.yaml`);
  await writeFile(specPath, fakeRepoSpec(repo, ["tools"], extra));
  const spec = await loadSpec(specPath);
  const lock = await resolveSpec(spec, { cacheRoot: cache });
  return buildImages(spec, lock, { cacheRoot: cache, jobs: 1, onEvent });
}

/** The files layer (the image's last) of a result: its listing and a way to read a file. */
function filesLayer(result: BuildResult, cache: string) {
  const blob = result.images[0].layers.at(-1)!.blob;
  const path = new ContentStore(join(cache, "blobs")).path(blob.digest.slice("sha256:".length));
  return {
    list: async () => (await run("tar", ["-tvzf", path])).stdout,
    read: async (file: string) => (await run("tar", ["-xzOf", path, file])).stdout,
  };
}

describe("maintainer-script effects in a built image", () => {
  test("a postinst that installs alternatives through a loop over variables yields the links", async () => {
    const cache = join(dir, "cache-links");
    const result = await build("links", "", cache);
    const listing = await filesLayer(result, cache).list();
    for (const t of ["alpha", "beta"]) {
      assert.match(listing, new RegExp(`usr/bin/${t} -> /etc/alternatives/${t}\\n`));
      assert.match(listing, new RegExp(`etc/alternatives/${t} -> /usr/lib/tools-1/bin/${t}\\n`));
    }
    assert.match(listing, /etc\/tools\/enabled -> \/etc\/tools\/available\n/);
    assert.doesNotMatch(listing, /generated\.conf/, "a file of unknown contents is not in the image");
    assert.match(listing, /drwxrwxrwt 0\/0 .* var\/lock\/\n/, "a parent keeps the mode its package gives it");
    assert.match(
      listing,
      /var\/run -> \/run\n/,
      "an empty packaged directory migrated to a link, as base-files does",
    );
    assert.equal(await filesLayer(result, cache).read("etc/tools/site.conf"), "greeting = hello\n");
  });

  test("adduser in a postinst yields the account in /etc/passwd and /etc/group, with its home", async () => {
    const cache = join(dir, "cache-accounts");
    const result = await build("accounts", "", cache);
    const layer = filesLayer(result, cache);
    assert.match(
      await layer.read("etc/passwd"),
      /^toolsd:x:100:100::\/var\/lib\/tools:\/usr\/sbin\/nologin$/m,
    );
    assert.match(await layer.read("etc/group"), /^toolsd:x:100:$/m);
    assert.match(
      await layer.read("etc/passwd"),
      /^root:x:0:0::\/root:\/bin\/sh$/m,
      "the spec's accounts stay",
    );
    assert.match(await layer.list(), /drwxr-xr-x 100\/100 .* var\/lib\/tools\/\n/);
    // As the shadow tools leave them: the shadow group, shadow and gshadow 0640 root:shadow.
    assert.match(await layer.read("etc/group"), /^shadow:x:42:$/m);
    assert.match(await layer.list(), /-rw-r----- 0\/42 .* etc\/shadow\n/);
    assert.match(await layer.list(), /-rw-r----- 0\/42 .* etc\/gshadow\n/);
    assert.match(await layer.read("etc/gshadow"), /^toolsd:\*::$/m);
    // At the default epoch (0) no date: day 0 would ask for a new password at the next login.
    assert.equal(result.epoch, 0);
    assert.match(await layer.read("etc/shadow"), /^toolsd:\*::0:99999:7:::$/m);
  });

  test("/etc/shadow is dated from the build's epoch, as the shadow tools date it from the clock", async () => {
    const cache = join(dir, "cache-dated");
    const result = await build("dated", "epoch: 1700000000", cache);
    const shadow = await filesLayer(result, cache).read("etc/shadow");
    // 1700000000 s is day 19675 since 1970-01-01.
    assert.match(shadow, /^root:\*:19675:0:99999:7:::$/m);
    assert.match(shadow, /^toolsd:\*:19675:0:99999:7:::$/m);
  });

  test("what the scripts skipped is reported per command, with the reason", async () => {
    const result = await build("skipped", "");
    assert.deepEqual(result.skippedEffects, [
      {
        package: "tools",
        script: "postinst",
        command: "invoke-rc.d tools start",
        reason: "services are not started in images",
      },
      {
        package: "tools",
        script: "postinst",
        command: "tools-config --print",
        reason: "not a command strata follows",
      },
      {
        package: "tools",
        script: "postinst",
        command: "> /etc/tools/generated.conf",
        reason: "not written: its contents come from commands strata does not follow",
      },
    ]);
  });

  test("build --strict fails on a skipped command that is not left out on purpose, writing nothing", async () => {
    const specPath = join(dir, "strict.yaml");
    await writeFile(specPath, fakeRepoSpec(repo, ["tools"], ""));
    const out = join(dir, "strict-out");
    const args = ["--cache-dir", join(dir, "cache-strict"), "build", specPath, "--lock-update", "-o", out];
    const strict = await runStrata([...args, "--strict"]);
    assert.equal(strict.code, 1, strict.stderr);
    // invoke-rc.d is left out on purpose; tools-config and the file it would fill are gaps.
    assert.match(
      strict.stderr,
      /^strata: error: --strict: 2 script effects not made \(tools 2\); nothing was written$/m,
    );
    assert.match(strict.stderr, /^strata: hint: build without --strict/m);
    assert.equal(existsSync(out), false);
    const lenient = await runStrata(args);
    assert.equal(lenient.code, 0, lenient.stderr);
    assert.match(lenient.stderr, /tools: made \d+, skipped 3/);
  });

  test("a warm build takes what the files layer's inputs made last time; other inputs make it anew", async () => {
    const cache = join(dir, "cache-memo");
    const specPath = join(dir, "memo.yaml");
    await writeFile(specPath, fakeRepoSpec(repo, ["tools"], ""));
    const built = async (out: string) => {
      const r = await runStrata([
        "--cache-dir",
        cache,
        "build",
        specPath,
        "--lock-update",
        "-o",
        join(dir, out),
      ]);
      assert.equal(r.code, 0, r.stderr);
      return { stderr: r.stderr, index: await readFile(join(dir, out, "index.json"), "utf8") };
    };
    const cold = await built("memo-cold");
    const memoDir = join(cache, "files-layers");
    const [kept] = await readdir(memoDir);
    // What is kept is what is said: a note put in it is said by the next build of the same inputs.
    const outcome = JSON.parse(await readFile(join(memoDir, kept), "utf8"));
    await writeFile(join(memoDir, kept), JSON.stringify({ ...outcome, notes: ["amd64: a kept note"] }));
    const warm = await built("memo-warm");
    assert.match(warm.stderr, /a kept note/);
    assert.equal(warm.index, cold.index);
    // Another spec is another input: followed anew, kept beside.
    await writeFile(specPath, fakeRepoSpec(repo, ["tools"], "env: { TOOLS: '1' }"));
    const other = await built("memo-other");
    assert.doesNotMatch(other.stderr, /a kept note/);
    assert.equal((await readdir(memoDir)).length, 2);
    // A kept outcome that is not one is not believed: made anew, the same image.
    await writeFile(specPath, fakeRepoSpec(repo, ["tools"], ""));
    await writeFile(join(memoDir, kept), JSON.stringify({ ...outcome, made: "all" }));
    const damaged = await built("memo-damaged");
    assert.doesNotMatch(damaged.stderr, /a kept note/);
    assert.equal(damaged.index, cold.index);
  });

  test("a warm build reads no .deb: the copied file's bytes come from the content store", async () => {
    const cache = join(dir, "cache-warm");
    const cold = await build("warm", "", cache);
    for (const f of await readdir(join(cache, "debs"))) await rm(join(cache, "debs", f), { recursive: true });
    const warm = await build("warm", "", cache);
    assert.equal(warm.images[0].layers.at(-1)!.blob.digest, cold.images[0].layers.at(-1)!.blob.digest);
    assert.equal(await filesLayer(warm, cache).read("etc/tools/site.conf"), "greeting = hello\n");
  });

  test("a layer record from before scripts were followed (no script facts) is rebuilt, not trusted", async () => {
    const cache = join(dir, "cache-old-record");
    await build("old", "", cache);
    const records = join(cache, "layers");
    for (const f of await readdir(records)) {
      const entry = JSON.parse(await readFile(join(records, f), "utf8"));
      for (const m of entry.record.members) {
        delete m.paths;
        delete m.maintainerScripts;
        delete m.bodies;
        m.alternatives = [];
      }
      await writeFile(join(records, f), JSON.stringify(entry));
    }
    const again = await build("old", "", cache);
    assert.match(await filesLayer(again, cache).list(), /usr\/bin\/alpha -> \/etc\/alternatives\/alpha\n/);
  });
});

describe("the entrypoint check", () => {
  const refused = async (name: string, extra: string, message: RegExp, hint?: RegExp) => {
    await assert.rejects(
      build(name, extra),
      (err) =>
        isStrataError(err, "ENTRYPOINT") && message.test(err.message) && (!hint || hint.test(err.hint ?? "")),
    );
  };

  test("an entrypoint reached through the alternatives links and merged-/usr passes", async () => {
    const result = await build("ok-entry", "entrypoint: [/bin/alpha]");
    assert.equal(result.images.length, 1);
  });

  test("a missing entrypoint is refused with its path named", async () => {
    await refused(
      "missing",
      "entrypoint: [/usr/bin/gamma]",
      /^amd64: entrypoint \/usr\/bin\/gamma is not in the image$/,
    );
  });

  test("a cmd that is not executable is refused with its path and mode", async () => {
    await refused(
      "noexec",
      "cmd: [/etc/tools/readme]",
      /cmd \/etc\/tools\/readme is not executable for user root \(mode 0644/,
      /give it an executable mode/,
    );
  });

  test("a program name is looked up on PATH", async () => {
    await build("path", "cmd: [beta]");
    await refused("path-missing", "cmd: [gamma]", /cmd gamma is not on PATH/);
  });

  test("a program and its arguments written as one string say to write a list", async () => {
    await refused("one-string", 'entrypoint: "beta --verbose"', /not on PATH/, /\[beta, --verbose\]/);
  });

  test("a program only its owner and group may run is refused for another user", async () => {
    await build("private-root", "entrypoint: [/usr/lib/tools-1/bin/private]");
    await refused(
      "private-nonroot",
      "entrypoint: [/usr/lib/tools-1/bin/private]\nuser: nonroot",
      /not executable for user nonroot \(mode 0750, owner 0:0\)/,
    );
  });
});

describe("user: names accounts the image's packages make", () => {
  test("an account a postinst made (adduser toolsd) is the image's user, and its config says so", async () => {
    const result = await build("script-user", "entrypoint: [/bin/alpha]\nuser: toolsd");
    assert.equal(result.images[0].image.config.config?.User, "toolsd");
  });

  test("an account nobody made is refused once the scripts ran, naming the accounts there are", async () => {
    await assert.rejects(
      build("no-user", "user: postgres"),
      (err) =>
        isStrataError(err, "SPEC_INVALID") &&
        /^amd64: user: "postgres" is not a user of the image \(root, nonroot, toolsd\)$/.test(err.message) &&
        /accounts\.users/.test(err.hint ?? ""),
    );
  });

  test("a base-passwd account no script named says which uid to give", async () => {
    await assert.rejects(
      build("nobody", "user: nobody"),
      (err) => isStrataError(err, "SPEC_INVALID") && /user: "65534:65534"/.test(err.hint ?? ""),
    );
  });
});

test("an image with an entrypoint and no /bin/sh says so in the build report, with the spec key that adds one", async () => {
  const notes: string[] = [];
  await build("no-shell", "entrypoint: [/bin/alpha]", undefined, (e) => {
    if (e.kind === "note") notes.push(e.message);
  });
  assert.ok(
    notes.some((n) => /^amd64: the image has no \/bin\/sh, .*essential: true/.test(n)),
    notes.join("\n"),
  );
});

test("a script that sources another package's helper is followed with the helper's bytes, read back from its layer", async () => {
  const helper =
    'make_conf() {\n  mkdir -p /etc/app/conf.d\n  echo "enabled = $1" > /etc/app/conf.d/app.conf\n}\n';
  const postinst = "#!/bin/sh\nset -e\n. /usr/share/helper/functions\nmake_conf yes\n";
  const own = await startFakeRepo({
    packages: [
      {
        name: "helper",
        version: "1.0",
        arch: "all",
        body: await scriptedDeb("helper", [{ name: "./usr/share/helper/functions", body: helper }], {}),
      },
      {
        name: "app",
        version: "1.0",
        arch: "all",
        body: await scriptedDeb("app", [{ name: "./etc/app/", type: "directory" }], { postinst }),
      },
    ],
  });
  try {
    const cache = join(dir, "cache-helper");
    const specPath = join(dir, "helper.yaml");
    await writeFile(specPath, fakeRepoSpec(own, ["helper", "app"]));
    const spec = await loadSpec(specPath);
    const result = await buildImages(spec, await resolveSpec(spec, { cacheRoot: cache }), {
      cacheRoot: cache,
      jobs: 1,
    });
    assert.deepEqual(result.skippedEffects, []);
    assert.equal(await filesLayer(result, cache).read("etc/app/conf.d/app.conf"), "enabled = yes\n");
  } finally {
    await own.close();
  }
});

/** postgresql-common's temp files: one from a command strata does not follow, one from mktemp. */
const PGCONF_POSTINST = `#!/bin/sh
set -e
CCTMP=$(tempfile)
sed -e "s/^ssl =.*/ssl = on/" /usr/share/pgconf/createcluster.conf > $CCTMP
ucf --debconf-ok $CCTMP /etc/pgconf/createcluster.conf
rm -f $CCTMP
MADE=$(mktemp)
echo made > $MADE
cp $MADE /etc/pgconf/from-mktemp
rm -f $MADE
`;

test("strata build: a redirection to an unfollowed command's output is skipped and said; every later effect is kept", async () => {
  const own = await startFakeRepo({
    packages: [
      {
        name: "pgconf",
        version: "1.0",
        arch: "all",
        body: await scriptedDeb(
          "pgconf",
          [
            { name: "./usr/share/pgconf/createcluster.conf", body: "ssl = off\n" },
            { name: "./etc/pgconf/", type: "directory" },
            { name: "./usr/lib/pg/bin/postgres", mode: 0o755, body: "#!/bin/sh\n" },
          ],
          { postinst: PGCONF_POSTINST },
        ),
      },
      {
        name: "zone",
        version: "1.0",
        arch: "all",
        body: await scriptedDeb(
          "zone",
          [{ name: "./usr/share/zoneinfo/Etc/UTC", body: "TZif" }],
          {
            postinst:
              "#!/bin/sh\nset -e\nln -sf /usr/share/zoneinfo/Etc/UTC /etc/localtime\necho Etc/UTC > /etc/timezone\n",
          },
          "Depends: pgconf\n",
        ),
      },
    ],
  });
  try {
    const specPath = join(dir, "pgconf.yaml");
    await writeFile(
      specPath,
      fakeRepoSpec(own, ["pgconf", "zone"], "entrypoint: [/usr/lib/pg/bin/postgres]"),
    );
    const out = join(dir, "pgconf-out");
    const args = ["--cache-dir", join(dir, "cache-pgconf"), "build", specPath, "--lock-update", "-o", out];
    const built = await runStrata([...args, "--json"]);
    assert.equal(built.code, 0, built.stderr);
    const report = JSON.parse(built.stdout.trim().split("\n").at(-1)!);
    const tempfile = "the output of tempfile (not a command strata follows)";
    assert.deepEqual(
      report.skippedEffects.filter((s: { reason: string }) => s.reason.includes(tempfile)),
      [
        {
          package: "pgconf",
          script: "postinst",
          command: '> ""',
          reason: `not done: its path depends on ${tempfile}`,
        },
        {
          package: "pgconf",
          script: "postinst",
          command: "ucf --debconf-ok /etc/pgconf/createcluster.conf",
          reason: `not done: its arguments depend on ${tempfile}`,
        },
        {
          package: "pgconf",
          script: "postinst",
          command: "rm -f",
          reason: `not done: its arguments depend on ${tempfile}`,
        },
      ],
    );
    const artifact = await readLayout(out);
    assert.equal(artifact.kind, "image");
    if (artifact.kind !== "image") return;
    const files = join(out, "blobs", "sha256", artifact.image.manifest.layers.at(-1)!.digest.slice(7));
    const listing = (await run("tar", ["-tvzf", files])).stdout;
    assert.match(listing, / etc\/localtime -> \/usr\/share\/zoneinfo\/Etc\/UTC\n/);
    assert.match(listing, / etc\/timezone\n/);
    assert.equal((await run("tar", ["-xzOf", files, "etc/pgconf/from-mktemp"])).stdout, "made\n");
  } finally {
    await own.close();
  }
});
