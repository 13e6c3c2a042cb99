import type { Migration } from "../database/migrate.js";
import { CHANGES_MIGRATION } from "./changes.js";
import { RUNS_MIGRATION } from "./runs.js";

/** The fleet index's tables (migration versions 1–99, runs, change counters). */
export const FLEET_MIGRATIONS: Migration[] = [
  {
    version: 1,
    name: "images, layers and packages, keyed by content",
    sql: `
CREATE TABLE layers (
  id {{id}},
  digest TEXT NOT NULL UNIQUE,
  diff_id TEXT NOT NULL,
  -- how its packages were learnt: 'annotations' (nothing read) or 'records' (its dpkg records read)
  packages_from TEXT NOT NULL
);
CREATE INDEX layers_diff_id ON layers (diff_id);
CREATE TABLE packages (
  id {{id}},
  name TEXT NOT NULL,
  version TEXT NOT NULL,
  architecture TEXT NOT NULL,
  source TEXT NOT NULL,
  source_version TEXT NOT NULL,
  UNIQUE (name, version, architecture, source, source_version)
);
CREATE INDEX packages_source ON packages (source);
CREATE TABLE layer_packages (
  layer_id INTEGER NOT NULL REFERENCES layers (id) ON DELETE CASCADE,
  package_id INTEGER NOT NULL REFERENCES packages (id),
  -- the dpkg record that lists it ('status' or 'status.d/NAME'): an upper layer's record of the same path hides it
  record TEXT NOT NULL,
  deb_sha256 TEXT,
  PRIMARY KEY (layer_id, package_id)
);
CREATE INDEX layer_packages_package ON layer_packages (package_id);
CREATE TABLE manifests (
  id {{id}},
  digest TEXT NOT NULL UNIQUE,
  config_digest TEXT NOT NULL,
  media_type TEXT NOT NULL,
  os TEXT NOT NULL,
  architecture TEXT NOT NULL,
  variant TEXT NOT NULL,
  packages_from TEXT NOT NULL, -- 'annotations' (a strata image) or 'records' (dpkg records read)
  added_at BIGINT NOT NULL
);
CREATE INDEX manifests_config ON manifests (config_digest);
CREATE TABLE manifest_layers (
  manifest_id INTEGER NOT NULL REFERENCES manifests (id) ON DELETE CASCADE,
  position INTEGER NOT NULL,
  layer_id INTEGER NOT NULL REFERENCES layers (id),
  PRIMARY KEY (manifest_id, position)
);
CREATE INDEX manifest_layers_layer ON manifest_layers (layer_id, manifest_id);
-- packages of a layer that this image does not show (an upper layer replaced their dpkg record)
CREATE TABLE hidden_packages (
  manifest_id INTEGER NOT NULL REFERENCES manifests (id) ON DELETE CASCADE,
  layer_id INTEGER NOT NULL REFERENCES layers (id),
  package_id INTEGER NOT NULL REFERENCES packages (id),
  PRIMARY KEY (manifest_id, layer_id, package_id)
);
-- where an image is found: a registry's repository and tag, or a local image location (registry '')
CREATE TABLE refs (
  registry TEXT NOT NULL,
  repository TEXT NOT NULL,
  tag TEXT NOT NULL,
  manifest_id INTEGER NOT NULL REFERENCES manifests (id) ON DELETE CASCADE,
  -- what the tag names: the manifest itself, or the index holding it
  top_digest TEXT NOT NULL,
  PRIMARY KEY (registry, repository, tag, manifest_id)
);
CREATE INDEX refs_manifest ON refs (manifest_id);
-- the packages a container of each image sees: its layers' packages but those an upper layer hides
CREATE VIEW image_packages AS
SELECT ml.manifest_id, ml.position, ml.layer_id, lp.package_id, lp.deb_sha256
  FROM manifest_layers ml JOIN layer_packages lp ON lp.layer_id = ml.layer_id
 WHERE NOT EXISTS (SELECT 1 FROM hidden_packages h
                    WHERE h.manifest_id = ml.manifest_id AND h.layer_id = lp.layer_id AND h.package_id = lp.package_id);
`,
  },
  {
    version: 2,
    name: "what each sync saw, so the next one reads only what changed",
    sql: `
CREATE TABLE sync_tags (
  registry TEXT NOT NULL,
  repository TEXT NOT NULL,
  tag TEXT NOT NULL,
  digest TEXT NOT NULL,
  -- 'indexed', or 'skipped' (no packages, not an image): not read again until the tag moves
  outcome TEXT NOT NULL,
  synced_at BIGINT NOT NULL,
  PRIMARY KEY (registry, repository, tag)
);
`,
  },
  {
    version: 3,
    name: "compressed sizes of layers and images",
    sql: `
-- bytes as the registry serves them (the descriptor's size); NULL for rows stored before version 3
-- until an add or sync sees the image again
ALTER TABLE layers ADD COLUMN size BIGINT;
-- the image's config plus its layers (what a pull fetches besides the manifest), shared layers counted
ALTER TABLE manifests ADD COLUMN size BIGINT;
`,
  },
  RUNS_MIGRATION,
  CHANGES_MIGRATION,
];
