//! Compile-time checks of the macros: every mistake in `ui/fail` must fail to compile
//! with the error in its `.stderr`; everything in `ui/pass` must compile.
//! Regenerate the expected output after a deliberate change with `TRYBUILD=overwrite`.

#[test]
fn macros_accept_every_documented_form() {
    trybuild::TestCases::new().pass("tests/ui/pass/*.rs");
}

#[test]
fn macro_mistakes_are_compile_errors_that_say_how_to_fix_them() {
    trybuild::TestCases::new().compile_fail("tests/ui/fail/*.rs");
}

#[test]
fn the_compile_errors_doc_shows_every_error_as_the_compiler_prints_it() {
    let doc = std::fs::read_to_string("../docs/compile-errors.md").expect("docs/compile-errors.md");
    for entry in std::fs::read_dir("tests/ui/fail").expect("tests/ui/fail") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "stderr") {
            let expected = std::fs::read_to_string(&path).expect("stderr");
            assert!(
                doc.contains(expected.trim_end()),
                "docs/compile-errors.md does not show {} as the compiler prints it",
                path.display()
            );
        }
    }
}
