//! A minimal QMP client: enough to toggle a NIC's carrier (`set_link`),
//! which makes the guest's kernel see a cable pulled and plugged back.

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

pub struct Qmp {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
}

impl Qmp {
    pub fn connect(path: &Path) -> Result<Qmp> {
        let s = UnixStream::connect(path).with_context(|| format!("QMP {}", path.display()))?;
        s.set_read_timeout(Some(Duration::from_secs(10)))?;
        let writer = s.try_clone()?;
        let mut q = Qmp { reader: BufReader::new(s), writer };
        let greeting = q.read()?;
        if greeting.get("QMP").is_none() {
            bail!("QMP {}: unexpected greeting {greeting}", path.display());
        }
        q.execute("qmp_capabilities", json!({}))?;
        Ok(q)
    }

    fn read(&mut self) -> Result<Value> {
        let mut line = String::new();
        if self.reader.read_line(&mut line)? == 0 {
            bail!("QMP connection closed");
        }
        Ok(serde_json::from_str(&line)?)
    }

    /// Runs a command and returns its `return` value; events are skipped.
    pub fn execute(&mut self, cmd: &str, args: Value) -> Result<Value> {
        let msg = json!({ "execute": cmd, "arguments": args });
        writeln!(self.writer, "{msg}")?;
        loop {
            let v = self.read()?;
            if let Some(r) = v.get("return") {
                return Ok(r.clone());
            }
            if let Some(e) = v.get("error") {
                bail!("QMP {cmd}: {e}");
            }
        }
    }

    /// Sets the carrier of a NIC backend (`n0` is the node's one NIC).
    pub fn set_link(&mut self, netdev: &str, up: bool) -> Result<()> {
        self.execute("set_link", json!({ "name": netdev, "up": up })).map(|_| ())
    }
}
