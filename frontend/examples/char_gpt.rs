//! A character-level GPT (decoder-only transformer, about 1M parameters) trained on the
//! opening chapters of Moby-Dick (`examples/data/moby_dick.txt`); samples text at the end.
//!
//!     cargo run --release -p ignis --example char_gpt -- [--steps N] [--plot FILE.svg]
//!         [--save FILE.safetensors] [--prompt TEXT] [--sample-len N]

mod common;

use ignis::nn::{self, BlockConfig, Module, ModuleList, TransformerBlock};
use ignis::optim::{
    AdamW, AdamWOptions, CosineAnnealingLR, LinearLR, LrScheduler, Optimizer, SequentialLR, clip_grad_norm_,
};
use ignis::{DType, Tensor, no_grad};
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Instant;

const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/data/moby_dick.txt");

struct Options {
    steps: usize,
    batch: usize,
    context: usize,
    plot: PathBuf,
    save: Option<PathBuf>,
    prompt: String,
    sample_len: usize,
    seed: u64,
}

fn parse_args() -> Result<Options, String> {
    let mut o = Options {
        steps: 1200,
        batch: 32,
        context: 64,
        plot: PathBuf::from("char_gpt_loss.svg"),
        save: None,
        prompt: "Call me ".to_string(),
        sample_len: 400,
        seed: 0,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        let number = |v: String| v.parse::<usize>().map_err(|e| format!("{arg}: {e}"));
        match arg.as_str() {
            "--steps" => o.steps = number(value()?)?,
            "--batch" => o.batch = number(value()?)?,
            "--plot" => o.plot = PathBuf::from(value()?),
            "--save" => o.save = Some(PathBuf::from(value()?)),
            "--prompt" => o.prompt = value()?,
            "--sample-len" => o.sample_len = number(value()?)?,
            "--seed" => o.seed = number(value()?)? as u64,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if o.steps == 0 || o.batch == 0 {
        return Err("--steps and --batch must be positive".into());
    }
    Ok(o)
}

/// Characters to ids and back.
struct Vocabulary {
    chars: Vec<char>,
}

impl Vocabulary {
    fn of(text: &str) -> Vocabulary {
        Vocabulary { chars: text.chars().collect::<BTreeSet<_>>().into_iter().collect() }
    }
    fn len(&self) -> usize {
        self.chars.len()
    }
    fn encode(&self, text: &str) -> Vec<i64> {
        text.chars().filter_map(|c| self.chars.binary_search(&c).ok().map(|i| i as i64)).collect()
    }
    fn decode(&self, ids: &[i64]) -> String {
        ids.iter().map(|&i| self.chars[i as usize]).collect()
    }
}

/// Token and position embeddings, a stack of causal pre-LN blocks, a final layer norm and a
/// linear head over the vocabulary.
struct CharGpt {
    tokens: nn::Embedding,
    positions: nn::Embedding,
    blocks: ModuleList<TransformerBlock>,
    norm: nn::LayerNorm,
    head: nn::Linear,
    context: usize,
}

impl CharGpt {
    fn new(vocab: usize, context: usize, d_model: usize, layers: usize, heads: usize) -> CharGpt {
        let tokens = nn::Embedding::new(vocab, d_model);
        let positions = nn::Embedding::new(context, d_model);
        // GPT-2's initialisation: small normal embeddings and weights.
        for table in [&tokens.weight, &positions.weight] {
            nn::init::normal_(table, 0.0, 0.02);
        }
        let config = BlockConfig::new(d_model, heads);
        CharGpt {
            tokens,
            positions,
            blocks: ModuleList::new((0..layers).map(|_| TransformerBlock::decoder(&config)).collect()),
            norm: nn::LayerNorm::new(&[d_model]),
            head: nn::Linear::new(d_model, vocab),
            context,
        }
    }

    /// Logits `[B, T, vocab]` for ids `[B, T]`.
    fn logits(&self, ids: &Tensor) -> Tensor {
        let t = ids.shape()[1];
        assert!(t <= self.context, "CharGpt: {t} tokens exceed the context of {}", self.context);
        let positions = Tensor::arange(0.0, t as f64, 1.0, DType::I64);
        let mut x = self.tokens.forward(ids).add(&self.positions.forward(&positions));
        for block in &self.blocks {
            x = block.forward(&x);
        }
        self.head.forward(&self.norm.forward(&x))
    }
}

impl Module for CharGpt {
    fn forward(&self, ids: &Tensor) -> Tensor {
        self.logits(ids)
    }
    fn visit<'a>(&'a self, visit: &mut dyn FnMut(&str, nn::Entry<'a>)) {
        visit("tokens", nn::Entry::Child(&self.tokens));
        visit("positions", nn::Entry::Child(&self.positions));
        visit("blocks", nn::Entry::Child(&self.blocks));
        visit("norm", nn::Entry::Child(&self.norm));
        visit("head", nn::Entry::Child(&self.head));
    }
}

/// `batch` random windows of `context + 1` ids: inputs and next-character targets.
fn sample_batch(data: &Tensor, batch: usize, context: usize) -> (Tensor, Tensor) {
    let starts = Tensor::randint(0, (data.numel() - context - 1) as i64, [batch, 1]);
    let offsets = Tensor::arange(0.0, (context + 1) as f64, 1.0, DType::I64).unsqueeze(0);
    let windows = data.index_select(0, &starts.add(&offsets).flatten(0, 1)).reshape([batch, context + 1]);
    (windows.narrow(1, 0, context), windows.narrow(1, 1, context))
}

fn loss_on(model: &CharGpt, x: &Tensor, y: &Tensor) -> Tensor {
    let logits = model.logits(x);
    let vocab = logits.shape()[2];
    logits.reshape([x.numel(), vocab]).cross_entropy(&y.reshape([y.numel()]), &Default::default())
}

fn validation_loss(model: &CharGpt, data: &Tensor, batch: usize, context: usize) -> f64 {
    model.eval();
    let loss = no_grad(|| {
        (0..4)
            .map(|_| {
                let (x, y) = sample_batch(data, batch, context);
                loss_on(model, &x, &y).item_f64()
            })
            .sum::<f64>()
            / 4.0
    });
    model.train();
    loss
}

/// Samples `len` characters after `prompt` at temperature 0.8.
fn generate(model: &CharGpt, vocab: &Vocabulary, prompt: &str, len: usize) -> String {
    model.eval();
    let mut ids = vocab.encode(prompt);
    if ids.is_empty() {
        ids.push(0);
    }
    no_grad(|| {
        for _ in 0..len {
            let window = &ids[ids.len().saturating_sub(model.context)..];
            let x = Tensor::from_vec(window.to_vec(), [1, window.len()]);
            let logits = model.logits(&x).select(1, window.len() - 1).reshape([vocab.len()]);
            let probs = logits.div_scalar(0.8).softmax(0).to_vec::<f32>();
            let u = Tensor::rand([1], DType::F32).item::<f32>();
            let mut acc = 0.0;
            let next = probs.iter().position(|&p| {
                acc += p;
                acc > u
            });
            ids.push(next.unwrap_or(probs.len() - 1) as i64);
        }
    });
    vocab.decode(&ids)
}

fn main() {
    let o = parse_args().unwrap_or_else(|e| {
        eprintln!("char_gpt: {e}");
        std::process::exit(2);
    });
    let text = std::fs::read_to_string(CORPUS).unwrap_or_else(|e| {
        eprintln!("char_gpt: {CORPUS}: {e}");
        std::process::exit(1);
    });
    ignis::manual_seed(o.seed);
    let vocab = Vocabulary::of(&text);
    let ids = vocab.encode(&text);
    let split = ids.len() * 9 / 10;
    let train_data = Tensor::from_vec(ids[..split].to_vec(), [split]);
    let val_data = Tensor::from_vec(ids[split..].to_vec(), [ids.len() - split]);

    let model = CharGpt::new(vocab.len(), o.context, 128, 5, 4);
    println!(
        "char_gpt: {} characters ({} distinct), {} parameters, {} steps of {}x{} tokens, {} threads",
        ids.len(),
        vocab.len(),
        model.num_parameters(),
        o.steps,
        o.batch,
        o.context,
        ignis::runtime::num_threads()
    );

    let mut optimizer =
        AdamW::new(model.parameters(), AdamWOptions { lr: 3e-3, weight_decay: 0.01, ..Default::default() });
    let warmup = (o.steps / 10).max(1);
    let warm: Box<dyn LrScheduler> = Box::new(LinearLR::new(&mut optimizer, 0.1, 1.0, warmup));
    let decay: Box<dyn LrScheduler> = Box::new(CosineAnnealingLR::new(&mut optimizer, o.steps - warmup, 3e-4));
    let mut schedule = SequentialLR::new(&mut optimizer, vec![warm, decay], vec![warmup]);

    let bar = common::progress(o.steps as u64, "train");
    let (mut train_curve, mut val_curve) = (Vec::new(), Vec::new());
    let start = Instant::now();
    let mut smoothed = None;
    for step in 1..=o.steps {
        let (x, y) = sample_batch(&train_data, o.batch, o.context);
        optimizer.zero_grad();
        let loss = loss_on(&model, &x, &y);
        loss.backward();
        clip_grad_norm_(&model.parameters(), 1.0, 2.0);
        optimizer.step();
        schedule.step(&mut optimizer);
        let value = loss.item_f64();
        let s = smoothed.map_or(value, |s: f64| 0.95 * s + 0.05 * value);
        smoothed = Some(s);
        train_curve.push((step as f64, value));
        if step % 100 == 0 || step == o.steps {
            let val = validation_loss(&model, &val_data, o.batch, o.context);
            val_curve.push((step as f64, val));
            bar.set_message(format!("loss {s:.3} val {val:.3}"));
        }
        bar.inc(1);
    }
    bar.finish();
    let seconds = start.elapsed().as_secs_f64();
    let final_val = val_curve.last().map_or(f64::NAN, |p| p.1);
    println!(
        "trained in {seconds:.1} s ({:.0} ms/step): training loss {:.3} (smoothed), validation loss {final_val:.3}",
        1e3 * seconds / o.steps as f64,
        smoothed.unwrap_or(f64::NAN)
    );
    println!("--- sample ---\n{}\n--------------", generate(&model, &vocab, &o.prompt, o.sample_len));
    let curves = [("training", train_curve), ("validation", val_curve)];
    match common::plot_curves(&o.plot, "char_gpt: loss", "step", "cross entropy (nats)", &curves) {
        Ok(()) => println!("loss curves: {}", o.plot.display()),
        Err(e) => eprintln!("char_gpt: cannot write {}: {e}", o.plot.display()),
    }
    if let Some(path) = &o.save {
        match ignis::weights::save(&model.state_dict(), path) {
            Ok(()) => println!("weights: {}", path.display()),
            Err(e) => eprintln!("char_gpt: {e}"),
        }
    }
}
