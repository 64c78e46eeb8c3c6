//! `vigil-image`: fetch kernels, build boot images, run QEMU nodes and
//! clusters on a virtual switch.

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::time::Duration;
use vigil_image::qemu::Accel;
use vigil_image::{Node, NodeSpec, Switch, boards, build, initramfs, kernel};

#[derive(Parser)]
#[command(name = "vigil-image", version, about = "Build and run vigil appliance images")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Fetch, verify and unpack the pinned kernel of each board (all by default).
    FetchKernels { boards: Vec<String> },
    /// The boards' pinned Debian kernels against what the mirror has now.
    #[command(subcommand)]
    Kernel(KernelCmd),
    /// Build the firmware and a board's initramfs.
    Build {
        #[arg(long, default_value = "qemu-x86_64")]
        board: String,
        /// Use this firmware binary instead of building it.
        #[arg(long)]
        firmware: Option<PathBuf>,
    },
    /// Build a board's GPT disk image (bootloader, slots A and B, config
    /// ring, state), to flash onto an appliance or boot in QEMU.
    Disk {
        #[arg(long, default_value = "qemu-x86_64")]
        board: String,
        #[arg(short, long)]
        output: PathBuf,
        #[command(flatten)]
        stamp: StampArgs,
        /// Use this firmware binary instead of building it.
        #[arg(long)]
        firmware: Option<PathBuf>,
    },
    /// Make an update signing key pair: NAME.key (secret) and NAME.pub.
    Keygen {
        #[arg(short, long)]
        output: PathBuf,
    },
    /// Build an unsigned update bundle of a board's firmware slot.
    Bundle {
        #[arg(long, default_value = "qemu-x86_64")]
        board: String,
        #[arg(short, long)]
        output: PathBuf,
        #[command(flatten)]
        stamp: StampArgs,
        /// Devices never go below the highest security version they have kept.
        #[arg(long, default_value_t = 0)]
        security_version: u32,
        /// The oldest running build this bundle may update.
        #[arg(long, default_value_t = 0)]
        min_build: u64,
        /// Use this firmware binary instead of building it.
        #[arg(long)]
        firmware: Option<PathBuf>,
    },
    /// Sign a bundle (in place) with a secret key from `keygen`.
    Sign {
        #[arg(long)]
        key: PathBuf,
        bundle: PathBuf,
    },
    /// Check a bundle as a device does: signature (any of the keys), then
    /// every chunk and the whole payload.
    Verify {
        /// A public key (`.pub`); repeat for several.
        #[arg(long = "key", required = true)]
        keys: Vec<PathBuf>,
        bundle: PathBuf,
    },
    /// Say what a bundle holds.
    Inspect { bundle: PathBuf },
    /// The fleet channel: a directory for any web server or object store.
    #[command(subcommand)]
    Channel(ChannelCmd),
    /// Write a disk image onto a device (or a file), then read it back.
    /// Refuses a device in use or smaller than the image.
    Flash {
        #[arg(long, default_value = "qemu-x86_64")]
        board: String,
        image: PathBuf,
        target: PathBuf,
    },
    /// List what a built initramfs holds.
    Ls {
        #[arg(long, default_value = "qemu-x86_64")]
        board: String,
    },
    /// Boot N nodes of a board on one virtual switch, with their consoles
    /// here. Type at node 1's console; lines starting with '~' steer:
    /// ~N LINE (to node N), ~cut N, ~restore N, ~loss N PCT, ~delay N MS,
    /// ~capture FILE, ~stats, ~quit.
    Run {
        #[arg(long, default_value = "qemu-x86_64")]
        board: String,
        #[arg(long, default_value_t = 1)]
        nodes: u8,
        /// Extra kernel command line.
        #[arg(long, default_value = "")]
        append: String,
    },
    /// Check whether KVM boots a guest here (it does not on every machine).
    ProbeKvm,
    /// Configs on the host: compile, show, diff, install into a flash image.
    #[command(subcommand)]
    Config(ConfigCmd),
    /// List the board definitions.
    Boards,
}

#[derive(Subcommand)]
enum KernelCmd {
    /// Each board's pin beside the newest kernel of its flavour on the mirror.
    Status { boards: Vec<String> },
    /// Pin each board (all by default) to the newest kernel of its flavour on
    /// the mirror: package, version, SHA-256, release and image in the board
    /// file, after fetching and checking the package.
    Bump {
        /// A board name or board file (repeatable; all boards if none).
        #[arg(long)]
        board: Vec<String>,
    },
}

