//! Cargo cannot take dependencies from `apps/apps.list`, so the manifests still name
//! every app: the workspace's members (the `apps/*` glob), host-runner's dependencies,
//! and the release profile that builds the native copy with the bitcode's settings.
//! The kernel depends on no app crate: it links each app's bitcode and AOT object
//! (`apps/build-bitcode.sh`). These tests fail when the manifests and the list
//! disagree, naming the app and the line to add.

use std::collections::BTreeMap;
use std::path::Path;

use toml::{Table, Value};

/// What the check reads, as text (the real files, or a made-up workspace in the tests).
struct Workspace {
    /// `apps/apps.list`.
    list: String,
    /// The root `Cargo.toml`.
    root: String,
    /// `kernel/Cargo.toml`.
    kernel: String,
    /// `apps/host-runner/Cargo.toml`.
    host_runner: String,
    /// `apps/<dir>/Cargo.toml` of every directory of `apps/` that has one, by directory.
    crates: BTreeMap<String, String>,
}

impl Workspace {
    /// The workspace this test is part of.
    fn real() -> Workspace {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let read = |path: &str| std::fs::read_to_string(root.join(path)).unwrap_or_else(|e| panic!("read {path}: {e}"));
        let mut crates = BTreeMap::new();
        for entry in std::fs::read_dir(root.join("apps")).expect("read apps/") {
            let dir = entry.expect("read apps/").path();
            if let Ok(text) = std::fs::read_to_string(dir.join("Cargo.toml")) {
                crates.insert(dir.file_name().unwrap().to_string_lossy().into_owned(), text);
            }
        }
        Workspace {
            list: read("apps/apps.list"),
            root: read("Cargo.toml"),
            kernel: read("kernel/Cargo.toml"),
            host_runner: read("apps/host-runner/Cargo.toml"),
            crates,
        }
    }
}

fn parse(name: &str, text: &str) -> Table {
    text.parse().unwrap_or_else(|e| panic!("{name} is not TOML: {e}"))
}

/// `table.key` as an array of strings (empty when absent).
fn strings<'t>(table: Option<&'t Value>, key: &str) -> Vec<&'t str> {
    table
        .and_then(|t| t.get(key))
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// Whether `dir` (e.g. `apps/fib`) is a member of the workspace `root`: named in
/// `members` or matched by a `parent/*` glob there, and not in `exclude`.
fn is_member(root: &Table, dir: &str) -> bool {
    let workspace = root.get("workspace");
    let matches = |pattern: &str| match pattern.strip_suffix("/*") {
        Some(parent) => {
            dir.strip_prefix(parent).and_then(|rest| rest.strip_prefix('/')).is_some_and(|rest| !rest.contains('/'))
        }
        None => pattern == dir,
    };
    strings(workspace, "members").into_iter().any(matches) && !strings(workspace, "exclude").contains(&dir)
}

/// The dependency `name` of `manifest`'s `[dependencies]`, if it is a path dependency
/// on `path` (and optional when `optional`).
fn has_path_dependency(manifest: &Table, name: &str, path: &str, optional: bool) -> bool {
    let dependency = manifest.get("dependencies").and_then(|d| d.get(name));
    dependency.and_then(|d| d.get("path")).and_then(Value::as_str) == Some(path)
        && dependency.and_then(|d| d.get("optional")).and_then(Value::as_bool).unwrap_or(false) == optional
}

/// The settings `apps/build-bitcode.sh` builds the bitcode with that Cargo can set per
/// package: the apps' native builds (`apps/host-runner`) use them too, so their figures
/// compare with the bitcode's (fat LTO is per build, not per package; the kernel's AOT
/// copy is the bitcode's own module: docs/engine.md, "The AOT baseline").
const BITCODE_PROFILE: [(&str, i64); 2] = [("opt-level", 2), ("codegen-units", 1)];

/// What `[profile.release.package.<name>]` of `root` lacks of [`BITCODE_PROFILE`].
fn profile_problems(root: &Table, name: &str) -> Vec<String> {
    let package =
        root.get("profile").and_then(|p| p.get("release")).and_then(|r| r.get("package")).and_then(|p| p.get(name));
    BITCODE_PROFILE
        .iter()
        .filter(|(key, value)| package.and_then(|p| p.get(*key)).and_then(Value::as_integer) != Some(*value))
        .map(|(key, value)| {
            format!(
                "{name}: set `{key} = {value}` in [profile.release.package.{name}] of Cargo.toml \
                 (the native build uses the bitcode's settings)"
            )
        })
        .collect()
}

