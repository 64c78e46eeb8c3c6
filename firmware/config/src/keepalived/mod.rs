//! keepalived.conf: import into the model (every unsupported keyword
//! reported with file:line:column, nothing dropped silently) and export back.

pub mod edit;
pub mod export;
pub mod import;
pub mod keywords;
pub mod syntax;

pub use export::{Flavor, export};
pub use import::{Diagnostic, Import, Severity, import, import_file, import_file_as, import_str, import_str_as};