#[derive(Subcommand)]
enum ConfigCmd {
    /// keepalived.conf (or vigil's text form) into a flash blob.
    Compile {
        input: PathBuf,
        #[arg(short, long)]
        output: PathBuf,
    },
    /// A blob (or text) as text: vigil's form, or keepalived's with --keepalived.
    Show {
        input: PathBuf,
        #[arg(long)]
        keepalived: bool,
    },
    /// The differences between two configs (blobs or text).
    Diff { a: PathBuf, b: PathBuf },
    /// Commit a config into a board's flash image (created if missing).
    Install {
        #[arg(long, default_value = "qemu-x86_64")]
        board: String,
        #[arg(long)]
        flash: PathBuf,
        input: PathBuf,
    },
}

fn main() {
    if let Err(e) = real_main() {
        eprintln!("vigil-image: {e:#}");
        std::process::exit(1);
    }
}

fn real_main() -> Result<()> {
    match Cli::parse().cmd {
        Cmd::FetchKernels { boards: names } => {
            let names = if names.is_empty() { boards::list_boards() } else { names };
            for n in names {
                let b = boards::load_board(&n)?;
                let t = kernel::fetch(&b)?;
                println!("{}: {} {} in {}", b.name, b.kernel.package, b.kernel.version, t.root.display());
            }
        }
        Cmd::Kernel(c) => kernel_cmd(c)?,
        Cmd::Channel(c) => channel_cmd(c)?,
        Cmd::Build { board, firmware } => {
            let b = boards::load_board(&board)?;
            let fw = match firmware {
                Some(f) => f,
                None => build::firmware(b.arch)?,
            };
            let img = build::build_image(&b, &fw)?;
            let size = std::fs::metadata(&img.initrd)?.len();
            println!("board     {}", b.name);
            println!("firmware  {} ({} bytes)", fw.display(), std::fs::metadata(&fw)?.len());
            println!("kernel    {}", img.kernel.display());
            println!("initramfs {} ({} KiB)", img.initrd.display(), size / 1024);
            println!("modules   {} ({})", img.modules.len(), img.modules.join(" "));
            println!("built-in  {}", img.builtin.join(" "));
            println!("cmdline   {}", img.cmdline);
        }
        Cmd::Disk { board, output, stamp, firmware } => {
            let (b, files) = slot_files(&board, firmware, &stamp.stamp()?)?;
            let d = vigil_image::disk::build(&b, &files, &output)?;
            println!("disk      {} ({} MiB, GPT)", d.path.display(), d.size >> 20);
            for p in &d.parts {
                println!("  {:<2} {:<8} at {:>4} MiB, {:>4} MiB", p.number, p.name, p.offset >> 20, p.size >> 20);
            }
            for (file, offset, len) in &d.raw {
                println!("  bootloader {file} at {offset} ({len} bytes)");
            }
            println!("slots a, b: {} {} build {}", d.manifest.board, d.manifest.version, d.manifest.build);
        }
        Cmd::Keygen { output } => {
            let (sk, pk) = vigil_image::update::keygen(&output)?;
            println!("secret key {} (keep it safe: it signs firmware)", sk.display());
            println!("public key {}", pk.display());
        }
        Cmd::Bundle { board, output, stamp, security_version, min_build, firmware } => {
            let stamp = stamp.stamp()?;
            let (b, files) = slot_files(&board, firmware, &stamp)?;
            let payload = vigil_image::disk::slot_payload(&b, &files)?;
            let m = vigil_update::Manifest::of_payload(
                &b.name,
                &b.arch.to_string(),
                stamp.release.build,
                &stamp.release.version,
                security_version,
                min_build,
                &payload,
            );
            std::fs::write(&output, vigil_image::update::unsigned(&m, &payload))
                .with_context(|| format!("writing {}", output.display()))?;
            println!("bundle {} (unsigned: vigil-image sign --key KEY {})", output.display(), output.display());
            println!("{}", vigil_image::update::describe(&vigil_image::update::parse(&std::fs::read(&output)?)?));
        }
        Cmd::Sign { key, bundle } => {
            vigil_image::update::sign(&bundle, &key)?;
            println!("{}", vigil_image::update::describe(&vigil_image::update::parse(&std::fs::read(&bundle)?)?));
        }
        Cmd::Verify { keys, bundle } => {
            let keys = keys.iter().map(|k| vigil_image::update::public_key(k)).collect::<Result<Vec<_>>>()?;
            let bytes = std::fs::read(&bundle).with_context(|| format!("reading {}", bundle.display()))?;
            let m = vigil_image::update::verify(&bytes, &keys).with_context(|| format!("{}", bundle.display()))?;
            println!("{}: good: {} build {} for {} ({})", bundle.display(), m.version, m.build, m.board, m.arch);
        }
        Cmd::Inspect { bundle } => {
            let bytes = std::fs::read(&bundle).with_context(|| format!("reading {}", bundle.display()))?;
            let p = vigil_image::update::parse(&bytes).with_context(|| format!("{}", bundle.display()))?;
            println!("{}", vigil_image::update::describe(&p));
        }
        Cmd::Flash { board, image, target } => {
            let b = boards::load_board(&board)?;
            vigil_image::flash::flash(&b, &image, &target)?;
        }
        Cmd::Ls { board } => {
            let path = vigil_image::paths::out_dir().join(&board).join("initramfs.cpio.gz");
            let gz = std::fs::read(&path)
                .with_context(|| format!("{} (run: vigil-image build --board {board})", path.display()))?;
            let mut cpio = Vec::new();
            std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gz[..]), &mut cpio)?;
            for (name, mode, size) in initramfs::list_cpio(&cpio)? {
                println!("{mode:07o} {size:>10} /{name}");
            }
        }
        Cmd::Run { board, nodes, append } => run(&board, nodes, &append)?,
        Cmd::ProbeKvm => probe_kvm()?,
        Cmd::Config(c) => config_cmd(c)?,
        Cmd::Boards => {
            for n in boards::list_boards() {
                let b = boards::load_board(&n)?;
                println!("{:<16} {:<8} {}", b.name, b.arch.to_string(), b.description);
            }
        }
    }
    Ok(())
}

