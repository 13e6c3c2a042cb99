import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { debconfDefaults } from "../../src/debian/debconf.js";
import { followScripts, type ScriptPackage } from "../../src/debian/maintscripts.js";
import { ImageTree, TreeError } from "../../src/debian/shell/tree.js";
import { DEFAULT_ACCOUNTS } from "../../src/spec/accounts.js";

/**
 * The maintainer-script interpreter on excerpts of real bookworm scripts (quoted from
 * openjdk-17-jre-headless, nginx-common and ca-certificates-java 20230710~deb12u1) and on hostile
 * ones. Each runs over an in-memory tree shaped like the package's layer.
 */
const JDK = "usr/lib/jvm/java-17-openjdk-amd64";

function tree(
  files: Record<string, string | { link: string } | { dir: true } | { mode: number; body?: string }>,
) {
  const t = new ImageTree();
  // The base layer's skeleton: merged-/usr links and the top directories.
  for (const dir of ["bin", "sbin", "lib"]) {
    t.ship(dir, { type: "symlink", mode: 0o777, uid: 0, gid: 0, link: `usr/${dir}` });
    t.ship(`usr/${dir}`, { type: "dir", mode: 0o755, uid: 0, gid: 0 });
  }
  for (const dir of ["etc", "var", "tmp"]) t.ship(dir, { type: "dir", mode: 0o755, uid: 0, gid: 0 });
  for (const [path, spec] of Object.entries(files)) {
    if (typeof spec === "string")
      t.ship(path, { type: "file", mode: 0o644, uid: 0, gid: 0, body: Buffer.from(spec) });
    else if ("link" in spec) t.ship(path, { type: "symlink", mode: 0o777, uid: 0, gid: 0, link: spec.link });
    else if ("dir" in spec) t.ship(path, { type: "dir", mode: 0o755, uid: 0, gid: 0 });
    else
      t.ship(path, {
        type: "file",
        mode: spec.mode,
        uid: 0,
        gid: 0,
        body: spec.body === undefined ? undefined : Buffer.from(spec.body),
      });
  }
  return t;
}

function follow(t: ImageTree, postinst: string, extra: Partial<ScriptPackage> = {}) {
  const pkg: ScriptPackage = { name: "pkg", version: "1.0", architecture: "amd64", postinst, ...extra };
  return followScripts([pkg], { tree: t, architecture: "amd64", accounts: DEFAULT_ACCOUNTS });
}

function link(t: ImageTree, path: string): string | undefined {
  const node = t.at(path);
  return node?.type === "symlink" ? node.link : undefined;
}

const OPENJDK_POSTINST = `#!/bin/sh
set -e
multiarch=x86_64-linux-gnu
priority=1711
basedir=/usr/lib/jvm/java-17-openjdk-amd64
mandir=$basedir/man
srcext=1.gz
dstext=1.gz
jre_tools='java jpackage keytool rmiregistry'
case "$1" in
configure)
    if ! mountpoint -q /proc; then
	echo >&2 "the java command requires a mounted proc fs (/proc)."
	exit 1
    fi
    [ -d /etc/.java ] || mkdir -m 755 /etc/.java
    [ -d /etc/.java/.systemPrefs ] || mkdir -m 755 /etc/.java/.systemPrefs
    if [ -z "$2" ]; then
	update_alternatives=y
    fi
    if [ -n "$multiarch" ] && [ -n "$2" ]; then
	for i in $jre_tools; do
	    if [ -z "$(update-alternatives --list $i 2>/dev/null | grep ^$basedir/)" ]; then
		update_alternatives=y
		break
	    fi
	done
    fi
    if [ "$update_alternatives" = y ]; then
    if [ -n "$multiarch" ] && [ "$DPKG_MAINTSCRIPT_ARCH" != $(dpkg --print-architecture) ]; then
	priority=$(expr $priority - 1)
    fi
    for i in $jre_tools; do
	unset slave1 slave2 || true
        if [ -e $mandir/man1/$i.$srcext ]; then
	    slave1="--slave \\
		/usr/share/man/man1/$i.$dstext \\
                $i.$dstext \\
                $mandir/man1/$i.$srcext"
	fi
        update-alternatives \\
            --install \\
            /usr/bin/$i \\
            $i \\
            $basedir/bin/$i \\
            $priority \\
	    $slave1 $slave2
    done
    update-alternatives \\
	--install /usr/bin/jexec jexec $basedir/lib/jexec $priority \\
	--slave \\
	    /usr/share/binfmts/jar \\
	    jexec-binfmt \\
	    $basedir/lib/jar.binfmt
    fi # update alternatives
    dpkg-trigger update-ca-certificates-java
    ;;
esac
exit 0
`;

function jdkTree(withManPages: boolean) {
  const files: Record<string, { mode: number } | string> = {};
  for (const tool of ["java", "jpackage", "keytool", "rmiregistry"]) {
    files[`${JDK}/bin/${tool}`] = { mode: 0o755 };
    if (withManPages) files[`${JDK}/man/man1/${tool}.1.gz`] = "man";
  }
  files[`${JDK}/lib/jexec`] = { mode: 0o755 };
  files[`${JDK}/lib/jar.binfmt`] = "binfmt";
  return tree(files);
}

describe("following openjdk-17-jre-headless's postinst", () => {
  test("update-alternatives reached through a loop over $jre_tools makes /usr/bin/java and its siblings", () => {
    const t = jdkTree(false);
    const run = follow(t, OPENJDK_POSTINST, { name: "openjdk-17-jre-headless" });
    for (const tool of ["java", "jpackage", "keytool", "rmiregistry", "jexec"]) {
      assert.equal(link(t, `usr/bin/${tool}`), `/etc/alternatives/${tool}`);
    }
    assert.equal(link(t, "etc/alternatives/java"), `/${JDK}/bin/java`);
    assert.equal(t.lookup("/usr/bin/java")?.mode, 0o755, "the chain ends at the packaged program");
    assert.equal(t.lookup("/etc/.java/.systemPrefs")?.type, "dir");
    assert.deepEqual(
      run.skipped.map((s) => `${s.command} (${s.reason})`),
      [
        "dpkg-trigger update-ca-certificates-java (triggers are not run (their effects that images need are made natively))",
      ],
    );
  });

  test("a man-page slave is linked only when the page is in the image (docs kept)", () => {
    const withDocs = jdkTree(true);
    follow(withDocs, OPENJDK_POSTINST);
    assert.equal(link(withDocs, "usr/share/man/man1/java.1.gz"), "/etc/alternatives/java.1.gz");
    assert.equal(link(withDocs, "etc/alternatives/java.1.gz"), `/${JDK}/man/man1/java.1.gz`);
    const withoutDocs = jdkTree(false);
    follow(withoutDocs, OPENJDK_POSTINST);
    assert.equal(withoutDocs.at("usr/share/man/man1/java.1.gz"), undefined);
  });
});

