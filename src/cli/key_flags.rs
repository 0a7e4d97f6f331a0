//! The flags of configuration keys, made from the key list: a subcommand
//! takes the keys whose line gives it their flag, and their values are read
//! back by the key's name.

use super::Cli;
use crate::config::{Flag, KEYS, KeyDoc};
use clap::CommandFactory;

/// The command-line values of the configuration keys a subcommand takes
/// (the keys whose flag names its `takes` bit): each flag is made from its
/// line in the key list (name, help, value placeholder, choices), and its
/// value is looked up by the key's name. They are the top layer of
/// `config::resolve`; `command()` adds each one's environment variable and
/// default to its help.
#[derive(Debug, Clone, Default)]
pub struct KeyFlags<const TAKES: u8>(pub Vec<(&'static str, String)>);

fn key_flags(takes: u8) -> impl Iterator<Item = (&'static KeyDoc, &'static Flag)> {
    KEYS.iter()
        .filter_map(move |k| k.flag_for(takes).map(|f| (k, f)))
}

fn key_arg(k: &'static KeyDoc, f: &'static Flag) -> clap::Arg {
    let arg = clap::Arg::new(k.name).long(f.long);
    if let Some((_, help)) = f.switch {
        return arg.action(clap::ArgAction::SetTrue).help(help);
    }
    let metavar = k
        .metavar
        .map(str::to_string)
        .unwrap_or_else(|| f.long.replace('-', "_").to_ascii_uppercase());
    let arg = arg
        .action(clap::ArgAction::Set)
        .help(k.text())
        .value_name(metavar)
        // A negative number is a bad value of its key (exit 78), not an unknown flag.
        .allow_negative_numbers(true);
    if k.choices.is_empty() {
        arg
    } else {
        arg.value_parser(clap::builder::PossibleValuesParser::new(k.choices))
    }
}

impl<const TAKES: u8> clap::Args for KeyFlags<TAKES> {
    fn augment_args(cmd: clap::Command) -> clap::Command {
        let heading = cmd.get_next_help_heading().map(str::to_string);
        let cmd = key_flags(TAKES).fold(cmd.next_help_heading("Settings"), |cmd, (k, f)| {
            cmd.arg(key_arg(k, f))
        });
        match heading {
            Some(h) => cmd.next_help_heading(h),
            None => cmd.next_help_heading(clap::builder::Resettable::Reset),
        }
    }
    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        Self::augment_args(cmd)
    }
}

impl<const TAKES: u8> clap::FromArgMatches for KeyFlags<TAKES> {
    fn from_arg_matches(m: &clap::ArgMatches) -> Result<Self, clap::Error> {
        let mut values = Vec::new();
        for (k, f) in key_flags(TAKES) {
            match f.switch {
                Some((set, _)) if m.get_flag(k.name) => values.push((k.name, set.to_string())),
                Some(_) => {}
                None => {
                    if let Some(v) = m.get_one::<String>(k.name) {
                        values.push((k.name, v.clone()));
                    }
                }
            }
        }
        Ok(KeyFlags(values))
    }
    fn update_from_arg_matches(&mut self, m: &clap::ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(m)?;
        Ok(())
    }
}

/// The command with each key flag's environment variable and default (or
/// what unset means) in its help, from the key list; the plain command,
/// which parses, leaves them out (reading the defaults costs a little on
/// every start).
pub fn command() -> clap::Command {
    let mut cmd = Cli::command();
    let defaults = crate::config::defaults_shown();
    let subs: Vec<String> = cmd
        .get_subcommands()
        .map(|s| s.get_name().to_string())
        .collect();
    for sub in subs {
        cmd = cmd.mut_subcommand(&sub, |mut sc| {
            for k in KEYS {
                let Some(flag) = &k.flag else { continue };
                let ours = sc
                    .get_arguments()
                    .any(|a| a.get_id() == k.name && a.get_long() == Some(flag.long));
                if ours {
                    let help = key_help(k, flag, &defaults);
                    sc = sc.mut_arg(k.name, |a| a.help(help));
                }
            }
            sc
        });
    }
    cmd
}

/// A key flag's help: what it does, its environment variable, and the
/// default behaviour in words (for a switch, what happens without it).
pub fn key_help(k: &KeyDoc, flag: &Flag, defaults: &[(String, String)]) -> String {
    let default = defaults
        .iter()
        .find(|(key, _)| key == k.name)
        .map(|(_, v)| v.as_str())
        .or(k.unset)
        .unwrap_or("none");
    match flag.switch {
        // The key's own words say what happens without the switch.
        Some((set, help)) => {
            let mut doc = k.text().to_string();
            if let Some(first) = doc.get(..1) {
                doc.replace_range(..1, &first.to_ascii_lowercase());
            }
            format!("{help} [default: {doc}] [env: {}={set}]", k.env)
        }
        None => format!("{} [env: {}] [default: {default}]", k.text(), k.env),
    }
}
