//! keepalived itself accepts what vigil exports: every sample Debian's
//! keepalived ships and vigil's own fixtures are imported, exported in
//! keepalived's flavor, and checked with `keepalived --config-test` in a
//! network namespace that has the interfaces the config names (veth).
//! And keepalived refuses what vigil refuses (priority 0).

use std::collections::BTreeSet;
use std::process::Command;
use vigil_config::Config;
use vigil_config::keepalived::{Flavor, export, import_file, import_file_as};
use vigil_tests::{have_program, is_root, require};

/// A namespace with the interfaces a config names.
struct Netns(vigil_tests::vrrp_pair::Netns);

impl Netns {
    fn new(name: &str, ifaces: &BTreeSet<String>) -> Netns {
        let ns = Netns(vigil_tests::vrrp_pair::Netns::fresh(name));
        // veth pairs (the host kernel has no dummy driver): the named end,
        // and a peer that stays unused.
        for (n, i) in ifaces.iter().enumerate() {
            let peer = format!("vkpeer{n}");
            let ok =
                ns.ip(&["link", "add", i, "type", "veth", "peer", "name", &peer]) && ns.ip(&["link", "set", i, "up"]);
            assert!(ok, "creating interface {i}");
        }
        ns
    }
    fn ip(&self, args: &[&str]) -> bool {
        Command::new("ip").args(["-n", &self.0]).args(args).status().is_ok_and(|s| s.success())
    }
    /// `keepalived --config-test`: exit status and what it said.
    fn config_test(&self, conf: &std::path::Path) -> (bool, String) {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.0, "keepalived", "--config-test", "-f"])
            .arg(conf)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout),
        )
    }
}

fn interfaces(c: &Config) -> BTreeSet<String> {
    let mut s = BTreeSet::new();
    for v in &c.vrrp_instances {
        s.insert(v.interface.to_string());
        for a in &v.virtual_ipaddress {
            if let Some(d) = &a.dev {
                s.insert(d.to_string());
            }
        }
        for t in &v.track_interface {
            s.insert(t.interface.to_string());
        }
        for r in &v.virtual_routes {
            s.extend(r.dev.as_ref().map(|d| d.to_string()));
        }
    }
    for r in &c.global.static_routes {
        s.extend(r.dev.as_ref().map(|d| d.to_string()));
    }
    if let Some(d) = &c.global.lvs_sync_daemon {
        s.insert(d.interface.to_string());
    }
    s.remove("");
    s
}

/// keepalived's config test fails on remarks about configs it runs as
/// they are: an instance with no VIP ("at least one is sensible"), the
/// `vrrp_garp_interval 0` of the kubeadm guides (2.2.7 takes 0 as out of
/// range and keeps its default, which is 0), deprecated spellings
/// (nb_get_retry), a route it cannot watch (no interface; vigil does not
/// watch routes), and strict mode's changes (vigil warns of the same).
fn only_remarks(said: &str) -> bool {
    said.lines().all(|l| {
        l.trim().is_empty()
            || l.contains("No VIP specified; at least one is sensible")
            || l.contains("number '0' outside range [0.000001")
            || l.contains("_interval '0' is invalid")
            || l.contains("is deprecated - please use")
            || l.contains("with no interface specified, not tracking")
            || l.contains("State MASTER must match being address owner")
            || l.contains("Strict mode does not support authentication")
    })
}

fn prerequisites() -> bool {
    require(is_root(), "root (network namespaces)")
        && require(have_program("keepalived"), "keepalived (apt-get install keepalived)")
        && require(have_program("ip"), "ip (iproute2)")
}

fn configs() -> Vec<String> {
    let mut files: Vec<String> = ["master.conf", "backup.conf", "vigil.conf"]
        .iter()
        .map(|f| format!("{}/firmware/config/tests/keepalived/{f}", vigil_tests::root().display()))
        .collect();
    let dir = "/usr/share/doc/keepalived/samples";
    for e in std::fs::read_dir(dir).expect(dir).flatten() {
        let p = e.path().to_string_lossy().into_owned();
        if p.rsplit('/').next().is_some_and(|n| n.starts_with("keepalived.conf")) {
            files.push(p);
        }
    }
    files.sort();
    files
}

