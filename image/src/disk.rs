//! Disk images: what an appliance boots from its own firmware.
//!
//! A GPT disk laid out as the board's `[flash]` says: the config ring (at
//! 1 MiB, where vigil has always kept it), firmware slots A and B (each a FAT
//! file system with `vmlinuz`, `initrd` and `manifest`), the EFI system
//! partition (GRUB, its script and two copies of its environment) and the
//! updater's state.
//!
//! Built without root or loop devices, in Rust: gptman writes the GPT and
//! fatfs the file systems, into a plain file. Every GUID, volume id and
//! timestamp comes from the inputs (the board and the files), so the same
//! inputs make the same bytes. The one outside tool is GRUB's own
//! `grub-mkimage`, which puts GRUB's core and modules from Debian's package
//! into one EFI program.

use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use vigil_board::{Arch, Board, GPT_BYTES, part};
use vigil_bootenv::ab::{self, BootState, Slot};

const SECTOR: u64 = 512;

/// A GUID as GPT stores it: the first three fields little-endian.
fn guid(text: &str) -> [u8; 16] {
    let hex: String = text.chars().filter(|c| *c != '-').collect();
    let mut b = [0u8; 16];
    for (i, byte) in b.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap_or(0);
    }
    b[0..4].reverse();
    b[4..6].reverse();
    b[6..8].reverse();
    b
}

/// A GUID that is the same every build: from a hash of what it names, as a
/// version-4 (random) GUID would look.
fn stable_guid(what: &str) -> [u8; 16] {
    let h = Sha256::digest(what.as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&h[..16]);
    b[7] = (b[7] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    b
}

/// Partition types. The slots hold FAT file systems, but as "Linux data"
/// no desktop mounts them; the config ring and the state are vigil's own.
const ESP_TYPE: &str = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B";
const LINUX_DATA_TYPE: &str = "0FC63DAF-8483-4772-8E79-3D69D8477DE4";
const VIGIL_CONFIG_TYPE: &str = "6A9E5C10-3B7E-4C55-9D1B-76494749C001";
const VIGIL_STATE_TYPE: &str = "6A9E5C10-3B7E-4C55-9D1B-76494749C002";

/// One partition of the disk, resolved from the board.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// GPT entry number (1-based): the board file's order.
    pub number: u32,
    pub name: String,
    pub offset: u64,
    pub size: u64,
}

/// The partitions of a board's disk; every one vigil needs is there.
pub fn layout(board: &Board) -> Result<Vec<Part>> {
    let flash = board.flash.as_ref().with_context(|| format!("board {}: no [flash] section", board.name))?;
    board
        .validate()
        .map_err(|errs| anyhow::anyhow!("{}", errs.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; ")))?;
    let parts: Vec<Part> = flash
        .partitions
        .iter()
        .enumerate()
        .map(|(i, p)| Part { number: i as u32 + 1, name: p.name.clone(), offset: p.offset.0, size: p.size.0 })
        .collect();
    for need in [part::CONFIG, part::SLOT_A, part::SLOT_B, part::ESP] {
        if !parts.iter().any(|p| p.name == need) {
            bail!("board {}: flash.partition: no partition named {need:?} (a disk image needs one)", board.name);
        }
    }
    Ok(parts)
}

fn find<'a>(parts: &'a [Part], name: &str) -> &'a Part {
    // layout() checked that it is there.
    parts.iter().find(|p| p.name == name).unwrap_or(&parts[0])
}

/// What the EFI firmware starts on each architecture, and GRUB's name for it.
fn efi_names(arch: Arch) -> (&'static str, &'static str) {
    match arch {
        Arch::X86_64 => ("BOOTX64.EFI", "x86_64-efi"),
        Arch::Aarch64 => ("BOOTAA64.EFI", "arm64-efi"),
    }
}

