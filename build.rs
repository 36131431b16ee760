//! Picks the context-switch assembly for the target ABI and assembles it with `cc`.
//!
//! The chosen ABI is exported to the crate as `cfg(fibra_abi = "...")`, so `src/arch/mod.rs`
//! dispatches on exactly what was assembled here. An unsupported target sets no `fibra_abi`
//! and the crate stops at a `compile_error!` that names the target.

use std::env;

/// Every value `fibra_abi` can take, declared to rustc's cfg checker.
const ABIS: &[&str] = &["x86_64_sysv", "x86_64_windows", "aarch64_aapcs"];

fn main() {
    println!(
        "cargo:rustc-check-cfg=cfg(fibra_abi, values(\"x86_64_sysv\", \"x86_64_windows\", \"aarch64_aapcs\"))"
    );
    println!("cargo:rerun-if-changed=build.rs");
    // For tests/c_abi.rs: it compiles C programs with the host's C compiler, which
    // only makes sense when the tests run on the machine they were built for.
    for var in ["TARGET", "HOST"] {
        println!(
            "cargo:rustc-env=FIBRA_BUILD_{var}={}",
            env::var(var).unwrap_or_default()
        );
    }

    let arch = env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let os = env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let target_env = env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();

    let abi = match (arch.as_str(), os.as_str()) {
        // The Windows switcher is GNU-syntax assembly for the mingw toolchain; MSVC's
        // assembler cannot take it, so windows-msvc falls through to the clear error.
        ("x86_64", "windows") if target_env != "msvc" => Some("x86_64_windows"),
        (
            "x86_64",
            "linux" | "android" | "macos" | "ios" | "freebsd" | "netbsd" | "openbsd" | "dragonfly"
            | "illumos" | "solaris",
        ) => Some("x86_64_sysv"),
        ("aarch64", "linux" | "android" | "macos" | "ios" | "freebsd" | "netbsd" | "openbsd") => {
            Some("aarch64_aapcs")
        }
        _ => None,
    };
    let Some(abi) = abi else {
        // Leave `fibra_abi` unset: src/arch/mod.rs turns that into a compile_error! naming
        // the target, which is clearer than a build-script panic.
        println!("cargo:warning=fibra has no context switcher for {arch}-{os}-{target_env}");
        return;
    };
    debug_assert!(ABIS.contains(&abi));
    println!("cargo:rustc-cfg=fibra_abi=\"{abi}\"");

    // Every asm file is a dependency: the .S files are assembled here, the inline
    // fragments are pulled into Rust with include_str! (cargo tracks those itself, but
    // listing the folder keeps the rule in one place).
    println!("cargo:rerun-if-changed=asm");
    let source = format!("asm/{abi}.S");
    println!("cargo:rerun-if-changed={source}");
    cc::Build::new()
        .file(&source)
        .flag_if_supported("-Wa,--noexecstack")
        .compile(&format!("fibra_asm_{abi}"));
}
