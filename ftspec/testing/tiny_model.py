"""The tiny randomly initialised Gemma-3 model the tests and benchmarks train for real.

The tokenizer is a byte-level BPE trained here on a small corpus, with Gemma's special tokens
at Gemma's ids (pad 0, eos 1, bos 2, unk 3) plus ``<start_of_turn>``/``<end_of_turn>``. The
model is a 2-layer Gemma3ForCausalLM (hidden 32) saved as a normal Hugging Face folder, so
everything the local provider does with a local folder base model runs for real in milliseconds.
Needs the ``local`` extra (torch, transformers, tokenizers); imported lazily.
"""

from __future__ import annotations

from pathlib import Path

SPECIALS = ["<pad>", "<eos>", "<bos>", "<unk>", "<start_of_turn>", "<end_of_turn>"]

CORPUS = [
    "How do I reset my password? Go to Settings, then Account, then Reset password.",
    "Where is my order? Track it under Orders with the number from your email.",
    "Can I get a refund? Refunds are possible within 30 days of delivery.",
    "user model system assistant hello thanks please help support account order",
    "비밀번호를 재설정하려면 설정에서 계정을 누르세요.",
    "0 1 2 3 4 5 6 7 8 9 ! ? . , : ; - ( ) \" ' / > <",
] * 20


def build_tokenizer(folder: Path):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400, special_tokens=SPECIALS, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tok.train_from_iterator(CORPUS, trainer)
    tok.post_processor = processors.TemplateProcessing(single="<bos> $A", special_tokens=[("<bos>", 2)])
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<bos>", eos_token="<eos>", pad_token="<pad>", unk_token="<unk>",
        additional_special_tokens=["<start_of_turn>", "<end_of_turn>"],
    )
    fast.save_pretrained(folder)
    return fast


def build_tiny_model(folder: Path) -> Path:
    import torch
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig

    folder.mkdir(parents=True, exist_ok=True)
    tok = build_tokenizer(folder)
    config = Gemma3TextConfig(
        vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=1, head_dim=16, sliding_window=16,
        layer_types=["sliding_attention", "full_attention"], max_position_embeddings=512,
        pad_token_id=0, eos_token_id=1, bos_token_id=2, tie_word_embeddings=True,
    )
    torch.manual_seed(0)
    model = Gemma3ForCausalLM(config)
    model.save_pretrained(folder, safe_serialization=True)
    return folder


def write_local_spec(path: Path, base_model: str | Path, *, name: str, data: str, system: str,
                     validation: float, batch_size: int) -> Path:
    """A spec that LoRA-trains ``base_model`` (e.g. the tiny model) in seconds on the local provider."""
    path.write_text(f"""ftspec: 1
name: {name}
provider: local
base_model: {base_model}
sources:
  - {{name: faq, path: {data}, format: chat_jsonl}}
template: {{type: chat, system: "{system}"}}
split: {{validation: {validation}}}
hyperparameters:
  n_epochs: 1
  batch_size: {batch_size}
  local: {{lora_r: 4, seed: 3, target_modules: [q_proj, v_proj]}}
""", encoding="utf-8")
    return path