/// Where GRUB's modules for `arch` are: Debian's package, installed on this
/// machine (ci/setup installs grub-efi-amd64-bin), or else fetched with
/// `apt-get download` and unpacked into the cache as the kernels are (the
/// arm64 package installs only on arm64).
fn grub_modules(arch: Arch) -> Result<PathBuf> {
    let (_, target) = efi_names(arch);
    let installed = PathBuf::from("/usr/lib/grub").join(target);
    if installed.join("normal.mod").is_file() {
        return Ok(installed);
    }
    let (package, debian) = match arch {
        Arch::X86_64 => ("grub-efi-amd64-bin", "amd64"),
        Arch::Aarch64 => ("grub-efi-arm64-bin", "arm64"),
    };
    let dir = crate::paths::cache_dir().join("grub").join(debian);
    let modules = dir.join("root/usr/lib/grub").join(target);
    if modules.join("normal.mod").is_file() {
        return Ok(modules);
    }
    std::fs::create_dir_all(&dir)?;
    let spec = format!("{package}:{debian}");
    eprintln!("vigil-image: apt-get download {spec}");
    let out = std::process::Command::new("apt-get")
        .args(["download", "-q", &spec])
        .current_dir(&dir)
        .output()
        .context("running apt-get (run ci/setup)")?;
    if !out.status.success() {
        bail!(
            "GRUB's {target} modules: {} is not installed and apt-get download {spec} failed: {} \
             (for arm64, dpkg needs the architecture: ci/setup adds it)",
            installed.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let deb = std::fs::read_dir(&dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            p.file_name().is_some_and(|n| n.to_string_lossy().starts_with(package))
                && p.extension().is_some_and(|e| e == "deb")
        })
        .with_context(|| format!("apt-get download {spec} left no .deb in {}", dir.display()))?;
    let st = std::process::Command::new("dpkg-deb").arg("-x").arg(&deb).arg(dir.join("root")).status()?;
    if !st.success() || !modules.join("normal.mod").is_file() {
        bail!("unpacking {} gave no {}", deb.display(), modules.display());
    }
    Ok(modules)
}

/// GRUB's modules in the EFI program: reading GPT and FAT, the script
/// (normal), its environment, and booting Linux.
const GRUB_MODULES: &[&str] =
    &["part_gpt", "fat", "normal", "linux", "loadenv", "test", "echo", "regexp", "configfile", "sleep"];

/// GRUB as one EFI program that reads its script from the ESP (with
/// `devicetree` when the board's kernel needs one from the slot).
pub fn grub_efi(board: &Board, work: &Path) -> Result<Vec<u8>> {
    let arch = board.arch;
    let dir = grub_modules(arch)?;
    let (_, target) = efi_names(arch);
    let out = work.join(format!("grub-{target}.efi"));
    let status = std::process::Command::new("grub-mkimage")
        .args(["-O", target, "-p", "/EFI/vigil", "-d"])
        .arg(&dir)
        .arg("-o")
        .arg(&out)
        .args(GRUB_MODULES)
        .args(board.kernel.devicetree.as_ref().map(|_| "fdt"))
        .status()
        .context("running grub-mkimage (grub-common)")?;
    if !status.success() {
        bail!("grub-mkimage -O {target} failed ({status})");
    }
    std::fs::read(&out).with_context(|| format!("reading {}", out.display()))
}

/// The boot script: [`BootState::boot`] in GRUB's language. It reads both
/// copies of the environment as [`ab::read_pair`] does, counts a trial
/// down (or rolls it back) and saves that before it boots, and tells the
/// kernel which slot it booted and why (`vigil.slot=`, `vigil.boot=`).
pub fn grub_cfg(board: &Board, parts: &[Part]) -> String {
    let (a, b) = (find(parts, part::SLOT_A).number, find(parts, part::SLOT_B).number);
    let cmdline = &board.kernel.cmdline;
    // The device tree that came with the slot's kernel, not whatever the
    // firmware has: a slot carries its kernel's own.
    let devicetree = match board.kernel.devicetree {
        Some(_) => format!("devicetree ($disk,$part)/{DTB}\n"),
        None => String::new(),
    };
    let copies = ["a", "b"]
        .iter()
        .map(|c| {
            format!(
                r#"unset vigil_seq
unset vigil_check
unset good_slot
unset failed_slot
unset try_slot
unset tries_left
if load_env --file $envdir/grubenv-{c} vigil_seq vigil_check good_slot failed_slot try_slot tries_left; then
 if regexp '^[0-9]+$' "$vigil_seq"; then
  if [ "$vigil_seq" = "$vigil_check" ]; then
   if regexp '^[ab]$' "$good_slot"; then
    if regexp '^[ab-]$' "$failed_slot"; then
     if regexp '^[ab-]$' "$try_slot"; then
      if regexp '^[0-9]$' "$tries_left"; then
       set {c}_ok=1
       set {c}_seq="$vigil_seq"
       set {c}_good="$good_slot"
       set {c}_failed="$failed_slot"
       set {c}_try="$try_slot"
       set {c}_tries="$tries_left"
      fi
     fi
    fi
   fi
  fi
 fi
fi
"#
            )
        })
        .collect::<String>();
    let countdown = (1..=ab::MAX_TRIES)
        .rev()
        .map(|t| format!("    if [ \"$tries\" = {t} ]; then set tries_left={}; fi\n", t - 1))
        .collect::<String>();
    format!(
        r#"# vigil's boot script, written by vigil-image: BootState::boot
# (firmware/bootenv/src/ab.rs) in GRUB's language. Two copies of the
# environment; a copy counts when vigil_seq = vigil_check (not torn) and
# every value is valid; the higher vigil_seq wins, copy a on a tie.
set timeout=0
set gfxpayload=text
set envdir=/EFI/vigil
regexp --set=1:disk '^([^,]+),' "$root"
set a_ok=0
set b_ok=0
{copies}
set use=none
if [ $a_ok = 1 ]; then set use=a; fi
if [ $b_ok = 1 ]; then
  if [ $use = none ]; then set use=b; elif [ "$b_seq" -gt "$a_seq" ]; then set use=b; fi
fi
set env=ok
if [ $use = a ]; then
  set good=$a_good; set failed=$a_failed; set try=$a_try; set tries=$a_tries
elif [ $use = b ]; then
  set good=$b_good; set failed=$b_failed; set try=$b_try; set tries=$b_tries
else
  # Neither copy can be read: slot a, and vigil is told (it rewrites both).
  set good=a; set failed=-; set try=-; set tries=0; set env=lost
fi
set slot=$good
set why=good
if [ "$try" != "-" ]; then
  if [ "$tries" != 0 ]; then
    set slot=$try
    set why=trial
    # One digit down: the block keeps its length, GRUB rewrites one byte.
{countdown}    save_env --file $envdir/grubenv-a tries_left
    save_env --file $envdir/grubenv-b tries_left
  else
    set why=rollback
    # failed_slot comes first in the block: a cut between the two writes
    # leaves a state that rolls back the same way.
    set failed_slot=$try
    set try_slot=-
    save_env --file $envdir/grubenv-a failed_slot try_slot
    save_env --file $envdir/grubenv-b failed_slot try_slot
  fi
fi
if [ $slot = a ]; then set part=gpt{a}; else set part=gpt{b}; fi
echo "vigil: booting slot $slot ($why)"
linux ($disk,$part)/vmlinuz {cmdline} vigil.slot=$slot vigil.boot=$why vigil.env=$env
initrd ($disk,$part)/initrd
{devicetree}boot
"#
    )
}

/// What a slot says about the firmware in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    pub board: String,
    pub version: String,
    /// The first 16 hex digits of the SHA-256 of the kernel and initramfs.
    pub build: String,
}

