//! vigil: the whole userland of a router / load-balancer appliance (the
//! program is the library's `main`, shared with `vigil-debug`).

fn main() {
    vigil::main()
}
