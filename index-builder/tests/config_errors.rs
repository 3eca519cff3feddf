//! An invalid site config stops `index-builder build` with an error naming the key (and the
//! file), before anything is written.

use std::path::Path;
use std::process::Command;

/// Builds a one-page docs folder with `config` as its baton.toml; returns (ok, stderr, wrote index).
fn build_with(config: &str) -> (bool, String, bool) {
    let dir = tempfile::tempdir().unwrap();
    let docs = dir.path().join("docs");
    std::fs::create_dir(&docs).unwrap();
    std::fs::write(docs.join("index.md"), "# Hello\n\nBaton answers from these docs.\n").unwrap();
    std::fs::write(docs.join("baton.toml"), config).unwrap();
    let out_file = dir.path().join("out/index.idx");
    let out = Command::new(env!("CARGO_BIN_EXE_index-builder"))
        .args(["build", "--quiet", "--docs"])
        .arg(&docs)
        .arg("--out")
        .arg(&out_file)
        .output()
        .unwrap();
    (out.status.success(), String::from_utf8(out.stderr).unwrap(), Path::new(&out_file).exists())
}

#[test]
fn invalid_configs_name_the_key() {
    let cases = [
        (
            "site = \"shop\"\n[[actions]]\nid = \"order\"\ntitle = \"Your order\"\nkeywords = [\"order\"]\n\
             [[actions.fields]]\nname = \"order_id\"\nlabel = \"Order number\"\npattern = \"^[A-Z{2}$\"\n",
            "actions[0].fields[0].pattern",
        ),
        (
            "site = \"shop\"\n[[actions]]\nid = \"order\"\ntitle = \"Your order\"\non_handoff = [\"when_sad\"]\n\
             [[actions.fields]]\nname = \"email\"\nlabel = \"Email\"\ntype = \"email\"\n",
            "actions[0].on_handoff[0]",
        ),
        (
            "site = \"shop\"\n[[actions]]\nid = \"plan\"\ntitle = \"Your plan\"\nkeywords = [\"plan\"]\n\
             [[actions.fields]]\nname = \"plan\"\nlabel = \"Plan\"\ntype = \"select\"\n",
            "actions[0].fields[0].options",
        ),
        ("site = \"shop\"\n[handoff]\nkeywords = [\"refund\", \"\"]\n", "handoff.keywords[1]"),
        ("site = \"shop\"\n[[tags]]\ntag = \"vip!\"\nkeywords = [\"enterprise\"]\n", "tags[0].tag"),
        ("site = \"shop\"\n[operator_names]\nann = \"Ann\"\n", "operator_names.ann"),
        ("site = \"shop\"\nconfidence_threshold = 1.5\n", "confidence_threshold"),
        // serde's own errors name the key and the line.
        ("site = \"shop\"\n[handoff]\nkeywrods = [\"refund\"]\n", "keywrods"),
        ("site = \"shop\"\n[handoff]\nfrustration = \"yes\"\n", "frustration"),
    ];
    for (config, key) in cases {
        let (ok, stderr, wrote) = build_with(config);
        assert!(!ok, "accepted:\n{config}");
        assert!(stderr.contains(key), "the error should name {key}:\n{stderr}");
        assert!(stderr.contains("baton.toml"), "the error should name the file:\n{stderr}");
        assert!(!wrote, "an index was written for an invalid config");
    }
    let (ok, stderr, wrote) = build_with("site = \"shop\"\n[handoff]\nkeywords = [\"refund\", \"is * down\"]\n");
    assert!(ok && wrote, "{stderr}");
}
