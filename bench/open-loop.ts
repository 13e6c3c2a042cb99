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
  max: number;
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

function post(agent: Agent, o: OpenLoopOptions, body: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request(
      `${o.url}/validate`,
      {
        method: "POST",
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
        res.on("end", () => resolve(res.statusCode === 200 && text.includes('"allowed"')));
        res.on("error", () => resolve(false));
      },
    );
    req.on("timeout", () => req.destroy(new Error("timed out")));
    req.on("error", () => resolve(false));
    req.end(body);
  });
}

/** Sends `count` reviews at `rate` a second and measures each from when it was due. */
export async function openLoop(o: OpenLoopOptions): Promise<OpenLoopResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: o.connections ?? 256 });
  const latencies: number[] = [];
  const pending: Promise<void>[] = [];
  let errors = 0;
  let lag = 0;
  const cpuBefore = cpuSeconds(o.pid);
  const start = performance.now();
  let next = 0;
  await new Promise<void>((done) => {
    const tick = () => {
      const now = performance.now();
      // Every request due by now goes out now: a late timer sends a burst, never fewer requests.
      while (next < o.count && start + (next * 1000) / o.rate <= now) {
        const due = start + (next * 1000) / o.rate;
        lag = Math.max(lag, now - due);
        const body = o.body(next++);
        pending.push(
          post(agent, o, body).then((ok) => {
            if (ok) latencies.push(performance.now() - due);
            else errors++;
          }),
        );
      }
      if (next < o.count) setTimeout(tick, Math.max(0, start + (next * 1000) / o.rate - performance.now()));
      else done();
    };
    tick();
  });
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
    max: latencies.reduce((a, b) => Math.max(a, b), 0),
    cpuMsPerReview: latencies.length > 0 ? (cpu * 1000) / latencies.length : Number.NaN,
    generatorLagMs: lag,
  };
}
