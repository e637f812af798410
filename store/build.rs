//! `embed_migrations!` reads `migrations/` at compile time; without this, a migration added since the
//! last build would be missing from the binary (and from the test template named after the files).
fn main() {
    println!("cargo:rerun-if-changed=../migrations");
}
