//! Repository contracts: `.ci/run` runs exactly the README's test command.
use std::path::Path;

fn repo_file(rel: &str) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    std::fs::read_to_string(root.join(rel)).unwrap_or_else(|e| panic!("reading {rel}: {e}"))
}

/// The command lines of the README's first ```sh block, without comments.
fn readme_commands() -> Vec<String> {
    let readme = repo_file("README.md");
    let block = readme
        .split("```sh\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("README has a ```sh block with the set-up commands");
    block
        .lines()
        .map(|l| l.split('#').next().unwrap_or_default().trim().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

#[test]
fn readme_gives_exactly_two_setup_commands() {
    let cmds = readme_commands();
    assert_eq!(cmds.len(), 2, "README set-up block: {cmds:?}");
}

#[test]
fn ci_runs_the_readme_test_command_verbatim() {
    let test_cmd = readme_commands().pop().expect("a test command");
    let ci = repo_file(".ci/run");
    let ci_cmds: Vec<&str> = ci
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter(|l| !l.starts_with("set ") && !l.starts_with("cd "))
        .collect();
    assert_eq!(
        ci_cmds,
        vec![test_cmd.as_str()],
        ".ci/run must run only the README test command"
    );
}
