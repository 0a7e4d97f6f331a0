//! Distribution, built once: `make dist` (a release build under zig, the slow
//! part), then everything that ships it is checked against what it wrote: the
//! tarball's contents and SHA256SUMS, the glibc baseline of the binary, the
//! cargo-binstall metadata, the GitHub Action's install step against a real
//! HTTP server on loopback (tests/ci/action-release.sh: good, tampered,
//! missing, cached), and the image of ./Dockerfile built from the tarball on a
//! Debian base made here with debootstrap (no registry), running a real suite
//! over ssh as its non-root user. Not run here: the release workflow itself,
//! aarch64 and macOS builds.

use crate::ci_files::script;
use crate::common::elf;
use crate::common::*;
use crate::outputs::pytools_with;
use std::collections::BTreeSet;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The glibc every Linux tarball is linked against (scripts/dist.sh).
const GLIBC_BASELINE: (u32, u32, u32) = (2, 17, 0);

fn host_target() -> &'static str {
    match std::env::consts::ARCH {
        "aarch64" => "aarch64-unknown-linux-gnu",
        _ => "x86_64-unknown-linux-gnu",
    }
}

fn zig_tools() -> Result<PathBuf, String> {
    let dir = pytools_with(&[])?;
    if dir.join("bin/cargo-zigbuild").is_file() && dir.join("ziglang/zig").is_file() {
        Ok(dir)
    } else {
        Err(format!(
            "{} has no cargo-zigbuild and zig (bash .ci/run installs them)",
            dir.display()
        ))
    }
}

fn run_ok(cmd: &mut Command, what: &str) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{text}",
        out.status
    );
    text
}

fn make_dist(dist: &Path) -> String {
    run_ok(
        Command::new("make")
            .args(["-s", "-C"])
            .arg(repo_root())
            .arg("dist")
            .env("DIST_DIR", dist),
        "make dist",
    )
}

fn sha256_hex(path: &Path) -> String {
    let out = run_ok(
        Command::new("python3")
            .args(["-c", "import hashlib,sys; print(hashlib.sha256(open(sys.argv[1],'rb').read()).hexdigest())"])
            .arg(path),
        "python3 hashlib",
    );
    out.trim().to_string()
}

/// Every entry of the tarball (tar -tvzf), as (mode string, path).
fn listing(tarball: &Path) -> Vec<(String, String)> {
    let text = run_ok(Command::new("tar").arg("-tvzf").arg(tarball), "tar -tvzf");
    text.lines()
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f[0].to_string(), f[f.len() - 1].to_string())
        })
        .collect()
}

fn check_contents(tarball: &Path, name: &str, unpacked: &Path) {
    let entries = listing(tarball);
    let paths: BTreeSet<String> = entries.iter().map(|(_, p)| p.clone()).collect();
    // The pages the binary itself writes (one per subcommand): a new
    // subcommand's page must be in the tarball too.
    let written = tempfile::tempdir().unwrap();
    let status = stagerun_std(written.path())
        .arg("man")
        .arg("--dir")
        .arg(written.path())
        .status()
        .unwrap();
    assert!(status.success(), "stagerun man --dir");
    let mut pages: Vec<String> = std::fs::read_dir(written.path())
        .unwrap()
        .map(|e| format!("{name}/man/{}", e.unwrap().file_name().to_string_lossy()))
        .collect();
    assert!(pages.len() > 5, "stagerun man --dir wrote {pages:?}");
    let mut expected = vec![
        format!("{name}/"),
        format!("{name}/stagerun"),
        format!("{name}/LICENSE"),
        format!("{name}/README.md"),
        format!("{name}/man/"),
        format!("{name}/completions/"),
        format!("{name}/completions/stagerun.bash"),
        format!("{name}/completions/_stagerun"),
        format!("{name}/completions/stagerun.fish"),
    ];
    expected.append(&mut pages);
    let expected: BTreeSet<String> = expected.into_iter().collect();
    assert_eq!(paths, expected, "the tarball's entries");
    for (mode, path) in &entries {
        let want = if path.ends_with('/') {
            "drwxr-xr-x"
        } else if path.ends_with("/stagerun") {
            "-rwxr-xr-x"
        } else {
            "-rw-r--r--"
        };
        assert_eq!(mode, want, "{path}");
    }
    run_ok(
        Command::new("tar")
            .arg("-xzf")
            .arg(tarball)
            .arg("-C")
            .arg(unpacked),
        "tar -xzf",
    );
    let root = unpacked.join(name);
    let version = run_ok(
        Command::new(root.join("stagerun")).arg("--version"),
        "--version",
    );
    assert_eq!(version.trim(), format!("stagerun {VERSION}"));
    let read = |p: &str| std::fs::read_to_string(root.join(p)).unwrap();
    let page = read("man/stagerun-run.1");
    assert!(
        page.starts_with(".ie") || page.starts_with(".TH"),
        "{page:.200}"
    );
    assert!(page.contains("stagerun\\-run"), "{page:.400}");
    assert!(read("completions/stagerun.bash").contains("complete -F"));
    assert!(read("completions/_stagerun").starts_with("#compdef stagerun"));
    assert!(read("completions/stagerun.fish").contains("complete -c stagerun"));
    let repo_file = |p: &str| std::fs::read_to_string(repo_root().join(p)).unwrap();
    assert_eq!(read("LICENSE"), repo_file("LICENSE"));
    assert_eq!(read("README.md"), repo_file("README.md"));
}