const NGINX_COMMON_POSTINST = `#!/bin/sh
set -e
. /usr/share/debconf/confmodule
case "$1" in
  configure)
    logdir="/var/log/nginx"
    if ! dpkg-statoverride --list "$logdir" >/dev/null; then
      chown root:adm $logdir
      chmod 0755 $logdir
    fi
    if [ -z $2 ] && [ ! -e /etc/nginx/sites-enabled/default ] &&
       [ -d /etc/nginx/sites-enabled ] && [ -d /etc/nginx/sites-available ]; then
      ln -s /etc/nginx/sites-available/default /etc/nginx/sites-enabled/default
    fi
    if [ ! -e /var/www/html/index.nginx-debian.html ]; then
      mkdir -p /var/www/html
      cp /usr/share/nginx/html/index.html /var/www/html/index.nginx-debian.html
    fi
    ;;
  *)
    echo "postinst called with unknown argument \\\`$1'" >&2
    exit 1
    ;;
esac
if [ "$1" = "configure" ] || [ "$1" = "abort-upgrade" ] ; then
	if [ -d /run/systemd/system ]; then
		deb-systemd-invoke start 'nginx.service' >/dev/null || true
	fi
fi
exit 0
`;

const NGINX_POSTINST = `#!/bin/sh
set -e
if invoke-rc.d --quiet nginx status >/dev/null; then
  invoke-rc.d nginx upgrade || invoke-rc.d nginx restart
  exit $?
else
  if [ -z "$(ss -nlt 'sport = 80' | grep -v ^State)" ]; then
    invoke-rc.d nginx start || exit $?
  fi
fi
exit 0
`;

describe("following nginx's postinsts", () => {
  const nginxTree = () =>
    tree({
      "etc/nginx/sites-available/default": "server {}\n",
      "etc/nginx/sites-enabled": { dir: true },
      "var/log/nginx": { dir: true },
      "usr/share/nginx/html/index.html": "<h1>Welcome to nginx!</h1>\n",
    });

  test("nginx-common links the default site and copies the default page with the package's bytes", () => {
    const t = nginxTree();
    const run = follow(t, NGINX_COMMON_POSTINST, { name: "nginx-common" });
    assert.equal(link(t, "etc/nginx/sites-enabled/default"), "/etc/nginx/sites-available/default");
    assert.equal(
      t.at("var/www/html/index.nginx-debian.html")?.body?.toString(),
      "<h1>Welcome to nginx!</h1>\n",
    );
    // adm is base-passwd's (gid 4): the script's chown is made, as on a dpkg-made system.
    assert.ok(!run.skipped.some((s) => s.command.startsWith("chown")), JSON.stringify(run.skipped));
    assert.equal(t.at("var/log/nginx")?.gid, 4);
    assert.ok(!run.skipped.some((s) => s.command.includes("the rest")), JSON.stringify(run.skipped));
  });

  test("nginx's postinst is reported per command: the service is not started", () => {
    const run = follow(nginxTree(), NGINX_POSTINST, { name: "nginx" });
    const lines = run.skipped.map((s) => `${s.package}: ${s.script}: skipped '${s.command}' (${s.reason})`);
    assert.ok(
      lines.includes(
        "nginx: postinst: skipped 'invoke-rc.d nginx start' (services are not started in images)",
      ),
      lines.join("\n"),
    );
  });
});

const CA_JAVA_POSTINST = `#!/bin/sh
set -e
storepass='changeit'
if [ -f /etc/default/cacerts ]; then
    . /etc/default/cacerts
fi
update_cacerts()
{
	if [ "$cacerts_updates" != "yes" ] || [ "$CACERT_UPDATES" = "disabled" ]; then
		echo "Updates of cacerts keystore are disabled."
		exit 0
	fi
	if ! which java >/dev/null; then
		echo "No JRE found. Skipping Java certificates setup."
		exit 0
	fi
	if [ -s /var/lib/ca-certificates-java/fresh ]; then
		java -Xmx64m -jar $JAR -storepass "$storepass" < /var/lib/ca-certificates-java/fresh
	fi
	echo "done."
}
if [ "$1" = "configure" ]; then
	if dpkg --compare-versions "$2" lt-nl "20210218" ; then
		touch /var/lib/ca-certificates-java/upgraded
	fi
	if [ -z "$2" ]; then
		touch /var/lib/ca-certificates-java/fresh
	fi
	update_cacerts
fi
`;

describe("following ca-certificates-java's postinst", () => {
  const caJavaTree = (java: boolean) =>
    tree({
      "etc/default/cacerts": "cacerts_updates=yes\n",
      "var/lib/ca-certificates-java": { dir: true },
      ...(java ? { "usr/bin/java": { mode: 0o755 } } : {}),
    });

  test("a fresh install: the file it sources sets the variables, `which java` is answered from the image", () => {
    const t = caJavaTree(true);
    const run = follow(t, CA_JAVA_POSTINST, { name: "ca-certificates-java" });
    assert.equal(
      t.at("var/lib/ca-certificates-java/upgraded"),
      undefined,
      "lt-nl with no old version is false",
    );
    assert.equal(t.at("var/lib/ca-certificates-java/fresh")?.type, "file");
    // fresh is empty, so the keystore tool is not called at all.
    assert.deepEqual(run.skipped, []);
  });

  test("without java in the image it stops at 'No JRE found' and does nothing more", () => {
    const t = caJavaTree(false);
    const run = follow(t, CA_JAVA_POSTINST);
    assert.deepEqual(run.skipped, []);
    assert.equal(t.at("var/lib/ca-certificates-java/fresh")?.type, "file");
  });
});