fn kernel_cmd(c: KernelCmd) -> Result<()> {
    match c {
        KernelCmd::Status { boards: names } => {
            let names = if names.is_empty() { boards::list_boards() } else { names };
            for n in names {
                let b = boards::load_board(&n)?;
                let k = &b.kernel;
                match kernel::mirror_kernel(&b) {
                    Ok(m) if m.package == k.package && m.version == k.version => {
                        println!("{}: {} {}: the newest on the mirror", b.name, k.package, k.version)
                    }
                    Ok(m) => println!(
                        "{}: {} {}; the mirror has {} {} (vigil-image kernel bump --board {})",
                        b.name, k.package, k.version, m.package, m.version, b.name
                    ),
                    Err(e) => println!("{}: {} {}; the mirror: {e:#}", b.name, k.package, k.version),
                }
            }
        }
        KernelCmd::Bump { board: names } => {
            let names = if names.is_empty() { boards::list_boards() } else { names };
            for n in names {
                let path = boards::board_path(&n);
                match kernel::bump(&path)? {
                    kernel::Bump::Current(k) => {
                        println!(
                            "{}: {} {} is the newest on the mirror; unchanged",
                            path.display(),
                            k.package,
                            k.version
                        )
                    }
                    kernel::Bump::Bumped { from, to } => println!(
                        "{}: {} {} -> {} {} (fetched and checked; run the boot tests, then commit the file)",
                        path.display(),
                        from.package,
                        from.version,
                        to.package,
                        to.version
                    ),
                }
            }
        }
    }
    Ok(())
}

fn config_cmd(c: ConfigCmd) -> Result<()> {
    use vigil_image::config_tool;
    match c {
        ConfigCmd::Compile { input, output } => {
            let n = config_tool::compile(&input, &output)?;
            println!("{}: {n} bytes", output.display());
        }
        ConfigCmd::Show { input, keepalived } => {
            let flavor = if keepalived {
                vigil_config::keepalived::Flavor::Keepalived
            } else {
                vigil_config::keepalived::Flavor::Vigil
            };
            print!("{}", config_tool::show(&input, flavor)?);
        }
        ConfigCmd::Diff { a, b } => {
            let d = config_tool::diff(&a, &b)?;
            if d.is_empty() {
                println!("no differences");
            } else {
                print!("{d}");
            }
        }
        ConfigCmd::Install { board, flash, input } => {
            let b = boards::load_board(&board)?;
            let g = config_tool::install(&b, &flash, &input)?;
            println!("{}: generation {g} in the config partition", flash.display());
        }
    }
    Ok(())
}

fn image_for(board: &str) -> Result<build::Image> {
    let b = boards::load_board(board)?;
    let fw = build::firmware(b.arch)?;
    build::build_image(&b, &fw)
}