fn check_checksums(dist: &Path, tarball_name: &str) {
    let sums = std::fs::read_to_string(dist.join("SHA256SUMS")).unwrap();
    let lines: Vec<&str> = sums.lines().collect();
    assert_eq!(lines.len(), 1, "one tarball, one line: {sums}");
    let (hash, file) = lines[0].split_once("  ").expect("sha256sum format");
    assert_eq!(file, tarball_name);
    assert_eq!(
        hash,
        sha256_hex(&dist.join(tarball_name)),
        "SHA256SUMS vs hashlib"
    );
    run_ok(
        Command::new("sha256sum")
            .args(["--strict", "-c", "SHA256SUMS"])
            .current_dir(dist),
        "sha256sum -c",
    );
}

fn check_glibc_baseline(binary: &Path) {
    let needs = elf::needs(&std::fs::read(binary).unwrap()).unwrap();
    let allowed: BTreeSet<&str> = [
        "libc.so.6",
        "libm.so.6",
        "libpthread.so.0",
        "libdl.so.2",
        "librt.so.1",
        "libgcc_s.so.1",
        "ld-linux-x86-64.so.2",
        "ld-linux-aarch64.so.1",
    ]
    .into();
    for lib in &needs.libraries {
        assert!(
            allowed.contains(lib.as_str()),
            "needs {lib}: {:?}",
            needs.libraries
        );
    }
    let glibc: Vec<(u32, u32, u32)> = needs
        .versions
        .iter()
        .filter(|(file, _)| file.as_str() != "libgcc_s.so.1")
        .flat_map(|(file, names)| {
            names.iter().map(move |n| {
                elf::glibc_version(n).unwrap_or_else(|| panic!("{file} asks for {n}"))
            })
        })
        .collect();
    let highest = glibc.iter().max().copied().expect("GLIBC_ symbol versions");
    eprintln!(
        "dist: the binary needs {:?}, highest GLIBC_{highest:?}",
        needs.libraries
    );
    assert!(
        highest <= GLIBC_BASELINE,
        "the binary needs GLIBC_{highest:?}, above the {GLIBC_BASELINE:?} baseline"
    );
    // The parser must see what binutils sees, here and for the host-linked
    // test binary (which needs a newer glibc on any current distribution).
    for b in [binary, bin()] {
        if let Some(seen) = objdump_glibc(b) {
            let parsed: BTreeSet<String> = elf::needs(&std::fs::read(b).unwrap())
                .unwrap()
                .versions
                .values()
                .flatten()
                .filter(|n| n.starts_with("GLIBC_"))
                .cloned()
                .collect();
            assert_eq!(
                parsed,
                seen,
                "{}: the ELF reader vs objdump -T",
                b.display()
            );
        }
    }
}

/// The GLIBC_ versions `objdump -T` lists, when binutils is installed.
fn objdump_glibc(binary: &Path) -> Option<BTreeSet<String>> {
    let out = Command::new("objdump")
        .arg("-T")
        .arg(binary)
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let re = regex::Regex::new(r"\bGLIBC_[0-9][0-9.]*[0-9]").unwrap();
    Some(
        re.find_iter(&text)
            .map(|m| m.as_str().to_string())
            .collect(),
    )
}

