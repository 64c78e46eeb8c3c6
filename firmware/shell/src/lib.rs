//! vigil's serial console shell.

pub mod diff;
pub mod editor;
pub mod password;
pub mod session;