fn run(board: &str, count: u8, append: &str) -> Result<()> {
    if count == 0 || count > 32 {
        bail!("--nodes must be 1..=32");
    }
    let img = image_for(board)?;
    let dir = vigil_image::paths::out_dir().join("run").join(format!("{board}-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let switch = Switch::start(&dir.join("switch.sock"))?;
    let mut nodes = Vec::new();
    for i in 1..=count {
        let mut spec = NodeSpec::new(i, dir.join(format!("node{i}")));
        spec.hub = Some(switch.socket_path().to_path_buf());
        spec.extra_cmdline = append.to_string();
        switch.add_port(&format!("node{i}"), &spec.net_socket());
        nodes.push(Node::start(&img, spec)?);
    }
    eprintln!(
        "vigil-image: {count} x {board} on one switch; logs in {}; '~stats', '~quit', '~N LINE' steer",
        dir.display()
    );
    // Typed lines arrive on a channel, so the loop can also print output.
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            match line {
                Ok(l) => {
                    if tx.send(l).is_err() {
                        return;
                    }
                }
                Err(_) => return,
            }
        }
    });
    let mut offsets = vec![0usize; nodes.len()];
    loop {
        for (i, n) in nodes.iter().enumerate() {
            let (text, off) = n.output_since(offsets[i]);
            offsets[i] = off;
            if !text.is_empty() {
                let mut out = std::io::stdout().lock();
                if count == 1 {
                    let _ = out.write_all(text.as_bytes());
                } else {
                    for l in text.split_inclusive('\n') {
                        let _ = write!(out, "[{}] {l}", n.name);
                    }
                }
                let _ = out.flush();
            }
        }
        if nodes.iter_mut().all(|n| !n.is_running()) {
            eprintln!("vigil-image: every node has stopped");
            return Ok(());
        }
        match rx.recv_timeout(Duration::from_millis(30)) {
            Ok(line) => {
                if let Some(cmd) = line.strip_prefix('~') {
                    if steer(cmd.trim(), &switch, &mut nodes)? {
                        return Ok(());
                    }
                } else {
                    nodes[0].send_line(&line)?;
                }
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                // stdin closed: keep running until the nodes stop.
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

/// One '~' command. Returns true to quit.
fn steer(cmd: &str, switch: &Switch, nodes: &mut [Node]) -> Result<bool> {
    let words: Vec<&str> = cmd.split_whitespace().collect();
    let count = nodes.len();
    let node_arg = |w: Option<&&str>| -> Result<usize> {
        let n: usize = w.context("which node?")?.parse().context("a node number")?;
        if n == 0 || n > count {
            bail!("no node {n}");
        }
        Ok(n - 1)
    };
    let result: Result<()> = (|| {
        match words.first().copied() {
            Some("quit") => return Ok(()),
            Some("stats") => eprint!("{}", switch.report()),
            Some("cut") => switch.set_link(node_arg(words.get(1))?, false)?,
            Some("restore") => switch.set_link(node_arg(words.get(1))?, true)?,
            Some("loss") => {
                let pct: f64 = words.get(2).context("loss N PCT")?.parse()?;
                switch.set_loss(node_arg(words.get(1))?, pct / 100.0)?
            }
            Some("delay") => {
                let ms: u64 = words.get(2).context("delay N MS")?.parse()?;
                switch.set_delay(node_arg(words.get(1))?, Duration::from_millis(ms))?
            }
            Some("capture") => switch.capture(std::path::Path::new(words.get(1).context("capture FILE")?))?,
            Some(w) if w.parse::<usize>().is_ok() => {
                let n = node_arg(words.first())?;
                let rest = cmd[w.len()..].trim_start();
                nodes[n].send_line(rest)?;
            }
            _ => bail!(
                "unknown ~command; try ~stats, ~cut N, ~restore N, ~loss N PCT, ~delay N MS, ~capture FILE, ~N LINE, ~quit"
            ),
        }
        Ok(())
    })();
    if let Err(e) = result {
        eprintln!("vigil-image: {e:#}");
    }
    Ok(words.first() == Some(&"quit"))
}

/// Boots qemu-x86_64 once with KVM and reports whether it reaches /init.
fn probe_kvm() -> Result<()> {
    if std::fs::File::open("/dev/kvm").is_err() {
        println!("kvm: /dev/kvm cannot be opened: TCG only");
        return Ok(());
    }
    let img = image_for("qemu-x86_64")?;
    let dir = vigil_image::paths::out_dir().join("probe-kvm");
    let mut spec = NodeSpec::new(1, &dir);
    spec.accel = Accel::Kvm;
    let mut node = Node::start(&img, spec)?;
    match node.expect("/init started", Duration::from_secs(20)) {
        Ok(_) => println!("kvm: works here (a guest reached /init); VIGIL_ACCEL=kvm enables it"),
        Err(_) => println!("kvm: /dev/kvm opens but the guest did not reach /init in 20 s: use TCG (the default)"),
    }
    Ok(())
}

/// A board and what goes into its firmware slot: the kernel, the initramfs
/// built around `firmware` (built here when not given), the device tree.
/// What an image is (`/etc/vigil/release`) and whom it trusts.
#[derive(clap::Args, Debug)]
struct StampArgs {
    /// Build number: devices install only a higher one than they run.
    #[arg(long, default_value_t = 1)]
    build: u64,
    /// The version operators read (default: this tool's).
    #[arg(long)]
    version: Option<String>,
    /// A public key (`.pub` from keygen) the image trusts for its updates;
    /// repeat for several. Without one, the image installs no update.
    #[arg(long = "update-key")]
    update_keys: Vec<PathBuf>,
}

impl StampArgs {
    fn stamp(&self) -> Result<build::Stamp> {
        let keys = self.update_keys.iter().map(|k| vigil_image::update::public_key(k)).collect::<Result<Vec<_>>>()?;
        let version = self.version.clone().unwrap_or_else(|| env!("CARGO_PKG_VERSION").to_string());
        Ok(build::Stamp { release: vigil_update::release::Release { build: self.build, version }, keys })
    }
}

#[derive(clap::Subcommand, Debug)]
enum ChannelCmd {
    /// Put a signed bundle in the channel and start its rollout.
    Publish {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long)]
        key: PathBuf,
        /// The share of the fleet that installs it first.
        #[arg(long, default_value_t = 1)]
        percent: u8,
        /// Devices with a synced clock refuse the channel after this.
        #[arg(long, default_value_t = 30)]
        expires_days: u64,
        /// The rollout's salt (default: a random one).
        #[arg(long)]
        salt: Option<String>,
        bundle: PathBuf,
    },
    /// Read the reports; move the rollout to its next stage (1, 10, 50,
    /// 100 %) when the success threshold is met, pause it when the error
    /// threshold is crossed.
    Advance {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long)]
        key: PathBuf,
        #[arg(long, default_value_t = 90)]
        success_percent: u8,
        #[arg(long, default_value_t = 10)]
        error_percent: u8,
    },
    /// Stop the rollout where it is.
    Pause {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long)]
        key: PathBuf,
        #[arg(long, default_value = "paused by hand")]
        why: String,
    },
    /// The channel, the rollout and the reports.
    Status {
        #[arg(long)]
        dir: PathBuf,
    },
}

