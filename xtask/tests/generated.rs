//! The committed generated files are what `cargo xtask generate` renders from today's facts.

#[test]
fn generated_files_are_fresh() {
    let stale = xtask::stale_files(&xtask::workspace_root());
    assert!(stale.is_empty(), "\n{}", xtask::stale_report(&stale));
}

#[test]
fn a_hand_edited_generated_file_is_stale() {
    let root = std::env::temp_dir().join(format!("warren-xtask-{}", std::process::id()));
    std::fs::create_dir_all(&root).expect("a temporary directory");
    xtask::generate(&root).expect("generating into the temporary directory");
    assert!(xtask::stale_files(&root).is_empty());

    let compose = root.join("docker-compose.yml");
    let edited = std::fs::read_to_string(&compose)
        .expect("docker-compose.yml was generated")
        .replace("\"8081\"", "\"9081\"");
    std::fs::write(&compose, edited).expect("editing docker-compose.yml");
    std::fs::remove_file(root.join(".env.example")).expect("removing .env.example");
    let stale = xtask::stale_files(&root);
    std::fs::remove_dir_all(&root).expect("removing the temporary directory");

    assert_eq!(stale, [".env.example", "docker-compose.yml"]);
    let report = xtask::stale_report(&stale);
    assert!(report.contains("docker-compose.yml is stale: run `cargo xtask generate`"));
}
