import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { isStrataError, StrataError } from "../../src/util/errors.js";
import { callWorker, type WorkerCall } from "../../src/util/worker.js";
import type { WorkerJobInput } from "../helpers/worker-job.js";

const JOB = "../helpers/worker-job";
const call = (deadlineMs = 20_000, heapMb = 64): WorkerCall => ({
  deadlineMs,
  heapMb,
  onDeadline: () => new StrataError("NETWORK", `past ${deadlineMs} ms`),
});
const run = (input: WorkerJobInput, c = call()) => callWorker<unknown>(import.meta.url, JOB, input, c);

describe("work on a worker of its own, with a deadline that holds", { timeout: 120_000 }, () => {
  test("the job's answer comes back as data, a Buffer as its bytes", async () => {
    const answer = (await run({ echo: { n: 1, bytes: Buffer.from("sbom") } })) as {
      n: number;
      bytes: Uint8Array;
    };
    assert.equal(answer.n, 1);
    assert.equal(Buffer.from(answer.bytes).toString(), "sbom");
  });

  test("a StrataError crosses with its code and hint, one line, no stack", async () => {
    await assert.rejects(run({ fail: "bad member\n    at somewhere" }), (e) => {
      assert.ok(isStrataError(e, "DEB_INVALID"));
      assert.equal(e.message, "bad member");
      assert.equal(e.hint, "a hint");
      return true;
    });
  });

  test("a worker stuck in synchronous work is ended at the deadline while the caller's event loop runs on", async () => {
    let ticks = 0;
    const ticker = setInterval(() => ticks++, 10);
    const started = Date.now();
    try {
      await assert.rejects(run({ spin: true }, call(1_000)), /past 1000 ms/);
    } finally {
      clearInterval(ticker);
    }
    const took = Date.now() - started;
    assert.ok(took >= 1_000 && took < 10_000, `rejected after ${took} ms`);
    assert.ok(ticks >= 20, `the caller's timers fired ${ticks} times while the worker spun`);
    // Terminated, not abandoned: a worker left spinning would burn a core from here on.
    const cpu = process.cpuUsage();
    await new Promise((resolve) => setTimeout(resolve, 400));
    const spent = process.cpuUsage(cpu);
    assert.ok(
      (spent.user + spent.system) / 1000 < 100,
      `${(spent.user + spent.system) / 1000} ms of CPU in 400 ms after`,
    );
  });

  test("a worker that outgrows its heap fails its call with one line, and the caller lives on", async () => {
    await assert.rejects(run({ grow: true }, call(60_000, 32)), (e) => {
      assert.ok(isStrataError(e, "IO"));
      assert.match(e.message, /worker-job worker ran out of memory \(limit 32 MiB\)/);
      return true;
    });
  });
});
