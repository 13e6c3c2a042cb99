import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import { listTags } from "../../src/fleet/registry-listing.js";
import { RegistryClient } from "../../src/oci/registry/client.js";
import { isStrataError } from "../../src/util/errors.js";

/**
 * A hostile registry's tag listings (no real registry answers this way, so a loopback server of
 * our own plays it): one page too big to spread, and a next-page link that points back at itself.
 */
let server: Server;
let registry: string;
before(async () => {
  const huge = JSON.stringify({
    name: "huge",
    tags: Array.from({ length: 780_000 }, (_, i) => `t${i % 10}`),
  });
  server = createServer((req, res) => {
    const json = (body: string, headers: Record<string, string> = {}) => {
      res.writeHead(200, { "content-type": "application/json", ...headers });
      res.end(body);
    };
    if (req.url === "/v2/") return json("{}");
    if (req.url?.startsWith("/v2/huge/tags/list")) return json(huge);
    if (req.url?.startsWith("/v2/loop/tags/list"))
      return json(JSON.stringify({ name: "loop", tags: ["a"] }), {
        link: '</v2/loop/tags/list?n=1000&last=a>; rel="next"',
      });
    res.writeHead(404);
    res.end();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  registry = `127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => server?.close());

describe("registry listings", () => {
  test("a tags page of 780,000 entries is refused with one line, not a stack overflow", async () => {
    const client = await RegistryClient.connect(registry);
    await assert.rejects(
      listTags(client, "huge", { bytes: 0 }),
      (err) =>
        isStrataError(err, "REGISTRY") && /780000 entries in one page \(at most 10000\)/.test(err.message),
    );
  });

  test("a next-page link that repeats is refused, not followed a thousand times", async () => {
    const client = await RegistryClient.connect(registry);
    await assert.rejects(
      listTags(client, "loop", { bytes: 0 }),
      (err) => isStrataError(err, "REGISTRY") && /next page .* repeats/.test(err.message),
    );
  });
});