describe("shell semantics scripts rely on", () => {
  test("parameter expansion, case patterns, quoting, $@ and here-documents", () => {
    const t = tree({ etc: { dir: true } });
    follow(
      t,
      `set -e
VERSION=\${DPKG_MAINTSCRIPT_PACKAGE##*-}
f() { for a in "$@"; do printf '%s|' "$a"; done; }
case "$VERSION" in 1[0-9]) kind=teen;; *) kind=other;; esac
words="a  b"
cat > /etc/out <<EOF
$VERSION $kind \${UNSET:-dflt} $(f "x y" z) $words '\\$HOME'
EOF
cat >> /etc/out <<'EOF'
$literal
EOF
`,
      { name: "postgresql-client-15" },
    );
    assert.equal(t.at("etc/out")?.body?.toString(), "15 teen dflt x y|z| a  b '$HOME'\n$literal\n");
  });

  test("$(( )) around a command substitution with parentheses in quotes, as libc6's preinst has", () => {
    const t = tree({});
    const run = follow(t, `v=$(($(echo "6" | cat) * 100 + 1))\ntouch /etc/v$v`);
    assert.deepEqual(run.skipped, []);
    assert.equal(t.at("etc/v601")?.type, "file");
  });

  test('an empty "" argument is an argument, and mkdir with an invalid mode fails', () => {
    const t = tree({});
    follow(t, `set -- a "" b\ntouch /etc/n$#\nif mkdir -m /usr/local/x 2>/dev/null; then touch /etc/bad; fi`);
    assert.equal(t.at("etc/n3")?.type, "file");
    assert.equal(t.at("etc/bad"), undefined);
  });

  test("while read loops over a file a line at a time (sgml-base and xml-core's postinsts)", () => {
    const t = tree({});
    const run = follow(
      t,
      `printf 'a b c\\nd e\\n' > /etc/list
while read first rest; do echo "$first:$rest" >> /etc/out; done < /etc/list`,
    );
    assert.deepEqual(run.skipped, []);
    assert.equal(t.at("etc/out")?.body?.toString(), "a:b c\nd:e\n");
  });

  test("dash's postinst: assignments left to right, an empty [ -x ] is false, dpkg-divert queries answered", () => {
    const t = tree({ "usr/bin/dash": { mode: 0o755 }, "usr/bin/sh": { link: "dash" } });
    const run = follow(
      t,
      `set -e
replace_with_link() {
	dfile="$1"; ltarget=$2; distrib="$DPKG_ROOT$3"
	temp="$dfile.tmp"
	ln -sf "$ltarget" "$DPKG_ROOT$temp"
	mv -f "$DPKG_ROOT$temp" "$DPKG_ROOT$dfile"
}
claim_binsh() {
	dfile=$1 ltarget=$2 distrib=\${3:-$dfile.distrib}
	diverter=$(dpkg-divert --listpackage $dfile)
	truename=$(dpkg-divert --truename $dfile)
	if [ "$diverter" = dash ]; then
		return
	fi
	dpkg-divert --package dash --no-rename --divert $distrib --add $dfile
	replace_with_link $dfile $ltarget $distrib
}
claim_binsh /bin/sh dash
echo "$distrib $truename" > /etc/claimed
if [ "$1" = "configure" ] && [ -x "\`command -v update-menus\`" ]; then
	update-menus
fi
`,
      { name: "dash" },
    );
    assert.equal(t.at("etc/claimed")?.body?.toString(), "/bin/sh.distrib /bin/sh\n");
    assert.equal(t.at("usr/bin/sh.tmp"), undefined, "the temporary link moved away");
    assert.deepEqual(
      run.skipped.map((s) => s.command),
      ["mv -f /bin/sh.tmp /bin/sh"],
    );
  });

  test("set -e ends the script at a failing command, but not in a condition or before ||", () => {
    const t = tree({ etc: { dir: true } });
    const run = follow(
      t,
      "set -e\nfalse || touch /etc/a\nif false; then :; fi\n! false\nfalse\ntouch /etc/b\n",
    );
    assert.equal(t.at("etc/a")?.type, "file");
    assert.equal(t.at("etc/b"), undefined);
    assert.deepEqual(
      run.skipped.map((s) => s.reason),
      ["the script would have failed at 'false' with status 1 here"],
    );
  });

  test("update-alternatives with --quiet, line continuations and a slave, and dpkg --compare-versions", () => {
    const t = tree({ "usr/bin/mawk": { mode: 0o755 }, "usr/share/man/man1/mawk.1.gz": "m" });
    follow(
      t,
      `if dpkg --compare-versions 1.2~rc1 lt 1.2; then
update-alternatives --quiet --install /usr/bin/awk awk /usr/bin/mawk 5 \\
  --slave /usr/share/man/man1/awk.1.gz awk.1.gz /usr/share/man/man1/mawk.1.gz
fi
update-alternatives --install /usr/bin/awk awk /usr/bin/missing 50 || true
`,
    );
    assert.equal(
      link(t, "etc/alternatives/awk"),
      "/usr/bin/mawk",
      "a choice whose path is missing is refused",
    );
    assert.equal(link(t, "usr/share/man/man1/awk.1.gz"), "/etc/alternatives/awk.1.gz");
  });
});

describe("where a script stops, and what an unfollowed command leaves", () => {
  test("a script stopped by set -e says at which command, and whether a skipped command came first", () => {
    const alone = follow(tree({}), "set -e\nmkdir /no/such/dir\ntouch /after\n");
    assert.equal(
      alone.skipped.at(-1)?.reason,
      "the script would have failed at 'mkdir /no/such/dir' with status 1 here",
    );
    const afterSkip = follow(tree({ etc: { dir: true } }), "set -e\nv=$(uname -s)\nchmod 644 /etc/missing\n");
    assert.equal(
      afterSkip.skipped.at(-1)?.reason,
      "the rest not followed: it stopped at 'chmod 644 /etc/missing' (status 1) after a command strata did not follow",
    );
  });
});