/// The slot's file that holds the device tree.
const DTB: &str = "dtb";

/// What goes into a firmware slot: the kernel as the bootloader loads it
/// (the bzImage on x86_64, Image on arm64), the initramfs, and the board's
/// device tree from the same kernel package (boards that need one).
#[derive(Debug, Clone)]
pub struct SlotFiles {
    pub kernel: Vec<u8>,
    pub initrd: Vec<u8>,
    pub dtb: Option<Vec<u8>>,
}

impl SlotFiles {
    /// The files for `board` from its unpacked kernel package and an initramfs.
    pub fn load(board: &Board, tree: &crate::kernel::KernelTree, initrd: &Path) -> Result<SlotFiles> {
        let read = |p: &Path| std::fs::read(p).with_context(|| format!("reading {}", p.display()));
        Ok(SlotFiles {
            kernel: read(&tree.image)?,
            initrd: read(initrd)?,
            dtb: board.kernel.devicetree.as_ref().map(|d| read(&tree.root.join(d))).transpose()?,
        })
    }
}

impl Manifest {
    /// What a slot holding `files` says about them.
    pub fn of(board: &Board, files: &SlotFiles) -> Manifest {
        let mut h = Sha256::new();
        h.update(&files.kernel);
        h.update(&files.initrd);
        if let Some(d) = &files.dtb {
            h.update(d);
        }
        Manifest {
            board: board.name.clone(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            build: hex::encode(&h.finalize()[..8]),
        }
    }

    pub fn text(&self) -> String {
        format!("board={}\nversion={}\nbuild={}\n", self.board, self.version, self.build)
    }
}

use vigil_bootenv::esp::{self, EPOCH, Window};

/// A FAT file system of `size` bytes holding `files` (path, bytes).
pub fn fat(size: u64, label: &str, id: u32, files: &[(&str, &[u8])]) -> Result<Vec<u8>> {
    let mut name = [b' '; 11];
    for (d, s) in name.iter_mut().zip(label.bytes()) {
        *d = s.to_ascii_uppercase();
    }
    let mut cur = std::io::Cursor::new(vec![0u8; usize::try_from(size)?]);
    fatfs::format_volume(&mut cur, fatfs::FormatVolumeOptions::new().volume_label(name).volume_id(id))
        .with_context(|| format!("formatting {label}"))?;
    {
        let fs = fatfs::FileSystem::new(&mut cur, fatfs::FsOptions::new().time_provider(&EPOCH))?;
        let root = fs.root_dir();
        for (path, data) in files {
            let mut dir = root.clone();
            let mut comps: Vec<&str> = path.split('/').filter(|c| !c.is_empty()).collect();
            let file = comps.pop().with_context(|| format!("{path:?} is not a file path"))?;
            for c in comps {
                dir = match dir.open_dir(c) {
                    Ok(d) => d,
                    Err(_) => dir.create_dir(c)?,
                };
            }
            let mut f = dir.create_file(file)?;
            f.truncate()?;
            f.write_all(data).with_context(|| format!("writing {path} into {label} ({size} bytes)"))?;
        }
    }
    Ok(cur.into_inner())
}

/// What went into a disk image.
#[derive(Debug)]
pub struct Disk {
    pub path: PathBuf,
    pub size: u64,
    pub parts: Vec<Part>,
    pub manifest: Manifest,
    /// The bootloader's files outside the partitions: (file, offset, length).
    pub raw: Vec<(String, u64, u64)>,
}

/// Builds the disk image for `board` with `files` in both slots.
pub fn build(board: &Board, files: &SlotFiles, out: &Path) -> Result<Disk> {
    let parts = layout(board)?;
    let flash = board.flash.as_ref().context("no flash")?;
    let manifest = Manifest::of(board, files);
    let raw = bootloader(board, &parts)?;
    let work = out.with_extension("work");
    std::fs::create_dir_all(&work)?;
    let grub = grub_efi(board, &work)?;
    let (efi_name, _) = efi_names(board.arch);
    let env = ab::encode_copy(&BootState::new(Slot::A), 1);
    let cfg = grub_cfg(board, &parts);

    // A new file each time (sparse: the config ring and state stay erased).
    let tmp = out.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    f.set_len(flash.size.0)?;
    let mut gpt = gptman::GPT::new_from(&mut f, SECTOR, stable_guid(&format!("{}:disk", board.name)))
        .context("making the partition table")?;
    gpt.align = 1;
    for p in &parts {
        let kind = match p.name.as_str() {
            part::ESP => ESP_TYPE,
            part::CONFIG => VIGIL_CONFIG_TYPE,
            part::STATE => VIGIL_STATE_TYPE,
            _ => LINUX_DATA_TYPE,
        };
        gpt[p.number] = gptman::GPTPartitionEntry {
            partition_type_guid: guid(kind),
            unique_partition_guid: stable_guid(&format!("{}:{}", board.name, p.name)),
            starting_lba: p.offset / SECTOR,
            ending_lba: (p.offset + p.size) / SECTOR - 1,
            attribute_bits: 0,
            partition_name: p.name.as_str().into(),
        };
    }
    gptman::GPT::write_protective_mbr_into(&mut f, SECTOR).context("writing the protective MBR")?;
    gpt.write_into(&mut f).context("writing the partition table")?;
    const { assert!(GPT_BYTES == 34 * SECTOR) };

    let mut put = |p: &Part, bytes: &[u8]| -> Result<()> {
        f.seek(SeekFrom::Start(p.offset))?;
        f.write_all(bytes).with_context(|| format!("writing partition {}", p.name))
    };
    let esp = find(&parts, part::ESP);
    let esp_path = format!("EFI/BOOT/{efi_name}");
    put(
        esp,
        &fat(
            esp.size,
            "VIGIL-ESP",
            volume_id(board, part::ESP),
            &[
                (&esp_path, &grub),
                ("EFI/vigil/grub.cfg", cfg.as_bytes()),
                ("EFI/vigil/grubenv-a", &env),
                ("EFI/vigil/grubenv-b", &env),
                (esp::NOTE_PATH, &vigil_bootenv::note::Note::blank()),
            ],
        )?,
    )?;
    for slot in [Slot::A, Slot::B] {
        let (p, fs) = slot_fs(board, &parts, slot, files, &manifest)?;
        put(p, &fs)?;
    }
    for r in &raw {
        f.seek(SeekFrom::Start(r.offset))?;
        f.write_all(&r.bytes).with_context(|| format!("writing {}", r.file))?;
    }
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, out)?;
    let _ = std::fs::remove_dir_all(&work);
    let raw = raw.into_iter().map(|r| (r.file, r.offset, r.bytes.len() as u64)).collect();
    Ok(Disk { path: out.to_path_buf(), size: flash.size.0, parts, manifest, raw })
}

