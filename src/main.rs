use std::process::ExitCode;

fn main() -> ExitCode {
    // A panic is an internal error (70), never a verdict: the suite is
    // stopped and the work item left on HOLD first.
    let code = match std::panic::catch_unwind(stagerun::main_entry) {
        Ok(code) => code,
        Err(_) => {
            stagerun::after_panic();
            stagerun::INTERNAL
        }
    };
    stagerun::finish_output();
    ExitCode::from(code)
}
