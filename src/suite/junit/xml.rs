//! What quick-xml hands over, as plain strings: attributes and entity
//! references, decoded the way the JUnit reader needs them.

use quick_xml::XmlVersion;
use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::{BytesRef, BytesStart};

/// An element's attributes, entities decoded. Read all at once so that a
/// malformed or duplicated attribute is an error, not a silent first pick;
/// a reference the XML spec does not define (no DTD is read) stays as
/// written rather than being lost.
pub(super) fn attributes(e: &BytesStart) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for attr in e.attributes() {
        let attr = attr.map_err(|err| {
            format!(
                "malformed attribute in <{}>: {err}",
                e.local_name().as_ref()
            )
        })?;
        let value = match attr.normalized_value(XmlVersion::Implicit1_0) {
            Ok(v) => v.into_owned(),
            Err(_) => attr.value.into_owned(),
        };
        out.push((attr.key.local_name().as_ref().to_string(), value));
    }
    Ok(out)
}

pub(super) fn get(attrs: &[(String, String)], key: &str) -> Option<String> {
    attrs.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
}

/// `&lt;`, `&#10;`, `&#x41;` in text; an unknown entity stays as written.
pub(super) fn resolve_ref(r: &BytesRef) -> String {
    if let Ok(Some(c)) = r.resolve_char_ref() {
        return c.to_string();
    }
    match resolve_predefined_entity(r) {
        Some(s) => s.to_string(),
        None => format!("&{};", &**r),
    }
}
