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
