//! Arbitrary text as keepalived.conf: parse and import must report, never
//! panic; whatever imports without error exports to text that imports to
//! the same model.
#![no_main]
use libfuzzer_sys::fuzz_target;
use vigil_config::keepalived::{Flavor, export, import_str};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(i) = import_str("fuzz.conf", text) {
        if i.errors().next().is_none() {
            let out = export(&i.config, Flavor::Vigil);
            let again = import_str("export", &out).expect("export parses");
            assert_eq!(again.config, i.config, "{out}");
        }
    }
});
