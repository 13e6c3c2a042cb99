#!/usr/bin/env node
// Thin launcher: the CLI is bundled into dist/ by `npm ci` (through `prepare`).
import { main } from "../dist/strata.js";

// `strata ... | head` closes the pipe early: that is the reader's choice, not an error.
for (const stream of [process.stdout, process.stderr]) {
  stream.on("error", (err) => {
    if (err.code === "EPIPE") process.exit(process.exitCode ?? 0);
    throw err;
  });
}

/** Resolves once everything written to `stream` is handed to the OS (a slow pipe takes 64 KiB at a time). */
function flushed(stream) {
  return new Promise((resolve) => {
    if (stream.writableLength === 0) resolve();
    else stream.write("", () => resolve());
  });
}

// Exit as soon as the command is done and its output is out: after a failure, downloads still in
// flight (a mirror that trickles) must not keep the process alive, but a slow reader of a big
// output (`strata diff --json | ...`) must get all of it.
async function exitWith(code) {
  await Promise.all([flushed(process.stdout), flushed(process.stderr)]);
  process.exit(code);
}

main(process.argv).then(exitWith, (err) => {
  process.stderr.write(`strata: internal error: ${err?.stack ?? err}\n`);
  return exitWith(70);
});
