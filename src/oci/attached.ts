import { StrataError } from "../util/errors.js";
import type { Referrer } from "./image.js";
import { type ImageLocation, locationText } from "./locations/name.js";
import { attachToLayout, checkReferrer, layoutPayload, layoutReferrers } from "./referrers.js";
import type { RegistryClientOptions } from "./registry/client.js";
import {
  attachToRegistry,
  referrerManifest,
  referrerPayload,
  registryReferrers,
} from "./registry/referrers.js";
import { RemoteRepository } from "./registry/repository.js";
import type { Descriptor } from "./types.js";

/**
 * Artifacts attached where an image lives, whatever they hold (SBOMs, VEX): in an OCI layout
 * (index.json entries) or a registry (referrers API, else the `sha256-<hex>` tag fallback).
 */

export type AttachVia = "layout" | "referrers-api" | "tag-fallback";

/** An image location that keeps referrers: an OCI layout or a registry. */
export type AttachableLocation = ImageLocation & { transport: "oci" | "docker" };

/**
 * Throws a USAGE error unless `location` keeps referrers, before any work is done: `what` says what
 * would be kept there ("SBOMs are attached"), `hint` what to do instead.
 */
export function assertAttachable(
  location: ImageLocation,
  what: string,
  hint: string,
): asserts location is AttachableLocation {
  if (location.transport === "oci" || location.transport === "docker") return;
  throw new StrataError("USAGE", `${locationText(location)}: ${what} only in an OCI layout or a registry`, {
    hint,
  });
}

/** Attaches referrers at one image location; `sameKind` picks the earlier ones a new referrer replaces. */
export type AttachReferrer = (referrer: Referrer, sameKind: (d: Descriptor) => boolean) => Promise<AttachVia>;

/**
 * Runs `work` with a function that attaches referrers where `location` keeps the image, one registry
 * connection for all of them. Only layouts and registries have a place for referrers.
 */
export async function withAttacher<T>(
  location: ImageLocation & { transport: "oci" | "docker" },
  registry: RegistryClientOptions,
  work: (attach: AttachReferrer) => Promise<T>,
): Promise<T> {
  if (location.transport === "oci") {
    return work(async (referrer, sameKind) => {
      await attachToLayout(location.path, referrer, sameKind);
      return "layout";
    });
  }
  const { repo, close } = await RemoteRepository.open(location.ref, registry);
  try {
    return await work(async (referrer, sameKind) =>
      (await attachToRegistry(repo, referrer, sameKind)).api ? "referrers-api" : "tag-fallback",
    );
  } finally {
    await close();
  }
}

/**
 * The payloads of the latest `count` artifacts of `artifactType` attached to `subject` where `location`
 * keeps it, oldest first, each at most `max` bytes and checked against its descriptors; none when
 * the image location has no place for referrers (an archive).
 */
export async function attachedPayloads(
  location: ImageLocation,
  subject: string,
  artifactType: string,
  limits: { max: number; count: number },
  registry: RegistryClientOptions = {},
): Promise<{ bytes: Buffer; digest: string }[]> {
  const where = locationText(location);
  const out: { bytes: Buffer; digest: string }[] = [];
  if (location.transport === "oci") {
    for (const found of (await layoutReferrers(location.path, subject, artifactType)).slice(-limits.count)) {
      const layer = checkReferrer(found.manifest, subject, artifactType, where);
      out.push({
        bytes: await layoutPayload(location.path, layer, limits.max),
        digest: found.descriptor.digest,
      });
    }
    return out;
  }
  if (location.transport !== "docker") return out;
  const { repo, close } = await RemoteRepository.open(location.ref, registry);
  try {
    const referrers = (await registryReferrers(repo, subject)).filter((d) => d.artifactType === artifactType);
    for (const found of referrers.slice(-limits.count)) {
      const layer = checkReferrer(await referrerManifest(repo, found), subject, artifactType, where);
      out.push({ bytes: await referrerPayload(repo, layer, limits.max), digest: found.digest });
    }
    return out;
  } finally {
    await close();
  }
}
