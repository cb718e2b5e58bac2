//! A throwaway PostgreSQL server for tests, from Debian's `postgresql` package (no running service
//! assumed): `initdb` on a temporary directory, trust authentication, a free port on a chosen address
//! and a unix socket in that directory. initdb refuses to run as root, so as root the server runs as
//! the `postgres` user.
//!
//! [`PgServer::shared`] starts one server per test binary (stopped when the binary exits); each test
//! takes a database of its own with [`PgServer::fresh_database`].

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// Where Debian's `postgresql-NN` packages put their programs (the newest is used); `MEET_PG_BIN`
/// overrides.
const DEBIAN_ROOT: &str = "/usr/lib/postgresql";

fn debian_bin() -> PathBuf {
    let newest = std::fs::read_dir(DEBIAN_ROOT)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|v| v.parse::<u32>().ok()))
        .max();
    PathBuf::from(DEBIAN_ROOT).join(newest.map_or("15".into(), |v| v.to_string())).join("bin")
}

/// A running PostgreSQL server; stopped and its directory removed on drop.
pub struct PgServer {
    dir: PathBuf,
    bin: PathBuf,
    /// The address it listens on (TCP).
    pub address: IpAddr,
    pub port: u16,
    as_postgres: bool,
}

impl PgServer {
    /// The server of this test binary, on 127.0.0.1, started on first use and stopped when the
    /// process exits.
    pub fn shared() -> &'static PgServer {
        static SHARED: OnceLock<PgServer> = OnceLock::new();
        SHARED.get_or_init(|| {
            let server = PgServer::start(Ipv4Addr::LOCALHOST.into()).unwrap_or_else(|e| panic!("{e}"));
            server.stop_when_process_exits();
            server
        })
    }

    /// Starts a server listening on `address` at a free port, trusting every client: `0.0.0.0` makes it
    /// reachable from a test's network namespaces through their routes to this host.
    pub fn start(address: IpAddr) -> Result<PgServer, String> {
        let bin = std::env::var_os("MEET_PG_BIN").map_or_else(debian_bin, PathBuf::from);
        if !bin.join("initdb").exists() {
            return Err(format!(
                "no PostgreSQL at {} (install Debian's postgresql package, or set MEET_PG_BIN)",
                bin.display()
            ));
        }
        let as_postgres = is_root();
        let dir = std::env::temp_dir().join(format!("meet-pg-{}-{:x}", std::process::id(), random()));
        let mut mkdir = Command::new("install");
        mkdir.arg("-d").arg("-m").arg("700");
        if as_postgres {
            mkdir.args(["-o", "postgres", "-g", "postgres"]);
        }
        run(mkdir.arg(&dir), "create the data directory")?;
        let mut server = PgServer { dir, bin, address, port: 0, as_postgres };
        let data = server.dir.join("data");
        run(
            server.command("initdb").arg("-D").arg(&data).args([
                "-U",
                "postgres",
                "--auth=trust",
                "--no-sync",
                "--encoding=UTF8",
                "--locale=C",
            ]),
            "initdb",
        )?;
        // initdb's trust covers loopback only; tests may connect from other addresses (network
        // namespaces) too.
        {
            use std::io::Write;
            let mut hba = std::fs::OpenOptions::new()
                .append(true)
                .open(data.join("pg_hba.conf"))
                .map_err(|e| format!("pg_hba.conf: {e}"))?;
            writeln!(hba, "host all all 0.0.0.0/0 trust\nhost all all ::/0 trust")
                .map_err(|e| format!("pg_hba.conf: {e}"))?;
        }
        // A port taken between choosing and binding makes pg_ctl fail: try a few.
        let mut last = String::new();
        for _ in 0..5 {
            server.port = free_tcp_port(address);
            let options = format!(
                "-c listen_addresses={address} -c port={} -c unix_socket_directories={} -c fsync=off \
                 -c synchronous_commit=off -c full_page_writes=off -c max_connections=200",
                server.port,
                server.dir.display()
            );
            let started = run(
                server
                    .command("pg_ctl")
                    .arg("-D")
                    .arg(&data)
                    .arg("-l")
                    .arg(server.dir.join("log"))
                    .args(["-w", "-t", "60", "-o", &options, "start"]),
                "pg_ctl start",
            );
            match started {
                Ok(()) => return Ok(server),
                Err(e) => {
                    last = format!("{e}\n{}", std::fs::read_to_string(server.dir.join("log")).unwrap_or_default())
                }
            }
        }
        Err(last)
    }

    /// `postgres://postgres@address:port/postgres`.
    pub fn url(&self) -> String {
        self.database_url("postgres")
    }

    pub fn database_url(&self, database: &str) -> String {
        let host = match self.address {
            IpAddr::V6(a) => format!("[{a}]"),
            IpAddr::V4(a) => a.to_string(),
        };
        format!("postgres://postgres@{host}:{}/{database}", self.port)
    }

    /// The directory of its unix socket (`host=<this>` in a connection string).
    pub fn socket_dir(&self) -> &Path {
        &self.dir
    }

    /// Creates an empty database with a fresh name; returns its URL.
    pub fn fresh_database(&self) -> String {
        let name = format!("test_{:x}", random());
        self.psql(&format!("CREATE DATABASE {name}")).unwrap_or_else(|e| panic!("{e}"));
        self.database_url(&name)
    }

    /// Runs SQL through `psql` on the unix socket.
    pub fn psql(&self, sql: &str) -> Result<(), String> {
        run(
            Command::new(self.psql_path()?)
                .arg("-h")
                .arg(&self.dir)
                .args(["-p", &self.port.to_string(), "-U", "postgres", "-d", "postgres", "-v", "ON_ERROR_STOP=1"])
                .args(["-q", "-c", sql]),
            "psql",
        )
    }

    /// The rows of `sql` run in the database at `url`, one line each, columns separated by `|`.
    pub fn query(&self, url: &str, sql: &str) -> Result<String, String> {
        let out = Command::new(self.psql_path()?)
            .args(["-d", url, "-v", "ON_ERROR_STOP=1", "-At", "-c", sql])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("psql: {e}"))?;
        if !out.status.success() {
            return Err(format!("psql failed: {}", String::from_utf8_lossy(&out.stderr)));
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    /// Restarts the server (clients lose their connections), on the same port.
    pub fn restart(&self) -> Result<(), String> {
        run(
            self.command("pg_ctl")
                .arg("-D")
                .arg(self.dir.join("data"))
                .arg("-l")
                .arg(self.dir.join("log"))
                .args(["-m", "fast", "-w", "-t", "60", "restart"]),
            "pg_ctl restart",
        )
    }

    fn psql_path(&self) -> Result<PathBuf, String> {
        [self.bin.join("psql"), PathBuf::from("/usr/bin/psql")]
            .into_iter()
            .find(|p| p.exists())
            .ok_or_else(|| "no psql (Debian's postgresql-client)".to_string())
    }

    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        }
    }

    fn stop_command(&self) -> Command {
        let mut c = self.command("pg_ctl");
        c.arg("-D").arg(self.dir.join("data")).args(["-m", "immediate", "-w", "stop"]);
        c
    }

    /// A static is never dropped: a watcher stops the server and removes its directory once this
    /// process is gone.
    fn stop_when_process_exits(&self) {
        let stop: Vec<String> = {
            let c = self.stop_command();
            std::iter::once(c.get_program()).chain(c.get_args()).map(|a| shell_quote(&a.to_string_lossy())).collect()
        };
        let script = format!(
            "while [ -d /proc/{pid} ]; do sleep 0.5; done; {stop} >/dev/null 2>&1; rm -rf {dir}",
            pid = std::process::id(),
            stop = stop.join(" "),
            dir = shell_quote(&self.dir.to_string_lossy()),
        );
        let _ = Command::new("setsid")
            .args(["sh", "-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        let _ = self.stop_command().stdout(Stdio::null()).stderr(Stdio::null()).status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn run(command: &mut Command, what: &str) -> Result<(), String> {
    let out = command.stdin(Stdio::null()).output().map_err(|e| format!("{what}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{what} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn free_tcp_port(address: IpAddr) -> u16 {
    std::net::TcpListener::bind((address, 0)).and_then(|l| l.local_addr()).expect("a free TCP port").port()
}

/// Enough to keep names apart (this crate has no RNG dependency).
fn random() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos());
    h.finish()
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}
