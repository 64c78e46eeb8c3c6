//! Resolving a board's module list into a load order: every hard dependency
//! and soft pre-dependency before its user, soft post-dependencies after it,
//! built-in modules skipped, aliases (e.g. `crc32c`) mapped to a module.

use crate::modinfo::{ModInfo, normalize};
use anyhow::{Result, bail};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Where to find modules and their metadata. The real one reads a kernel
/// tree; unit tests use an in-memory table.
pub trait ModuleSource {
    /// The module file's path relative to `lib/modules/<release>`, if the
    /// kernel ships it as a loadable module.
    fn file(&self, name: &str) -> Option<String>;
    fn is_builtin(&self, name: &str) -> bool;
    fn info(&self, name: &str) -> Result<ModInfo>;
    /// Modules that declare `alias=<alias>`.
    fn providers(&self, alias: &str) -> Result<Vec<String>>;
}

/// One module to load, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub name: String,
    /// Relative to `lib/modules/<release>`.
    pub file: String,
}

#[derive(Debug, Default)]
pub struct Resolution {
    pub order: Vec<Resolved>,
    pub builtin: Vec<String>,
    /// Optional soft dependencies that no module provides (harmless).
    pub unresolved_soft: Vec<String>,
}

/// Resolves `wanted` (plus dependencies) into a load order.
/// `prefer` picks the provider of an alias when several modules provide it.
pub fn resolve(src: &dyn ModuleSource, wanted: &[String], prefer: &BTreeMap<String, String>) -> Result<Resolution> {
    let mut r = Resolver { src, prefer, done: BTreeSet::new(), visiting: Vec::new(), out: Resolution::default() };
    for w in wanted {
        r.visit(&normalize(w), true, &format!("board module {w}"))?;
    }
    Ok(r.out)
}

struct Resolver<'a> {
    src: &'a dyn ModuleSource,
    prefer: &'a BTreeMap<String, String>,
    done: BTreeSet<String>,
    visiting: Vec<String>,
    out: Resolution,
}

impl Resolver<'_> {
    fn visit(&mut self, name: &str, required: bool, why: &str) -> Result<()> {
        let Some(module) = self.lookup(name, why)? else {
            if required {
                bail!("{why}: no module or built-in named {name:?} in this kernel");
            }
            self.out.unresolved_soft.push(name.to_string());
            return Ok(());
        };
        if self.done.contains(&module) {
            return Ok(());
        }
        if self.visiting.contains(&module) {
            // Softdeps may form cycles (a post: b, b pre: a): the kernel breaks
            // them the same way, by loading what is already in progress later.
            if required {
                bail!("dependency cycle: {} -> {module}", self.visiting.join(" -> "));
            }
            return Ok(());
        }
        if self.src.is_builtin(&module) {
            self.done.insert(module.clone());
            self.out.builtin.push(module);
            return Ok(());
        }
        let Some(file) = self.src.file(&module) else {
            bail!("{why}: {module} has no module file");
        };
        let info = self.src.info(&module)?;
        self.visiting.push(module.clone());
        for d in &info.pre {
            self.visit(d, false, &format!("{module} (softdep pre)"))?;
        }
        for d in &info.depends {
            self.visit(d, true, &format!("{module} (depends)"))?;
        }
        self.visiting.pop();
        self.done.insert(module.clone());
        self.out.order.push(Resolved { name: module.clone(), file });
        for d in &info.post {
            self.visit(d, false, &format!("{module} (softdep post)"))?;
        }
        Ok(())
    }

    /// The module that provides `name`: itself, the board's preference, or
    /// the single module that declares it as an alias.
    fn lookup(&self, name: &str, why: &str) -> Result<Option<String>> {
        if let Some(p) = self.prefer.get(name) {
            return Ok(Some(normalize(p)));
        }
        if self.src.file(name).is_some() || self.src.is_builtin(name) {
            return Ok(Some(name.to_string()));
        }
        let mut providers = self.src.providers(name)?;
        providers.sort();
        match providers.as_slice() {
            [] => Ok(None),
            [one] => Ok(Some(one.clone())),
            many => bail!(
                "{why}: {name:?} is provided by {}; pick one in the board file's [modules] prefer",
                many.join(", ")
            ),
        }
    }
}

/// The modules of an unpacked kernel package.
pub struct KernelModules {
    dir: PathBuf,
    files: BTreeMap<String, String>,
    builtin: BTreeSet<String>,
    aliases: std::cell::OnceCell<BTreeMap<String, Vec<String>>>,
}

impl KernelModules {
    /// Indexes `lib/modules/<release>`: every `.ko` by name, and
    /// `modules.builtin`.
    pub fn open(dir: &Path) -> Result<KernelModules> {
        let mut files = BTreeMap::new();
        let mut stack = vec![dir.join("kernel")];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d)? {
                let e = e?;
                let p = e.path();
                if e.file_type()?.is_dir() {
                    stack.push(p);
                } else if let Some(stem) = p.file_name().and_then(|n| n.to_str()).and_then(|n| n.strip_suffix(".ko")) {
                    let rel = p.strip_prefix(dir)?.to_string_lossy().into_owned();
                    files.insert(normalize(stem), rel);
                }
            }
        }
        let builtin = std::fs::read_to_string(dir.join("modules.builtin"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.rsplit('/').next()?.strip_suffix(".ko").map(normalize))
            .collect();
        Ok(KernelModules { dir: dir.to_path_buf(), files, builtin, aliases: Default::default() })
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.join(rel)
    }

    /// Reads every module's aliases once; only needed when a softdep names
    /// an alias the board did not pick a provider for.
    fn alias_index(&self) -> Result<&BTreeMap<String, Vec<String>>> {
        if let Some(idx) = self.aliases.get() {
            return Ok(idx);
        }
        let mut idx: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (name, rel) in &self.files {
            for a in ModInfo::read(&self.dir.join(rel))?.aliases {
                idx.entry(a).or_default().push(name.clone());
            }
        }
        Ok(self.aliases.get_or_init(|| idx))
    }
}

