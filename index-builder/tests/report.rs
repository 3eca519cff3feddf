//! `index-builder diff` on two small docs folders (tests/fixtures/report/{old,new}): what a docs
//! change does to the index — pages and sections added, removed and changed, text under no
//! heading, skipped files, broken links — as JSON and as the readable summary; and the same
//! page/section diff from two built index files.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/report")
}

fn index_builder(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_index-builder")).args(args).output().expect("run index-builder")
}

fn diff_json(old: &Path, new: &Path) -> Value {
    let out = index_builder(&["diff", old.to_str().unwrap(), new.to_str().unwrap(), "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("JSON on stdout")
}

fn strings(v: &Value, key: &str) -> Vec<String> {
    v.as_array().unwrap().iter().map(|x| x[key].as_str().unwrap().to_string()).collect()
}

#[test]
fn folder_diff_reports_pages_sections_skips_and_broken_links() {
    let r = diff_json(&fixtures().join("old"), &fixtures().join("new"));
    assert_eq!(strings(&r["pages_added"], "path"), ["guide/config.md", "notes.md"]);
    assert_eq!(strings(&r["pages_removed"], "path"), ["retired.md"]);
    let changed = &r["pages_changed"];
    assert_eq!(strings(changed, "path"), ["index.md"], "same.md is unchanged");
    assert_eq!(strings(&changed[0]["sections_added"], "heading"), ["Home › Upgrade"]);
    assert_eq!(strings(&changed[0]["sections_removed"], "heading"), ["Home › Configure"]);
    assert_eq!(strings(&changed[0]["sections_changed"], "heading"), ["Home › Install"]);
    assert_eq!(changed[0]["sections_changed"][0]["url"], "/docs/#install");

    let unheaded = &r["sections_without_heading"];
    assert_eq!(strings(unheaded, "path"), ["guide/config.md", "index.md", "notes.md"]);
    assert_eq!(unheaded.as_array().unwrap().iter().map(|u| u["whole_page"].as_bool().unwrap()).collect::<Vec<_>>(), [false, false, true]);

    let skipped: Vec<(String, String)> = r["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["path"].as_str().unwrap().into(), s["reason"].as_str().unwrap().into()))
        .collect();
    assert_eq!(
        skipped,
        [("draft.md".to_string(), "draft: true in front matter".to_string()), ("empty.md".into(), "empty file (no text)".into())]
    );

    // Every broken link with its file and line; the good ones (an existing heading on another
    // page, this page's own heading, a published URL under base_url) and the unchecked ones
    // (external, another section of the site, an image) are not listed.
    let broken: Vec<(String, u64, String, String)> = r["broken_links"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["path"].as_str().unwrap().into(),
                b["line"].as_u64().unwrap(),
                b["target"].as_str().unwrap().into(),
                b["problem"].as_str().unwrap().into(),
            )
        })
        .collect();
    let expected = [
        ("guide/config.md", 7, "../retired.md", "no such page in the docs"),
        ("index.md", 13, "nope.md", "no such page in the docs"),
        ("index.md", 14, "same.md#nowhere", "no heading #nowhere on same.md"),
        ("index.md", 14, "draft.md", "the page is not indexed (draft: true in front matter)"),
        ("index.md", 15, "#configure", "no heading #configure on index.md"),
    ];
    assert_eq!(broken, expected.map(|(p, l, t, why)| (p.to_string(), l, t.to_string(), why.to_string())));

    let c = &r["counts"];
    assert_eq!((c["pages"].as_u64(), c["sections_added"].as_u64(), c["sections_removed"].as_u64()), (Some(4), Some(4), Some(2)));
    assert_eq!(c["broken_links"], 5);
}

#[test]
fn the_summary_reads_as_a_pull_request_comment() {
    let out = index_builder(&["diff", fixtures().join("old").to_str().unwrap(), fixtures().join("new").to_str().unwrap()]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for line in [
        "The bot will know 4 pages, 7 sections (7 chunks).",
        "Pages: 2 added, 1 removed, 1 changed. Sections: 4 added, 2 removed, 1 changed.",
        "  + notes.md  “Notes” (1 section) /docs/notes",
        "  - retired.md  “Retired feature”",
        "      ~ Home › Install",
        "  draft.md: draft: true in front matter",
        "  index.md:14: same.md#nowhere — no heading #nowhere on same.md",
    ] {
        assert!(text.lines().any(|l| l == line), "missing line {line:?} in:\n{text}");
    }
    assert!(text.contains("notes.md: 68 characters") && text.contains("the page has no headings"), "{text}");

    // --strict fails the CI step on broken links, after printing the report.
    let out = index_builder(&["diff", "none", fixtures().join("new").to_str().unwrap(), "--strict"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Broken links:"));
    assert!(String::from_utf8_lossy(&out.stderr).contains("5 broken link(s)"));
    let out = index_builder(&["diff", "none", fixtures().join("old").to_str().unwrap(), "--strict"]);
    assert!(out.status.success(), "no broken links in old/");
    assert!(String::from_utf8_lossy(&out.stdout).contains("Pages: 3 added, 0 removed, 0 changed."));
}

#[test]
fn built_indexes_diff_like_their_folders_and_build_writes_per_site() {
    let tmp = tempfile::tempdir().unwrap();
    let sites = tmp.path().join("sites");
    let old_idx = tmp.path().join("old.idx");
    let out = index_builder(&["build", "--quiet", "--docs", fixtures().join("old").to_str().unwrap(), "--out", old_idx.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // --sites-dir: the site id comes from baton.toml (site = "fixture").
    let out = index_builder(&[
        "build",
        "--quiet",
        "--docs",
        fixtures().join("new").to_str().unwrap(),
        "--sites-dir",
        sites.to_str().unwrap(),
        "--report",
        "--previous",
        old_idx.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let new_idx = sites.join("fixture/index.idx");
    assert!(new_idx.is_file() && sites.join("fixture/site.json").is_file());
    let report = String::from_utf8(out.stdout).unwrap();
    assert!(report.contains("Pages: 2 added, 1 removed, 1 changed."), "build --report: {report}");

    let from_indexes = diff_json(&old_idx, &new_idx);
    let from_folders = diff_json(&fixtures().join("old"), &fixtures().join("new"));
    for key in ["pages_added", "pages_removed", "pages_changed", "sections_without_heading"] {
        assert_eq!(from_indexes[key], from_folders[key], "{key}");
    }
    // An index cannot tell skipped files or links: only a folder can.
    assert_eq!(from_indexes["skipped"], Value::Array(vec![]));

    // A docs folder without baton.toml cannot name its site.
    let bare = tmp.path().join("bare");
    std::fs::create_dir(&bare).unwrap();
    std::fs::write(bare.join("a.md"), "# A\n\ntext\n").unwrap();
    let out = index_builder(&["build", "--docs", bare.to_str().unwrap(), "--sites-dir", sites.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("baton.toml with site = "), "{}", String::from_utf8_lossy(&out.stderr));
    let out = index_builder(&["diff", "none", tmp.path().join("nothing-here").to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("is neither a docs folder nor an index file"));
}

#[test]
fn citations_that_would_not_resolve_are_listed_and_the_demo_pages_carry_every_anchor() {
    let dir = tempfile::tempdir().unwrap();
    let write = |rel: &str, text: &str| {
        let p = dir.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    };
    write("baton.toml", "site = \"docs\"\nbase_url = \"/docs\"\n");
    write("guide.md", "# Guide\n\nThe guide page, one of two at one URL.\n");
    write("guide/index.md", "# Guide index\n\nThe other page at that URL.\n");
    write("intro.md", "# Intro\n\nWelcome text for everyone.\n\n## 🚀\n\nLaunch notes under an emoji heading.\n\n## Set up {#setup}\n\nSee [the guide](guide.md).\n");
    write("my page.md", "# My page\n\nA page whose file name has a space.\n");
    let r = diff_json(Path::new("none"), dir.path());
    let problems: Vec<(String, String)> = r["unresolved_citations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| (u["path"].as_str().unwrap().to_string(), u["problem"].as_str().unwrap().to_string()))
        .collect();
    let has = |path: &str, words: &str| problems.iter().any(|(p, why)| p == path && why.contains(words));
    assert!(has("guide.md", "all published at this URL") && has("guide/index.md", "all published at this URL"), "{problems:#?}");
    assert!(has("intro.md", "no letters or digits"), "{problems:#?}");
    assert!(has("my page.md", "which a link must escape"), "{problems:#?}");
    assert_eq!(r["counts"]["unresolved_citations"], problems.len());
    let text = String::from_utf8(index_builder(&["diff", "none", dir.path().to_str().unwrap()]).stdout).unwrap();
    assert!(text.contains("Citations that would not open their section:"), "{text}");

    // As pages (the demo's way): each at its URL, the cited anchors on it, cross-references
    // leading to pages, the widget on every one.
    let out = tempfile::tempdir().unwrap();
    let docs = dir.path();
    let idx = out.path().join("sites/docs/index.idx");
    let pages = out.path().join("pages");
    let o = index_builder(&[
        "build",
        "--quiet",
        "--docs",
        docs.to_str().unwrap(),
        "--out",
        idx.to_str().unwrap(),
        "--pages",
        pages.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let intro = std::fs::read_to_string(pages.join("docs/intro.html")).unwrap();
    assert!(intro.contains("<h2 id=\"setup\">Set up"), "{intro}");
    assert!(intro.contains("<a href=\"/docs/guide\">the guide</a>"), "{intro}");
    assert!(intro.contains("<script src=\"/widget.js\" data-site=\"docs\" async></script>"));
    // A docs site elsewhere: no pages to write here, and it says why.
    let o = index_builder(&[
        "build",
        "--quiet",
        "--docs",
        docs.to_str().unwrap(),
        "--out",
        idx.to_str().unwrap(),
        "--base-url",
        "https://docs.example.com",
        "--pages",
        pages.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("base_url must be a path"), "{}", String::from_utf8_lossy(&o.stderr));
}