/// Every way the manifests disagree with the list, one message each, naming the app.
fn disagreements(ws: &Workspace) -> Vec<String> {
    let apps = match bf_app_list::parse(&ws.list) {
        Ok(apps) => apps,
        Err(e) => return vec![format!("apps/apps.list: {e}")],
    };
    let root = parse("Cargo.toml", &ws.root);
    let kernel = parse("kernel/Cargo.toml", &ws.kernel);
    let host_runner = parse("apps/host-runner/Cargo.toml", &ws.host_runner);
    let mut problems = Vec::new();
    for app in &apps {
        let (name, dir) = (app.name, app.dir());
        match ws.crates.get(name).map(|text| parse(&format!("{dir}/Cargo.toml"), text)) {
            None => problems.push(format!("{name}: {dir}/Cargo.toml is missing (the app's crate)")),
            Some(manifest) => {
                let package = manifest.get("package").and_then(|p| p.get("name")).and_then(Value::as_str);
                if package != Some(name) {
                    let package = package.map_or("no package name".into(), |p| format!("its package {p:?}"));
                    problems.push(format!("{name}: {dir}/Cargo.toml has {package}, not {name:?}"));
                }
                if manifest.get("features").and_then(|f| f.get("bitcode")).is_none() {
                    problems.push(format!(
                        "{name}: {dir}/Cargo.toml has no `bitcode` feature (apps/README.md, \"Adding an app\")"
                    ));
                }
            }
        }
        if !is_member(&root, &dir) {
            problems.push(format!(
                "{name}: {dir} is not a workspace member: keep the \"apps/*\" glob in [workspace] members of Cargo.toml \
                 (and {dir} out of `exclude`)"
            ));
        }
        problems.extend(profile_problems(&root, name));
        if !has_path_dependency(&host_runner, name, &format!("../{name}"), false) {
            problems.push(format!(
                "{name}: add `{name} = {{ path = \"../{name}\" }}` to [dependencies] in apps/host-runner/Cargo.toml"
            ));
        }
    }
    // The ABI crate is compiled into every app, AOT and bitcode alike.
    problems.extend(profile_problems(&root, "bf-app-abi"));
    // An app crate (one with a `bitcode` feature) the list leaves out.
    for (dir, text) in &ws.crates {
        let manifest = parse(&format!("apps/{dir}/Cargo.toml"), text);
        let is_app = manifest.get("features").and_then(|f| f.get("bitcode")).is_some();
        if is_app && !apps.iter().any(|a| a.name == dir) {
            problems.push(format!(
                "{dir}: apps/{dir} is an app crate (it has a `bitcode` feature) but apps/apps.list does not list it"
            ));
        }
    }
    // The kernel links the apps' bitcode and AOT objects, never their crates (an app
    // crate there would be a second, differently built AOT copy).
    if let Some(Value::Table(dependencies)) = kernel.get("dependencies") {
        for (name, dependency) in dependencies {
            let path = dependency.get("path").and_then(Value::as_str).unwrap_or_default();
            if let Some(dir) = path.strip_prefix("../apps/")
                && apps.iter().any(|a| a.name == dir)
            {
                problems.push(format!(
                    "{dir}: kernel/Cargo.toml depends on {path} (as {name}): the kernel links the app's AOT object \
                     from apps/build-bitcode.sh, not its crate"
                ));
            }
        }
    }
    problems
}

#[test]
fn the_manifests_name_every_app_of_the_list() {
    let problems = disagreements(&Workspace::real());
    assert!(problems.is_empty(), "Cargo.toml files and apps/apps.list disagree:\n  {}", problems.join("\n  "));
}

/// A made-up workspace that agrees with its list: `fib` and `sieve`.
fn agreeing() -> Workspace {
    let app = |name: &str| format!("[package]\nname = \"{name}\"\n[features]\nbitcode = []\n");
    Workspace {
        list: "# apps\nfib\nsieve\n".into(),
        root: "[workspace]\nmembers = [\"kernel\", \"apps/*\"]\nexclude = [\"apps/lli\"]\n\
               [profile.release.package.fib]\nopt-level = 2\ncodegen-units = 1\n\
               [profile.release.package.sieve]\nopt-level = 2\ncodegen-units = 1\n\
               [profile.release.package.bf-app-abi]\nopt-level = 2\ncodegen-units = 1\n"
            .into(),
        kernel: "[dependencies]\nbf-llvm = { path = \"../crates/llvm\", optional = true }\n\
                 [features]\nllvm = [\"dep:bf-llvm\"]\n"
            .into(),
        host_runner: "[dependencies]\nbf-app-abi = { path = \"../abi\" }\nfib = { path = \"../fib\" }\n\
                      sieve = { path = \"../sieve\" }\n"
            .into(),
        crates: [
            ("abi".to_string(), "[package]\nname = \"bf-app-abi\"\n".to_string()),
            ("fib".into(), app("fib")),
            ("sieve".into(), app("sieve")),
        ]
        .into(),
    }
}

