#!/usr/bin/python3
"""A throw-away PostgreSQL server for tests: initdb + pg_ctl in a temporary directory, listening on
loopback only, torn down afterwards (no system service is touched).

PostgreSQL refuses to run as root, so as root the data directory is handed to the unprivileged
user `nobody` and initdb/pg_ctl run under `setpriv` with that user's uid/gid.

    with PostgresServer() as pg:
        url = pg.url  # postgresql://postgres@127.0.0.1:PORT/postgres
"""

import os
import pwd
import shutil
import socket
import subprocess
import tempfile

BIN_DIRS = ["/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/14/bin"]


def postgres_bin():
    """The directory holding initdb and pg_ctl (Debian's postgresql package), or None."""
    for d in BIN_DIRS:
        if os.access(os.path.join(d, "initdb"), os.X_OK):
            return d
    found = shutil.which("initdb")
    return os.path.dirname(found) if found else None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    """Starts on __enter__ (or start()), stops and deletes its directory on __exit__ (or stop())."""

    def __init__(self, user="nobody"):
        self.bin = postgres_bin()
        if self.bin is None:
            raise RuntimeError("PostgreSQL server binaries (initdb, pg_ctl) not found: "
                               "apt-get install postgresql")
        self.dir = tempfile.mkdtemp(prefix="ss_pg_")
        self.data = os.path.join(self.dir, "data")
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self._prefix = []
        if os.geteuid() == 0:
            pw = pwd.getpwnam(user)
            os.chmod(self.dir, 0o755)
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
            self._prefix = ["setpriv", f"--reuid={pw.pw_uid}", f"--regid={pw.pw_gid}",
                            "--clear-groups", "--"]

    def _run(self, *args, check=True):
        return subprocess.run(self._prefix + list(args), check=check, cwd=self.dir,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def start(self):
        self._run(os.path.join(self.bin, "initdb"), "-D", self.data, "-U", "postgres",
                  "--auth=trust", "-E", "UTF8", "--no-sync")
        self.resume()
        return self

    def resume(self):
        """pg_ctl start (again, after stop_server)."""
        opts = (f"-c listen_addresses=127.0.0.1 -p {self.port} -c unix_socket_directories='{self.dir}'"
                " -c fsync=off -c max_connections=100")
        self._run(os.path.join(self.bin, "pg_ctl"), "-D", self.data, "-l",
                  os.path.join(self.dir, "log"), "-o", opts, "-w", "-t", "60", "start")

    def stop_server(self, mode="fast"):
        """pg_ctl stop (the data directory stays: resume() starts it again)."""
        self._run(os.path.join(self.bin, "pg_ctl"), "-D", self.data, "-m", mode, "-w", "stop",
                  check=False)

    def stop(self):
        self.stop_server("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False


if __name__ == "__main__":  # a smoke check: start, connect, stop
    import psycopg2

    with PostgresServer() as pg:
        with psycopg2.connect(pg.url) as conn, conn.cursor() as cur:
            cur.execute("SELECT version()")
            print(pg.url, cur.fetchone()[0])
