//! The built-in rules are written in YAML for people; the binary reads them
//! as JSON, converted here, because parsing the YAML table at every start
//! cost more than the rest of a trivial run (docs/performance.md).
//! A malformed table fails the build, not a run.

use std::path::Path;

fn main() {
    let source = Path::new("src/classify/rules.yaml");
    println!("cargo::rerun-if-changed={}", source.display());
    let text = std::fs::read_to_string(source).expect("read src/classify/rules.yaml");
    let value: serde_json::Value =
        serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("src/classify/rules.yaml: {e}"));
    let out = Path::new(&std::env::var("OUT_DIR").expect("OUT_DIR")).join("rules.json");
    std::fs::write(
        &out,
        serde_json::to_string(&value).expect("serialize rules"),
    )
    .expect("write rules.json");
}