#[test]
fn keepalived_accepts_every_export() {
    if !prerequisites() {
        return;
    }
    let dir = vigil_tests::test_dir("keepalived-accepts");
    let mut checked = 0;
    for f in configs() {
        // As the config crate's sample test: the conditional sample is run
        // with `-i high`; the one whose sync group lists its members
        // outside `group { }` is refused (a typo keepalived only logs).
        let imported = if f.ends_with("conditional_conf") { import_file_as(&f, "high") } else { import_file(&f) };
        let imported = imported.unwrap();
        if f.ends_with("keepalived.conf.vrrp.lvs_syncd") || f.ends_with("keepalived.conf.vrrp.rules") {
            // (and the one with two rules that have no address, which
            // keepalived skips).
            assert_eq!(imported.errors().count(), 2, "{f}");
            continue;
        }
        assert_eq!(imported.errors().count(), 0, "{f}");
        let mut c = imported.config;
        // keepalived --config-test refuses a script that is not on this
        // host: the samples' scripts are not; /bin/true is.
        // Nor does it run scripts without script security.
        for sc in c.vrrp_scripts.iter_mut() {
            sc.script = "/bin/true".try_into().unwrap();
            c.global.enable_script_security = true;
            c.global.script_user = Some(vigil_config::ScriptUser { user: "root".try_into().unwrap(), group: None });
        }
        if c.validate().is_err() {
            continue; // e.g. a sample whose VIPs fall outside its interfaces: vigil refuses it
        }
        let out = dir.join(format!("{}.conf", f.rsplit('/').next().unwrap()));
        std::fs::write(&out, export(&c, Flavor::Keepalived)).unwrap();
        let ns = Netns::new("vigil-kt", &interfaces(&c));
        let (ok, said) = ns.config_test(&out);
        assert!(ok || only_remarks(&said), "keepalived refused vigil's export of {f} ({}):\n{said}", out.display());
        checked += 1;
    }
    eprintln!("keepalived --config-test accepted vigil's export of {checked} configs");
    assert!(checked >= 20, "only {checked} configs checked");
}

#[test]
fn keepalived_refuses_what_vigil_refuses() {
    if !prerequisites() {
        return;
    }
    let dir = vigil_tests::test_dir("keepalived-refuses");
    let f = format!("{}/firmware/config/tests/keepalived/master.conf", vigil_tests::root().display());
    let mut c = import_file(&f).unwrap().config;
    c.vrrp_instances[0].priority = 0;
    let e = c.validate().unwrap_err();
    assert!(e[0].to_string().contains("priority 0 is reserved"));
    let out = dir.join("priority0.conf");
    std::fs::write(&out, export(&c, Flavor::Keepalived)).unwrap();
    let ns = Netns::new("vigil-kr", &interfaces(&c));
    let (_, said) = ns.config_test(&out);
    assert!(said.contains("Priority not valid"), "{said}");
}

/// The corpus (tests/corpus/keepalived, see its README): configs in the
/// shapes operators run, each a config keepalived 2.2.7 accepts as it is
/// (`keepalived --config-test`), each imported by vigil with nothing
/// ignored (no "unsupported"; "replaced" says where a feature went), valid,
/// and the same after export and import.
#[test]
fn the_corpus_imports_with_nothing_lost() {
    use vigil_config::keepalived::{Severity, import_str};
    if !prerequisites() {
        return;
    }
    let dir = vigil_tests::root().join("tests/corpus/keepalived");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/corpus/keepalived")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "conf"))
        .collect();
    files.sort();
    for f in &files {
        let name = f.display().to_string();
        let i = import_file(&name).unwrap_or_else(|e| panic!("{e}"));
        let lost: Vec<String> = i
            .diagnostics
            .iter()
            .filter(|d| !matches!(d.severity, Severity::Warning | Severity::Replaced))
            .map(|d| d.to_string())
            .collect();
        assert!(lost.is_empty(), "{name}: {lost:#?}");
        if let Err(e) = i.config.validate() {
            panic!("{name}: {e:?}");
        }
        let text = export(&i.config, Flavor::Vigil);
        let again = import_str("export", &text).unwrap();
        assert_eq!(again.config, i.config, "{name}: not the same after export and import:\n{text}");
        let ns = Netns::new("vigil-corpus", &interfaces(&i.config));
        let (ok, said) = ns.config_test(f);
        assert!(ok || only_remarks(&said), "keepalived refused {name}:\n{said}");
    }
    eprintln!("{} corpus configs: keepalived accepts each, vigil imports each with nothing lost", files.len());
    assert!(files.len() >= 10, "only {} corpus files", files.len());
}