/// Writes a firmware slot of a disk image: a new FAT file system with
/// `files` and the manifest (what the updater does on an appliance; here
/// for images and tests).
pub fn write_slot(board: &Board, disk: &Path, slot: Slot, files: &SlotFiles) -> Result<Manifest> {
    let parts = layout(board)?;
    let manifest = Manifest::of(board, files);
    let (p, fs) = slot_fs(board, &parts, slot, files, &manifest)?;
    let mut f = std::fs::OpenOptions::new().write(true).open(disk)?;
    f.seek(SeekFrom::Start(p.offset))?;
    f.write_all(&fs)?;
    f.sync_all()?;
    Ok(manifest)
}

/// A slot's file system as an update bundle carries it: what [`slot_fs`]
/// makes, cut after its last non-zero sector (the rest of the partition is
/// free space the file system never reads).
pub fn slot_payload(board: &Board, files: &SlotFiles) -> Result<Vec<u8>> {
    let parts = layout(board)?;
    let manifest = Manifest::of(board, files);
    let (_, mut fs) = slot_fs(board, &parts, Slot::B, files, &manifest)?;
    let used = fs.chunks(SECTOR as usize).rposition(|s| s.iter().any(|&b| b != 0)).map_or(0, |i| i + 1);
    fs.truncate(used * SECTOR as usize);
    Ok(fs)
}

