#!/bin/sh
# Runs in the image's chroot (network to Maven Central): Keycloak into /opt/keycloak, built for PostgreSQL.
set -eu
version=26.5.6
# The archive's sha256, taken once from the download whose sha1 matched Maven Central's .sha1 file. It, not TLS,
# vouches for the download (a TLS-intercepting proxy may sit between the build host and Maven Central).
sha256=490189d9dff05272432d51f71a069462eeca97f2920a694d539a1e6c26a5a347
url=https://repo1.maven.org/maven2/org/keycloak/keycloak-quarkus-dist/$version/keycloak-quarkus-dist-$version.zip
curl -sSfL --retry 3 -k -o /tmp/keycloak.zip "$url"
echo "$sha256  /tmp/keycloak.zip" | sha256sum -c -
unzip -q /tmp/keycloak.zip -d /opt
rm /tmp/keycloak.zip
mv "/opt/keycloak-$version" /opt/keycloak
# Build-time options: the database vendor and the health endpoints (on the management port, 9000) are fixed in
# the optimized server; the rest (database URL, credentials, hostname) is given at run time.
/opt/keycloak/bin/kc.sh build --db=postgres --health-enabled=true >/tmp/kc-build.log 2>&1 \
  || { cat /tmp/kc-build.log >&2; exit 1; }
rm -f /tmp/kc-build.log
# uid 1000, group 0 writable (OpenShift runs images as an arbitrary uid in group 0): Keycloak writes data/tmp.
chown -R 1000:0 /opt/keycloak
chmod -R g=u /opt/keycloak
# curl and unzip were for this build only.
apt-get purge -y -qq curl unzip >/dev/null
apt-get autoremove -y -qq >/dev/null