impl ModuleSource for KernelModules {
    fn file(&self, name: &str) -> Option<String> {
        self.files.get(name).cloned()
    }
    fn is_builtin(&self, name: &str) -> bool {
        self.builtin.contains(name)
    }
    fn info(&self, name: &str) -> Result<ModInfo> {
        match self.files.get(name) {
            Some(rel) => ModInfo::read(&self.dir.join(rel)),
            None => bail!("no module file for {name}"),
        }
    }
    fn providers(&self, alias: &str) -> Result<Vec<String>> {
        Ok(self.alias_index()?.get(alias).cloned().unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An in-memory kernel (a fake: unit tests have no kernel package; the
    /// real one is exercised by the boot tests).
    #[derive(Default)]
    struct FakeKernel {
        mods: BTreeMap<String, ModInfo>,
        builtin: BTreeSet<String>,
    }

    impl FakeKernel {
        fn add(&mut self, name: &str, depends: &[&str], pre: &[&str], post: &[&str], aliases: &[&str]) {
            let s = |v: &[&str]| v.iter().map(|s| s.to_string()).collect();
            self.mods.insert(
                name.into(),
                ModInfo {
                    name: Some(name.into()),
                    depends: s(depends),
                    pre: s(pre),
                    post: s(post),
                    aliases: s(aliases),
                },
            );
        }
    }

    impl ModuleSource for FakeKernel {
        fn file(&self, name: &str) -> Option<String> {
            self.mods.contains_key(name).then(|| format!("kernel/{name}.ko"))
        }
        fn is_builtin(&self, name: &str) -> bool {
            self.builtin.contains(name)
        }
        fn info(&self, name: &str) -> Result<ModInfo> {
            Ok(self.mods[name].clone())
        }
        fn providers(&self, alias: &str) -> Result<Vec<String>> {
            Ok(self.mods.iter().filter(|(_, m)| m.aliases.iter().any(|a| a == alias)).map(|(n, _)| n.clone()).collect())
        }
    }

    /// The shape of Debian 6.1's IPVS dependencies.
    fn ipvs_kernel() -> FakeKernel {
        let mut k = FakeKernel::default();
        k.add("crc32c_generic", &[], &[], &[], &["crc32c", "crypto-crc32c"]);
        k.add("crc32c_intel", &[], &[], &[], &["crc32c", "crypto-crc32c"]);
        k.add("libcrc32c", &[], &["crc32c"], &[], &[]);
        k.add("nf_defrag_ipv4", &[], &[], &[], &[]);
        k.add("nf_defrag_ipv6", &[], &[], &[], &[]);
        k.add("nf_conntrack", &["nf_defrag_ipv6", "nf_defrag_ipv4", "libcrc32c"], &[], &[], &[]);
        k.add("ip_vs", &["nf_conntrack", "nf_defrag_ipv6", "libcrc32c"], &[], &[], &[]);
        k.add("ip_vs_rr", &["ip_vs"], &[], &[], &[]);
        k
    }

    fn names(r: &Resolution) -> Vec<&str> {
        r.order.iter().map(|m| m.name.as_str()).collect()
    }

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn ipvs_resolves_dependencies_first_with_the_preferred_crc32c() {
        let k = ipvs_kernel();
        let prefer = BTreeMap::from([("crc32c".to_string(), "crc32c_generic".to_string())]);
        let r = resolve(&k, &strings(&["ip_vs", "ip_vs_rr"]), &prefer).unwrap();
        assert_eq!(
            names(&r),
            ["nf_defrag_ipv6", "nf_defrag_ipv4", "crc32c_generic", "libcrc32c", "nf_conntrack", "ip_vs", "ip_vs_rr"]
        );
    }

    #[test]
    fn an_ambiguous_alias_asks_for_a_preference() {
        let k = ipvs_kernel();
        let e = resolve(&k, &strings(&["ip_vs"]), &BTreeMap::new()).unwrap_err().to_string();
        assert!(e.contains("crc32c_generic, crc32c_intel"), "{e}");
        assert!(e.contains("prefer"), "{e}");
    }

    #[test]
    fn builtins_are_skipped_and_missing_modules_named() {
        let mut k = FakeKernel::default();
        k.add("virtio_net", &["virtio", "net_failover"], &[], &[], &[]);
        k.add("net_failover", &["failover"], &[], &[], &[]);
        k.add("failover", &[], &[], &["not_here"], &[]);
        k.builtin.insert("virtio".into());
        let r = resolve(&k, &strings(&["virtio-net"]), &BTreeMap::new()).unwrap();
        assert_eq!(names(&r), ["failover", "net_failover", "virtio_net"]);
        assert_eq!(r.builtin, ["virtio"]);
        assert_eq!(r.unresolved_soft, ["not_here"]);
        let e = resolve(&k, &strings(&["ip_vs"]), &BTreeMap::new()).unwrap_err().to_string();
        assert!(e.contains("\"ip_vs\""), "{e}");
    }

    #[test]
    fn a_hard_cycle_is_an_error() {
        let mut k = FakeKernel::default();
        k.add("a", &["b"], &[], &[], &[]);
        k.add("b", &["a"], &[], &[], &[]);
        let e = resolve(&k, &strings(&["a"]), &BTreeMap::new()).unwrap_err().to_string();
        assert!(e.contains("cycle"), "{e}");
    }
}