/// A slot's partition and its file system: `vmlinuz`, `initrd`, `dtb` (if
/// the board has one), `manifest`.
fn slot_fs<'a>(
    board: &Board,
    parts: &'a [Part],
    slot: Slot,
    files: &SlotFiles,
    manifest: &Manifest,
) -> Result<(&'a Part, Vec<u8>)> {
    let name = match slot {
        Slot::A => part::SLOT_A,
        Slot::B => part::SLOT_B,
    };
    let p = find(parts, name);
    // The same bytes in either slot (label, volume id): an update bundle's
    // payload goes into whichever slot is not running.
    let text = manifest.text();
    let mut list: Vec<(&str, &[u8])> =
        vec![("vmlinuz", &files.kernel), ("initrd", &files.initrd), ("manifest", text.as_bytes())];
    if let Some(d) = &files.dtb {
        list.push((DTB, d));
    }
    Ok((p, fat(p.size, "VIGIL-SLOT", volume_id(board, "slot"), &list)?))
}

/// A file of the board's bootloader and where it goes on the disk.
#[derive(Debug)]
pub struct RawFile {
    pub file: String,
    pub offset: u64,
    pub bytes: Vec<u8>,
}

/// The board's bootloader files (none for a board whose firmware reads the
/// ESP itself), from its pinned package; each must end before the next one,
/// before any partition and before the backup GPT.
pub fn bootloader(board: &Board, parts: &[Part]) -> Result<Vec<RawFile>> {
    let Some(bl) = &board.bootloader else { return Ok(Vec::new()) };
    let pin = crate::kernel::Pin { package: &bl.package, version: &bl.version, sha256: &bl.sha256, arch: board.arch };
    let root = crate::kernel::fetch_pinned(&board.name, &pin, "bootloaders", || {
        format!(
            "A newer {} may have replaced it on the mirror (apt-cache policy {}): pin that in [bootloader] \
             (version and sha256) after checking the board still boots.",
            bl.package, bl.package
        )
    })?;
    let mut out = Vec::new();
    for (i, r) in bl.raw.iter().enumerate() {
        let path = root.join(&r.file);
        let bytes = std::fs::read(&path).with_context(|| {
            format!("board {}: bootloader.raw[{i}].file {:?} is not in {}", board.name, r.file, bl.package)
        })?;
        out.push(RawFile { file: r.file.clone(), offset: r.offset.0, bytes });
    }
    check_raw(board, parts, &out)?;
    Ok(out)
}

