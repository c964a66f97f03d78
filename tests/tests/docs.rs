//! The documentation's index (`docs/README.md`) lists every chapter, and every link it
//! holds leads to one.

use std::collections::BTreeSet;

use tars_tests::process::workspace_root;

#[test]
fn the_docs_index_lists_every_chapter_once() {
    let docs = workspace_root().join("docs");
    let index = std::fs::read_to_string(docs.join("README.md")).expect("docs/README.md");
    let linked: Vec<&str> = index
        .split("](")
        .skip(1)
        .filter_map(|rest| rest.split(')').next())
        .collect();
    let chapters: BTreeSet<String> = std::fs::read_dir(&docs)
        .expect("docs/")
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter(|name| name.ends_with(".md") && name != "README.md")
        .collect();
    for chapter in &chapters {
        let times = linked.iter().filter(|l| *l == chapter).count();
        assert_eq!(times, 1, "docs/README.md links {chapter} {times} times");
    }
    for link in linked {
        assert!(
            chapters.contains(link),
            "docs/README.md links {link}, which is no chapter"
        );
    }
}

#[test]
fn the_configuration_chapter_lists_every_variable_once_with_its_default() {
    let chapter = std::fs::read_to_string(workspace_root().join("docs/configuration.md"))
        .expect("docs/configuration.md");
    for variable in tars::config::config_variables() {
        let row_start = format!("| `{}` |", variable.name);
        let rows: Vec<&str> = chapter
            .lines()
            .filter(|line| line.starts_with(&row_start))
            .collect();
        assert_eq!(
            rows.len(),
            1,
            "docs/configuration.md has {} rows for {}",
            rows.len(),
            variable.name
        );
        let default_cell = rows[0][row_start.len()..]
            .split('|')
            .next()
            .unwrap_or_default()
            .replace('`', "");
        assert!(
            default_cell.contains(variable.default),
            "docs/configuration.md gives {} the default {default_cell:?}; the variable table says {:?}",
            variable.name,
            variable.default
        );
    }
}
