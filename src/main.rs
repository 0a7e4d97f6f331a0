use std::process::ExitCode;

fn main() -> ExitCode {
    // A panic is an internal error (70), never a verdict; the default hook
    // still prints where it happened.
    let code = std::panic::catch_unwind(stagerun::main_entry).unwrap_or(stagerun::exit::INTERNAL);
    ExitCode::from(code)
}
