//! Terminal behaviour: colour only on a TTY and never with NO_COLOR; a live
//! elapsed-time line on an interactive terminal, plain heartbeat lines in
//! CI and pipes.

use std::io::IsTerminal;

pub fn is_ci() -> bool {
    [
        "CI",
        "GITHUB_ACTIONS",
        "GITLAB_CI",
        "BUILDKITE",
        "JENKINS_URL",
        "TEAMCITY_VERSION",
    ]
    .iter()
    .any(|k| std::env::var_os(k).is_some_and(|v| !v.is_empty() && v != "false"))
}

pub fn stderr_color() -> bool {
    std::io::stderr().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        && std::env::var("TERM").as_deref() != Ok("dumb")
}

/// A live status line makes sense only for a person at a terminal.
pub fn live_status() -> bool {
    std::io::stderr().is_terminal() && !is_ci() && std::env::var("TERM").as_deref() != Ok("dumb")
}

pub fn paint(text: &str, verdict: crate::exit::Verdict, color: bool) -> String {
    if !color {
        return text.to_string();
    }
    let code = match verdict {
        crate::exit::Verdict::Success => "32",
        crate::exit::Verdict::Failed => "31",
        crate::exit::Verdict::Hold => "33",
    };
    format!("\x1b[1;{code}m{text}\x1b[0m")
}
