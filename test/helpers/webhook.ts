import { readFile } from "node:fs/promises";
import { request } from "node:https";
import { join } from "node:path";
import type { ImageDecider } from "../../src/admission/decider.js";
import type { ReviewRequest } from "../../src/admission/review.js";
import { serveAdmission, type WebhookServerOptions } from "../../src/admission/server.js";
import { selfSignedCertificate } from "./registry.js";

/** The admission webhook on 127.0.0.1 for tests: a fresh certificate named `name` in `dir`, closed failure policy. */
export async function serveTestWebhook(
  decider: ImageDecider,
  dir: string,
  name: string,
  opts: Partial<Omit<WebhookServerOptions, "cert" | "key" | "host" | "port">> = {},
): Promise<{ url: string; ca: string; server: { close(): void } }> {
  const cert = await selfSignedCertificate(dir, name);
  const served = await serveAdmission(decider, {
    cert: await readFile(cert.certFile),
    key: await readFile(cert.keyFile),
    host: "127.0.0.1",
    port: 0,
    audit: false,
    failurePolicy: "closed",
    deadlineMs: 1500,
    ...opts,
  });
  return { url: served.url, ca: await readFile(cert.certFile, "utf8"), server: served.server };
}

export interface Answer {
  status: number;
  body: {
    apiVersion?: string;
    kind?: string;
    response?: {
      uid: string;
      allowed: boolean;
      status?: { code: number; message: string };
      warnings?: string[];
    };
    error?: string;
  };
}

/** POSTs `body` to the webhook (GET when empty) and parses its answer. */
export function postReview(url: string, ca: string, body: string, path = "/validate"): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${url}${path}`,
      { method: body ? "POST" : "GET", ca, headers: { "content-type": "application/json" } },
      (res) => {
        let text = "";
        res.on("data", (d) => {
          text += d;
        });
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            body: text.startsWith("{") ? JSON.parse(text) : { error: text },
          }),
        );
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

const FIXTURES = new URL("../fixtures/", import.meta.url).pathname;

/** An AdmissionReview fixture (test/fixtures/admission) naming `image`. */
export async function reviewOf(file: string, image: string): Promise<string> {
  return (await readFile(join(FIXTURES, "admission", file), "utf8")).replaceAll(
    '"IMAGE"',
    JSON.stringify(image),
  );
}

/** The request of a review of a Pod running `images`, one container each, named as `where` says. */
export function podReview(
  images: string[],
  where: { namespace?: string; name?: string } = {},
): ReviewRequest {
  return {
    uid: "u1",
    kind: { group: "", version: "v1", kind: "Pod" },
    ...where,
    object: { spec: { containers: images.map((image, i) => ({ name: `c${i}`, image })) } },
  };
}