describe("values strata cannot know are never used for an effect", () => {
  /** An earlier package's script makes these; a later script must not take them away. */
  const MADE =
    "mkdir -p /etc/made/sub\ntouch /etc/made/a /etc/made/sub/b\nln -s /usr/share/zoneinfo/UTC /etc/localtime\n";
  const madePaths = ["etc/made", "etc/made/a", "etc/made/sub/b", "etc/localtime"];

  function followAfterMade(postinst: string) {
    const t = tree({ "usr/share/x.conf": "ssl = off\n", "usr/share/unrecorded": { mode: 0o644 } });
    const run = followScripts(
      [
        { name: "maker", version: "1", architecture: "amd64", postinst: MADE },
        { name: "pkg", version: "1", architecture: "amd64", postinst },
      ],
      { tree: t, architecture: "amd64", accounts: DEFAULT_ACCOUNTS },
    );
    for (const path of madePaths) assert.ok(t.at(path), `/${path} survives:\n${JSON.stringify(run.skipped)}`);
    return { t, run, reasons: run.skipped.filter((s) => s.package === "pkg").map((s) => s.reason) };
  }

  test("a redirection to an unfollowed command's output (postgresql-common's $CCTMP) is skipped; the script goes on", () => {
    const { t, run, reasons } = followAfterMade(
      "set -e\nCCTMP=$(tempfile)\nsed -e s/off/on/ /usr/share/x.conf > $CCTMP\nchmod 644 $CCTMP\nrm -f $CCTMP\nmkdir /etc/after\n",
    );
    const unknown = "the output of tempfile (not a command strata follows)";
    const redirect = run.skipped.find((s) => s.command === '> ""');
    assert.equal(redirect?.reason, `not done: its path depends on ${unknown}`);
    assert.ok(reasons.includes(`not done: its arguments depend on ${unknown}`), reasons.join("\n"));
    assert.equal(t.at("etc/after")?.type, "dir", "the effects after it are made");
    assert.ok(!reasons.some((r) => /stopped|would have failed/.test(r)), reasons.join("\n"));
  });

  test('rm -rf "$UNSET/" is skipped: an unset variable joined to a path is unknown', () => {
    const { reasons } = followAfterMade('rm -rf "$UNSET/"\nrm -rf $ALSO_UNSET/etc/made\n');
    assert.deepEqual(reasons, [
      "not done: its arguments depend on $UNSET, which is not set",
      "not done: its arguments depend on $ALSO_UNSET, which is not set",
    ]);
  });

  test("rm -rf $DIR/* with DIR from an unfollowed command is skipped, and so is what is derived from it", () => {
    const { reasons } = followAfterMade(
      [
        "DIR=$(not-followed --print-dir)",
        "rm -rf $DIR/*",
        `sub="\${DIR%/}/etc"; rm -rf "$sub"`,
        'for d in $DIR/*; do rm -rf "$d"; done',
        'wipe() { rm -rf "$1"/*; }; wipe "$DIR"',
        'echo "$DIR" | while read -r d; do rm -rf "$d"/*; done',
        "set -- $DIR; rm -rf $1/*",
        "cp /usr/share/x.conf $DIR/etc/made/a; mv /etc/made/a $DIR; ln -sf /x $DIR/etc/localtime",
      ].join("\n"),
    );
    const unknown = "the output of not-followed (not a command strata follows)";
    assert.ok(reasons.includes(`not done: its arguments depend on ${unknown}`), reasons.join("\n"));
    assert.ok(
      reasons.every((r) => r.includes(unknown) || r === "not a command strata follows"),
      reasons.join("\n"),
    );
  });

  test("after cd, relative paths are unknown (cd is not followed): rm -rf etc/made in /srv removes nothing", () => {
    const { t, reasons } = followAfterMade(
      "cd /srv && rm -rf etc/made\necho x > etc/made/a\n(cd /tmp; touch in-tmp)\nrm -f etc/made/sub/b /etc/made/a\ncd /\ntouch etc/made/known\n",
    );
    const cwd = "the working directory after cd, which strata does not follow";
    const arg = `not done: its arguments depend on ${cwd}`;
    assert.deepEqual(reasons, [arg, `not done: its path depends on ${cwd}`, arg, arg]);
    assert.equal(t.at("etc/made/a")?.type, "file");
    assert.equal(t.at("tmp/in-tmp"), undefined);
    assert.equal(t.at("etc/made/known")?.type, "file", "cd / makes the working directory known again");
  });

  test("known values stay known: an unquoted unset variable that vanishes, defaults, and followed commands' output", () => {
    const t = tree({ "etc/made/sub/b": "x" });
    const run = follow(
      t,
      [
        "mkdir -p /tmp/made/sub",
        'd=$(dirname /tmp/made/sub/x); rm -rf "$d"',
        "unset opt; mkdir $opt /etc/plain",
        `mkdir -p "\${ROOT:-/etc}/defaulted"`,
        'printf "[%s]\\n" "$UNSET" > /etc/printed',
      ].join("\n"),
    );
    assert.deepEqual(run.skipped, []);
    assert.equal(t.at("tmp/made/sub"), undefined);
    assert.equal(t.at("etc/plain")?.type, "dir");
    assert.equal(t.at("etc/defaulted")?.type, "dir");
    assert.equal(t.at("etc/printed")?.body?.toString(), "[]\n");
  });

  test("the tree never removes or replaces the root or an empty path, whatever a command asks", () => {
    const bare = new ImageTree();
    assert.throws(() => bare.remove(""), TreeError);
    assert.throws(() => bare.write("", { type: "dir", mode: 0o755, uid: 0, gid: 0 }), TreeError);
    const { reasons } = followAfterMade("rm -rf / ''\nrmdir /\nmv / /x\nln -sf /x /\necho x > /\ntouch ''\n");
    assert.ok(!reasons.some((r) => /not done/.test(r)), "literal paths, known values: refused by the tree");
  });

  test("eval's output is the output of what it runs", () => {
    const t = tree({});
    follow(t, "eval 'echo hi' > /etc/e\nx=$(eval echo there); echo $x > /etc/x\n");
    assert.equal(t.at("etc/e")?.body?.toString(), "hi\n");
    assert.equal(t.at("etc/x")?.body?.toString(), "there\n");
  });

  test("output that depends on an unknown is written nowhere: the file exists with unknown contents", () => {
    const { t } = followAfterMade(
      'V=$(not-followed)\necho "key=$V" > /etc/conf\nread line < /etc/conf; touch "/etc/$line"\ncat < /usr/share/unrecorded > /etc/piped\n',
    );
    assert.equal(t.at("etc/conf")?.unknown, true);
    assert.equal(t.at("etc/piped")?.unknown, true, "cat of input strata does not have is unknown");
    assert.deepEqual(
      t.list("etc").filter((n) => n.startsWith("key")),
      [],
    );
  });
});

