import assert from "node:assert/strict";
import { PassThrough } from "node:stream";
import { test } from "node:test";
import { Output } from "../../src/cli/output.js";

function piped(): { out: Output; text: () => string } {
  const stream = new PassThrough();
  let text = "";
  stream.on("data", (d) => {
    text += d;
  });
  return { out: new Output(false, stream as unknown as NodeJS.WriteStream), text: () => text };
}

test("downloads and layers are counted as separate steps in plain lines when piped", () => {
  const { out, text } = piped();
  const steps = out.steps({ download: 2, layer: 3 });
  steps.tick("download", "libc6 2.36");
  steps.tick("layer", "amd64 base");
  steps.tick("download", "zlib1g 1.2");
  steps.tick("layer", "amd64 libc6 2.36");
  steps.stop();
  assert.equal(
    text(),
    [
      "download [1/2] libc6 2.36",
      "layer [1/3] amd64 base",
      "download [2/2] zlib1g 1.2",
      "layer [2/3] amd64 libc6 2.36",
      "",
    ].join("\n"),
  );
});

test("a step with nothing to do prints nothing, and --quiet prints nothing at all", () => {
  const { out, text } = piped();
  const steps = out.steps({ download: 0, layer: 1 });
  steps.tick("layer", "amd64 base");
  assert.equal(text(), "layer [1/1] amd64 base\n");
  const stream = new PassThrough();
  const quiet = new Output(true, stream as unknown as NodeJS.WriteStream);
  quiet.steps({ layer: 1 }).tick("layer", "x");
  quiet.line("a note");
  assert.equal(stream.read(), null);
});
