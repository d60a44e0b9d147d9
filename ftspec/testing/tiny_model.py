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


def build_tiny_model(folder: Path, *, llama_cpp: bool = False) -> Path:
    """The tiny model. ``llama_cpp=True`` builds the same weights with the attention settings
    llama.cpp's gemma3 graph hard-codes (query scale 1/sqrt(head_dim); every layer below the 6th
    sliding, here with a window as long as the context), so its GGUF (``write_gguf``) computes
    the same function under llama.cpp as the folder does under transformers."""
    import torch
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig

    folder.mkdir(parents=True, exist_ok=True)
    tok = build_tokenizer(folder)
    attention: dict = {"sliding_window": 16, "layer_types": ["sliding_attention", "full_attention"]}
    if llama_cpp:
        attention = {"sliding_window": 512, "layer_types": ["sliding_attention", "sliding_attention"],
                     "query_pre_attn_scalar": 16}
    config = Gemma3TextConfig(
        vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=1, head_dim=16, max_position_embeddings=512,
        pad_token_id=0, eos_token_id=1, bos_token_id=2, tie_word_embeddings=True, **attention,
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


def write_gguf(folder: Path, path: Path) -> Path:
    """A tiny Gemma-3 Hugging Face folder as a float32 GGUF llama.cpp loads, written with the
    ``gguf`` package the way llama.cpp's ``convert_hf_to_gguf.py`` writes Gemma 3: gguf's
    HF -> GGUF tensor names, norm weights stored as ``1 + w``, the byte-level BPE vocabulary as a
    ``gpt2`` tokenizer with the special tokens as control tokens."""
    import json

    import gguf
    import numpy as np
    from safetensors.numpy import load_file

    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    tokenizer = json.loads((folder / "tokenizer.json").read_text(encoding="utf-8"))
    blocks = int(config["num_hidden_layers"])
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.GEMMA3, blocks)
    writer = gguf.GGUFWriter(str(path), "gemma3")
    writer.add_name("ftspec tiny gemma3")
    writer.add_context_length(int(config["max_position_embeddings"]))
    writer.add_embedding_length(int(config["hidden_size"]))
    writer.add_block_count(blocks)
    writer.add_feed_forward_length(int(config["intermediate_size"]))
    writer.add_head_count(int(config["num_attention_heads"]))
    writer.add_head_count_kv(int(config["num_key_value_heads"]))
    writer.add_key_length(int(config["head_dim"]))
    writer.add_value_length(int(config["head_dim"]))
    writer.add_layer_norm_rms_eps(float(config["rms_norm_eps"]))
    writer.add_rope_freq_base(float(config.get("rope_theta") or (config.get("rope_parameters") or {}).get(
        "full_attention", {}).get("rope_theta", 1_000_000.0)))
    writer.add_sliding_window(int(config["sliding_window"]))
    vocab = sorted(tokenizer["model"]["vocab"].items(), key=lambda kv: kv[1])
    specials = {t["id"] for t in tokenizer["added_tokens"] if t.get("special")}
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("gpt-2")
    writer.add_token_list([token for token, _ in vocab])
    writer.add_token_types([int(gguf.TokenType.CONTROL if i in specials else gguf.TokenType.NORMAL) for _, i in vocab])
    merges = tokenizer["model"]["merges"]
    writer.add_token_merges([m if isinstance(m, str) else " ".join(m) for m in merges])
    writer.add_bos_token_id(int(config["bos_token_id"]))
    writer.add_eos_token_id(int(config["eos_token_id"]))
    writer.add_pad_token_id(int(config["pad_token_id"]))
    writer.add_unk_token_id(3)
    writer.add_add_bos_token(True)
    writer.add_add_eos_token(False)
    for name, array in sorted(load_file(str(folder / "model.safetensors")).items()):
        if name == "lm_head.weight":
            continue  # tied to the embeddings
        target = names.get_name(name, try_suffixes=(".weight", ".bias"))
        if target is None:
            raise ValueError(f"no GGUF name for {name}")
        array = array.astype(np.float32)
        if name.endswith("norm.weight"):
            array = array + 1.0
        writer.add_tensor(target, np.ascontiguousarray(array))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path
