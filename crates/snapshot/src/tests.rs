//! Host tests of the format, the key and the lineage rules.

use crate::lineage::*;
use crate::*;

pub(crate) fn key() -> Key {
    Key {
        kernel_build_id: vec![0xab; 20],
        llvm_version: "22.1.8".into(),
        app: "tinyllama".into(),
        bitcode_sha256: bitcode_hash(b"BC\xc0\xde the app"),
        tiers: "t1=default<O1>;t2=default<O3>".into(),
        cpu: "znver3".into(),
        cpu_features: "+avx,+avx2,-avx512f,+sse2".into(),
    }
}

fn snapshot() -> Snapshot {
    Snapshot {
        key: key(),
        boot: 3,
        profiled_boots: 3,
        functions: vec![
            FunctionRecord { name: "main".into(), start_tier: 0, tier: 1, calls: 3, cycles: 900, code: Some(1) },
            FunctionRecord {
                name: "matmul".into(),
                start_tier: 0,
                tier: 2,
                calls: 4000,
                cycles: 9e9 as u64,
                code: Some(2),
            },
            FunctionRecord { name: "cold".into(), start_tier: 0, tier: 0, calls: 0, cycles: 0, code: None },
        ],
        objects: vec![
            Object { name: "load.t1".into(), bytes: b"\x7fELF load".to_vec() },
            Object { name: "main.t1".into(), bytes: b"\x7fELF main".to_vec() },
            Object { name: "matmul.t2".into(), bytes: vec![0x90; 3000] },
        ],
    }
}

#[test]
fn a_snapshot_survives_encoding_and_validates_against_its_key() {
    let s = snapshot();
    let bytes = s.encode();
    assert_eq!(&bytes[..8], &MAGIC);
    assert_eq!(Snapshot::decode(&bytes), Ok(s.clone()));
    assert_eq!(Snapshot::validate(&bytes, &key()), Ok(s));
}

#[test]
fn every_flipped_byte_is_caught_and_named() {
    let bytes = snapshot().encode();
    for i in 0..bytes.len() {
        let mut b = bytes.clone();
        b[i] ^= 0x40;
        let r = Snapshot::validate(&b, &key()).expect_err("a flipped byte went unnoticed");
        let field = r.field();
        match i {
            0..8 => assert_eq!(field, "magic", "byte {i}"),
            8..12 => assert_eq!(field, "format version", "byte {i}"),
            12..20 => assert!(field == "length" || field == "contents", "byte {i}: {r}"),
            _ => assert_eq!(field, "checksum", "byte {i}: {r}"),
        }
    }
}

#[test]
fn a_write_cut_short_is_truncated_at_every_length() {
    let bytes = snapshot().encode();
    for n in 0..bytes.len() {
        let r = Snapshot::validate(&bytes[..n], &key()).expect_err("a partial file validated");
        assert!(matches!(r, Rejection::Truncated { .. }), "{n} bytes: {r}");
        assert!(r.is_damage());
    }
    assert!(matches!(Snapshot::decode(b"ELF\x7f and more"), Err(Rejection::Magic)));
}

#[test]
fn each_key_field_is_named_when_it_differs() {
    let bytes = snapshot().encode();
    type Change = fn(&mut Key);
    let cases: Vec<(Change, &str, &str)> = vec![
        (|k| k.kernel_build_id[0] = 0, "kernel build", "build id abababababababab, this kernel 00abababababab"),
        (|k| k.llvm_version = "22.1.2".into(), "llvm version", "22.1.8, this kernel 22.1.2"),
        (|k| k.bitcode_sha256 = bitcode_hash(b"other"), "app bitcode", "sha256 "),
        (|k| k.tiers = "t1=default<O2>".into(), "tier table", "t1=default<O1>"),
        (|k| k.cpu_features = "+avx,-avx2,-avx512f,+sse2".into(), "cpu features", "avx2 missing"),
        (|k| k.cpu = "x86-64".into(), "cpu", "znver3, this CPU x86-64"),
        (|k| k.app = "fib".into(), "app", "tinyllama, this app fib"),
    ];
    for (change, field, detail) in cases {
        let mut here = key();
        change(&mut here);
        let r = Snapshot::validate(&bytes, &here).expect_err("a different key validated");
        assert_eq!(r.field(), field);
        assert!(!r.is_damage());
        let verb = if field.ends_with('s') { "differ" } else { "differs" };
        assert!(r.to_string().starts_with(&format!("{field} {verb} (")), "{r}");
        assert!(r.to_string().contains(detail), "{r} lacks {detail:?}");
    }
}

