import { spawn } from "node:child_process";
import { Duplex, PassThrough } from "node:stream";
import { StrataError } from "./errors.js";

/**
 * xz decompression in a child `xz -dc` (xz-utils is Priority: required on Debian). The native
 * binding strata used aborted the whole process when a stream was destroyed with work in flight
 * (a tar that ends early, a bomb cut at its cap), and it has no memory limit for a dictionary a
 * hostile header asks for; the child has both: it is killed on destroy, and bounded by
 * --memlimit-decompress (Debian's own packages need at most 64 MiB).
 */
const MEMLIMIT = "256MiB";

export function xzDecompressor(): Duplex {
  // --format=xz: xz -d would also take the older .lzma format, which a .deb's .xz member is not.
  const child = spawn("xz", ["-dc", "-q", "-T1", "--format=xz", `--memlimit-decompress=${MEMLIMIT}`], {
    stdio: ["pipe", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => {
    if (stderr.length < 1000) stderr += d.toString();
  });
  child.stdin.on("error", () => {}); // xz that stopped reading (done, or failed) is reported below
  // The output ends only once xz has exited 0: a stream xz refuses at its end (a bad index, a
  // truncated or foreign format) must fail its reader, not end as if it were whole.
  const output = new PassThrough({ highWaterMark: 1 << 20 });
  child.stdout.pipe(output, { end: false });
  const duplex = Duplex.from({ writable: child.stdin, readable: output });
  child.on("error", (err) => {
    duplex.destroy(
      new StrataError(
        "IO",
        `cannot run xz to decompress: ${(err as NodeJS.ErrnoException).code ?? err.message}`,
        {
          hint: "install xz-utils (apt-get install xz-utils)",
        },
      ),
    );
  });
  // "close": xz has exited and its output and errors are all read.
  child.on("close", (code, signal) => {
    if (code === 0) output.end();
    else if (!duplex.destroyed)
      duplex.destroy(new Error(`xz: ${stderr.trim().split("\n")[0] || `exit ${code ?? signal}`}`));
  });
  duplex.on("close", () => {
    if (child.exitCode === null) child.kill("SIGKILL");
  });
  return duplex;
}
