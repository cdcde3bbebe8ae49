#!/bin/bash
# Entrypoint of localhost/zookeeper: standalone ZooKeeper in the foreground,
# logging to the console. Mirrors Debian's zkServer.sh start-foreground, minus
# the log files and JMX.
#
# Environment: ZK_HEAP (default 256m). Extra arguments go to the JVM.
set -euo pipefail

# Debian's zkEnv.sh: JAVA, ZOOCFG, CLASSPATH=/etc/zookeeper/conf:zookeeper.jar
# (zookeeper.jar's manifest pulls in its dependencies).
# shellcheck source=/dev/null
. /etc/zookeeper/conf/environment

# zookeeper.jar's manifest names slf4j-api but no binding; without these two
# every log line would be dropped.
CLASSPATH=$CLASSPATH:/usr/share/java/slf4j-log4j12.jar:/usr/share/java/log4j-1.2.jar

mkdir -p /var/lib/zookeeper
exec "$JAVA" -Xms32m -Xmx"${ZK_HEAP:-256m}" -XX:+UseSerialGC \
  -Dzookeeper.root.logger=INFO,CONSOLE -Dzookeeper.log.dir=/var/log/zookeeper \
  "$@" -cp "$CLASSPATH" org.apache.zookeeper.server.quorum.QuorumPeerMain "$ZOOCFG"
