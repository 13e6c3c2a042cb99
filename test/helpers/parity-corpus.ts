/**
 * The wide parity corpus (issue 16 §1): package sets strata was not tuned to, chosen from the kinds
 * of packages Debian's popularity contest ranks most installed on servers: databases, web, mail and
 * DNS servers, proxies, language runtimes, SSH, schedulers, logging, fonts, locales and tools. One
 * set a service or runtime, as a user would ask for it (no Recommends), bookworm amd64.
 */
export const PARITY_CORPUS: ReadonlyArray<{ name: string; packages: string[] }> = [
  // Databases and caches
  { name: "postgresql-15", packages: ["postgresql-15"] },
  { name: "mariadb-server", packages: ["mariadb-server"] },
  { name: "redis-server", packages: ["redis-server"] },
  { name: "memcached", packages: ["memcached"] },
  { name: "sqlite3", packages: ["sqlite3"] },
  // Web servers, application servers and proxies
  { name: "apache2", packages: ["apache2"] },
  { name: "nginx", packages: ["nginx"] },
  { name: "lighttpd", packages: ["lighttpd"] },
  { name: "haproxy", packages: ["haproxy"] },
  { name: "squid", packages: ["squid"] },
  { name: "varnish", packages: ["varnish"] },
  { name: "tomcat10", packages: ["tomcat10"] },
  { name: "php8.2-cli", packages: ["php8.2-cli"] },
  { name: "php8.2-fpm", packages: ["php8.2-fpm"] },
  // Mail
  { name: "postfix", packages: ["postfix"] },
  { name: "exim4-daemon-light", packages: ["exim4-daemon-light"] },
  { name: "dovecot-imapd", packages: ["dovecot-imapd"] },
  // DNS, time, VPN and network services
  { name: "bind9", packages: ["bind9"] },
  { name: "unbound", packages: ["unbound"] },
  { name: "dnsmasq", packages: ["dnsmasq"] },
  { name: "chrony", packages: ["chrony"] },
  { name: "openvpn", packages: ["openvpn"] },
  { name: "mosquitto", packages: ["mosquitto"] },
  { name: "rsync", packages: ["rsync"] },
  // Remote access and privileges
  { name: "openssh-server", packages: ["openssh-server"] },
  { name: "openssh-client", packages: ["openssh-client"] },
  { name: "sudo", packages: ["sudo"] },
  // Schedulers, logging, supervision
  { name: "cron", packages: ["cron"] },
  { name: "rsyslog", packages: ["rsyslog"] },
  { name: "logrotate", packages: ["logrotate"] },
  { name: "supervisor", packages: ["supervisor"] },
  // Language runtimes
  { name: "python3", packages: ["python3"] },
  { name: "perl", packages: ["perl"] },
  { name: "ruby", packages: ["ruby"] },
  { name: "nodejs", packages: ["nodejs"] },
  { name: "openjdk-17-jre-headless", packages: ["openjdk-17-jre-headless"] },
  { name: "erlang-base", packages: ["erlang-base"] },
  // Tools
  { name: "curl + ca-certificates", packages: ["curl", "ca-certificates"] },
  { name: "git", packages: ["git"] },
  { name: "gnupg", packages: ["gnupg"] },
  { name: "vim-tiny", packages: ["vim-tiny"] },
  { name: "bash + coreutils", packages: ["bash", "coreutils"] },
  // Fonts, locales, time zones
  { name: "fontconfig + fonts-dejavu-core", packages: ["fontconfig", "fonts-dejavu-core"] },
  { name: "locales + tzdata", packages: ["locales", "tzdata"] },
];
