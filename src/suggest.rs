//! "Did you mean …?": the nearest known word to a misspelt one, for config
//! keys, man page names and closed-set values. The same measure and cut-off
//! as clap's own suggestions for flags and subcommands (strsim's Jaro
//! similarity above 0.7), so every suggestion stagerun makes agrees with
//! the ones clap makes.

/// The known word most like `word`, if one is near enough.
pub fn nearest<'a>(word: &str, known: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    known
        .into_iter()
        .map(|k| (strsim::jaro(word, k), k))
        .filter(|(score, _)| *score > 0.7)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, k)| k)
}

/// ` (did you mean `KNOWN`?)`, or nothing when no known word is near.
pub fn did_you_mean<'a>(word: &str, known: impl IntoIterator<Item = &'a str>) -> String {
    nearest(word, known)
        .map(|k| format!(" (did you mean `{k}`?)"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_nearest_word_or_none() {
        let keys = ["container", "check_script", "host", "pod"];
        assert_eq!(nearest("containr", keys), Some("container"));
        assert_eq!(nearest("hots", keys), Some("host"));
        assert_eq!(nearest("zzzzzz", keys), None);
        assert_eq!(
            did_you_mean("shh", ["ssh", "local", "docker"]),
            " (did you mean `ssh`?)"
        );
        assert_eq!(did_you_mean("qqq", ["ssh", "local"]), "");
    }
}
