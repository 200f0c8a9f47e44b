//! Embeds every file under client/ into the binary, so the release build serves the browser client by itself.

use std::path::{Path, PathBuf};
use std::{env, fs};

fn collect(dir: &Path, root: &Path, out: &mut Vec<(String, PathBuf)>) {
    let Ok(entries) = fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            // Client unit tests are not served.
            if path.file_name().is_some_and(|n| n == "test" || n == "node_modules") {
                continue;
            }
            collect(&path, root, out);
        } else if let Ok(relative) = path.strip_prefix(root) {
            let url = relative.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/");
            out.push((url, path.canonicalize().expect("client file path")));
        }
    }
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("client");
    println!("cargo:rerun-if-changed=client");
    let mut files = Vec::new();
    collect(&root, &root, &mut files);
    files.sort();
    let mut code = String::from("/// Files under client/, by URL path relative to the site root.\npub static CLIENT_FILES: &[(&str, &[u8])] = &[\n");
    for (url, path) in &files {
        code.push_str(&format!("    ({url:?}, include_bytes!({:?})),\n", path.display().to_string()));
    }
    code.push_str("];\n");
    fs::write(PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR")).join("client_files.rs"), code)
        .expect("write client_files.rs");
}