#[test]
fn an_agreeing_workspace_passes() {
    assert_eq!(disagreements(&agreeing()), Vec::<String>::new());
}

#[test]
fn an_app_added_to_the_list_only_is_named_with_each_missing_line() {
    let mut ws = agreeing();
    ws.list.push_str("nbody\n");
    ws.crates.insert("nbody".into(), "[package]\nname = \"nbody\"\n[features]\nbitcode = []\n".into());
    assert_eq!(
        disagreements(&ws),
        [
            "nbody: set `opt-level = 2` in [profile.release.package.nbody] of Cargo.toml (the native build uses the \
             bitcode's settings)",
            "nbody: set `codegen-units = 1` in [profile.release.package.nbody] of Cargo.toml (the native build uses the \
             bitcode's settings)",
            "nbody: add `nbody = { path = \"../nbody\" }` to [dependencies] in apps/host-runner/Cargo.toml",
        ]
    );
    ws.crates.remove("nbody");
    assert!(disagreements(&ws).contains(&"nbody: apps/nbody/Cargo.toml is missing (the app's crate)".to_string()));
}

#[test]
fn an_app_crate_missing_from_the_list_is_named() {
    let mut ws = agreeing();
    ws.list = "fib\n".into();
    assert_eq!(
        disagreements(&ws),
        ["sieve: apps/sieve is an app crate (it has a `bitcode` feature) but apps/apps.list does not list it",]
    );
}

#[test]
fn a_kernel_dependency_on_an_app_crate_is_named() {
    let mut ws = agreeing();
    ws.kernel = ws.kernel.replace("[features]", "sieve = { path = \"../apps/sieve\", optional = true }\n[features]");
    assert_eq!(
        disagreements(&ws),
        ["sieve: kernel/Cargo.toml depends on ../apps/sieve (as sieve): the kernel links the app's AOT object from \
             apps/build-bitcode.sh, not its crate",]
    );
}

#[test]
fn workspace_membership_and_partial_cargo_lines_are_checked() {
    let mut ws = agreeing();
    ws.root = ws.root.replace("exclude = [\"apps/lli\"]", "exclude = [\"apps/fib\"]");
    ws.crates.insert("fib".into(), "[package]\nname = \"fibonacci\"\n[features]\nbitcode = []\n".into());
    let problems = disagreements(&ws);
    assert_eq!(
        problems,
        [
            "fib: apps/fib/Cargo.toml has its package \"fibonacci\", not \"fib\"",
            "fib: apps/fib is not a workspace member: keep the \"apps/*\" glob in [workspace] members of Cargo.toml \
             (and apps/fib out of `exclude`)",
        ]
    );
    ws.root = ws
        .root
        .replace("members = [\"kernel\", \"apps/*\"]", "members = [\"apps/fib\", \"apps/sieve/x\"]")
        .replace("exclude = [\"apps/fib\"]\n", "");
    let problems = disagreements(&ws);
    assert!(problems.iter().any(|p| p.starts_with("sieve: apps/sieve is not a workspace member")), "{problems:?}");
    assert!(!problems.iter().any(|p| p.starts_with("fib: apps/fib is not a workspace member")), "{problems:?}");
}

#[test]
fn an_aot_build_with_other_settings_than_the_bitcode_is_named() {
    let mut ws = agreeing();
    ws.root = ws.root.replacen("opt-level = 2", "opt-level = 3", 1);
    ws.root = ws.root.replace("[profile.release.package.bf-app-abi]\nopt-level = 2\ncodegen-units = 1\n", "");
    assert_eq!(
        disagreements(&ws),
        [
            "fib: set `opt-level = 2` in [profile.release.package.fib] of Cargo.toml (the native build uses the \
             bitcode's settings)",
            "bf-app-abi: set `opt-level = 2` in [profile.release.package.bf-app-abi] of Cargo.toml (the native build \
             uses the bitcode's settings)",
            "bf-app-abi: set `codegen-units = 1` in [profile.release.package.bf-app-abi] of Cargo.toml (the native \
             build uses the bitcode's settings)",
        ]
    );
}

#[test]
fn a_bad_list_is_reported_as_such() {
    let mut ws = agreeing();
    ws.list = "fib sieve\n".into();
    assert_eq!(disagreements(&ws), ["apps/apps.list: line 1: one app name per line, found \"fib sieve\""]);
}
