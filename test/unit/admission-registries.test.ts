import assert from "node:assert/strict";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { ImageDecider } from "../../src/admission/decider.js";
import { RegistryNotAllowed, registryScope } from "../../src/admission/registries.js";
import type { ReviewRequest } from "../../src/admission/review.js";
import { answerReview } from "../../src/admission/webhook.js";
import { FleetIndex } from "../../src/fleet/fleet-index.js";
import { parsePolicy } from "../../src/policy/policy.js";
import { isStrataError } from "../../src/util/errors.js";
import { tempDir } from "../helpers/debs.js";

const CREDS = { username: "admin", password: "s3cret" };

/** A registry that asks for Basic credentials on every request and records the headers it got. */
function startRecordingRegistry(): Promise<{ server: Server; host: string; seen: IncomingHttpHeaders[] }> {
  const seen: IncomingHttpHeaders[] = [];
  const server = createServer((req, res) => {
    seen.push(req.headers);
    res.writeHead(401, { "www-authenticate": 'Basic realm="evil"', "content-length": 0 }).end();
  });
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () =>
      resolve({ server, host: `127.0.0.1:${(server.address() as AddressInfo).port}`, seen }),
    ),
  );
}

function podReview(image: string): ReviewRequest {
  return {
    uid: "u1",
    kind: { group: "", version: "v1", kind: "Pod" },
    namespace: "shop",
    name: "web",
    object: { spec: { containers: [{ name: "c", image }] } },
  };
}

describe("admission registry scope", () => {
  let index: FleetIndex;
  let registry: Awaited<ReturnType<typeof startRecordingRegistry>>;
  const policy = parsePolicy("deny:\n  fixable: { severity: high }\n", "policy.yaml");

  before(async () => {
    index = await FleetIndex.open(join(await tempDir("admission-registries"), "index.db"));
    registry = await startRecordingRegistry();
  });
  after(async () => {
    registry.server.close();
    await index.close();
  });

  it("never sends credentials bound to one registry to a registry a pod names", async () => {
    registry.seen.length = 0;
    const decider = new ImageDecider({
      policy,
      index,
      registry: { credentials: CREDS },
      scope: { credentialsFor: "registry.example" },
    });
    await assert.rejects(decider.decide(`${registry.host}/evil:1`));
    assert.ok(registry.seen.length > 0, "the registry was asked");
    assert.deepEqual(
      registry.seen.filter((h) => h.authorization !== undefined),
      [],
    );
  });

  it("sends the credentials to the registry they are bound to (the recorder sees them)", async () => {
    registry.seen.length = 0;
    const decider = new ImageDecider({
      policy,
      index,
      registry: { credentials: CREDS },
      scope: { credentialsFor: registry.host },
    });
    await assert.rejects(decider.decide(`${registry.host}/own:1`));
    const basic = `Basic ${Buffer.from("admin:s3cret").toString("base64")}`;
    assert.ok(registry.seen.some((h) => h.authorization === basic));
  });

  it("denies an image from a registry outside --allow-registry without contacting it, even failing open", async () => {
    registry.seen.length = 0;
    const decider = new ImageDecider({
      policy,
      index,
      registry: { credentials: CREDS },
      scope: { allow: ["registry.example"], credentialsFor: "registry.example" },
    });
    await assert.rejects(decider.decide(`${registry.host}/evil:2`), RegistryNotAllowed);
    const { answer, outcome } = await answerReview(decider, podReview(`${registry.host}/evil:3`), {
      audit: false,
      failurePolicy: "open",
      deadlineMs: 2000,
    });
    assert.equal(answer.allowed, false);
    assert.equal(outcome, "denied");
    assert.match(answer.message ?? "", /registry 127\.0\.0\.1:\d+ is not allowed \(--allow-registry\)/);
    assert.equal(registry.seen.length, 0);
  });

  it("refuses --creds without --creds-registry, with a hint", () => {
    assert.throws(
      () => registryScope({ creds: "admin:s3cret" }),
      (err) => isStrataError(err, "USAGE") && /--creds-registry/.test(err.hint ?? ""),
    );
    assert.deepEqual(
      registryScope({ creds: "a:b", credsRegistry: "r.example", allowRegistry: ["r.example"] }),
      {
        allow: ["r.example"],
        credentialsFor: "r.example",
      },
    );
  });
});
