use super::*;

fn sample() -> Board {
    let text = include_str!("../../../board/qemu-x86_64.toml");
    toml_like(text)
}

// The firmware crate does not depend on a TOML parser; the tests borrow the
// image tool's parser through a dev-dependency.
fn toml_like(text: &str) -> Board {
    toml::from_str(text).expect("board file parses")
}

#[test]
fn shipped_boards_parse_and_validate() {
    for text in [
        include_str!("../../../board/qemu-x86_64.toml"),
        include_str!("../../../board/qemu-aarch64.toml"),
        include_str!("../../../board/x86_64-uefi.toml"),
        include_str!("../../../board/rock-pi-e.toml"),
    ] {
        let b = toml_like(text);
        b.validate().unwrap_or_else(|e| panic!("{e:?}"));
    }
}

#[test]
fn validation_reports_every_problem_with_its_field() {
    let mut b = sample();
    b.hostname = "-bad".into();
    b.kernel.sha256 = "abc".into();
    b.nics.push(b.nics[0].clone());
    b.modules.first.push("virtio_nett".into());
    let f = b.flash.as_mut().unwrap();
    f.partitions[1].offset = Size(1 << 20); // overlaps config
    f.partitions[4].size = Size(1 << 30); // beyond the flash
    let errs = b.validate().unwrap_err();
    let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
    assert!(fields.contains(&"hostname"), "{errs:?}");
    assert!(fields.contains(&"kernel.sha256"), "{errs:?}");
    assert!(fields.contains(&"nic[1].name"), "{errs:?}");
    assert!(fields.contains(&"flash.partition"), "{errs:?}");
    assert!(fields.contains(&"flash.partition state"), "{errs:?}");
    let first = errs.iter().find(|e| e.field == "modules.first").expect("modules.first");
    assert!(first.to_string().contains("\"virtio_nett\" is not in modules.load"), "{first}");
    assert!(errs[0].to_string().starts_with("board qemu-x86_64: "));
}

#[test]
fn a_bootloader_inside_a_partition_or_the_gpt_is_refused() {
    let mut b = toml_like(include_str!("../../../board/rock-pi-e.toml"));
    let bl = b.bootloader.as_mut().unwrap();
    bl.raw[0].offset = Size(8 * 512); // the GPT's entries
    bl.raw[1].offset = Size(20 << 20); // inside the config ring
    bl.sha256 = "x".into();
    b.kernel.devicetree = Some("/boot/x.dtb".into());
    let errs = b.validate().unwrap_err();
    let text: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
    assert_eq!(
        text,
        [
            "board rock-pi-e: kernel.devicetree: \"/boot/x.dtb\" must be a path inside the kernel package",
            "board rock-pi-e: bootloader.raw[0].offset: 4K must be a multiple of 512 after the partition table (17408 bytes)",
            "board rock-pi-e: bootloader.raw[1].offset: 20M is inside partition config",
            "board rock-pi-e: bootloader.sha256: \"x\" is not 64 hex digits",
        ]
    );
}

#[test]
fn pvh_is_refused_off_x86() {
    let mut b = sample();
    b.arch = Arch::Aarch64;
    let errs = b.validate().unwrap_err();
    assert_eq!(errs[0].field, "qemu.boot");
}

#[test]
fn unknown_keys_are_errors() {
    let text = include_str!("../../../board/qemu-x86_64.toml").replace("hostname = ", "hostnme = ");
    let err = toml::from_str::<Board>(&text).unwrap_err().to_string();
    assert!(err.contains("hostnme"), "{err}");
}

#[test]
fn sizes_parse_and_print() {
    assert_eq!("64M".parse::<Size>().unwrap(), Size(64 << 20));
    assert_eq!("512k".parse::<Size>().unwrap(), Size(512 << 10));
    assert_eq!("4096".parse::<Size>().unwrap(), Size(4096));
    assert!("12Q".parse::<Size>().is_err());
    assert!("99999999999G".parse::<Size>().is_err());
    assert_eq!(Size(160 << 20).to_string(), "160M");
    assert_eq!(Size(1536).to_string(), "1536");
}

#[test]
fn deb_file_name_escapes_epoch() {
    let mut k = sample().kernel;
    assert_eq!(k.deb_file_name(Arch::X86_64), "linux-image-6.1.0-56-amd64_6.1.192-2_amd64.deb");
    k.version = "1:2.0".into();
    assert!(k.deb_file_name(Arch::X86_64).contains("1%3a2.0"));
}

fn runtime() -> Runtime {
    let b = sample();
    Runtime {
        board: b.name,
        arch: b.arch,
        hostname: b.hostname,
        kernel_release: b.kernel.release,
        modules: vec![ModuleLoad {
            name: "ip_vs".into(),
            path: "/lib/modules/x/ip_vs.ko".into(),
            params: String::new(),
        }],
        first: 1,
        on_demand: vec![crate::OnDemand {
            name: "ip_vs_sh".into(),
            chain: vec![ModuleLoad {
                name: "ip_vs_sh".into(),
                path: "/lib/modules/x/ip_vs_sh.ko".into(),
                params: String::new(),
            }],
        }],
        console: "ttyS0".into(),
        nics: vec!["eth0".into()],
        watchdog: b.watchdog,
        flash: b.flash,
    }
}

#[test]
fn runtime_round_trips() {
    let rt = runtime();
    assert_eq!(Runtime::decode(&rt.encode()).unwrap(), rt);
}

#[test]
fn runtime_rejects_bad_input_clearly() {
    let bytes = runtime().encode();
    assert!(matches!(Runtime::decode(b"ELF\x7f\0\0"), Err(RuntimeError::BadMagic(_))));
    assert!(matches!(Runtime::decode(&[]), Err(RuntimeError::BadMagic(_))));
    let mut newer = bytes.clone();
    newer[4] = 9;
    assert_eq!(Runtime::decode(&newer), Err(RuntimeError::TooNew { found: 9 }));
    // Every truncation is an error, never a panic or a wrong board.
    for n in 6..bytes.len() {
        assert!(Runtime::decode(&bytes[..n]).is_err(), "truncated at {n}");
    }
    let mut long = bytes.clone();
    long.push(0);
    assert!(matches!(Runtime::decode(&long), Err(RuntimeError::Corrupt(_))));
}
