"""A real freeze of a MariaDB server, as shell lines for hook annotations in the server's container.

FREEZE holds FLUSH TABLES WITH READ LOCK in a background client and returns once the lock is held, so every write
waits from then on; THAW kills that client's query, which releases the lock. The password comes from the container's
MARIADB_ROOT_PASSWORD, as the images under tests/cluster/images/mariadb set it.
"""

SQL = 'MYSQL_PWD="$MARIADB_ROOT_PASSWORD" mariadb -uroot -N'
HOLD = "SELECT SLEEP(3600)"
FREEZE = (f'{SQL} -e "FLUSH TABLES WITH READ LOCK; {HOLD}" </dev/null >/dev/null 2>&1 & '
          f"for i in $(seq 100); do {SQL} -e \"SELECT COUNT(*) FROM information_schema.processlist "
          f"WHERE info = '{HOLD}'\" | grep -qx 1 && exit 0; sleep 0.1; done; echo the read lock was not taken >&2; exit 3")
THAW = (f"{SQL} -e \"SELECT id FROM information_schema.processlist WHERE info = '{HOLD}'\" "
        f'| while read -r id; do {SQL} -e "KILL $id"; done')