/// The binstall templates of Cargo.toml, rendered for this host, name the
/// file make dist wrote and the binary's path inside it.
fn check_binstall_metadata(dist: &Path, name: &str) {
    let manifest = std::fs::read_to_string(repo_root().join("Cargo.toml")).unwrap();
    let value = |key: &str| -> String {
        let line = manifest
            .lines()
            .find(|l| l.starts_with(&format!("{key} =")))
            .unwrap_or_else(|| panic!("Cargo.toml has no {key}"));
        line.split_once('=')
            .unwrap()
            .1
            .trim()
            .trim_matches('"')
            .to_string()
    };
    let repo = value("repository");
    let render = |t: &str| {
        t.replace("{ repo }", &repo)
            .replace("{ name }", "stagerun")
            .replace("{ version }", VERSION)
            .replace("{ target }", host_target())
            .replace("{ bin }", "stagerun")
            .replace("{ binary-ext }", "")
    };
    assert_eq!(value("pkg-fmt"), "tgz");
    let url = render(&value("pkg-url"));
    assert_eq!(
        url,
        format!("{repo}/releases/download/v{VERSION}/{name}.tar.gz")
    );
    assert!(dist.join(format!("{name}.tar.gz")).is_file());
    let bin_dir = render(&value("bin-dir"));
    let entries = listing(&dist.join(format!("{name}.tar.gz")));
    assert!(
        entries.iter().any(|(_, p)| *p == bin_dir),
        "{bin_dir} not in the tarball"
    );
}

#[test]
fn make_dist_builds_a_portable_verified_release_that_the_action_and_the_image_install() {
    if !require(
        "cargo-zigbuild and zig for make dist",
        zig_tools().map(drop),
    ) {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let dist = work.path().join("dist");
    let name = format!("stagerun-{VERSION}-{}", host_target());
    let tarball = dist.join(format!("{name}.tar.gz"));

    // Three slow parts overlap: the image's Debian base (a download) with
    // make dist, then the action's scenarios (one builds stagerun with cargo)
    // with the image build (mostly apt). About 6 minutes alone on two cores.
    std::thread::scope(|threads| {
        let base = threads.spawn(crate::dist_image::prepare_base);
        let t = Instant::now();
        make_dist(&dist);
        let built = t.elapsed();
        let unpacked = work.path().join("unpacked");
        std::fs::create_dir(&unpacked).unwrap();
        check_contents(&tarball, &name, &unpacked);
        check_checksums(&dist, &format!("{name}.tar.gz"));
        check_glibc_baseline(&unpacked.join(&name).join("stagerun"));
        check_binstall_metadata(&dist, &name);
        let first = sha256_hex(&tarball);
        make_dist(&dist);
        assert_eq!(
            sha256_hex(&tarball),
            first,
            "a second make dist wrote another tarball"
        );

        let base = base.join().expect("the image's base");
        let (dist_dir, work_dir) = (&dist, work.path());
        let image = threads.spawn(move || {
            let t = Instant::now();
            if let Some(base) = base {
                crate::dist_image::check_image(dist_dir, work_dir, base);
            }
            t.elapsed()
        });
        let t = Instant::now();
        let mut harness = script("tests/ci/action-steps.sh");
        harness.arg("--release").arg(&dist);
        let text = run_ok(
            &mut harness,
            "the action's install step against the release",
        );
        assert!(text.contains(" 0 failed"), "{text}");
        let action = t.elapsed();
        let image = image.join().expect("the image");
        eprintln!(
            "dist: make dist {built:?}, action install scenarios {action:?}, image {image:?}"
        );
    });
}

/// `cargo package --list`: what crates.io would get for `cargo install stagerun`.
#[test]
fn the_crate_package_holds_the_sources_the_readme_and_the_license() {
    let out = run_ok(
        Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args(["package", "--list", "--allow-dirty", "--offline"])
            .current_dir(repo_root()),
        "cargo package --list",
    );
    let files: BTreeSet<&str> = out.lines().filter(|l| !l.starts_with("warning")).collect();
    for must in [
        "Cargo.toml",
        "Cargo.lock",
        "README.md",
        "LICENSE",
        "build.rs",
        "src/main.rs",
        "src/classify/rules.yaml",
        "src/config/defaults.yaml",
        "src/transport/wrapper.sh",
    ] {
        assert!(files.contains(must), "{must} is not packaged:\n{out}");
    }
    for f in &files {
        let top = f.split('/').next().unwrap();
        assert!(
            [
                "src",
                "Cargo.toml",
                "Cargo.toml.orig",
                "Cargo.lock",
                "README.md",
                "LICENSE",
                "build.rs",
                ".cargo_vcs_info.json"
            ]
            .contains(&top),
            "{f} should not be packaged"
        );
    }
    assert!(files.len() < 150, "{} files packaged", files.len());
    assert!(!out.contains("warning"), "cargo package warns:\n{out}");
    let meta = std::fs::metadata(repo_root().join("LICENSE")).unwrap();
    assert!(meta.permissions().mode() & 0o444 != 0 && meta.size() > 0);
}
