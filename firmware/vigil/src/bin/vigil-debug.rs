//! vigil with the test-only console commands (`debug stall`, `debug kill`,
//! `debug trial`): built only with the `debug-commands` feature, for the
//! QEMU tests; never in a release image.

fn main() {
    vigil::main()
}
