import assert from "node:assert/strict";
import { readFile, readlink } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { buildExample, exampleCopy } from "../helpers/examples.js";
import { runImage, unpackBundle } from "../helpers/runtime.js";

/**
 * What maintainer scripts make, made by strata without running them, in real bookworm images
 * (network: the host's mirror; root: umoci and runc).
 */
interface SkippedEffect {
  package: string;
  script: string;
  command: string;
  reason: string;
}

describe("maintainer-script effects in real images (network: host's mirror; root: umoci and runc)", () => {
  it("openjdk-17-jre-headless: /usr/bin/java exists through its alternative and runs", async () => {
    // A temp dir with a spec of our own (the busybox example's spec replaced whole).
    const spec = ["archs: [amd64]", "packages: [openjdk-17-jre-headless]", "entrypoint: [/usr/bin/java]", ""];
    const dir = await exampleCopy("busybox", () => spec.join("\n"));
    const { out, summary } = await buildExample(dir);
    const r = await runImage(out, "latest", { args: ["/usr/bin/java", "-version"] });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /^openjdk version "17\./m);
    const bundle = await unpackBundle(out, "latest");
    try {
      const root = join(bundle.dir, "rootfs");
      assert.equal(await readlink(join(root, "usr/bin/java")), "/etc/alternatives/java");
      assert.match(
        await readlink(join(root, "etc/alternatives/java")),
        /^\/usr\/lib\/jvm\/java-17-openjdk-[a-z0-9]+\/bin\/java$/,
      );
      for (const tool of ["keytool", "rmiregistry", "jpackage", "jexec"]) {
        assert.equal(await readlink(join(root, "usr/bin", tool)), `/etc/alternatives/${tool}`);
      }
    } finally {
      await bundle.remove();
    }
    const skipped: SkippedEffect[] = summary.skippedEffects;
    assert.ok(
      skipped.some(
        (s) =>
          s.package === "openjdk-17-jre-headless" && s.command === "dpkg-trigger update-ca-certificates-java",
      ),
      JSON.stringify(skipped, null, 1),
    );
  });

  it("nginx: the default site is enabled and the default page made, from the package's own file", async () => {
    const dir = await exampleCopy("nginx");
    const { out, summary } = await buildExample(dir);
    const bundle = await unpackBundle(out, "latest");
    try {
      const root = join(bundle.dir, "rootfs");
      assert.equal(
        await readlink(join(root, "etc/nginx/sites-enabled/default")),
        "/etc/nginx/sites-available/default",
      );
      assert.deepEqual(
        await readFile(join(root, "var/www/html/index.nginx-debian.html")),
        await readFile(join(root, "usr/share/nginx/html/index.html")),
      );
    } finally {
      await bundle.remove();
    }
    const lines = (summary.skippedEffects as SkippedEffect[]).map(
      (s) => `${s.package}: ${s.script}: skipped '${s.command}' (${s.reason})`,
    );
    assert.ok(
      lines.includes(
        "nginx: postinst: skipped 'invoke-rc.d nginx start' (services are not started in images)",
      ),
      lines.join("\n"),
    );
  });
});
