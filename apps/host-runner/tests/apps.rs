//! Every app, run natively through its `run()`, passes its own check, calls each
//! section marker exactly once and prints one result line.

use host_runner::{APPS, find, run_app};

host_runner::define_host_functions!();

fn check(name: &str) {
    let app = find(name).expect("app listed in APPS");
    let o = run_app(app);
    assert_eq!(o.status, 0, "{name} failed its check: {}", o.output);
    assert_eq!((o.begins, o.ends), (1, 1), "{name}: section markers");
    assert!(o.section_cycles > 0, "{name}: empty timed section");
    assert!(o.output.starts_with(&format!("{name}: ")), "{name}: output {:?}", o.output);
    assert!(o.output.ends_with(" ok\n") && o.output.matches('\n').count() == 1, "{name}: output {:?}", o.output);
}

// `#[test] fn <app>() { check("<app>") }` for every app of apps/apps.list, generated
// by build.rs.
include!(concat!(env!("OUT_DIR"), "/app_tests.rs"));

#[test]
fn every_app_is_tested() {
    let listed: Vec<_> = APPS.iter().map(|a| a.name).collect();
    assert_eq!(listed, bf_app_list::names());
}

/// The static buffers are lent out and given back: a second run in the same process
/// gives the same answer.
#[test]
fn apps_run_twice() {
    for name in ["sieve", "quicksort"] {
        let app = find(name).unwrap();
        let first = run_app(app);
        let second = run_app(app);
        assert_eq!((first.status, second.status), (0, 0));
        assert_eq!(first.output, second.output);
    }
}
