//! Sentence embeddings with the pretrained all-MiniLM-L6-v2 and their cosine similarities.
//!
//! ```sh
//! scripts/setup.sh   # fetches the weights and tokenizer into models/all-MiniLM-L6-v2
//! cargo run --release -p ignis --example minilm -- "first sentence" "second sentence"
//! ```
//!
//! Flags: `--json` prints `{"embeddings": [[...], ...], "cosine": [[...], ...]}` and nothing
//! else on stdout; `--model-dir DIR` reads another sentence-transformers folder;
//! `--compiled` runs the encoder through `ignis::compile()` (the first call traces and
//! compiles, the second replays; both are timed). Without sentences it embeds a few
//! built-in pairs.

use ignis::Tensor;
use ignis::models::{SentenceEncoder, normalize};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;
use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};

const EXAMPLES: [&str; 6] = [
    "A man is playing a guitar.",
    "Someone is strumming a guitar on stage.",
    "The cat sleeps on the warm windowsill.",
    "A kitten is napping in the sun by the window.",
    "How do I reset my password?",
    "Quarterly revenue grew by twelve percent.",
];

struct Args {
    sentences: Vec<String>,
    json: bool,
    compiled: bool,
    model_dir: PathBuf,
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("minilm: {message}");
            eprintln!("usage: minilm [--json] [--model-dir DIR] [--compiled] [SENTENCE ...]");
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("minilm: {message}");
            ExitCode::FAILURE
        }
    }
}

fn parse_args() -> Result<Args, String> {
    let default_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/all-MiniLM-L6-v2");
    let mut args = Args { sentences: Vec::new(), json: false, compiled: false, model_dir: default_dir };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--json" => args.json = true,
            "--compiled" => args.compiled = true,
            "--model-dir" => args.model_dir = it.next().ok_or("--model-dir needs a folder")?.into(),
            "-h" | "--help" => return Err("embeds sentences with all-MiniLM-L6-v2".into()),
            "--" => args.sentences.extend(it.by_ref()),
            flag if flag.starts_with("--") => return Err(format!("unknown flag {flag}")),
            _ => args.sentences.push(arg),
        }
    }
    if args.sentences.is_empty() {
        args.sentences = EXAMPLES.iter().map(|s| s.to_string()).collect();
    }
    Ok(args)
}

fn run(args: &Args) -> Result<(), String> {
    let dir = &args.model_dir;
    for file in ["model.safetensors", "tokenizer.json"] {
        if !dir.join(file).exists() {
            return Err(format!(
                "{} not found; run scripts/setup.sh to download all-MiniLM-L6-v2 into models/ (or pass --model-dir)",
                dir.join(file).display()
            ));
        }
    }
    let start = Instant::now();
    let encoder = SentenceEncoder::from_dir(dir).map_err(|e| e.to_string())?;
    let tokenizer = load_tokenizer(&dir.join("tokenizer.json"), encoder.max_seq_length)?;
    let loaded = start.elapsed();

    let start = Instant::now();
    let (ids, mask) = tokenize(&tokenizer, &args.sentences)?;
    let mut compiled_timing = String::new();
    let embeddings = if args.compiled {
        let encoder = &encoder;
        let encode = ignis::compile(move |(ids, mask): (Tensor, Tensor)| encoder.encode(&ids, &mask));
        let first = encode.call((ids.clone(), mask.clone()));
        let first_ms = start.elapsed().as_secs_f64() * 1e3;
        let again = Instant::now();
        let second = encode.call((ids.clone(), mask.clone()));
        let again_ms = again.elapsed().as_secs_f64() * 1e3;
        if first.to_vec::<f32>() != second.to_vec::<f32>() {
            return Err("the compiled encoder gave different embeddings on its second call".into());
        }
        compiled_timing =
            format!("; compiled: first call (trace + compile + run) {first_ms:.1} ms, second call {again_ms:.1} ms");
        second
    } else {
        encoder.encode(&ids, &mask)
    };
    let unit = normalize(&embeddings);
    let cosine = unit.matmul(&unit.t());
    let elapsed = start.elapsed();

    let rows = |t: &Tensor| -> Vec<Vec<f32>> {
        let width = t.shape()[1];
        t.to_vec::<f32>().chunks(width).map(<[f32]>::to_vec).collect()
    };
    let timing = format!(
        "{} sentences ({} tokens each after padding), {}-dim embeddings: encoded in {:.1} ms (model loaded in {:.0} ms, {} threads)",
        args.sentences.len(),
        ids.shape()[1],
        encoder.dim(),
        elapsed.as_secs_f64() * 1e3,
        loaded.as_secs_f64() * 1e3,
        ignis::runtime::num_threads()
    ) + &compiled_timing;
    if args.json {
        let json = |t: &Tensor| serde_json::to_string(&rows(t)).map_err(|e| e.to_string());
        println!("{{\"embeddings\": {}, \"cosine\": {}}}", json(&embeddings)?, json(&cosine)?);
        eprintln!("{timing}");
    } else {
        print_table(&args.sentences, &rows(&cosine));
        println!("\n{timing}");
    }
    Ok(())
}

/// The model's tokenizer, set up as sentence-transformers calls it: truncation to the
/// model's `max_seq_length`, padding to the longest sentence of the batch.
fn load_tokenizer(path: &Path, max_length: usize) -> Result<Tokenizer, String> {
    let mut tokenizer = Tokenizer::from_file(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let padding = PaddingParams {
        strategy: PaddingStrategy::BatchLongest,
        ..tokenizer.get_padding().cloned().unwrap_or_default()
    };
    tokenizer
        .with_padding(Some(padding))
        .with_truncation(Some(TruncationParams { max_length, ..Default::default() }))
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(tokenizer)
}

/// Token ids and attention mask, both i64 `[sentences, longest]`.
fn tokenize(tokenizer: &Tokenizer, sentences: &[String]) -> Result<(Tensor, Tensor), String> {
    let encodings = tokenizer.encode_batch(sentences.to_vec(), true).map_err(|e| format!("tokenizer: {e}"))?;
    let len = encodings.first().map_or(0, |e| e.len());
    let flat = |field: fn(&tokenizers::Encoding) -> &[u32]| -> Vec<i64> {
        encodings.iter().flat_map(|e| field(e).iter().map(|&v| i64::from(v))).collect()
    };
    let ids = Tensor::from_vec(flat(tokenizers::Encoding::get_ids), [sentences.len(), len]);
    let mask = Tensor::from_vec(flat(tokenizers::Encoding::get_attention_mask), [sentences.len(), len]);
    Ok((ids, mask))
}

fn print_table(sentences: &[String], cosine: &[Vec<f32>]) {
    for (i, s) in sentences.iter().enumerate() {
        println!("[{i}] {s}");
    }
    println!("\ncosine similarity");
    let label = |i: usize| format!("[{i}]");
    let width = label(sentences.len().saturating_sub(1)).len().max(6);
    print!("{:>width$}", "");
    for j in 0..sentences.len() {
        print!(" {:>width$}", label(j));
    }
    println!();
    for (i, row) in cosine.iter().enumerate() {
        print!("{:>width$}", label(i));
        for v in row {
            print!(" {v:>width$.3}");
        }
        println!();
    }
}