#[test]
fn feature_differences_list_missing_then_added() {
    assert_eq!(feature_difference("+avx2,+sse2", "+sse2,-avx2"), "avx2 missing");
    assert_eq!(feature_difference("+sse2", "+sse2,+avx512f"), "avx512f added");
    assert_eq!(feature_difference("+a,+b,+c,+d,+e,+f", "+g"), "a b c d and 2 more missing; g added");
    assert_eq!(feature_difference("+sse2,-avx", "+sse2"), "");
}

#[test]
fn the_description_shows_key_functions_and_objects() {
    let lines = snapshot().describe(|t| format!("t{t}"));
    let text = lines.join("\n");
    for needle in
        ["app          tinyllama", "boot         3 (profile of 3 boots)", "llvm         22.1.8", "cpu          znver3"]
    {
        assert!(text.contains(needle), "{needle:?} in\n{text}");
    }
    let matmul = lines.iter().find(|l| l.starts_with("matmul")).unwrap();
    assert!(matmul.contains(" 4000 ") && matmul.contains(" t2 ") && matmul.ends_with("3000 B"), "{matmul}");
    assert!(lines.iter().any(|l| l.starts_with("cold") && l.ends_with(" -")));
    assert!(text.contains("object matmul.t2"));
}

#[test]
fn file_names_carry_the_boot_number() {
    assert_eq!(file_name(1), "B0000001.SNP");
    assert_eq!(set_aside_name(42), "B0000042.BAD");
    assert_eq!(parse_file_name("B0000042.SNP"), Some((42, FileKind::Snapshot)));
    assert_eq!(parse_file_name("b0000042.bad"), Some((42, FileKind::SetAside)));
    for other in ["B42.SNP", "X0000042.SNP", "B0000042.TMP", "B00000x2.SNP", "README"] {
        assert_eq!(parse_file_name(other), None, "{other}");
    }
    let names = ["B0000003.SNP", "B0000010.SNP", "B0000011.BAD", "NOTES.TXT", "B0000001.SNP"];
    assert_eq!(candidates(names), vec![10, 3, 1]);
    assert_eq!(next_boot(names), 12, "a set-aside name is not reused");
    assert_eq!(next_boot([]), 1);
    assert_eq!(app_directory("TinyLlama", &[0; 32], false), "tinyllama");
    assert_eq!(app_directory("a b/c", &[0; 32], false), "a_b_c");
    assert_eq!(
        app_directory(
            "app",
            &[
                0x1a, 0x2b, 0x3c, 0x4d, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                0, 0
            ],
            true
        ),
        "app-1a2b3c4d"
    );
}

#[test]
fn retention_keeps_the_newest_and_the_milestones() {
    assert!([1, 10, 100, 1000, 10_000].iter().all(|&b| is_milestone(b)));
    assert!([0, 2, 9, 11, 99, 101, 1001, u32::MAX].iter().all(|&b| !is_milestone(b)));
    assert_eq!(to_delete(&[1, 2, 3], 3), vec![2]);
    assert_eq!(to_delete(&[1, 10, 99, 100, 101], 101), vec![99]);
    assert_eq!(to_delete(&[5], 5), Vec::<u32>::new());
    // Boot after boot, the directory stays small: the newest plus the milestones.
    let mut kept: Vec<u32> = Vec::new();
    for boot in 1..=1234 {
        kept.push(boot);
        let gone = to_delete(&kept, boot);
        kept.retain(|b| !gone.contains(b));
    }
    assert_eq!(kept, vec![1, 10, 100, 1000, 1234]);
}