/// Every raw file fits where the board puts it: it ends before the next
/// raw file, before the next partition, and before the backup GPT.
fn check_raw(board: &Board, parts: &[Part], raw: &[RawFile]) -> Result<()> {
    let size = board.flash.as_ref().map_or(0, |f| f.size.0);
    for (i, r) in raw.iter().enumerate() {
        let end = r.offset + r.bytes.len() as u64;
        let next = raw
            .iter()
            .map(|o| (o.offset, o.file.as_str()))
            .chain(parts.iter().map(|p| (p.offset, p.name.as_str())))
            .chain([(size.saturating_sub(GPT_BYTES), "the backup partition table")])
            .filter(|(o, _)| *o > r.offset)
            .min_by_key(|(o, _)| *o);
        if let Some((o, what)) = next
            && end > o
        {
            bail!(
                "board {}: bootloader.raw[{i}]: {} ({} bytes at {}) runs into {what} at {}",
                board.name,
                r.file,
                r.bytes.len(),
                r.offset,
                o
            );
        }
    }
    Ok(())
}

/// A FAT volume id that is the same every build.
fn volume_id(board: &Board, what: &str) -> u32 {
    u32::from_le_bytes(stable_guid(&format!("{}:{what}", board.name))[..4].try_into().unwrap_or([0; 4]))
}

/// The two copies of the boot environment in a disk image's ESP.
pub fn read_env(board: &Board, disk: &Path) -> Result<[Vec<u8>; 2]> {
    let esp = find(&layout(board)?, part::ESP).clone();
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(disk)
        .with_context(|| format!("opening {}", disk.display()))?;
    esp::read(Window::new(&f, esp.offset, esp.size)).with_context(|| format!("{}: reading the ESP", disk.display()))
}

/// A file from one of a disk image's FAT partitions (a slot or the ESP).
pub fn read_file(board: &Board, disk: &Path, partition: &str, path: &str) -> Result<Vec<u8>> {
    use std::io::Read;
    let parts = layout(board)?;
    let p = parts.iter().find(|p| p.name == partition).with_context(|| format!("no partition {partition:?}"))?;
    let f = std::fs::OpenOptions::new().read(true).write(true).open(disk)?;
    let fs = fatfs::FileSystem::new(Window::new(&f, p.offset, p.size), fatfs::FsOptions::new().time_provider(&EPOCH))
        .with_context(|| format!("{}: partition {partition} is not FAT", disk.display()))?;
    let mut out = Vec::new();
    fs.root_dir()
        .open_file(path)
        .with_context(|| format!("{}: no {path} in partition {partition}", disk.display()))?
        .read_to_end(&mut out)?;
    Ok(out)
}

/// Writes both copies of the boot environment (A, then B), in place.
pub fn write_env(board: &Board, disk: &Path, state: &BootState, seq: u64) -> Result<()> {
    write_env_bytes(board, disk, &ab::encode_copy(state, seq), &[ab::Copy::A, ab::Copy::B])
}

