use super::key_flags::key_help;
use super::*;
use crate::config::KEYS;
use clap::CommandFactory;

/// The subcommands with key flags, and their `takes` bit.
const TAKERS: [(&str, u8); 4] = [
    ("run", takes::RUN),
    ("preflight", takes::PREFLIGHT),
    ("disconnect", takes::DISCONNECT),
    ("classify", takes::CLASSIFY),
];

#[test]
fn every_key_flag_and_its_help_come_from_the_key_list() {
    let plain = Cli::command();
    let shown = command();
    let defaults = crate::config::defaults_shown();
    for sub in plain.get_subcommands() {
        let name = sub.get_name();
        let bits = TAKERS.iter().find(|t| t.0 == name).map_or(0, |t| t.1);
        let shown_sub = shown.find_subcommand(name).unwrap();
        for arg in sub.get_arguments() {
            let Some(long) = arg.get_long() else { continue };
            // A flag spelt like a key's is that key's, made from its line.
            let Some(k) = KEYS
                .iter()
                .find(|k| k.flag.as_ref().is_some_and(|f| f.long == long))
            else {
                continue;
            };
            let f = k.flag_for(bits).unwrap_or_else(|| {
                panic!(
                    "{name} --{long}: the key list does not give `{}` to {name}",
                    k.name
                )
            });
            assert_eq!(arg.get_id(), k.name, "{name} --{long}");
            let help = arg.get_help().map(|h| h.to_string());
            assert_eq!(
                help.as_deref(),
                Some(f.switch.map_or(k.text(), |s| s.1)),
                "{name} --{long}"
            );
            let shown_help = shown_sub
                .get_arguments()
                .find(|a| a.get_id() == k.name)
                .and_then(|a| a.get_help())
                .map(|h| h.to_string());
            assert_eq!(
                shown_help,
                Some(key_help(k, f, &defaults)),
                "{name} --{long}"
            );
        }
        for k in KEYS.iter().filter(|k| k.flag_for(bits).is_some()) {
            assert!(
                sub.get_arguments().any(|a| a.get_id() == k.name),
                "{name} lacks the flag of `{}`",
                k.name
            );
        }
    }
}

#[test]
fn every_key_has_a_default_or_says_what_unset_means() {
    let defaults = crate::config::defaults_shown();
    for k in KEYS {
        let has_default = defaults.iter().any(|(key, _)| key == k.name);
        if k.optional {
            assert!(k.unset.is_some() && !has_default, "{}", k.name);
        } else {
            assert!(has_default && k.unset.is_none(), "{}", k.name);
        }
    }
}

#[test]
fn flag_values_are_looked_up_by_the_key_name() {
    let cli = Cli::try_parse_from([
        "stagerun",
        "run",
        "d/ORCH-1",
        "--repo",
        "r",
        "--no-push",
        "--retries",
        "3",
        "--kube-context",
        "c",
        "--transport",
        "local",
    ])
    .unwrap();
    let Command::Run(run) = cli.command else {
        panic!("not run")
    };
    let mut got = run.keys.0.clone();
    got.sort();
    assert_eq!(
        got,
        vec![
            ("infra_retries", "3".to_string()),
            ("kube_context", "c".into()),
            ("push", "false".into()),
            ("transport", "local".into()),
        ]
    );
}
