//! The kernel's sources follow the layer order that docs/architecture.md writes down:
//! no module uses a higher layer, no sibling modules import each other in a cycle, and
//! every module has a row (the rule is enforced, not only described).

use std::path::{Path, PathBuf};

use bareflow_tests::layers::{Layers, check};
use bareflow_tests::workspace_root;

/// Every `.rs` file under `dir`, relative to `root`, with its contents.
fn sources(root: &Path, dir: &Path, out: &mut Vec<(PathBuf, String)>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir).expect("read kernel/src").map(|e| e.unwrap().path()).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            sources(root, &path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).expect("read a source file");
            out.push((path.strip_prefix(root).unwrap().to_path_buf(), text));
        }
    }
}

#[test]
fn kernel_modules_only_use_their_own_layer_or_lower_ones_and_form_no_cycle() {
    let root = workspace_root();
    let doc = std::fs::read_to_string(root.join("docs/architecture.md")).expect("read docs/architecture.md");
    let layers = Layers::from_markdown(&doc).expect("docs/architecture.md's layer table");
    let src = root.join("kernel/src");
    let mut files = Vec::new();
    sources(&src, &src, &mut files);
    assert!(files.len() > 40, "found only {} kernel sources", files.len());
    let report = check(&layers, &files);
    assert!(report.is_clean(), "the kernel breaks docs/architecture.md's layer rule:\n{report}");
}
