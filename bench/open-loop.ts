/**
 * An open-loop load generator for the admission webhook. Request i is due at start + i / rate and
 * is sent then whatever the earlier ones are doing, over a pool of keep-alive HTTPS connections,
 * and its latency is counted from when it was due, not from when a connection was free: a server
 * that falls behind shows it in the percentiles instead of slowing the generator down (the
 * "coordinated omission" a closed loop of N connections suffers). The server's CPU per review is
 * read from /proc/PID/stat before and after.
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { Agent, request } from "node:https";
import { percentile } from "./fleet.js";

export interface OpenLoopOptions {
  url: string;
  ca: string;
  /** Requests a second, on a fixed schedule. */
  rate: number;
  /** Requests sent in all (the run lasts count / rate seconds). */
  count: number;
  /** The body of request i. */
  body: (i: number) => string;
  /** The server's process, whose CPU time is read. */
  pid: number;
  /** Keep-alive connections at most: enough that none waits at the rates asked (default 256). */
  connections?: number;
  /** A request not answered by then is an error (default 10 s). */
  timeoutMs?: number;
}

export interface OpenLoopResult {
  rate: number;
  sent: number;
  /** Answered 200 with an AdmissionReview. */
  answered: number;
  /** Refused, failed or timed out. */
  errors: number;
  /** Milliseconds from when each request was due to its answer. */
  p50: number;
  p99: number;
  p999: number;
  /** The server's user + system CPU per answered review, in milliseconds. */
  cpuMsPerReview: number;
  /** How far behind its schedule the generator itself fell at worst (ms): large means the numbers are the generator's. */
  generatorLagMs: number;
}

const CLOCK_TICKS = Number(execFileSync("getconf", ["CLK_TCK"]).toString().trim()) || 100;

/** User + system CPU seconds `pid` has used so far. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // Fields after the command name (which may hold spaces), closed by its last ')'.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

/** Where the webhook is, and how long an answer may take (default 10 s). */
export type WebhookTarget = Pick<OpenLoopOptions, "url" | "ca" | "timeoutMs">;

/** One request on the pool (POST when there is a body); true when answered 200 with `expect` in it. */
export function send(agent: Agent, o: WebhookTarget, path: string, body: string | undefined, expect: string) {
  return new Promise<boolean>((resolve) => {
    const req = request(
      `${o.url}${path}`,
      {
        method: body === undefined ? "GET" : "POST",
        agent,
        ca: o.ca,
        headers: { "content-type": "application/json" },
        timeout: o.timeoutMs ?? 10_000,
      },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (d: string) => {
          text += d;
        });
        res.on("end", () => resolve(res.statusCode === 200 && text.includes(expect)));
        res.on("error", () => resolve(false));
      },
    );
    req.on("timeout", () => req.destroy(new Error("timed out")));
    req.on("error", () => resolve(false));
    req.end(body);
  });
}

/**
 * Calls `fire(i, due)` for each i below `count` when it is due (start + i / rate), whatever the
 * earlier ones are doing; a late timer fires every request due by then, never fewer. Resolves when
 * all are fired, with how late the latest one was (ms).
 */
function onSchedule(rate: number, count: number, fire: (i: number, due: number) => void): Promise<number> {
  const start = performance.now();
  const dueOf = (i: number) => start + (i * 1000) / rate;
  let next = 0;
  let lag = 0;
  return new Promise((done) => {
    const tick = () => {
      const now = performance.now();
      for (; next < count && dueOf(next) <= now; next++) {
        lag = Math.max(lag, now - dueOf(next));
        fire(next, dueOf(next));
      }
      if (next < count) setTimeout(tick, Math.max(0, dueOf(next) - performance.now()));
      else done(lag);
    };
    tick();
  });
}

/**
 * Sends `count` reviews at `rate` a second and measures each from when it was due, after a second
 * of GET /healthz at the same rate that opens the connections the rate needs (TLS handshakes are
 * not what is measured).
 */
export async function openLoop(o: OpenLoopOptions): Promise<OpenLoopResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: o.connections ?? 256 });
  const warming: Promise<boolean>[] = [];
  await onSchedule(o.rate, o.rate, () => warming.push(send(agent, o, "/healthz", undefined, "ok")));
  await Promise.all(warming);
  const latencies: number[] = [];
  const pending: Promise<void>[] = [];
  let errors = 0;
  const cpuBefore = cpuSeconds(o.pid);
  const lag = await onSchedule(o.rate, o.count, (i, due) =>
    pending.push(
      send(agent, o, "/validate", o.body(i), '"allowed"').then((ok) => {
        if (ok) latencies.push(performance.now() - due);
        else errors++;
      }),
    ),
  );
  await Promise.all(pending);
  const cpu = cpuSeconds(o.pid) - cpuBefore;
  agent.destroy();
  return {
    rate: o.rate,
    sent: o.count,
    answered: latencies.length,
    errors,
    p50: percentile(latencies, 50) ?? Number.NaN,
    p99: percentile(latencies, 99) ?? Number.NaN,
    p999: percentile(latencies, 99.9) ?? Number.NaN,
    cpuMsPerReview: latencies.length > 0 ? (cpu * 1000) / latencies.length : Number.NaN,
    generatorLagMs: lag,
  };
}