describe("accounts made by scripts", () => {
  test("adduser --system takes the lowest free id from 100 in call order; useradd -r the highest", () => {
    const t = tree({ var: { dir: true } });
    const run = follow(
      t,
      `adduser --system --group --home /var/lib/app --no-create-home app
adduser --system --home /var/lib/svc svc
useradd -r -s /usr/sbin/nologin daemonish
getent passwd app >/dev/null && touch /var/app-exists
`,
    );
    const user = (name: string) => run.accounts.users.find((u) => u.name === name);
    assert.deepEqual([user("app")?.uid, user("app")?.gid], [100, 100]);
    assert.deepEqual(
      [user("svc")?.uid, user("svc")?.gid, user("svc")?.shell],
      [101, 65534, "/usr/sbin/nologin"],
    );
    assert.deepEqual([user("daemonish")?.uid, user("daemonish")?.gid], [999, 999]);
    assert.equal(t.at("var/lib/svc")?.uid, 101, "its home is made and owned by it");
    assert.equal(t.at("var/lib/app"), undefined, "--no-create-home");
    assert.equal(t.at("var/app-exists")?.type, "file");
  });
});

describe("ucf as on a fresh install", () => {
  test("a missing destination becomes a copy of the new file, mode kept; an existing one stays; --purge and ucfr change nothing", () => {
    const t = tree({
      "usr/lib/php/php.ini-production": { mode: 0o640, body: "memory_limit = 128M\n" },
      "usr/share/app/app.conf": "new\n",
      "etc/app/app.conf": "local\n",
      "etc/php": { dir: true },
    });
    const run = follow(
      t,
      [
        "ucf --debconf-ok /usr/lib/php/php.ini-production /etc/php/php.ini",
        "ucfr php8.2-cli /etc/php/php.ini",
        "ucf --three-way --debconf-ok /usr/share/app/app.conf /etc/app/app.conf",
        "ucf --purge /etc/php/php.ini",
      ].join("\n"),
    );
    assert.equal(t.at("etc/php/php.ini")?.body?.toString(), "memory_limit = 128M\n");
    assert.equal(t.at("etc/php/php.ini")?.mode, 0o640);
    assert.equal(t.at("etc/app/app.conf")?.body?.toString(), "local\n");
    assert.deepEqual(run.skipped, []);
  });
});

describe("commands that are shell scripts of the image", () => {
  test("a shell script on PATH is followed as its own process; Perl, bad syntax and self-calls are reported", () => {
    const t = tree({
      "usr/sbin/enmod": {
        mode: 0o755,
        body: "#!/bin/sh\nset -e\nmkdir -p /etc/mods\nln -s ../avail/$1.ini /etc/mods/$1.ini\nexit 0\n",
      },
      "usr/sbin/a2enmod": { mode: 0o755, body: "#!/usr/bin/perl -w\nuse strict;\n" },
      "usr/sbin/broken": { mode: 0o755, body: "#!/bin/sh\nif then fi fi\n" },
      "usr/sbin/loop": { mode: 0o755, body: "#!/bin/sh\nloop\n" },
    });
    const run = follow(t, "enmod opcache\nenmod readline\na2enmod ssl\nbroken\nloop\ntouch /after");
    assert.equal(link(t, "etc/mods/opcache.ini"), "../avail/opcache.ini");
    assert.equal(link(t, "etc/mods/readline.ini"), "../avail/readline.ini", "its exit ends only itself");
    assert.deepEqual(
      run.skipped.map((s) => [s.command, s.reason.replace(/: .*/, "")]),
      [
        ["a2enmod ssl", "not a command strata follows"],
        ["broken", "/usr/sbin/broken is not followed"],
        ["(the rest of the script)", "not followed past this point"],
      ],
    );
  });
});

describe("dpkg-statoverride and modes as packages set them", () => {
  test("--add --update sets owner and mode now (redis.conf 0640, /etc/ssl/private 0710); --list answers what was added; chmod 04755 is setuid", () => {
    const t = tree({
      "etc/redis/redis.conf": { mode: 0o644, body: "port 6379\n" },
      "etc/ssl/private": { dir: true },
      "usr/lib/tool": { mode: 0o755, body: "elf" },
    });
    const run = follow(
      t,
      [
        "set -e",
        "adduser --system --group redis",
        "addgroup --system ssl-cert",
        "if ! dpkg-statoverride --list /etc/redis/redis.conf >/dev/null 2>&1; then",
        "  dpkg-statoverride --update --add redis redis 640 /etc/redis/redis.conf",
        "fi",
        "dpkg-statoverride --list /etc/redis/redis.conf && touch /listed",
        "dpkg-statoverride --update --add root ssl-cert 710 /etc/ssl/private",
        "chmod 04755 /usr/lib/tool",
        "cat /dev/null > /etc/app.cnf",
        'echo "[client]" >> /etc/app.cnf',
        "chmod 0600 /etc/app.cnf",
      ].join("\n"),
    );
    assert.equal(
      t.at("etc/app.cnf")?.body?.toString(),
      "[client]\n",
      "cat /dev/null > FILE, as mariadb makes debian.cnf",
    );
    assert.equal(t.at("etc/app.cnf")?.mode, 0o600);
    const conf = t.at("etc/redis/redis.conf");
    assert.deepEqual([conf?.mode, conf?.uid, conf?.gid], [0o640, 100, 100]);
    assert.deepEqual([t.at("etc/ssl/private")?.mode, t.at("etc/ssl/private")?.gid], [0o710, 101]);
    assert.equal(t.at("listed")?.type, "file");
    assert.equal(t.at("usr/lib/tool")?.mode, 0o4755);
    assert.deepEqual(run.skipped, []);
  });
});