fn channel_cmd(c: ChannelCmd) -> Result<()> {
    use vigil_image::channel;
    match c {
        ChannelCmd::Publish { dir, key, percent, expires_days, salt, bundle } => {
            let c = channel::publish(&dir, &key, &bundle, percent, expires_days, salt)?;
            println!(
                "channel {} sequence {}: build {} at {} %",
                dir.display(),
                c.sequence,
                c.rollout.build,
                c.rollout.percent
            );
        }
        ChannelCmd::Advance { dir, key, success_percent, error_percent } => {
            let t = vigil_update::channel::Thresholds { success_percent, error_percent };
            match channel::advance(&dir, &key, t)? {
                vigil_update::channel::Step::Advance { from, to, why } => {
                    println!("advanced {from} % -> {to} %: {why}")
                }
                vigil_update::channel::Step::Pause(why) => println!("paused: {why}"),
                vigil_update::channel::Step::Hold(why) => println!("held: {why}"),
                vigil_update::channel::Step::Done(why) => println!("done: {why}"),
            }
        }
        ChannelCmd::Pause { dir, key, why } => {
            let c = channel::pause(&dir, &key, &why)?;
            println!("channel {} sequence {}: build {} paused", dir.display(), c.sequence, c.rollout.build);
        }
        ChannelCmd::Status { dir } => println!("{}", channel::status(&dir)?),
    }
    Ok(())
}

fn slot_files(
    board: &str,
    firmware: Option<PathBuf>,
    stamp: &build::Stamp,
) -> Result<(vigil_board::Board, vigil_image::disk::SlotFiles)> {
    let b = boards::load_board(board)?;
    let fw = match firmware {
        Some(f) => f,
        None => build::firmware(b.arch)?,
    };
    let img = build::build_image_stamped(&b, &fw, &format!("{}-build{}", b.name, stamp.release.build), &[], stamp)?;
    let tree = kernel::fetch(&b)?;
    let files = vigil_image::disk::SlotFiles::load(&b, &tree, &img.initrd)?;
    Ok((b, files))
}
