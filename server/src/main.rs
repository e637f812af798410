//! `vigil`: the one binary. Everything lives in the library; this is the edge where errors become
//! messages and exit codes.

fn main() -> std::process::ExitCode {
    vigil::main_with_args()
}
