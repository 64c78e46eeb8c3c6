//! Debian's nginx as the update server the tests run: it serves a
//! directory (bundles, channel files) on a loopback port, honours Range
//! requests as any web server or object store does, and takes report files
//! by HTTP PUT (its DAV module). QEMU guests reach it through their
//! restricted user network (`NodeSpec::http_port`).

use std::path::{Path, PathBuf};
use std::time::Duration;

pub struct Nginx {
    pub port: u16,
    /// What it serves: `www/`; reports land in `www/reports/`.
    pub www: PathBuf,
    child: std::process::Child,
}

/// nginx is installed (under CI it must be).
pub fn have_nginx() -> bool {
    crate::require(crate::have_program("nginx"), "nginx (apt-get install nginx: ci/setup does)")
}

impl Nginx {
    /// Serves `dir/www` on a free loopback port; `rate`: bytes per second
    /// per connection, to make a download slow enough to cut.
    pub fn start(dir: &Path, rate: Option<u64>) -> Nginx {
        let www = dir.join("www");
        std::fs::create_dir_all(www.join("reports")).unwrap();
        std::fs::create_dir_all(dir.join("tmp")).unwrap();
        // A port the kernel says is free now.
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let d = dir.display();
        let limit = rate.map_or(String::new(), |r| format!("limit_rate {r};"));
        let conf = format!(
            "daemon off;\nmaster_process off;\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log info;\n\
             events {{ worker_connections 64; }}\n\
             http {{\n access_log {d}/access.log;\n client_body_temp_path {d}/tmp;\n proxy_temp_path {d}/tmp;\n\
              fastcgi_temp_path {d}/tmp;\n uwsgi_temp_path {d}/tmp;\n scgi_temp_path {d}/tmp;\n\
              default_type application/octet-stream;\n\
              server {{\n  listen 127.0.0.1:{port};\n  root {www};\n  {limit}\n\
               location /reports/ {{ dav_methods PUT; create_full_put_path on; client_max_body_size 64k; limit_rate 0; }}\n }}\n}}\n",
            www = www.display()
        );
        let conf_path = dir.join("nginx.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let child = std::process::Command::new("nginx")
            .arg("-c")
            .arg(&conf_path)
            .arg("-p")
            .arg(dir)
            .arg("-e")
            .arg(dir.join("error.log"))
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("starting nginx");
        let listening =
            crate::eventually(Duration::from_secs(10), || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());
        assert!(listening.is_some(), "nginx did not listen on {port}: {}", dir.join("error.log").display());
        Nginx { port, www, child }
    }

    /// Requests for `path` in its access log: (status, bytes sent, Range asked).
    pub fn requests(&self, path: &str) -> Vec<String> {
        let log = self.www.parent().unwrap().join("access.log");
        std::fs::read_to_string(log)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains(path))
            .map(str::to_string)
            .collect()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
