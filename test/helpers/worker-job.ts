import { StrataError } from "../../src/util/errors.js";
import { answerWorkerCall } from "../../src/util/worker.js";

/** A worker for test/unit/worker.test.ts: echoes, fails, spins forever, or grows its heap, as asked. */
export type WorkerJobInput = { echo: unknown } | { fail: string } | { spin: true } | { grow: true };

answerWorkerCall(async (input: WorkerJobInput) => {
  if ("fail" in input) throw new StrataError("DEB_INVALID", input.fail, { hint: "a hint" });
  if ("spin" in input) for (;;);
  if ("grow" in input) {
    const kept: number[][] = [];
    for (;;) kept.push(new Array(1 << 16).fill(kept.length));
  }
  return input.echo;
});
