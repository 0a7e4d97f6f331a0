use super::*;

fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// The generated part of a doc, between `<!-- NAME:begin -->` and
/// `<!-- NAME:end -->`; STAGERUN_UPDATE_DOCS=1 rewrites it.
fn check_generated(file: &str, name: &str, body: &str) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("docs")
        .join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    let (begin, end) = (
        format!("<!-- {name}:begin -->\n"),
        format!("<!-- {name}:end -->"),
    );
    let (Some(a), Some(b)) = (text.find(&begin), text.find(&end)) else {
        panic!("docs/{file} lacks the {begin:?} … {end:?} markers");
    };
    let current = &text[a + begin.len()..b];
    if current != body && std::env::var("STAGERUN_UPDATE_DOCS").as_deref() == Ok("1") {
        let updated = format!("{}{begin}{body}{}", &text[..a], &text[b..]);
        std::fs::write(&path, updated).unwrap();
        return;
    }
    assert!(
        current == body,
        "docs/{file} is stale: STAGERUN_UPDATE_DOCS=1 cargo test --lib classify"
    );
}

#[test]
fn docs_list_every_builtin_rule_with_its_scope_and_versions() {
    let mut body = String::from(
        "| # | rule | applies | class | when | why | checked against |\n|---|---|---|---|---|---|---|\n",
    );
    for (i, r) in RuleSet::builtin().rules.iter().enumerate() {
        let when = serde_json::to_string(&r.when).unwrap_or_default();
        body.push_str(&format!(
            "| {} | `{}` | {} | {} | `{}` | {} | {} |\n",
            i + 1,
            r.id,
            r.on.as_str(),
            r.class.as_str(),
            cell(&when),
            cell(&r.reason),
            cell(&r.checked.join(", "))
        ));
    }
    check_generated("classification.md", "rules", &body);
}

#[test]
fn every_builtin_rule_says_what_to_do_and_is_in_troubleshooting() {
    let mut body =
        String::from("| rule | class | what it means | what to do |\n|---|---|---|---|\n");
    for r in &RuleSet::builtin().rules {
        assert!(
            r.fix.as_deref().is_some_and(|f| !f.is_empty()),
            "rule {} has no fix",
            r.id
        );
        body.push_str(&format!(
            "| `{}` | {} | {} | {} |\n",
            r.id,
            r.class.as_str(),
            cell(&r.reason),
            cell(r.fix.as_deref().unwrap_or(""))
        ));
    }
    check_generated("troubleshooting.md", "fixes", &body);
}
