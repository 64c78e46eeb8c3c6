//! The console's command language, first cut: status and power commands.
//! Parsing is pure; `system` executes. (The full shell with a candidate
//! config, line editing and completion replaces this.)

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Nothing,
    Help,
    ShowSystem,
    ShowInterfaces,
    ShowModules,
    ShowIpvs,
    PowerOff,
    Reboot,
    Halt,
}

pub const HELP: &str = "\
commands:
  show system       version, board, kernel, uptime
  show interfaces   links as the kernel holds them
  show modules      loaded kernel modules
  show ipvs         the kernel's IPVS table (/proc/net/ip_vs)
  poweroff | reboot | halt
  help";

const SHOW_WHAT: &str = "show what? system, interfaces, modules, ipvs";

/// Parses one console line. Unique prefixes are accepted (`sh int`).
pub fn parse(line: &str) -> Result<Command, String> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let Some((first, rest)) = words.split_first() else {
        return Ok(Command::Nothing);
    };
    let top = ["show", "poweroff", "reboot", "halt", "help", "?"];
    let cmd = match pick(first, &top)? {
        "show" => {
            let Some((what, extra)) = rest.split_first() else {
                return Err(SHOW_WHAT.into());
            };
            no_more(extra)?;
            match pick(what, &["system", "interfaces", "modules", "ipvs"])
                .map_err(|e| format!("{e}; {SHOW_WHAT}"))?
            {
                "system" => Command::ShowSystem,
                "interfaces" => Command::ShowInterfaces,
                "modules" => Command::ShowModules,
                _ => Command::ShowIpvs,
            }
        }
        "poweroff" => no_more(rest).map(|_| Command::PowerOff)?,
        "reboot" => no_more(rest).map(|_| Command::Reboot)?,
        "halt" => no_more(rest).map(|_| Command::Halt)?,
        _ => Command::Help,
    };
    Ok(cmd)
}

fn pick<'a>(word: &str, choices: &[&'a str]) -> Result<&'a str, String> {
    if let Some(exact) = choices.iter().find(|c| **c == word) {
        return Ok(exact);
    }
    let matches: Vec<&&str> = choices.iter().filter(|c| c.starts_with(word)).collect();
    match matches.as_slice() {
        [one] => Ok(one),
        [] => Err(format!("unknown command {word:?}; type help")),
        many => Err(format!(
            "{word:?} is ambiguous: {}",
            many.iter().map(|s| **s).collect::<Vec<_>>().join(", ")
        )),
    }
}

fn no_more(rest: &[&str]) -> Result<(), String> {
    match rest.first() {
        None => Ok(()),
        Some(w) => Err(format!("unexpected {w:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_and_prefixes() {
        assert_eq!(parse("").unwrap(), Command::Nothing);
        assert_eq!(parse("  show   system ").unwrap(), Command::ShowSystem);
        assert_eq!(parse("sh int").unwrap(), Command::ShowInterfaces);
        assert_eq!(parse("show ipvs").unwrap(), Command::ShowIpvs);
        assert_eq!(parse("poweroff").unwrap(), Command::PowerOff);
        assert_eq!(parse("?").unwrap(), Command::Help);
    }

    #[test]
    fn mistakes_say_what_was_wrong() {
        assert_eq!(
            parse("shwo").unwrap_err(),
            "unknown command \"shwo\"; type help"
        );
        assert!(parse("show").unwrap_err().starts_with("show what?"));
        assert!(
            parse("show xyz")
                .unwrap_err()
                .contains("system, interfaces")
        );
        assert_eq!(parse("reboot now").unwrap_err(), "unexpected \"now\"");
        // "h" could be halt or help
        assert!(parse("h").unwrap_err().contains("ambiguous"));
    }
}
