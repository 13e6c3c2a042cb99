import type { Migration } from "../database/migrate.js";

/**
 * The vulnerability data's tables in the fleet index (migration versions 100–199): the feeds as
 * stored (with their date), their advisories by source package and release, and what the
 * repositories offered when changelog evidence was derived (for "can `strata update` fix it now").
 */
export const ADVISORY_MIGRATIONS: Migration[] = [
  {
    version: 100,
    name: "advisory feeds, advisories by source package, repository versions",
    sql: `
CREATE TABLE advisory_feeds (
  id {{id}},
  -- the feed's file or URL, or 'changelogs:SPEC' for evidence derived from a spec's repositories
  location TEXT NOT NULL UNIQUE,
  kind TEXT NOT NULL, -- 'tracker', 'osv' or 'changelog'
  feed_date TEXT NOT NULL,
  stored_at BIGINT NOT NULL,
  advisories INTEGER NOT NULL
);
CREATE TABLE advisories (
  feed_id INTEGER NOT NULL REFERENCES advisory_feeds (id) ON DELETE CASCADE,
  advisory TEXT NOT NULL,
  source TEXT NOT NULL,
  debian_release TEXT NOT NULL,
  status TEXT NOT NULL,
  fixed_version TEXT,
  introduced_version TEXT,
  severity TEXT NOT NULL,
  nodsa TEXT,
  available_in TEXT,
  fixed_since TEXT
);
CREATE INDEX advisories_source ON advisories (source, debian_release);
CREATE INDEX advisories_feed ON advisories (feed_id);
CREATE TABLE repository_versions (
  feed_id INTEGER NOT NULL REFERENCES advisory_feeds (id) ON DELETE CASCADE,
  name TEXT NOT NULL,
  architecture TEXT NOT NULL,
  version TEXT NOT NULL,
  source_version TEXT NOT NULL,
  suite TEXT NOT NULL,
  PRIMARY KEY (feed_id, name, architecture)
);
CREATE INDEX repository_versions_name ON repository_versions (name);
`,
  },
  {
    version: 101,
    name: "which releases each feed and each changelog evidence covers",
    sql: `
CREATE TABLE advisory_coverage (
  feed_id INTEGER NOT NULL REFERENCES advisory_feeds (id) ON DELETE CASCADE,
  debian_release TEXT NOT NULL,
  -- changelog evidence: the suites of the spec's repositories of that release; '' for a feed
  suites TEXT NOT NULL,
  PRIMARY KEY (feed_id, debian_release)
);
INSERT INTO advisory_coverage (feed_id, debian_release, suites)
  SELECT DISTINCT feed_id, debian_release, '' FROM advisories;
`,
  },
];
