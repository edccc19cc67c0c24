//! Conformance with the real registry: the public Statens vegvesen responses the team keeps
//! beside the repository (`../shared/fixtures/vegvesen/`) must still map to a summary.
//!
//! Every other test uses the repository's invented fixtures (`tests/fixtures/vegvesen/`), so a
//! clone with nothing beside it builds and tests on its own. This test reads the real files at
//! run time when the folder is there and is skipped (it passes, saying so) when it is not,
//! unless `ELBATT_REQUIRE_CONFORMANCE=1` is set, as CI does: then a missing folder fails.
//!
//! The real files hold real plates and VINs: messages name the file, never its contents.

#![allow(clippy::print_stdout)]

use std::path::{Path, PathBuf};

use elbatt::vehicle::model::KjoretoydataResponse;
use elbatt::vehicle::service::parse_response;

/// `../shared/fixtures/vegvesen` from the workspace root (this crate is `shared/`), read at run
/// time only: nothing is compiled in from outside the repository.
fn real_fixtures() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/vegvesen")
}

fn required() -> bool {
    std::env::var("ELBATT_REQUIRE_CONFORMANCE").is_ok_and(|v| v.trim() == "1")
}

fn json_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot list ../shared/fixtures/vegvesen: {e}"))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();
    files
}

#[test]
fn real_vegvesen_responses_conform() {
    let dir = real_fixtures();
    let dir = dir.as_path();
    if !dir.is_dir() {
        assert!(
            !required(),
            "ELBATT_REQUIRE_CONFORMANCE=1 but the real Statens vegvesen responses are missing: \
             expected ../shared/fixtures/vegvesen beside the repository"
        );
        println!(
            "skipped: ../shared/fixtures/vegvesen not found beside the repository \
             (set ELBATT_REQUIRE_CONFORMANCE=1 to make this a failure)"
        );
        return;
    }

    let files = json_files(dir);
    assert!(
        !files.is_empty(),
        "../shared/fixtures/vegvesen has no .json files"
    );
    let (mut vehicles, mut errors) = (0, 0);
    for path in &files {
        let name = path
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        let body = std::fs::read(path).unwrap_or_else(|e| panic!("{name}: unreadable: {e}"));
        let response: KjoretoydataResponse = serde_json::from_slice(&body)
            .unwrap_or_else(|_| panic!("{name}: not a kjoretoydata response body"));
        if response.kjoretoydata_liste.is_empty() {
            // An error body (the 400 one): a message and no vehicle.
            assert!(
                response.feilmelding.is_some(),
                "{name}: neither a vehicle nor an error message"
            );
            assert!(
                matches!(parse_response(&body), Ok(None)),
                "{name}: an error body must read as \"no vehicle\""
            );
            errors += 1;
            continue;
        }
        let summary = match parse_response(&body) {
            Ok(Some(summary)) => summary,
            Ok(None) => panic!("{name}: has a vehicle but mapped to none"),
            Err(_) => panic!("{name}: the lookup path rejected the body"),
        };
        assert!(summary.plate.is_some(), "{name}: no plate in the summary");
        assert!(summary.make.is_some(), "{name}: no make in the summary");
        vehicles += 1;
    }
    assert!(vehicles > 0, "no vehicle response among the real files");
    assert!(
        files.iter().any(|p| p
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("error-400"))),
        "the real 400 error body is missing"
    );
    println!("{vehicles} real vehicle responses and {errors} error bodies conform");
}
