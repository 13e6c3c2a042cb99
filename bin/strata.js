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

// Exit as soon as the command is done: after a failure, downloads still in flight (a mirror that
// trickles) must not keep the process alive. Writes to stdout and stderr are synchronous on Linux
// for files, pipes and terminals, so nothing printed is lost.
main(process.argv).then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`strata: internal error: ${err?.stack ?? err}\n`);
    process.exit(70);
  },
);
