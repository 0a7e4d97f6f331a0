//! Fault injection for the tests of panics at named moments. Only debug
//! builds (what the tests run) read STAGERUN_FAULT; release builds compile
//! this to nothing.

pub fn point(_name: &str) {
    #[cfg(debug_assertions)]
    if std::env::var("STAGERUN_FAULT").as_deref() == Ok(_name) {
        panic!("injected fault at {_name}");
    }
}

/// True when the tests ask for the named condition (debug builds only):
/// for faults that are a race to produce for real.
pub fn active(_name: &str) -> bool {
    #[cfg(debug_assertions)]
    return std::env::var("STAGERUN_FAULT").as_deref() == Ok(_name);
    #[cfg(not(debug_assertions))]
    false
}