/// Writes `block` over the given copies as they are (tests damage copies so).
pub fn write_env_bytes(board: &Board, disk: &Path, block: &[u8], copies: &[ab::Copy]) -> Result<()> {
    let esp = find(&layout(board)?, part::ESP).clone();
    let f = std::fs::OpenOptions::new().read(true).write(true).open(disk)?;
    esp::write(Window::new(&f, esp.offset, esp.size), block, copies, || f.sync_data())
        .with_context(|| format!("{}: writing the boot environment", disk.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guids_are_stored_mixed_endian() {
        assert_eq!(
            guid(ESP_TYPE),
            [0x28, 0x73, 0x2a, 0xc1, 0x1f, 0xf8, 0xd2, 0x11, 0xba, 0x4b, 0x00, 0xa0, 0xc9, 0x3e, 0xc9, 0x3b]
        );
        assert_eq!(stable_guid("x"), stable_guid("x"));
        assert_ne!(stable_guid("x"), stable_guid("y"));
    }

    #[test]
    fn the_layout_needs_every_partition() {
        let mut b = crate::load_board("qemu-x86_64").unwrap();
        let parts = layout(&b).unwrap();
        assert_eq!(find(&parts, part::CONFIG).offset, 1 << 20, "the config ring stays where it was");
        b.flash.as_mut().unwrap().partitions.retain(|p| p.name != part::ESP);
        let e = layout(&b).unwrap_err().to_string();
        assert_eq!(e, "board qemu-x86_64: flash.partition: no partition named \"esp\" (a disk image needs one)");
    }

    #[test]
    fn the_environment_is_read_and_written_in_the_esp() {
        let b = crate::load_board("qemu-x86_64").unwrap();
        let dir = std::env::temp_dir().join(format!("vigil-disk-env-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let d = dir.join("disk.img");
        let files = SlotFiles { kernel: b"kernel".to_vec(), initrd: b"initrd".to_vec(), dtb: None };
        if grub_modules(b.arch).is_err() {
            assert!(std::env::var("CI").as_deref() != Ok("true"), "grub-efi-amd64-bin is missing");
            return eprintln!("skipped: no GRUB modules");
        }
        build(&b, &files, &d).unwrap();
        let [a, bb] = read_env(&b, &d).unwrap();
        let p = ab::read_pair(&a, &bb);
        assert_eq!((p.state, p.seq, p.damaged.len()), (BootState::new(Slot::A), 1, 0));
        let mut s = p.state;
        s.start_trial(Slot::B, 3).unwrap();
        write_env(&b, &d, &s, 2).unwrap();
        let [a, bb] = read_env(&b, &d).unwrap();
        assert_eq!(ab::read_pair(&a, &bb).state, s);
        // Same bytes from the same inputs.
        let d2 = dir.join("disk2.img");
        build(&b, &files, &d2).unwrap();
        let d3 = dir.join("disk3.img");
        build(&b, &files, &d3).unwrap();
        assert!(std::fs::read(&d2).unwrap() == std::fs::read(&d3).unwrap(), "two builds differ");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_bootloader_file_that_runs_into_a_partition_is_refused() {
        let b = crate::load_board("rock-pi-e").unwrap();
        let parts = layout(&b).unwrap();
        let raw = |offset: u64, len: usize| RawFile { file: "u-boot.itb".into(), offset, bytes: vec![0; len] };
        check_raw(&b, &parts, &[raw(32 << 10, 100_000), raw(8 << 20, 8 << 20)]).unwrap();
        let e = check_raw(&b, &parts, &[raw(32 << 10, 100_000), raw(8 << 20, (8 << 20) + 1)]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "board rock-pi-e: bootloader.raw[1]: u-boot.itb (8388609 bytes at 8388608) runs into config at 16777216"
        );
        let e = check_raw(&b, &parts, &[raw(32 << 10, 9 << 20), raw(8 << 20, 1)]).unwrap_err();
        assert!(e.to_string().contains("raw[0]: u-boot.itb (9437184 bytes at 32768) runs into u-boot.itb at 8388608"));
    }

    #[test]
    fn the_script_loads_the_slots_device_tree_where_the_board_has_one() {
        let b = crate::load_board("rock-pi-e").unwrap();
        let cfg = grub_cfg(&b, &layout(&b).unwrap());
        assert!(cfg.contains("initrd ($disk,$part)/initrd\ndevicetree ($disk,$part)/dtb\nboot\n"), "{cfg}");
        let pc = crate::load_board("qemu-x86_64").unwrap();
        assert!(!grub_cfg(&pc, &layout(&pc).unwrap()).contains("devicetree"));
    }

    #[test]
    fn the_script_counts_down_every_try() {
        let b = crate::load_board("qemu-x86_64").unwrap();
        let cfg = grub_cfg(&b, &layout(&b).unwrap());
        for t in 1..=ab::MAX_TRIES {
            assert!(cfg.contains(&format!("if [ \"$tries\" = {t} ]; then set tries_left={}; fi", t - 1)));
        }
        assert!(cfg.contains("set part=gpt2; else set part=gpt3;"), "{cfg}");
    }
}
