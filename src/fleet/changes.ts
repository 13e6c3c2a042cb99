import type { Migration } from "../database/migrate.js";

/**
 * The table of change counters (src/database/generations.ts reads and bumps them); migration
 * versions 200–299 are these counters'.
 */
export const CHANGES_MIGRATION: Migration = {
  version: 200,
  name: "change counters of images and of vulnerability data; refs by the digest they name",
  sql: `
CREATE TABLE index_changes (
  what TEXT PRIMARY KEY, -- 'images' (manifests, layers' packages, refs) or 'advisories' (feeds)
  generation BIGINT NOT NULL
);
INSERT INTO index_changes (what, generation) VALUES ('images', 0), ('advisories', 0);
-- a review names an image by the digest a ref names (its own, or its index's)
CREATE INDEX refs_top_digest ON refs (top_digest);
`,
};
