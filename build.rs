//! The built-in rules and defaults are written in YAML for people; the
//! binary reads them as JSON, converted here, because parsing YAML at every
//! start cost more than the rest of a trivial run (docs/performance.md).
//! A malformed file fails the build, not a run.

use std::path::Path;

fn to_json(source: &str, out_name: &str) {
    println!("cargo::rerun-if-changed={source}");
    let text = std::fs::read_to_string(source).unwrap_or_else(|e| panic!("read {source}: {e}"));
    let value: serde_json::Value =
        serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{source}: {e}"));
    let out = Path::new(&std::env::var("OUT_DIR").expect("OUT_DIR")).join(out_name);
    std::fs::write(&out, serde_json::to_string(&value).expect("serialize"))
        .unwrap_or_else(|e| panic!("write {}: {e}", out.display()));
}

fn main() {
    to_json("src/classify/rules.yaml", "rules.json");
    to_json("src/config/defaults.yaml", "defaults.json");
}
