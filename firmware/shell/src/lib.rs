//! vigil's serial console shell.

pub mod editor;
