//! `scripts/build-llvm.sh` without building LLVM: the cache key, the dry run, and the
//! second-run no-op (against a fake install in a scratch cache).

use std::path::PathBuf;
use std::process::Command;

use bareflow_tests::{scratch_dir, workspace_root};

fn script(cache: &PathBuf, args: &[&str]) -> (i32, String) {
    let out = Command::new(workspace_root().join("scripts/build-llvm.sh"))
        .args(args)
        .env("BAREFLOW_CACHE", cache)
        .output()
        .expect("run scripts/build-llvm.sh");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    println!("build-llvm.sh {args:?} -> {:?}\n{text}", out.status.code());
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn second_run_is_a_no_op_once_the_cache_holds_the_build() {
    let cache = scratch_dir("llvm-cache");
    let (code, prefix) = script(&cache, &["--print-prefix"]);
    assert_eq!(code, 1, "nothing is built in a fresh cache");
    let prefix = PathBuf::from(prefix.trim());
    assert!(prefix.starts_with(&cache), "the install goes under BAREFLOW_CACHE: {}", prefix.display());
    let name = prefix.file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.starts_with("22.") && name.len() > 12, "keyed by LLVM version and config hash: {name}");

    let (code, dry) = script(&cache, &["--dry-run"]);
    assert_eq!(code, 0);
    assert!(
        dry.contains("configure: cmake") && dry.contains("build: ninja"),
        "a dry run on an empty cache plans a build"
    );
    // Every patch of llvm-min/patches is applied, in name order.
    let mut patches: Vec<String> = std::fs::read_dir(workspace_root().join("llvm-min/patches"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".patch"))
        .collect();
    patches.sort();
    assert!(!patches.is_empty());
    assert!(dry.contains(&format!("patches: {} ", patches.join(" "))), "the dry run lists the patches {patches:?}");

    // What a finished build leaves behind.
    std::fs::create_dir_all(prefix.join("bin")).unwrap();
    std::fs::create_dir_all(prefix.join("lib")).unwrap();
    std::fs::write(prefix.join("lib/libLLVMCore.a"), vec![0u8; 1234]).unwrap();
    std::fs::write(prefix.join("libs.txt"), "libLLVMCore.a\n").unwrap();
    std::fs::write(prefix.join("build-info.txt"), "wall_seconds=1\ncpu_seconds=2\n").unwrap();
    let config = prefix.join("bin/llvm-config");
    std::fs::write(&config, "#!/bin/sh\necho 22.1.8\n").unwrap();
    Command::new("chmod").arg("755").arg(&config).status().unwrap();

    let (code, _) = script(&cache, &["--print-prefix"]);
    assert_eq!(code, 0, "the cache now holds the build");
    let started = std::time::Instant::now();
    let (code, again) = script(&cache, &[]);
    assert_eq!(code, 0);
    assert!(again.contains("already built at"), "second run reports the hit:\n{again}");
    assert!(again.contains("METRIC llvm.min_lib_bytes 1234 bytes"), "and the size table:\n{again}");
    assert!(again.contains("METRIC llvm.build_s 1 s"), "and the recorded build time:\n{again}");
    assert!(
        !cache.join("llvm-min/downloads").read_dir().map(|mut d| d.next().is_some()).unwrap_or(false),
        "nothing downloaded"
    );
    println!("second run took {:?}", started.elapsed());
}

/// The build's progress lines carry an estimate of the time left
/// (`scripts/ninja-eta.awk`, which build-llvm.sh pipes ninja through), with the awk
/// Debian installs by default (mawk) as with gawk; other lines pass unchanged.
#[test]
fn ninja_progress_lines_get_an_estimate_of_the_time_left() {
    let script = bareflow_tests::workspace_root().join("scripts/ninja-eta.awk");
    let input = "[1/100 30.000] Building A\ncmake says hi\n[50/100 1500.5] Building B\n[0/10 0.1] X\n";
    let expected = "[1/100 1%, 0 min, ~50 min left] Building A\ncmake says hi\n\
                    [50/100 50%, 25 min, ~25 min left] Building B\n[0/10 0%, 0 min] X\n";
    for awk in ["awk", "mawk", "gawk"].into_iter().filter(|a| Command::new(a).arg("--version").output().is_ok()) {
        let mut child = Command::new(awk)
            .arg("-f")
            .arg(&script)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("run awk");
        use std::io::Write;
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), expected, "{awk}");
    }
}