describe("su -c: a command run as another account", () => {
  test("postgresql-common's ownership check: test -O as postgres fails on a root-owned home, so it is chowned", () => {
    const t = tree({ "var/lib": { dir: true } });
    const run = follow(
      t,
      [
        "adduser --system --home /var/lib/postgresql --no-create-home --group postgres",
        "mkdir -p /var/lib/postgresql",
        'su -s /bin/sh postgres -c "test -O /var/lib/postgresql && test -G /var/lib/postgresql" || \\',
        "    chown postgres:postgres /var/lib/postgresql",
        'su postgres -c "test -O /var/lib/postgresql" && touch /owned-now',
        'su nosuchuser -c "true" || touch /no-such-user-fails',
      ].join("\n"),
    );
    const home = t.at("var/lib/postgresql");
    assert.deepEqual([home?.uid, home?.gid], [100, 100]);
    assert.equal(t.at("owned-now")?.type, "file");
    assert.equal(t.at("no-such-user-fails")?.type, "file");
    assert.deepEqual(run.skipped, []);
  });
});

describe("shells and diversions", () => {
  test("add-shell makes /etc/shells when missing and adds each shell once; remove-shell takes it out", () => {
    const t = tree({ "usr/bin/zsh": { mode: 0o755 } });
    follow(
      t,
      "add-shell /bin/zsh\nadd-shell /usr/bin/zsh /bin/zsh\nadd-shell /bin/rzsh\nremove-shell /bin/rzsh",
    );
    assert.equal(
      t.at("etc/shells")?.body?.toString(),
      "# /etc/shells: valid login shells\n/bin/zsh\n/usr/bin/zsh\n",
    );
  });

  test("dpkg-divert --rename moves a file a script made, and refuses to move a packaged one", () => {
    const t = tree({ "usr/bin/tool": { mode: 0o755 } });
    const run = follow(
      t,
      "touch /etc/made\ndpkg-divert --add --rename --divert /etc/made.orig /etc/made\ndpkg-divert --package x --add --rename --divert /usr/bin/tool.real /usr/bin/tool",
    );
    assert.equal(t.at("etc/made.orig")?.type, "file");
    assert.equal(t.at("etc/made"), undefined);
    assert.equal(t.at("usr/bin/tool")?.type, "file");
    assert.equal(t.at("usr/bin/tool.real"), undefined);
    assert.deepEqual(
      run.skipped.map((s) => s.reason),
      ["/usr/bin/tool is shipped by a package and stays where it is packaged"],
    );
  });
});

