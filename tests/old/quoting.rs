//! For arbitrary strings, the argv a POSIX shell on the staging host parses
//! from our remote command is exactly the intended argv: nothing escapes
//! quoting. Checked through real `sh -c` (dash) and bash.

use proptest::prelude::*;
use std::process::Command;

fn round_trip(shell: &str, args: &[String]) -> Vec<String> {
    let mut parts = vec!["printf".to_string(), "%s\\0".to_string()];
    parts.extend(args.iter().cloned());
    let remote = stagerun::transport::remote_command(&parts).expect("quotable");
    let out = Command::new(shell).args(["-c", &remote]).output().unwrap();
    assert!(
        out.status.success(),
        "{shell} -c {remote:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut got: Vec<String> = out
        .stdout
        .split(|b| *b == 0)
        .map(|s| String::from_utf8(s.to_vec()).unwrap())
        .collect();
    got.pop();
    got
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]
    #[test]
    fn shell_receives_exactly_our_argv(args in proptest::collection::vec("[^\u{0}]{0,24}", 1..5)) {
        // printf reuses its format for every argument, so each comes back NUL-terminated.
        for shell in ["sh", "bash"] {
            prop_assert_eq!(round_trip(shell, &args), args.clone());
        }
    }

    #[test]
    fn shell_metacharacters_stay_data(args in proptest::collection::vec(r#"[-;&|<>()$`\\"' \t\n*?\[\]#~=%!{}a-z]{0,16}"#, 1..6)) {
        for shell in ["sh", "bash"] {
            prop_assert_eq!(round_trip(shell, &args), args.clone());
        }
    }
}

#[test]
fn nul_is_refused_not_sent() {
    let parts = vec!["echo".to_string(), "a\0b".to_string()];
    assert!(stagerun::transport::remote_command(&parts).is_err());
}
