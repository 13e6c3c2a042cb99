import { fileURLToPath } from "node:url";
import { readFeed } from "../../src/advisories/feed.js";
import { FleetIndex } from "../../src/fleet/fleet-index.js";
import { imageDescriptor } from "../../src/oci/image.js";
import {
  type CountedImage,
  countedImage,
  statusLayer,
  strataImage,
  type TestPackage,
} from "./fleet-images.js";

/**
 * A small fleet for the page and `strata ps`: two tags of one service (the older one vulnerable to
 * the tracker fixture's advisories, the newer one fixed), another service, and a Debian-like image.
 */

export const TRACKER_FIXTURE = fileURLToPath(new URL("../fixtures/advisories/tracker.json", import.meta.url));

export const BASE_FILES: TestPackage = { name: "base-files", version: "12.4+deb12u5" };
const LIBC: TestPackage = { name: "libc6", version: "2.36-9+deb12u4", source: "glibc" };
export const OLD_CURL: TestPackage = { name: "libcurl4", version: "7.88.1-10+deb12u5", source: "curl" };
const NEW_CURL: TestPackage = { name: "libcurl4", version: "7.88.1-10+deb12u12", source: "curl" };
export const OLD_ZLIB: TestPackage = { name: "zlib1g", version: "1:1.2.13.dfsg-1", source: "zlib" };
const NEW_ZLIB: TestPackage = { name: "zlib1g", version: "1:1.2.13.dfsg-1+deb12u1", source: "zlib" };
const OLD_SSL: TestPackage = { name: "libssl3", version: "3.0.11-1~deb12u2", source: "openssl" };
const NEW_SSL: TestPackage = { name: "libssl3", version: "3.0.17-1~deb12u3", source: "openssl" };
const TZDATA: TestPackage = { name: "tzdata", version: "2024a-0+deb12u1" };

export interface FleetImageSpec {
  repository: string;
  tag: string;
  image: CountedImage;
}

export async function pageFleetImages(): Promise<FleetImageSpec[]> {
  return [
    {
      repository: "team/api",
      tag: "1.0",
      image: await strataImage([BASE_FILES, LIBC, OLD_CURL, OLD_SSL, OLD_ZLIB]),
    },
    {
      repository: "team/api",
      tag: "1.1",
      image: await strataImage([BASE_FILES, LIBC, NEW_CURL, NEW_SSL, NEW_ZLIB]),
    },
    { repository: "team/web", tag: "2", image: await strataImage([BASE_FILES, LIBC, TZDATA, NEW_ZLIB]) },
    {
      repository: "library/debian",
      tag: "12",
      image: countedImage([await statusLayer([BASE_FILES, LIBC, NEW_ZLIB])]),
    },
  ];
}

export function digestOf(spec: FleetImageSpec): string {
  return imageDescriptor(spec.image.image).digest;
}

/**
 * Indexes the fleet at `location` (a SQLite file or postgres:// URL) with the tracker fixture's
 * advisories stored as `strata advisories update --from` stores them; returns the images by tag.
 */
export async function indexPageFleet(location: string): Promise<Map<string, FleetImageSpec>> {
  const index = await FleetIndex.open(location);
  const specs = await pageFleetImages();
  for (const s of specs) {
    const ref = { registry: "registry.test", repository: s.repository, tag: s.tag, topDigest: digestOf(s) };
    await index.add(s.image.image, `registry.test/${s.repository}:${s.tag}`, [ref]);
  }
  await storeTrackerFixture(index);
  await index.close();
  return new Map(specs.map((s) => [`${s.repository}:${s.tag}`, s]));
}

/** The tracker fixture's advisories, stored in the index as `strata advisories update --from` does. */
export async function storeTrackerFixture(index: FleetIndex): Promise<void> {
  const feed = await readFeed(TRACKER_FIXTURE);
  await index.advisories.store(
    { location: TRACKER_FIXTURE, kind: feed.kind, date: feed.date },
    feed.advisories,
  );
}