describe("hostile scripts", () => {
  test("an endless loop, endless recursion and a link loop end with a report, not a hang", () => {
    for (const script of ["while :; do :; done", "f() { f; }\nf", "until false; do touch /x; done"]) {
      const run = follow(tree({}), script);
      assert.match(run.skipped.at(-1)?.reason ?? "", /not followed past this point/, script);
    }
    const t = tree({ a: { link: "b" }, b: { link: "a" } });
    const run = follow(t, "set -e\ncat /a\ntouch /after");
    assert.equal(t.at("after"), undefined);
    assert.equal(run.skipped.at(-1)?.reason, "the script would have failed at 'cat /a' with status 1 here");
  });

  test("break and continue outside a loop do nothing, as in dash, instead of ending the build", () => {
    const t = tree({});
    const run = follow(
      t,
      "set -e\ncontinue\nf() { break; }\nf\nfor i in 1 2; do for j in a; do break 5; done; touch /tmp/$i; done\ntouch /after\n",
    );
    assert.equal(t.at("after")?.type, "file");
    assert.equal(t.at("tmp/1"), undefined, "break 5 left both loops");
    assert.deepEqual(run.skipped, []);
  });

  test("a string doubled until it would exhaust memory ends with a report at 1 MiB", () => {
    const script = 'x=a\nwhile :; do x="$x$x"; done';
    const run = follow(tree({}), script);
    assert.match(
      run.skipped.at(-1)?.reason ?? "",
      /not followed past this point: a (value|word) of \d+ characters/,
    );
  });

  test("a file that sources itself, eval of eval and deeply nested expansions end with a report", () => {
    const t = tree({});
    const run = follow(t, "printf '. /etc/self\\n' > /etc/self\n. /etc/self");
    assert.match(
      run.skipped.at(-1)?.reason ?? "",
      /not followed past this point: sourced files or eval nest too deep/,
    );
    const deep = `echo ${"${a:-".repeat(5000)}x${"}".repeat(5000)}`;
    assert.match(follow(tree({}), deep).skipped[0].reason, /^not followed: nesting too deep at line 1$/);
  });

  test("paths climbing out of the root stay in the image tree, and packaged files are never removed", () => {
    const t = tree({ "etc/passwd": "root:x:0:0::/root:/bin/sh\n", tmp: { dir: true } });
    const run = follow(
      t,
      "rm -rf /etc/passwd /\nln -s /etc/passwd ../../../../tmp/evil\ncp /etc/passwd /../../tmp/copy\n",
    );
    assert.equal(t.at("etc/passwd")?.type, "file");
    assert.equal(link(t, "tmp/evil"), "/etc/passwd");
    assert.equal(t.at("tmp/copy")?.body?.toString(), "root:x:0:0::/root:/bin/sh\n");
    assert.ok(run.skipped.some((s) => /shipped by a package/.test(s.reason)));
  });

  test("a case pattern of many stars against a long run ends at once, with dash's answer", () => {
    const stars = `${"*a".repeat(16)}*b`;
    const started = process.hrtime.bigint();
    const t = tree({});
    const run = follow(t, `x=${"a".repeat(60)}\ncase "$x" in ${stars}) touch /yes;; *) touch /no;; esac`);
    assert.ok(process.hrtime.bigint() - started < 5_000_000_000n, "the match took seconds");
    assert.deepEqual(run.skipped, []);
    assert.equal(t.at("no")?.type, "file");
    assert.equal(t.at("yes"), undefined);
  });

  test("a %% trim over a 32k-character value is linear, and a loop of matches meets the bound", () => {
    const t = tree({});
    const long = "a/".repeat(16_000);
    follow(t, `x=${long}\ny=\${x%%/*}\nz=\${x##*/}\nw=\${x%/*}\necho "$y $w" > /out`);
    assert.equal(t.at("out")?.body?.toString(), `a ${long.slice(0, -1)}\n`);
    const run = follow(tree({}), `x=${long}\nwhile :; do y=\${x%%*a*a*a*b}; done`);
    assert.match(
      run.skipped.at(-1)?.reason ?? "",
      /not followed past this point: pattern matching over its bound/,
    );
  });

  test("postgresql-common's mktemp, sed > $CCTMP, chmod and rm: the temp file exists, nothing shipped is lost, the script goes on", () => {
    const t = tree({
      "usr/share/postgresql-common/createcluster.conf": { mode: 0o644 },
      "etc/postgresql": { dir: true },
      "var/lib/postgresql": { dir: true },
    });
    const run = follow(
      t,
      [
        "set -e",
        "CCTMP=`mktemp --tmpdir postgresql-common.XXXXXX`",
        'trap "rm -f $CCTMP" 0 2 3 15',
        'sed -e "s/^ssl =.*/ssl = on/" /usr/share/postgresql-common/createcluster.conf > $CCTMP',
        "chmod 644 $CCTMP",
        "ucf --debconf-ok $CCTMP /etc/postgresql-common/createcluster.conf",
        "rm -f $CCTMP",
        "mkdir -p /var/log/postgresql",
        "chmod 1775 /var/log/postgresql",
      ].join("\n"),
    );
    assert.ok(!run.skipped.some((s) => /would have failed/.test(s.reason)), JSON.stringify(run.skipped));
    assert.equal(t.at("usr/share/postgresql-common/createcluster.conf")?.type, "file");
    assert.equal(t.at("etc/postgresql")?.type, "dir");
    assert.equal(t.at("var/log/postgresql")?.mode, 0o1775, "the effects after the temp file are made");
    assert.equal(t.at("tmp/postgresql-common.000000"), undefined, "rm -f took the temp file away");
    assert.ok(run.skipped.some((s) => s.command === "> /tmp/postgresql-common.000000"));
  });

  test("a file written from unfollowed output exists for the script but never reaches the image", () => {
    const t = tree({});
    const run = follow(
      t,
      "unknown-tool > /etc/made\nchmod 600 /etc/made\necho more >> /etc/made\ncat /etc/made > /etc/copy",
    );
    assert.equal(t.at("etc/made")?.unknown, true, "appending keeps it unknown");
    assert.equal(t.at("etc/made")?.mode, 0o600, "a redirection keeps the file's mode");
    assert.ok(run.skipped.some((s) => /come from commands strata does not follow/.test(s.reason)));
    assert.equal(t.at("etc/copy")?.unknown, true, "a copy of unknown contents is unknown too");
  });

  test("base-files' migrate_directory: an empty packaged directory becomes a link; a full or top-level one stays", () => {
    const t = tree({
      "var/run": { dir: true },
      run: { dir: true },
      "var/full/x": "x",
      "var/kept": { dir: true },
    });
    const migrate = (dir: string, to: string) =>
      `if [ ! -L ${dir} ]; then rmdir ${dir} || true; ln -s ${to} ${dir} || true; fi`;
    const run = follow(
      t,
      [
        migrate("/var/run", "/run"),
        migrate("/var/full", "/run"),
        migrate("/tmp", "/run"),
        "rmdir /var/kept",
      ].join("\n"),
    );
    assert.equal(link(t, "var/run"), "/run");
    assert.equal(t.at("var/full")?.type, "dir");
    assert.equal(t.at("var/full/x")?.type, "file");
    assert.equal(t.at("tmp")?.type, "dir");
    assert.equal(t.at("var/kept")?.type, "dir", "removed and nothing put there: restored");
    assert.ok(run.notes.some((n) => /^\/var\/kept: a script removed this packaged directory/.test(n)));
  });

  test("syntax the interpreter does not know is reported with its line, and nothing is executed", () => {
    const run = follow(tree({}), "echo ok\nif then fi fi\n");
    assert.match(run.skipped[0].reason, /^not followed: .* at line 2$/);
  });
});

describe("debconf answers as a noninteractive install does", () => {
  // Excerpt of fontconfig-config 2.14.1-4's postinst: the link it makes depends on a question.
  const FONTCONFIG_POSTINST = `#!/bin/sh
set -e
. /usr/share/debconf/confmodule
CONFAVAIL=/usr/share/fontconfig/conf.avail
CONFDIR=/etc/fonts/conf.d
db_get fontconfig/hinting_style
hinting_style="$RET"
case "$hinting_style" in
"hintnone") ln -s $CONFAVAIL/10-hinting-none.conf $CONFDIR/10-hinting-none.conf ;;
"hintslight") ln -s $CONFAVAIL/10-hinting-slight.conf $CONFDIR/10-hinting-slight.conf ;;
esac
db_get fontconfig/unknown_question
[ -z "$RET" ]
`;
  const files = {
    "usr/share/fontconfig/conf.avail/10-hinting-slight.conf": "<fontconfig/>",
    "usr/share/fontconfig/conf.avail/10-hinting-none.conf": "<fontconfig/>",
    "etc/fonts/conf.d": { dir: true } as const,
  };

  test("db_get answers the template's default, so fontconfig links the default hinting style", () => {
    const t = tree(files);
    const run = follow(t, FONTCONFIG_POSTINST, { debconf: { "fontconfig/hinting_style": "hintslight" } });
    assert.equal(
      link(t, "etc/fonts/conf.d/10-hinting-slight.conf"),
      "/usr/share/fontconfig/conf.avail/10-hinting-slight.conf",
    );
    assert.equal(t.at("etc/fonts/conf.d/10-hinting-none.conf"), undefined);
    assert.ok(!run.skipped.some((s) => s.command.startsWith("[")), JSON.stringify(run.skipped));
  });

  test("the defaults come from the templates file: Template and Default of each stanza", () => {
    const templates =
      "Template: fontconfig/hinting_style\nType: select\nChoices: hintnone, hintslight\nDefault: hintslight\nDescription: x\n\nTemplate: fontconfig/enable_bitmaps\nType: boolean\nDescription: y\n";
    assert.deepEqual(debconfDefaults(templates), {
      "fontconfig/hinting_style": "hintslight",
      "fontconfig/enable_bitmaps": "",
    });
  });
});

