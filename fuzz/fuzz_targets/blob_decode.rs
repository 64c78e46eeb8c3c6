//! Arbitrary bytes as a config blob: decode must return an error or a
//! config, never panic; a decoded config re-encodes to a blob that decodes
//! to the same config.
#![no_main]
use libfuzzer_sys::fuzz_target;
use vigil_config::blob;

fuzz_target!(|data: &[u8]| {
    if let Ok(d) = blob::decode(data) {
        let again = blob::encode(&d.config, d.header.generation, d.header.flags).expect("re-encode");
        assert_eq!(blob::decode(&again).expect("decode again").config, d.config);
    }
});
