//! `IGNIS_LOGS` topics and `IGNIS_DUMP_DIR` files.
//!
//! `IGNIS_LOGS=recompiles,graph,guards,breaks,opt,fusion,kernels,codegen` (or `all`) prints those
//! events to stderr
//! and as `tracing` events; `IGNIS_DUMP_DIR=DIR` writes every compiled program's graph as
//! text and DOT (captured, or joint, forward and backward), the optimized graph, its
//! kernels' IR and Cranelift IR (`.optimized.txt`, `.kernels.txt`, `.clif`), and appends each new cache
//! entry's guards and each trace's graph breaks to `NAME.guards.txt` and `NAME.breaks.txt`.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// A kind of event that `IGNIS_LOGS` can switch on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Topic {
    Recompiles,
    Graph,
    Guards,
    Breaks,
    /// The e-graph rewrite: stop reason, rules applied, the optimized graph.
    Opt,
    /// Fusions refused and nodes left to the eager kernels.
    Fusion,
    /// The kernel IR of every generated kernel.
    Kernels,
    /// Native code generation failures and interpreter fallbacks.
    Codegen,
}

impl Topic {
    fn name(self) -> &'static str {
        match self {
            Topic::Recompiles => "recompiles",
            Topic::Graph => "graph",
            Topic::Guards => "guards",
            Topic::Breaks => "breaks",
            Topic::Opt => "opt",
            Topic::Fusion => "fusion",
            Topic::Kernels => "kernels",
            Topic::Codegen => "codegen",
        }
    }
}

fn enabled_topics() -> &'static Vec<String> {
    static TOPICS: OnceLock<Vec<String>> = OnceLock::new();
    TOPICS.get_or_init(|| {
        std::env::var("IGNIS_LOGS")
            .map(|v| v.split(',').map(|t| t.trim().to_ascii_lowercase()).filter(|t| !t.is_empty()).collect())
            .unwrap_or_default()
    })
}

pub fn enabled(topic: Topic) -> bool {
    let topics = enabled_topics();
    topics.iter().any(|t| t == topic.name() || t == "all")
}

/// Prints `message` under `topic` when the topic is on.
pub fn log(topic: Topic, message: impl FnOnce() -> String) {
    if enabled(topic) {
        let text = message();
        tracing::info!(target: "ignis::compile", topic = topic.name(), "{text}");
        eprintln!("[ignis {}] {text}", topic.name());
    }
}

/// The dump directory: the option if set, else `IGNIS_DUMP_DIR`.
pub fn dump_dir(option: Option<&Path>) -> Option<PathBuf> {
    option.map(Path::to_path_buf).or_else(|| std::env::var_os("IGNIS_DUMP_DIR").map(PathBuf::from))
}

/// Writes `contents` to `dir/name`, logging (not failing) when the file cannot be written:
/// a dump must never break the program it describes.
pub fn write_dump(dir: &Path, name: &str, contents: &str) {
    let result = std::fs::create_dir_all(dir).and_then(|_| std::fs::write(dir.join(name), contents));
    if let Err(e) = result {
        tracing::warn!(target: "ignis::compile", "cannot write dump {}: {e}", dir.join(name).display());
    }
}

/// Appends `contents` to `dir/name` (guards and breaks accumulate over a function's traces).
pub fn append_dump(dir: &Path, name: &str, contents: &str) {
    use std::io::Write;
    let result = std::fs::create_dir_all(dir).and_then(|_| {
        let mut file = std::fs::OpenOptions::new().create(true).append(true).open(dir.join(name))?;
        file.write_all(contents.as_bytes())
    });
    if let Err(e) = result {
        tracing::warn!(target: "ignis::compile", "cannot write dump {}: {e}", dir.join(name).display());
    }
}
