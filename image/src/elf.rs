//! Checks on the firmware binary: it must be fully static (no ELF
//! interpreter, no shared libraries), since the image has no libc.

use anyhow::{Result, bail};
use object::elf;
use object::read::elf::{Dyn, FileHeader, ProgramHeader};
use vigil_board::Arch;

/// What makes a binary dynamic.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Linkage {
    pub interpreter: Option<String>,
    pub needed: usize,
}

pub fn linkage(bytes: &[u8]) -> Result<Linkage> {
    let hdr = elf::FileHeader64::<object::Endianness>::parse(bytes)?;
    let endian = hdr.endian()?;
    let mut out = Linkage::default();
    for ph in hdr.program_headers(endian, bytes)? {
        match ph.p_type(endian) {
            elf::PT_INTERP => {
                let data = ph.data(endian, bytes).map_err(|_| anyhow::anyhow!("bad PT_INTERP"))?;
                let end = data.iter().position(|&b| b == 0).unwrap_or(data.len());
                out.interpreter = Some(String::from_utf8_lossy(&data[..end]).into_owned());
            }
            elf::PT_DYNAMIC => {
                if let Some(dyns) = ph.dynamic(endian, bytes)? {
                    out.needed += dyns.iter().filter(|d| d.d_tag(endian) == elf::DT_NEEDED).count();
                }
            }
            _ => {}
        }
    }
    Ok(out)
}

/// Fails with what makes the binary dynamic.
pub fn check_static(bytes: &[u8]) -> Result<()> {
    let l = linkage(bytes)?;
    if let Some(i) = l.interpreter {
        bail!("not a static binary: it asks for the ELF interpreter {i}");
    }
    if l.needed > 0 {
        bail!("not a static binary: it needs {} shared libraries", l.needed);
    }
    Ok(())
}

pub fn check_arch(bytes: &[u8], arch: Arch) -> Result<()> {
    let hdr = elf::FileHeader64::<object::Endianness>::parse(bytes)?;
    let machine = hdr.e_machine(hdr.endian()?);
    let want = match arch {
        Arch::X86_64 => elf::EM_X86_64,
        Arch::Aarch64 => elf::EM_AARCH64,
    };
    if machine != want {
        bail!("built for ELF machine {machine}, but the board is {arch}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_dynamic_host_binary_is_caught() {
        // Debian's coreutils are dynamically linked against glibc.
        let bytes = std::fs::read("/bin/ls").expect("/bin/ls");
        let e = super::check_static(&bytes).unwrap_err().to_string();
        assert!(e.contains("interpreter"), "{e}");
        assert!(super::linkage(&bytes).unwrap().needed > 0);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(super::linkage(b"\x7fELF\x02\x01\x01").is_err());
        assert!(super::linkage(&[]).is_err());
    }
}
