import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { ImageConfig } from "../../src/oci/types.js";
import { resolveUser } from "../../src/run/image-user.js";
import { jobProcess, parseEnv, parseMount } from "../../src/run/job-process.js";
import { isStrataError } from "../../src/util/errors.js";
import { parseBytes, parseCpus, parseDuration } from "../../src/util/quantities.js";

/** What `strata run` makes of its flags and of the image's config, before anything runs. */

const usage = (re: RegExp) => (err: unknown) => isStrataError(err, "USAGE") && re.test(err.message);

describe("strata run's flags and the job's process", { timeout: 30_000 }, () => {
  let rootfs: string;
  let outside: string;
  before(async () => {
    rootfs = await mkdtemp(join(tmpdir(), "strata-rootfs-"));
    outside = await mkdtemp(join(tmpdir(), "strata-outside-"));
    await mkdir(join(rootfs, "etc"));
    await writeFile(
      join(rootfs, "etc/passwd"),
      "root:x:0:0:root:/root:/bin/sh\nnonroot:x:65532:65532::/home/nonroot:/sbin/nologin\n",
    );
    await writeFile(join(rootfs, "etc/group"), "root:x:0:\nnonroot:x:65532:\nstaff:x:50:\n");
  });
  after(async () => {
    await rm(rootfs, { recursive: true, force: true });
    await rm(outside, { recursive: true, force: true });
  });

  it("durations, sizes and CPU counts as flags take them, and refusals that say how to write them", () => {
    assert.equal(parseDuration("90", "--timeout"), 90_000);
    assert.equal(parseDuration("1h30m", "--timeout"), 5_400_000);
    assert.equal(parseDuration("500ms", "--timeout"), 500);
    assert.throws(
      () => parseDuration("5 minutes", "--timeout"),
      usage(/--timeout 5 minutes: not understood/),
    );
    assert.throws(() => parseDuration("0s", "--timeout"), usage(/not understood/));
    assert.equal(parseBytes("256M", "--memory"), 256 * 2 ** 20);
    assert.equal(parseBytes("1GiB", "--memory"), 2 ** 30);
    assert.equal(parseBytes("268435456", "--memory"), 268435456);
    assert.throws(
      () => parseBytes("12", "--memory"),
      (err) =>
        usage(/--memory 12: not understood/)(err) && /at least 4096/.test((err as { hint: string }).hint),
    );
    assert.throws(() => parseBytes("lots", "--memory"), usage(/not understood/));
    assert.equal(parseCpus("0.5", "--cpus"), 0.5);
    assert.throws(() => parseCpus("-1", "--cpus"), usage(/not understood/));
  });

  it("--mount SRC:DST[:ro] needs an existing source and an absolute destination below /", async () => {
    assert.deepEqual(await parseMount(`${outside}:/data:ro`), {
      source: outside,
      destination: "/data",
      readOnly: true,
    });
    assert.equal((await parseMount(`${outside}:/data`)).readOnly, false);
    await assert.rejects(parseMount(`${outside}:data`), usage(/not an absolute path below \//));
    await assert.rejects(parseMount(`${outside}:/`), usage(/not an absolute path below \//));
    await assert.rejects(parseMount(`${outside}:/a/../etc`), usage(/not an absolute path below \//));
    await assert.rejects(parseMount(`${outside}:/data:rx`), usage(/not SRC:DST\[:ro\]/));
    await assert.rejects(parseMount("/nonexistent-src:/data"), usage(/does not exist/));
  });

  it("-e takes NAME=VALUE, or NAME from here; anything else is refused", () => {
    assert.equal(parseEnv("MODE=full"), "MODE=full");
    process.env.STRATA_TEST_VAR = "from-here";
    assert.equal(parseEnv("STRATA_TEST_VAR"), "STRATA_TEST_VAR=from-here");
    assert.throws(() => parseEnv("BAD KEY=1"), usage(/not a variable/));
    assert.throws(() => parseEnv("STRATA_NOT_SET_ANYWHERE"), usage(/not set here/));
  });

  it("the process: entrypoint then the arguments given (else cmd), -e over the image's env, PATH and HOME filled in", async () => {
    const config = {
      architecture: "amd64",
      os: "linux",
      config: {
        Entrypoint: ["/usr/bin/python3"],
        Cmd: ["-V"],
        Env: ["LANG=C.UTF-8", "MODE=image"],
        User: "nonroot",
      },
      rootfs: { type: "layers", diff_ids: [] },
    } as ImageConfig;
    const withCmd = await jobProcess(config, rootfs, { args: [], env: [] });
    assert.deepEqual(withCmd.args, ["/usr/bin/python3", "-V"]);
    assert.deepEqual(withCmd.user, { uid: 65532, gid: 65532, home: "/home/nonroot" });
    assert.equal(withCmd.cwd, "/");
    const p = await jobProcess(config, rootfs, {
      args: ["-c", "1"],
      env: ["MODE=flag"],
      user: "0:staff",
      workdir: "/srv",
    });
    assert.deepEqual(p.args, ["/usr/bin/python3", "-c", "1"]);
    assert.ok(p.env.includes("MODE=flag") && !p.env.includes("MODE=image"));
    assert.ok(p.env.some((e) => e.startsWith("PATH=/usr/local/sbin")));
    assert.ok(p.env.includes("HOME=/root"));
    assert.deepEqual([p.user.uid, p.user.gid, p.cwd], [0, 50, "/srv"]);
    await assert.rejects(
      jobProcess(config, rootfs, { args: [], env: [], workdir: "srv" }),
      usage(/not an absolute path/),
    );
    const bare = { ...config, config: {} };
    await assert.rejects(jobProcess(bare, rootfs, { args: [], env: [] }), usage(/no entrypoint or cmd/));
  });

  it("names are looked up inside the image only: a passwd that links out of the root is not followed", async () => {
    const escaped = await mkdtemp(join(tmpdir(), "strata-rootfs-"));
    try {
      await mkdir(join(escaped, "etc"));
      await writeFile(join(outside, "passwd"), "evil:x:0:0::/:/bin/sh\n");
      await symlink(join(outside, "passwd"), join(escaped, "etc/passwd"));
      await assert.rejects(
        resolveUser(escaped, "evil"),
        usage(/user "evil" is not in the image's \/etc\/passwd/),
      );
      assert.deepEqual(await resolveUser(escaped, "1000:1000"), { uid: 1000, gid: 1000, home: "/" });
    } finally {
      await rm(escaped, { recursive: true, force: true });
    }
  });
});
