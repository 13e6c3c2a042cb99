import assert from "node:assert/strict";
import { mkdir, mkdtemp, open, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { baseLayerEntries } from "../../src/debian/base-root.js";
import { withParentsFrom } from "../../src/layers/base-layer.js";
import { DEFAULT_ACCOUNTS } from "../../src/spec/accounts.js";
import { loadSpec } from "../../src/spec/spec.js";
import { MAX_FILE_SOURCE_BYTES, specFileEntries } from "../../src/spec/spec-files.js";
import { isStrataError } from "../../src/util/errors.js";

const repo = "repositories:\n  - url: http://127.0.0.1:1/debian\n    suites: [bookworm]\npackages: [a1]\n";

/** A spec directory with `files:` lines; returns the spec's path. */
async function specWith(files: string, setup?: (dir: string) => Promise<void>): Promise<string> {
  // One level down, so a test may put files beside the spec's directory without touching /tmp.
  const dir = join(await mkdtemp(join(tmpdir(), "strata-spec-files-")), "spec");
  await mkdir(dir);
  await setup?.(dir);
  await writeFile(join(dir, "strata.yaml"), `${repo}files:\n${files}`);
  return join(dir, "strata.yaml");
}

async function loadError(path: string, filesRoot?: string): Promise<string> {
  try {
    await loadSpec(path, { filesRoot });
  } catch (err) {
    assert.ok(isStrataError(err, "SPEC_INVALID"), String(err));
    return err.message;
  }
  assert.fail("expected SPEC_INVALID");
}

describe("spec files", () => {
  it("refuses a source outside the spec's directory, even through a symlink, when the spec is loaded", async () => {
    const path = await specWith("  - { path: /etc/x, source: ../../../../../../etc/shadow }\n");
    assert.match(await loadError(path), /strata\.yaml:6:\d+: files\.0\.source: .* is outside /);
    const linked = await specWith("  - { path: /etc/x, source: ./passwd }\n", (dir) =>
      symlink("/etc/passwd", join(dir, "passwd")),
    );
    assert.match(await loadError(linked), /files\.0\.source: \.\/passwd is outside /);
  });

  it("refuses a device, a directory or a missing source, and one above the size limit", async () => {
    const dev = await specWith("  - { path: /etc/x, source: /dev/zero }\n");
    assert.match(await loadError(dev, "/"), /files\.0\.source: \/dev\/zero is not a regular file/);
    const dirSpec = await specWith("  - { path: /etc/x, source: ./d }\n", (dir) => mkdir(join(dir, "d")));
    assert.match(await loadError(dirSpec), /\.\/d is not a regular file/);
    const missing = await specWith("  - { path: /etc/x, source: ./nope }\n");
    assert.match(await loadError(missing), /files\.0\.source: \.\/nope: no such file/);
    const big = await specWith("  - { path: /etc/x, source: ./big }\n", async (dir) => {
      const fh = await open(join(dir, "big"), "w");
      await fh.truncate(MAX_FILE_SOURCE_BYTES + 1);
      await fh.close();
    });
    assert.match(await loadError(big), /\.\/big is \d+ bytes, more than 67108864/);
  });

  it("reads a source inside the spec's directory, or inside a wider --files-root", async () => {
    const path = await specWith("  - { path: /etc/app.conf, source: ./app.conf }\n", (dir) =>
      writeFile(join(dir, "app.conf"), "k = v\n"),
    );
    const entries = await specFileEntries(await loadSpec(path));
    assert.deepEqual(
      entries.map((e) => [e.path, e.body?.toString()]),
      [["/etc/app.conf", "k = v\n"]],
    );
    const outside = await specWith("  - { path: /etc/x, source: ../shared.conf }\n", (dir) =>
      writeFile(join(dir, "..", "shared.conf"), "s\n"),
    );
    assert.match(await loadError(outside), /is outside/);
    const wide = await loadSpec(outside, { filesRoot: join(outside, "..", "..") });
    assert.equal((await specFileEntries(wide))[0].body?.toString(), "s\n");
  });

  it("writes files under /bin, /sbin and /lib* below /usr, like package paths", async () => {
    const path = await specWith(
      '  - { path: /bin/hello.txt, content: hi }\n  - { path: /lib/x/y, content: y }\n  - { path: /etc/z, content: z, mode: "0600" }\n',
    );
    const entries = await specFileEntries(await loadSpec(path));
    assert.deepEqual(
      entries.map((e) => [e.path, e.mode]),
      [
        ["/usr/bin/hello.txt", 0o644],
        ["/usr/lib/x/y", 0o644],
        ["/etc/z", 0o600],
      ],
    );
    assert.match(await loadError(await specWith("  - { path: /bin, content: x }\n")), /merged-\/usr symlink/);
  });

  it("keeps the mode and owner of the base layer's directories above a file (/tmp, /root, an image location)", async () => {
    const path = await specWith(
      "  - { path: /tmp/a, content: a }\n  - { path: /root/b, content: b }\n  - { path: /home/nonroot/c, content: c }\n",
    );
    const entries = withParentsFrom(await specFileEntries(await loadSpec(path)), (dir) =>
      baseLayerEntries("amd64", DEFAULT_ACCOUNTS).find((e) => e.path === dir),
    );
    const dirs = Object.fromEntries(
      entries.filter((e) => e.type === "dir").map((e) => [e.path, [e.mode.toString(8), e.uid, e.gid]]),
    );
    assert.deepEqual(dirs, {
      tmp: ["1777", 0, 0],
      root: ["700", 0, 0],
      home: ["755", 0, 0],
      "home/nonroot": ["755", 65532, 65532],
    });
  });
});
