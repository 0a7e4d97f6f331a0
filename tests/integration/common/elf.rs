//! What a dynamically linked ELF64 (little-endian) binary asks of the system's
//! loader: its DT_NEEDED libraries and, per library, the symbol versions of
//! its .gnu.version_r section (GLIBC_2.17, …), read from the section headers
//! as ld.so reads them, without binutils.

use std::collections::{BTreeMap, BTreeSet};

const SHT_DYNAMIC: u32 = 6;
const SHT_GNU_VERNEED: u32 = 0x6fff_fffe;
const DT_NEEDED: u64 = 1;

pub struct Needs {
    pub libraries: BTreeSet<String>,
    /// library file name → the version names it must provide
    pub versions: BTreeMap<String, BTreeSet<String>>,
}

struct Section {
    kind: u32,
    offset: usize,
    size: usize,
    link: usize,
    info: usize,
}

fn u16_at(b: &[u8], at: usize) -> usize {
    u16::from_le_bytes(b[at..at + 2].try_into().unwrap()) as usize
}
fn u32_at(b: &[u8], at: usize) -> usize {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap()) as usize
}
fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

fn c_str(b: &[u8], at: usize) -> String {
    let end = b[at..]
        .iter()
        .position(|&c| c == 0)
        .map_or(b.len(), |n| at + n);
    String::from_utf8_lossy(&b[at..end]).into_owned()
}

pub fn needs(b: &[u8]) -> Result<Needs, String> {
    if b.len() < 64 || &b[..4] != b"\x7fELF" {
        return Err("not an ELF file".into());
    }
    if b[4] != 2 || b[5] != 1 {
        return Err("not a little-endian ELF64 file".into());
    }
    let (shoff, shentsize, shnum) = (u64_at(b, 0x28) as usize, u16_at(b, 0x3a), u16_at(b, 0x3c));
    let sections: Vec<Section> = (0..shnum)
        .map(|i| {
            let h = shoff + i * shentsize;
            Section {
                kind: u32_at(b, h + 4) as u32,
                offset: u64_at(b, h + 24) as usize,
                size: u64_at(b, h + 32) as usize,
                link: u32_at(b, h + 40),
                info: u32_at(b, h + 44),
            }
        })
        .collect();
    let strings = |s: &Section| sections.get(s.link).map(|t| t.offset).ok_or("bad sh_link");

    let mut libraries = BTreeSet::new();
    for s in sections.iter().filter(|s| s.kind == SHT_DYNAMIC) {
        let names = strings(s)?;
        for entry in (s.offset..s.offset + s.size).step_by(16) {
            if u64_at(b, entry) == DT_NEEDED {
                libraries.insert(c_str(b, names + u64_at(b, entry + 8) as usize));
            }
        }
    }
    let mut versions: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for s in sections.iter().filter(|s| s.kind == SHT_GNU_VERNEED) {
        let names = strings(s)?;
        let mut need = s.offset;
        for _ in 0..s.info {
            let file = c_str(b, names + u32_at(b, need + 4));
            let mut aux = need + u32_at(b, need + 8);
            for _ in 0..u16_at(b, need + 2) {
                let name = c_str(b, names + u32_at(b, aux + 8));
                versions.entry(file.clone()).or_default().insert(name);
                aux += u32_at(b, aux + 12);
            }
            need += u32_at(b, need + 12);
        }
    }
    Ok(Needs {
        libraries,
        versions,
    })
}

/// `GLIBC_2.17` → (2, 17, 0); None for anything else (GLIBC_PRIVATE).
pub fn glibc_version(name: &str) -> Option<(u32, u32, u32)> {
    let mut parts = name
        .strip_prefix("GLIBC_")?
        .split('.')
        .map(str::parse::<u32>);
    let major = parts.next()?.ok()?;
    let minor = parts.next()?.ok()?;
    let patch = parts.next().transpose().ok()?.unwrap_or(0);
    Some((major, minor, patch))
}
