//! Launch plan (pure): which program a container runs and with what arguments.
//!
//! The image maps to a binary, which plays the image's entrypoint. As in Kubernetes, `args`
//! replace the default arguments (there are none) and `command` replaces the entrypoint: when
//! `command[0]`'s file name is the mapped binary's (`broker`, `/usr/local/bin/broker`), the mapped
//! binary runs with the rest of `command` followed by `args`; any other `command[0]` runs as a
//! host program (found on PATH), e.g. `sh -c ...` in tests.

use std::path::{Path, PathBuf};

/// Program and arguments of one container run (before `$(VAR)` expansion).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub program: PathBuf,
    pub args: Vec<String>,
}

/// Builds the plan from the mapped binary and the container's `command` / `args`.
#[must_use]
pub fn plan(mapped: &Path, command: &[String], args: &[String]) -> Plan {
    let Some((first, rest)) = command.split_first() else {
        return Plan {
            program: mapped.to_path_buf(),
            args: args.to_vec(),
        };
    };
    let names_mapped = Path::new(first).file_name().is_some()
        && Path::new(first).file_name() == mapped.file_name();
    Plan {
        program: if names_mapped {
            mapped.to_path_buf()
        } else {
            PathBuf::from(first)
        },
        args: rest.iter().chain(args).cloned().collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| (*x).to_owned()).collect()
    }

    #[test]
    fn args_only_run_the_mapped_binary() {
        let p = plan(Path::new("/t/debug/broker"), &[], &s(&["--node-id", "1"]));
        assert_eq!(p.program, Path::new("/t/debug/broker"));
        assert_eq!(p.args, s(&["--node-id", "1"]));
    }

    #[test]
    fn command_naming_the_binary_keeps_the_mapping() {
        let p = plan(
            Path::new("/t/debug/broker"),
            &s(&["/usr/local/bin/broker", "--x"]),
            &s(&["--y"]),
        );
        assert_eq!(p.program, Path::new("/t/debug/broker"));
        assert_eq!(p.args, s(&["--x", "--y"]));
    }

    #[test]
    fn other_commands_run_on_the_host() {
        let p = plan(
            Path::new("/t/debug/broker"),
            &s(&["sh", "-c"]),
            &s(&["exit 3"]),
        );
        assert_eq!(p.program, Path::new("sh"));
        assert_eq!(p.args, s(&["-c", "exit 3"]));
    }
}
