import type { Finding } from "../../src/advisories/match.js";

/** A high, fixed finding in libssl3 that bookworm-security's update fixes; `over` changes any field. */
export function testFinding(over: Partial<Finding> = {}): Finding {
  return {
    id: "CVE-2026-12345",
    package: "libssl3",
    version: "3.0.15-1~deb12u1",
    source: "openssl",
    sourceVersion: "3.0.15-1~deb12u1",
    severity: "high",
    status: "fixed",
    fixedVersion: "3.0.17-1~deb12u3",
    availableIn: "bookworm-security",
    updatable: true,
    origins: ["changelog"],
    ...over,
  };
}