describe("debconf config scripts are followed before any package, as dpkg-preconfigure runs them", () => {
  // Excerpts of tzdata 2025b-0+deb12u1's config and postinst: the postinst reads what config set.
  const TZDATA_CONFIG = `#!/bin/sh
set -e
. /usr/share/debconf/confmodule
db_version 2.0
if [ -L "$DPKG_ROOT/etc/localtime" ] ; then
	TIMEZONE="$(readlink "$DPKG_ROOT/etc/localtime")"
else
	RET=""
	db_fget tzdata/Areas seen || RET=false
	if [ "$RET" = true ] ; then
		db_get tzdata/Areas
		AREA=$RET
	else
		AREA="Etc"
	fi
	RET=""
	db_fget "tzdata/Zones/$AREA" seen || RET=false
	if [ "$RET" = true ] ; then
		db_get "tzdata/Zones/$AREA"
		ZONE=$RET
	else
		ZONE="UTC"
	fi
fi
db_set tzdata/Areas "$AREA"
db_set "tzdata/Zones/$AREA" "$ZONE"
exit 0
`;
  const TZDATA_POSTINST = `#!/bin/sh
set -e
. /usr/share/debconf/confmodule
if [ "$1" = configure ]; then
	AREA=Etc
	ZONE=UTC
	db_get tzdata/Areas && AREA="$RET"
	db_get "tzdata/Zones/$AREA" && ZONE="$RET"
	TIMEZONE="$AREA/$ZONE"
	ln -nsf "/usr/share/zoneinfo/$TIMEZONE" "$DPKG_ROOT/etc/localtime.dpkg-new" && \\
		mv -f "$DPKG_ROOT/etc/localtime.dpkg-new" "$DPKG_ROOT/etc/localtime"
	echo "$TIMEZONE" > "$DPKG_ROOT/etc/timezone"
fi
`;

  test("tzdata's config answers its questions, so the image's time zone is Etc/UTC as dpkg makes it", () => {
    const t = tree({ "usr/share/zoneinfo/Etc/UTC": "TZif" });
    // tzdata/Areas has no Default in its templates: only the config script gives it a value.
    const debconf = { "tzdata/Areas": "", "tzdata/Zones/Etc": "UTC" };
    follow(t, TZDATA_POSTINST, { name: "tzdata", config: TZDATA_CONFIG, debconf });
    assert.equal(link(t, "etc/localtime"), "/usr/share/zoneinfo/Etc/UTC");
    assert.equal(t.contents("/etc/timezone")?.toString(), "Etc/UTC\n");
  });
});

describe("base-passwd's fixed accounts, which every dpkg-made system has", () => {
  test("a script that names www-data and adm gets them with base-passwd's ids, and nothing is skipped", () => {
    const t = tree({ "var/log/nginx": { dir: true } });
    const run = follow(t, "#!/bin/sh\nset -e\nchown www-data:adm /var/log/nginx\n");
    assert.deepEqual(run.skipped, []);
    const node = t.at("var/log/nginx");
    assert.equal(node?.uid, 33);
    assert.equal(node?.gid, 4);
    const www = run.accounts.users.find((u) => u.name === "www-data");
    assert.deepEqual([www?.uid, www?.gid, www?.home], [33, 33, "/var/www"]);
    assert.ok(run.accounts.groups.some((g) => g.name === "www-data" && g.gid === 33));
    assert.ok(run.accounts.changed);
  });

  test("an account the spec already defines is kept, and a fixed id already taken is not reused", () => {
    const accounts = {
      users: [...DEFAULT_ACCOUNTS.users, { name: "web", uid: 33, gid: 33, home: "/srv", shell: "/bin/sh" }],
      groups: [...DEFAULT_ACCOUNTS.groups, { name: "web", gid: 33 }],
    };
    const t = tree({ "srv/x": "x" });
    const pkg: ScriptPackage = {
      name: "pkg",
      version: "1",
      architecture: "amd64",
      postinst: "#!/bin/sh\nchown www-data /srv/x\n",
    };
    const run = followScripts([pkg], { tree: t, architecture: "amd64", accounts });
    assert.equal(run.accounts.users.filter((u) => u.uid === 33).length, 1);
    assert.equal(run.skipped.length, 1, JSON.stringify(run.skipped));
  });
});

test("a script that makes a whiteout name cannot delete lower layers' files: the files layer refuses it", async () => {
  const { buildEntriesLayer } = await import("../../src/layers/base-layer.js");
  const { resolveCompression } = await import("../../src/oci/compress.js");
  const { tempDir } = await import("../helpers/debs.js");
  const t = tree({});
  const run = follow(t, "#!/bin/sh\ntouch /etc/.wh.passwd\n");
  assert.ok(t.at("etc/.wh.passwd"), JSON.stringify(run.skipped));
  const entries = [{ path: "etc/.wh.passwd", type: "file" as const, mode: 0o644, uid: 0, gid: 0 }];
  const store = await tempDir("wh-store");
  await assert.rejects(
    buildEntriesLayer({ entries, store, epoch: 0, compression: resolveCompression("gzip") }),
    /an OCI whiteout name/,
  );
});
